"""`db` stays below the face: no web framework, no environment, so every door shares it."""

from __future__ import annotations

import ast
import re
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


ROOT = DB.parent
DRIVERS = ("asyncpg", "aiosqlite", "sqlite3", "sqlalchemy")
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.S)


def _production() -> list[Path]:
    return sorted([*DB.rglob("*.py"), *(ROOT / "graph").rglob("*.py")])


def test_no_generated_source_is_run() -> None:
    """Nothing is compiled from strings at run time: every line that runs is in the tree."""
    for path in _production():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("exec", "eval", "compile"), f"{path}:{node.lineno}"


def test_graph_writes_no_sql_and_imports_no_driver() -> None:
    """Statements are written in db/ only; graph/ hands db/ plans and values."""
    for path in sorted((ROOT / "graph").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names.append(node.module)
                for name in names:
                    assert name.split(".")[0] not in DRIVERS, f"{path} imports {name}"
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not SQL.search(node.value), f"{path}:{node.lineno} holds SQL"
