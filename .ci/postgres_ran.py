"""Fail unless PostgreSQL-backed tests ran and none of them was skipped."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def main(report: str) -> int:
    ran = skipped = 0
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name", "")
        if "postgresql" not in name:
            continue
        if case.find("skipped") is not None:
            skipped += 1
            print(f"skipped PostgreSQL test: {case.get('classname')}::{name}")
        else:
            ran += 1
    print(f"PostgreSQL tests: {ran} ran, {skipped} skipped")
    return 0 if ran > 0 and skipped == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
