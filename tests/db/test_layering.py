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


# The rules modules and live data call the store; only the tables and the store build SQL.
STATEMENT_BUILDERS = ("select", "insert", "update", "delete", "text", "func", "literal_column")
# The PostgreSQL bus speaks to its own LISTEN connection (NOTIFY and a liveness probe).
BUS_PROTOCOL = DB / "live" / "bus.py"


def test_rules_and_live_data_hold_no_statements() -> None:
    rules = [p for p in sorted(DB.glob("*.py")) if p.name != "models.py"]
    for path in [*rules, *sorted((DB / "live").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            imported = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            assert not {n.split(".")[0] for n in imported} & {"sqlalchemy", "sqlmodel"}, path
            root = (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else ""
            if isinstance(node, ast.ImportFrom) and root in ("sqlalchemy", "sqlmodel"):
                built = [a.name for a in node.names if a.name in STATEMENT_BUILDERS]
                assert not built, f"{path}:{node.lineno} imports {built}"
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert path == BUS_PROTOCOL or not SQL.search(node.value), f"{path}:{node.lineno}"
