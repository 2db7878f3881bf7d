"""Benchmarks that print figures: `make bench` (or `python -m bench [name ...]`)."""

import sys

from bench import api_pages, emulator, emulator_memory, live, race, soak, sync

BENCHES = {
    "api_pages": api_pages.main,
    "emulator": emulator.main,
    "emulator_memory": emulator_memory.main,
    "sync": sync.main,
    "soak": soak.main,
    "live": live.main,
}
# Not in `make bench`'s default list: it runs for ten minutes and more on PostgreSQL and Redis.
ON_REQUEST = {"race": race.main}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHES)
    known = {**BENCHES, **ON_REQUEST}
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"Unknown benchmark(s): {', '.join(unknown)}. Known: {', '.join(known)}")
        return 2
    for name in names:
        print(f"== {name}")
        known[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
