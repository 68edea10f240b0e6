"""Tell at once whether the newest Strawberry and graphql-core releases break graph/framework.py.

pyproject.toml bounds both frameworks, so users never get an untested release; this step
installs the newest releases anyway, into a throwaway virtual environment, and runs the
tests that exercise the adapter. A break is reported loudly but does not fail CI: the
bounds keep the server working, and the report says what to mend before raising them.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import venv
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("strawberry-graphql", "graphql-core")
TESTS = [
    "tests/graph/test_framework.py",
    "tests/graph/test_federation.py",
    "tests/graph/test_graphql_errors.py",
    "tests/stream/test_protocol.py",
]


def newest(package: str) -> str:
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", package],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    found = re.search(rf"^{re.escape(package)} \(([^)]+)\)", listing, re.M)
    if found is None:
        raise RuntimeError(f"pip index versions {package}: no version in {listing!r}")
    return found.group(1)


def main() -> int:
    wanted = {package: newest(package) for package in FRAMEWORKS}
    installed = {package: version(package) for package in FRAMEWORKS}
    if wanted == installed:
        print(f"framework releases: the adapter is tested on the newest ones ({wanted})")
        return 0
    print(f"framework releases: newer than the bounds allow: {wanted} (installed {installed})")
    with tempfile.TemporaryDirectory() as folder:
        venv.create(folder, with_pip=True)
        python = str(Path(folder) / "bin" / "python")
        pins = [f"{package}=={release}" for package, release in wanted.items()]
        subprocess.run([python, "-m", "pip", "install", "-q", "-e", f"{ROOT}[test]"], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", *pins], check=True)
        result = subprocess.run(
            [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS], cwd=ROOT
        )
    if result.returncode != 0:
        print(f"FRAMEWORK RELEASES BREAK THE ADAPTER: {wanted}; mend graph/framework.py first")
    else:
        print(f"framework releases: {wanted} pass the adapter's tests; the bounds may be raised")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
