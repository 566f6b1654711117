"""`make bench` / `python -m bench`: run the suite on its own local stack and write the results.

python -m bench                  full suite (< 15 min), results in bench/results/latest.json
python -m bench --quick          reduced sizes (< 3 min), same keys, bench/results/quick.json
python -m bench --only ceiling   one case (or figure key) alone, bench/results/partial.json
python -m bench --list           the registered cases and their figures
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench import report
from bench.sizes import MODES, sizes_for
from bench.stack import OwnStack
from bench.suite import failed, run_suite, select

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="the reduced suite (same as --mode quick)")
    parser.add_argument("--mode", choices=MODES, default=None)
    parser.add_argument("--only", nargs="+", metavar="CASE", help="case names or figure keys to run alone")
    parser.add_argument("--out", type=Path, help="where to write the JSON (default: by mode, see above)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(argv)
    if args.list:
        for case in select(None):
            print(f"{case.name:<24} needs {case.needs:<8} {', '.join(case.keys)}\n{'':<24} {case.doc}")
        return 0
    sizes = sizes_for(args.mode or ("quick" if args.quick else "full"))
    out = args.out or RESULTS / (
        "partial.json" if args.only else "latest.json" if sizes.mode == "full" else f"{sizes.mode}.json"
    )
    select(args.only)  # refuse an unknown name before starting anything
    stack = OwnStack.create()
    document = run_suite(sizes, stack, stack.settings.state_dir / "work", only=args.only)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    print()
    print(report.markdown(document))
    print(f"\nbench: results in {out}")
    broken = failed(document)
    if broken:
        print(f"bench: FAILED cases: {broken}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
