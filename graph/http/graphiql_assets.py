"""GraphiQL's browser files: pinned npm packages, shipped in graph/http/static/graphiql/.
The shipped `manifest.json` records the pins (versions, tarball `dist.integrity`, each
file's SRI hash); `sessiongraph graphiql-assets DIR` downloads, checks and writes them, so
the same pins always give the same bytes. To move to another version, edit the manifest's
versions and integrities, then run the command on graph/http/static/graphiql."""

import base64
import dataclasses
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import httpx

SHIPPED = Path(__file__).parent / "static" / "graphiql"
MANIFEST = "manifest.json"
REGISTRY = "https://registry.npmjs.org"


@dataclasses.dataclass(frozen=True)
class PinnedFile:
    file: str
    source: str
    integrity: str


@dataclasses.dataclass(frozen=True)
class Package:
    """One npm package at one version; `integrity` is the tarball's `dist.integrity`."""

    name: str
    version: str
    integrity: str
    files: tuple[PinnedFile, ...]

    def tarball_url(self, registry: str = REGISTRY) -> str:
        basename = self.name.rsplit("/", 1)[-1]
        return f"{registry.rstrip('/')}/{self.name}/-/{basename}-{self.version}.tgz"


# GraphiQL 3.9 is the last line with a UMD build (4.x and later need a bundler or an ESM
# CDN); its bundle includes the graphql-ws client. React 18.3 is the last with UMD builds.
_PINS = json.loads((SHIPPED / MANIFEST).read_text())
PACKAGES: tuple[Package, ...] = tuple(
    Package(p["name"], p["version"], p["integrity"], tuple(PinnedFile(**f) for f in p["files"]))
    for p in _PINS["packages"]
)


class AssetError(RuntimeError):
    """A tarball or file that is not what the pins say: nothing is written."""


def sri(data: bytes, algorithm: str = "sha384") -> str:
    """The form both browsers (Subresource Integrity) and npm's dist.integrity use."""
    digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm}-{base64.b64encode(digest).decode()}"


def pinned_files() -> dict[str, tuple[Package, PinnedFile]]:
    return {pinned.file: (package, pinned) for package in PACKAGES for pinned in package.files}


def manifest_bytes() -> bytes:
    """manifest.json as the build writes it: the pins as read, tarball URLs derived from them."""
    packages = [
        {**pins, "tarball": package.tarball_url()}
        for pins, package in zip(_PINS["packages"], PACKAGES, strict=True)
    ]
    return (json.dumps({**_PINS, "packages": packages}, indent=2) + "\n").encode()


def unpack(package: Package, tarball: bytes) -> dict[str, bytes]:
    """The package's pinned files from its tarball, each one checked against its pin."""
    if sri(tarball, "sha512") != package.integrity:
        raise AssetError(f"{package.name}@{package.version}: tarball integrity mismatch")
    files = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        # npm tarballs nest every file under one top folder
        members = {m.name.split("/", 1)[-1]: m for m in archive.getmembers() if m.isfile()}
        for pinned in package.files:
            member = members.get(pinned.source)
            extracted = archive.extractfile(member) if member is not None else None
            if extracted is None:
                raise AssetError(f"the tarball has no {pinned.source}")
            data = extracted.read()
            if sri(data) != pinned.integrity:
                raise AssetError(f"{package.name}@{package.version}/{pinned.source}: mismatch")
            files[pinned.file] = data
    return files


def download(package: Package, registry: str = REGISTRY) -> bytes:
    """Proxies from the environment apply, as for npm."""
    response = httpx.get(package.tarball_url(registry), follow_redirects=True, timeout=120)
    return response.raise_for_status().content


def build(target: Path) -> list[Path]:
    """Fill `target` with the pinned files and manifest, all checked before any is written;
    `NPM_CONFIG_REGISTRY` names a mirror, as for npm."""
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
