"""Benchmarks that print figures: `make bench` (or `python -m bench [name ...]`)."""

import sys

from bench import api_pages, emulator, live, soak, sync

BENCHES = {
    "api_pages": api_pages.main,
    "emulator": emulator.main,
    "sync": sync.main,
    "soak": soak.main,
    "live": live.main,
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"Unknown benchmark(s): {', '.join(unknown)}. Known: {', '.join(BENCHES)}")
        return 2
    for name in names:
        print(f"== {name}")
        BENCHES[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
