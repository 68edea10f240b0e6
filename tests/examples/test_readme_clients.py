"""The README's client snippets, run exactly as printed against a real server.

Each test takes its code block out of README.md, so the documentation and what is tested
cannot drift apart: the GraphQL Code Generator config must produce the scalar types the
README promises, and the graphql-ws `shouldRetry` must give up on a refused key after one
connection attempt (while the client's default really does retry, or the advice is moot).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from db.keys import revoke_key
from db.records import Principal
from db.store.engine import Database
from tests.support.node import installed, run

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
JAVASCRIPT = ROOT / "examples" / "javascript"
README_GRAPHQL_URL = "http://127.0.0.1:8000/graphql"
README_WS_URL = "ws://127.0.0.1:8000/graphql"
# The packages these tests run, from examples/javascript/package.json.
PACKAGES = ("graphql-ws", "ws", "@graphql-codegen/cli", "@graphql-codegen/client-preset")

pytestmark = pytest.mark.timeout(240)


def readme_block(heading: str, language: str) -> str:
    """The first ```language block of the README section under `### heading`."""
    text = README.read_text()
    start = text.index(f"\n### {heading}\n")
    end = re.compile(r"\n#{2,3} ").search(text, start + 1)
    section = text[start : end.start() if end else len(text)]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match is not None, f"no {language} block under '### {heading}'"
    return match.group(1)


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"expected exactly one {old!r} in the README block"
    return text.replace(old, new)


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """examples/javascript's packages, installed from its lock file when any is missing."""
    return installed(JAVASCRIPT, *PACKAGES, purpose="the README's JavaScript snippets")


@pytest.fixture
def project(tmp_path: Path, node_modules: Path) -> Path:
    """A throwaway client project that resolves packages from examples/javascript."""
    (tmp_path / "node_modules").symlink_to(node_modules, target_is_directory=True)
    (tmp_path / "src").mkdir()
    return tmp_path


# Client documents that use both custom scalars: as results (also nested) and as variables.
DOCUMENT = """import { graphql } from "./gql";

export const SessionDetails = graphql(`
  query SessionDetails($id: ID!) {
    session(id: $id) {
      id
      createdAt
      prd
      events(first: 5) { nodes { sequence createdAt payload } }
    }
  }
`);

export const CreateDraft = graphql(`
  mutation CreateDraft($expiresAt: DateTime, $prd: JSON) {
    createSession(input: { expiresAt: $expiresAt, prd: $prd }) { id expiresAt }
  }
`);
"""


async def test_codegen_config_maps_the_custom_scalars(
    base_url: str, api_key: str, project: Path, http: httpx.AsyncClient
) -> None:
    # The README says introspection needs the key: without one it is refused.
    refused = await http.post("/graphql", json={"query": "{ __schema { queryType { name } } }"})
    assert refused.status_code == 401

    config = replace_once(
        readme_block("Typed clients: GraphQL Code Generator", "ts"),
        README_GRAPHQL_URL,
        f"{base_url}/graphql",
    )
    (project / "codegen.ts").write_text(config)
    (project / "src" / "session.ts").write_text(DOCUMENT)
    await run(
        str(project / "node_modules" / ".bin" / "graphql-codegen"),
        cwd=project,
        env={"SESSIONGRAPH_KEY": api_key},
    )

    generated = (project / "src" / "gql" / "graphql.ts").read_text()
    # The client preset inlines each scalar's mapped type where an operation uses it.
    json_type = "Record<string, unknown>"
    query = generated_type(generated, "SessionDetailsQuery")
    assert "createdAt: string" in query and "sequence: number" in query, query
    assert f"prd: {json_type} | null" in query, query
    assert f"payload: {json_type} | null" in query, query
    variables = generated_type(generated, "CreateDraftMutationVariables")
    assert "expiresAt?: string | null" in variables, variables
    assert f"prd?: {json_type} | null" in variables, variables
    assert "any" not in re.findall(r"\w+", query + variables), generated


def generated_type(source: str, name: str) -> str:
    (body,) = re.findall(rf"export type {name} = (.*?);\n(?![ \t])", source, re.S)
    return str(body)


# Appended to the README's graphql-ws block: one subscription, counting connection attempts.
HARNESS = """
const started = Date.now();
const closes = [];
let attempts = 0;
const stopAfter = Number(process.env.STOP_AFTER_ATTEMPTS || "0");
const outcome = await new Promise((resolve) => {
  client.on("connecting", () => {
    attempts += 1;
    if (stopAfter && attempts >= stopAfter) resolve({ kind: "retrying" });
  });
  client.on("closed", (event) => closes.push({ code: event.code, reason: event.reason }));
  client.subscribe(
    { query: "subscription { sessionUpdates { kind } }" },
    {
      next: () => resolve({ kind: "next" }),
      error: (error) => resolve({ kind: "error", code: error?.code, reason: error?.reason }),
      complete: () => resolve({ kind: "complete" }),
    },
  );
});
console.log(JSON.stringify({ ...outcome, attempts, closes, ms: Date.now() - started }));
process.exit(0); // not dispose(): mid-retry it rejects a promise nobody awaits
"""


async def bad_key(kind: str, db: Database, principal: Principal, api_key: str) -> str:
    if kind == "revoked":
        await revoke_key(db, principal.key_id)
        return api_key
    return "sgk_" + "0" * 40


async def run_ws_snippet(project: Path, base_url: str, key: str, *, retry: bool) -> Any:
    """Run the README block; `retry=False` keeps it, `retry=True` drops its `shouldRetry`
    so the client's default decides, and stops at the second connection attempt."""
    block = replace_once(
        readme_block("graphql-ws: fail fast on a refused key", "js"),
        README_WS_URL,
        base_url.replace("http", "ws", 1) + "/graphql",
    )
    env = {"SESSIONGRAPH_KEY": key}
    if retry:
        (line,) = [x for x in block.splitlines(keepends=True) if "shouldRetry:" in x]
        block = replace_once(block, line, "")
        env["STOP_AFTER_ATTEMPTS"] = "2"
    script = project / "watch.mjs"
    script.write_text(block + HARNESS)
    output = await run("node", str(script), cwd=project, env=env)
    return json.loads(output.strip().splitlines()[-1])


@pytest.mark.parametrize("kind", ["unknown", "revoked"])
async def test_graphql_ws_should_retry_gives_up_on_a_refused_key(
    kind: str,
    base_url: str,
    db: Database,
    principal: Principal,
    api_key: str,
    project: Path,
) -> None:
    key = await bad_key(kind, db, principal, api_key)
    result = await run_ws_snippet(project, base_url, key, retry=False)
    assert result["kind"] == "error", result
    assert (result["code"], result["reason"]) == (4403, "Forbidden"), result
    assert result["attempts"] == 1 and result["closes"] == [
        {"code": 4403, "reason": "Forbidden"}
    ], result
    # graphql-ws waits at least 1.3 s before a retry; failing fast means well before that.
    assert result["ms"] < 1300, result


async def test_graphql_ws_default_retries_a_refused_key(base_url: str, project: Path) -> None:
    """Why the README's `shouldRetry` is needed: without it the client reconnects on 4403."""
    result = await run_ws_snippet(project, base_url, "sgk_" + "0" * 40, retry=True)
    assert result["kind"] == "retrying" and result["attempts"] == 2, result
    assert result["closes"][0] == {"code": 4403, "reason": "Forbidden"}, result
