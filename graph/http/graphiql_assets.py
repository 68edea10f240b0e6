"""GraphiQL's browser files: pinned npm packages, shipped in graph/http/static/graphiql/.

The folder is built, never edited: `sessiongraph graphiql-assets DIR` downloads each pinned
tarball, checks it against its pinned `dist.integrity`, and writes the files the page needs
plus each licence, each checked against its SRI hash, with `manifest.json`. The same pins
always give the same bytes; the server and the tests check a folder against them offline.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import httpx

SHIPPED = Path(__file__).parent / "static" / "graphiql"
MANIFEST = "manifest.json"
REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class PinnedFile:
    """One file taken from a package's tarball, with the SRI hash browsers check."""

    source: str
    file: str
    integrity: str


@dataclass(frozen=True)
class Package:
    """One npm package at one version; `integrity` is the tarball's `dist.integrity`."""

    name: str
    version: str
    integrity: str
    license: str
    files: tuple[PinnedFile, ...]

    def tarball_url(self, registry: str = REGISTRY) -> str:
        basename = self.name.rsplit("/", 1)[-1]
        return f"{registry.rstrip('/')}/{self.name}/-/{basename}-{self.version}.tgz"

    def cdn_url(self, pinned: PinnedFile) -> str:
        return f"https://unpkg.com/{self.name}@{self.version}/{pinned.source}"


# GraphiQL 3.9 is the last line with a UMD build (4.x and later need a bundler or an ESM
# CDN); its bundle includes the graphql-ws client, so subscriptions need no extra file.
# React 18.3 is the last React with UMD builds.
PACKAGES: tuple[Package, ...] = (
    Package(
        "react",
        "18.3.1",
        "sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==",
        "MIT",
        (
            PinnedFile(
                "umd/react.production.min.js",
                "react.production.min.js",
                "sha384-DGyLxAyjq0f9SPpVevD6IgztCFlnMF6oW/XQGmfe+IsZ8TqEiDrcHkMLKI6fiB/Z",
            ),
            PinnedFile(
                "LICENSE",
                "react.LICENSE",
                "sha384-dIN5gxuW3odCH42AKpxql36fRQlrVsjCi4EJgGC2Ty8Ihkcq9cdrChEZpKhSAfks",
            ),
        ),
    ),
    Package(
        "react-dom",
        "18.3.1",
        "sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==",
        "MIT",
        (
            PinnedFile(
                "umd/react-dom.production.min.js",
                "react-dom.production.min.js",
                "sha384-gTGxhz21lVGYNMcdJOyq01Edg0jhn/c22nsx0kyqP0TxaV5WVdsSH1fSDUf5YJj1",
            ),
            PinnedFile(
                "LICENSE",
                "react-dom.LICENSE",
                "sha384-dIN5gxuW3odCH42AKpxql36fRQlrVsjCi4EJgGC2Ty8Ihkcq9cdrChEZpKhSAfks",
            ),
        ),
    ),
    Package(
        "graphiql",
        "3.9.0",
        "sha512-rJYFlHdBbug9+YbFSwRVvgfPjCayC7wHecZkx/qB4XLuQPFQZw/yB9pmHFtOJV6RiNBBHro3u1GdocKa3YcGRA==",
        "MIT",
        (
            PinnedFile(
                "graphiql.min.js",
                "graphiql.min.js",
                "sha384-8NGfVj4CVlqHajlZj+bPJT4thxPMHMJYn7DWK2CvtopLd02E7qsPHazniBYvVjOO",
            ),
            PinnedFile(
                "graphiql.min.css",
                "graphiql.min.css",
                "sha384-QMux00XgRtwRLSYIY3kw2rj1ovk5AuuliAchk+HSQbqdbGFnz9GYuqIlOqxhwCE2",
            ),
            PinnedFile(
                "LICENSE",
                "graphiql.LICENSE",
                "sha384-9JPX1agGTIUB7wtQt2kO3PUO7clmCJp+9e50VMjw1yd8briI77AZnMDBz5VcerBH",
            ),
        ),
    ),
)


class AssetError(RuntimeError):
    """A tarball or file that is not what the pins say: nothing is written."""


def sri(data: bytes, algorithm: str = "sha384") -> str:
    """A Subresource Integrity string, the form both browsers and npm's dist.integrity use."""
    digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm}-{base64.b64encode(digest).decode()}"


def pinned_files() -> dict[str, tuple[Package, PinnedFile]]:
    """Every shipped file by its name in the folder."""
    return {pinned.file: (package, pinned) for package in PACKAGES for pinned in package.files}


def manifest_bytes() -> bytes:
    """manifest.json exactly as the build writes it: a pure function of the pins."""
    document = {
        "about": "GraphiQL's browser files, built from the npm registry by "
        "`sessiongraph graphiql-assets DIR` (graph/http/graphiql_assets.py); do not edit.",
        "packages": [
            {
                "name": package.name,
                "version": package.version,
                "license": package.license,
                "tarball": package.tarball_url(),
                "integrity": package.integrity,
                "files": [
                    {"file": pinned.file, "source": pinned.source, "integrity": pinned.integrity}
                    for pinned in package.files
                ],
            }
            for package in PACKAGES
        ],
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def _member(archive: tarfile.TarFile, source: str) -> bytes:
    """A file by its path inside the package (npm tarballs nest it under one top folder)."""
    for member in archive.getmembers():
        if member.isfile() and member.name.split("/", 1)[-1] == source:
            extracted = archive.extractfile(member)
            if extracted is not None:
                return extracted.read()
    raise AssetError(f"the tarball has no {source}")


def unpack(package: Package, tarball: bytes) -> dict[str, bytes]:
    """The package's pinned files from its tarball, each one checked against its pin."""
    if sri(tarball, "sha512") != package.integrity:
        raise AssetError(f"{package.name}@{package.version}: tarball integrity mismatch")
    files = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for pinned in package.files:
            data = _member(archive, pinned.source)
            if sri(data) != pinned.integrity:
                raise AssetError(f"{package.name}@{package.version}/{pinned.source}: mismatch")
            files[pinned.file] = data
    return files


def download(package: Package, registry: str = REGISTRY) -> bytes:
    """The tarball from the registry (proxies from the environment apply, as for npm)."""
    response = httpx.get(package.tarball_url(registry), follow_redirects=True, timeout=120)
    response.raise_for_status()
    return response.content


def build(target: Path) -> list[Path]:
    """Fill `target` with the pinned files and manifest, all checked before any is written.
    `NPM_CONFIG_REGISTRY` names a mirror, as for npm; the pins still decide."""
    registry = os.environ.get("NPM_CONFIG_REGISTRY") or REGISTRY
    files: dict[str, bytes] = {}
    for package in PACKAGES:
        files.update(unpack(package, download(package, registry)))
    files[MANIFEST] = manifest_bytes()
    target.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (target / name).write_bytes(data)
    return [target / name for name in files]


def problems(folder: Path) -> list[str]:
    """Why `folder` is not exactly the pinned build (empty when it is): cheap, offline."""
    found = []
    manifest = folder / MANIFEST
    if not manifest.is_file() or manifest.read_bytes() != manifest_bytes():
        found.append(f"{MANIFEST} is missing or not the pinned one")
    for name, (_, pinned) in pinned_files().items():
        path = folder / name
        if not path.is_file():
            found.append(f"{name} is missing")
        elif sri(path.read_bytes()) != pinned.integrity:
            found.append(f"{name} does not match its integrity hash")
    return found
