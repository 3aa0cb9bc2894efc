"""Carnet's measurements (`make bench`): each section prints its figures next to a raw ceiling.

Run all sections, or name some: `make bench SECTIONS="vault audit"`. Figures depend on the machine;
they are printed, never asserted.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from bench import common, sections

SECTIONS: dict[str, Callable[[], None]] = sections.ALL


def main(argv: list[str]) -> int:
    chosen = argv or list(SECTIONS)
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        print(f"unknown section(s): {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
        return 2
    for name in chosen:
        print(f"\n== {name} ==", flush=True)
        started = time.perf_counter()
        SECTIONS[name]()
        print(f"({name} took {time.perf_counter() - started:.1f} s)", flush=True)
    if common.SUMMARY:
        print("\n== summary: Carnet against the raw baseline of the same run ==")
        for line in common.SUMMARY:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
