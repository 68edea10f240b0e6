"""Fail unless PostgreSQL-backed tests ran, directly and through PgBouncer, none skipped."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

BACKENDS = ("postgresql", "pgbouncer")


def main(report: str) -> int:
    ran = dict.fromkeys(BACKENDS, 0)
    skipped = 0
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name", "")
        backend = next((b for b in BACKENDS if b in name), None)
        if backend is None:
            continue
        if case.find("skipped") is not None:
            skipped += 1
            print(f"skipped {backend} test: {case.get('classname')}::{name}")
        else:
            ran[backend] += 1
    print(", ".join(f"{backend} tests: {count} ran" for backend, count in ran.items()))
    print(f"skipped: {skipped}")
    return 0 if all(ran.values()) and skipped == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
