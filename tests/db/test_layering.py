"""`db` stays below the face: no web framework, no environment, so every door shares it."""

from __future__ import annotations

import ast
from pathlib import Path

DB = Path(__file__).resolve().parents[2] / "db"
FORBIDDEN_IMPORTS = ("strawberry", "starlette", "graph", "uvicorn", "pydantic_settings")


def _modules() -> list[Path]:
    return sorted(DB.rglob("*.py"))


def test_db_imports_no_web_layer() -> None:
    for path in _modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN_IMPORTS, f"{path} imports {name}"


def test_db_reads_no_environment() -> None:
    for path in _modules():
        text = path.read_text()
        assert "os.environ" not in text and "getenv" not in text, path
