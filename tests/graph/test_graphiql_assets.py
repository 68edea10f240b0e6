"""GraphiQL's shipped files: exactly the pinned build, served by the server with long
cache headers, and rebuilt byte for byte by the build script (checked without network)."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import shutil
import tarfile
import tomllib
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from graph.cli.commands import main as cli_main
from graph.http import graphiql_assets
from graph.http.graphiql import ASSETS_ROUTE, CACHE_FOREVER, asset_routes, render_page
from graph.http.graphiql_assets import (
    MANIFEST,
    PACKAGES,
    SHIPPED,
    AssetError,
    Package,
    build,
    manifest_bytes,
    pinned_files,
    problems,
    sri,
)
from graph.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_manifest_is_the_one_the_build_writes() -> None:
    assert (SHIPPED / MANIFEST).read_bytes() == manifest_bytes()


def test_every_shipped_file_matches_the_manifest_and_nothing_else_ships() -> None:
    manifest = json.loads((SHIPPED / MANIFEST).read_text())
    listed = {f["file"]: f["integrity"] for p in manifest["packages"] for f in p["files"]}
    assert {path.name for path in SHIPPED.iterdir()} == {*listed, MANIFEST}
    for name, integrity in listed.items():
        assert integrity.startswith("sha384-")
        assert sri((SHIPPED / name).read_bytes()) == integrity, name
    assert problems(SHIPPED) == []


def test_each_package_ships_its_licence_and_is_pinned() -> None:
    for package in PACKAGES:
        licence = SHIPPED / f"{package.name}.LICENSE"
        assert "Permission is hereby granted" in licence.read_text(), package.name
        assert package.integrity.startswith("sha512-")  # npm's dist.integrity
        assert all(c.isdigit() or c == "." for c in package.version), "an exact version"


def test_package_data_includes_the_shipped_folder() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["graph.http"]
    packaged = {path for pattern in patterns for path in (ROOT / "graph" / "http").glob(pattern)}
    assert set(SHIPPED.iterdir()) <= packaged


def _tarball(files: dict[str, bytes]) -> bytes:
    """A deterministic npm-style tarball (everything under package/)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


@pytest.fixture
def offline_registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Tarballs made from the shipped files stand in for the registry's; the pins keep
    their file hashes and take these tarballs' hashes."""
    tarballs = {}
    packages = []
    for package in PACKAGES:
        tarball = _tarball({f.source: (SHIPPED / f.file).read_bytes() for f in package.files})
        tarballs[package.name] = tarball
        packages.append(dataclasses.replace(package, integrity=sri(tarball, "sha512")))
    monkeypatch.setattr(graphiql_assets, "PACKAGES", tuple(packages))

    def download(package: Package, registry: str) -> bytes:
        assert registry == graphiql_assets.REGISTRY
        return tarballs[package.name]

    monkeypatch.setattr(graphiql_assets, "download", download)
    return tarballs


def _contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_building_twice_gives_the_same_bytes_as_shipped(
    offline_registry: dict[str, bytes], tmp_path: Path
) -> None:
    build(tmp_path / "one")
    build(tmp_path / "two")
    assert _contents(tmp_path / "one") == _contents(tmp_path / "two")
    shipped = _contents(SHIPPED)
    built = _contents(tmp_path / "one")
    assert built.pop(MANIFEST) == graphiql_assets.manifest_bytes()
    del shipped[MANIFEST]  # its tarball hashes are the real registry's
    assert built == shipped


def test_a_tampered_tarball_writes_nothing(
    offline_registry: dict[str, bytes], tmp_path: Path
) -> None:
    offline_registry["react"] = _tarball({"umd/react.production.min.js": b"evil()"})
    with pytest.raises(AssetError, match="tarball integrity"):
        build(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_file_unlike_its_pin_is_refused(
    offline_registry: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tarball = _tarball({"umd/react.production.min.js": b"evil()", "LICENSE": b"MIT"})
    offline_registry["react"] = tarball
    packages = [
        dataclasses.replace(p, integrity=sri(tarball, "sha512")) if p.name == "react" else p
        for p in graphiql_assets.PACKAGES
    ]
    monkeypatch.setattr(graphiql_assets, "PACKAGES", tuple(packages))
    with pytest.raises(AssetError, match=r"react\.production\.min\.js: mismatch"):
        build(tmp_path / "out")


def test_the_command_builds_the_folder(offline_registry: dict[str, bytes], tmp_path: Path) -> None:
    assert cli_main(["graphiql-assets", str(tmp_path / "assets")]) == 0
    build(tmp_path / "direct")
    assert _contents(tmp_path / "assets") == _contents(tmp_path / "direct")


async def _get(app: Starlette, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


async def test_assets_are_served_with_long_cache_headers() -> None:
    app = Starlette(routes=asset_routes())
    response = await _get(app, f"{ASSETS_ROUTE}/graphiql.min.js?v=x")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == CACHE_FOREVER
    assert sri(response.content) == pinned_files()["graphiql.min.js"][1].integrity
    css = await _get(app, f"{ASSETS_ROUTE}/graphiql.min.css")
    assert css.headers["content-type"].startswith("text/css")
    assert (await _get(app, f"{ASSETS_ROUTE}/react.LICENSE")).status_code == 200
    assert (await _get(app, f"{ASSETS_ROUTE}/graphiql.html")).status_code == 404
    assert (await _get(app, f"{ASSETS_ROUTE}/..%2Fgraphiql.html")).status_code == 404


def test_a_custom_folder_must_be_the_pinned_build(tmp_path: Path) -> None:
    folder = tmp_path / "assets"
    shutil.copytree(SHIPPED, folder)
    assert len(asset_routes(folder)) == 1
    (folder / "graphiql.min.js").write_bytes(b"tampered")
    (folder / "react.production.min.js").unlink()
    with pytest.raises(ValueError, match="sessiongraph graphiql-assets") as error:
        asset_routes(folder)
    assert "graphiql.min.js does not match" in str(error.value)
    assert "react.production.min.js is missing" in str(error.value)


def test_the_page_loads_local_files_by_default_each_with_its_hash() -> None:
    page = render_page()
    assert "unpkg.com" not in page
    for name, (_, pinned) in pinned_files().items():
        if name.endswith((".js", ".css")):
            assert f"{ASSETS_ROUTE}/{name}?v=" in page
            assert f'integrity="{pinned.integrity}"' in page


def test_the_cdn_is_a_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().graphiql_assets == "local"
    monkeypatch.setenv("SESSIONGRAPH_GRAPHIQL_ASSETS", "cdn")
    assert Settings().graphiql_assets == "cdn"
    page = render_page(source="cdn")
    assert ASSETS_ROUTE not in page
    assert ('src="https://unpkg.com/graphiql@3.9.0/graphiql.min.js" integrity="sha384-') in page
    assert page.count('crossorigin="anonymous"') == 4


def test_the_page_says_where_the_key_goes_and_what_to_do_if_files_fail() -> None:
    page = render_page()
    assert "open the <strong>Headers</strong> tab" in page
    assert "Bearer <your key>" in page  # the Headers editor's default value
    assert "sessiongraph graphiql-assets DIR" in page
    assert "SESSIONGRAPH_GRAPHIQL_ASSETS" in render_page(source="cdn")
