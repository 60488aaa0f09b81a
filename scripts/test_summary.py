"""The last lines of ``make test``: one line per suite (tests/, conformance/, benchmarks/) from
the JUnit XML files pytest wrote, and a total.

    python scripts/test_summary.py .test-results/tests.xml .test-results/conformance.xml ...

A suite whose file is missing (pytest did not get as far as writing it) is reported as such.
"""
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def counts(path: Path) -> dict:
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    get = lambda name: int(suite.get(name, 0))  # noqa: E731
    failed, errors, skipped = get("failures"), get("errors"), get("skipped")
    return {"passed": get("tests") - failed - errors - skipped, "failed": failed, "errors": errors,
            "skipped": skipped, "seconds": float(suite.get("time", 0.0))}


def main(paths: list) -> int:
    total = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "seconds": 0.0}
    print("=" * 30 + " make test: summary " + "=" * 30)
    missing = False
    for name in paths:
        path = Path(name)
        if not path.exists():
            print(f"{path.stem + '/':13} no result (pytest stopped before writing {path})")
            missing = True
            continue
        c = counts(path)
        for key in total:
            total[key] += c[key]
        print(f"{path.stem + '/':13} {c['passed']:5} passed {c['failed']:4} failed {c['errors']:3} errors "
              f"{c['skipped']:4} skipped  {c['seconds']:7.1f} s")
    ok = not (total["failed"] or total["errors"] or missing)
    print(f"{'all':13} {total['passed']:5} passed {total['failed']:4} failed {total['errors']:3} errors "
          f"{total['skipped']:4} skipped  {total['seconds']:7.1f} s  {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
