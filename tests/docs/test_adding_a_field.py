"""docs/adding-a-field.md, carried out: its edits, applied to a scratch copy, give a working field.

The walk-through's edits are read from the page itself (each `<!-- edit: FILE after: TEXT -->`
marker and the code block under it), so the page and this test cannot drift apart. The copy
then runs a test of the new field over GraphQL (standard and planned) and REST, on both
databases.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "adding-a-field.md"
MARKER = re.compile(r"<!-- (edit|new): (\S+)(?: after: (.+?))? -->\n```\w*\n(.*?)```", re.S)


@dataclass(frozen=True)
class Edit:
    kind: str
    path: str
    anchor: str | None
    text: str


def edits() -> list[Edit]:
    found = [Edit(k, p, a, t) for k, p, a, t in MARKER.findall(PAGE.read_text())]
    assert found, "docs/adding-a-field.md has no edits"
    return found


def test_the_walk_through_touches_five_production_files_and_a_migration() -> None:
    changed = {e.path for e in edits() if e.kind == "edit"}
    created = {e.path for e in edits() if e.kind == "new"}
    assert all(p.startswith(("graph/", "db/")) for p in changed), changed
    assert len(changed) <= 5, changed
    assert [p.startswith("db/migrations/versions/") for p in created] == [True], created


def _apply(copy: Path, edit: Edit) -> None:
    target = copy / edit.path
    if edit.kind == "new":
        target.write_text(edit.text)
        return
    lines = target.read_text().splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if edit.anchor and edit.anchor in line]
    assert hits, f"{edit.path}: no line holds {edit.anchor!r}"
    for at in reversed(hits):
        lines.insert(at + 1, edit.text)
    target.write_text("".join(lines))


FIELD_TEST = '''
"""The walk-through's field, end to end (written by tests/docs/test_adding_a_field.py)."""

import graph

from tests.support.graphql import GraphQLClient


async def test_title(gql: GraphQLClient, http, api_key: str) -> None:
    assert graph.__file__.startswith(SCRATCH), graph.__file__
    created = await gql.data(
        'mutation { createSession(input: {title: "Spring"}) { id title } }'
    )
    session = created["createSession"]
    assert session["title"] == "Spring"
    read = "query($id: ID!) { session(id: $id) { title } }"
    first = await gql(read, {"id": session["id"]})
    again = await gql(read, {"id": session["id"]})  # the second run is planned
    assert first == again == {"data": {"session": {"title": "Spring"}}}
    headers = {"Authorization": f"Bearer {api_key}"}
    made = await http.post(
        "/v1/products/generation/sessions", json={"title": "Autumn"}, headers=headers
    )
    assert made.status_code == 201, made.text
    url = f"/v1/products/generation/sessions/{made.json()['id']}"
    body = (await http.get(url, headers=headers)).json()
    assert body["title"] == "Autumn"
    changed = await http.patch(url, json={"title": None}, headers=headers)
    assert changed.status_code == 200, changed.text
    assert (await http.get(url, headers=headers)).json()["title"] is None
'''


@pytest.mark.timeout(600)
def test_the_walk_through_gives_a_working_field(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, tracked):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    for edit in edits():
        _apply(copy, edit)
    (copy / "tests" / "test_title.py").write_text(FIELD_TEST.replace("SCRATCH", repr(str(copy))))
    env = {**os.environ, "PYTHONPATH": str(copy)}
    env.pop("PYTEST_ADDOPTS", None)
    printed = subprocess.run(
        [sys.executable, "-m", "graph", "export-schema", str(copy / "schema.graphql")],
        cwd=copy, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    assert "title: String" in (copy / "schema.graphql").read_text()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-p", "no:xdist",
         "tests/test_title.py", "tests/graph/test_schema_file.py",
         "tests/graph/test_declared_fields.py", "tests/db/test_migrations.py"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    for backend in ("sqlite", "postgresql"):
        assert f"test_title[{backend}] PASSED" in run.stdout, run.stdout[-4000:]


@pytest.mark.parametrize("field", ["catalog_version", "schema_version"])
def test_a_field_without_rules_is_named_only_where_the_walk_through_edits(field: str) -> None:
    """Everything else (rows, records, bodies, plans, settable fields) derives it."""
    camel = re.sub(r"_(\w)", lambda m: m.group(1).upper(), field)
    word = re.compile(rf"\b({field}|{camel})\b")
    naming = {
        str(path.relative_to(ROOT))
        for folder in ("graph", "db")
        for path in (ROOT / folder).rglob("*.py")
        if "migrations" not in path.parts and word.search(path.read_text())
    }
    edited = {e.path for e in edits() if e.kind == "edit"}
    assert naming <= edited | {"graph/cli/demo.py"}, naming - edited
