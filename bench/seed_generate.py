"""
Throughput of the pure synthetic-payer generator (no database): members/s and resources/s.

Run: .venv/bin/python bench/seed_generate.py [MEMBERS ...]   (default: 100 1000)
The full seed benchmark with database writes is bench/seed.py (issue 4, later).
"""

import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox.seeding.generator import generate_payer  # noqa: E402


def run(members: int, seed: int = 1) -> tuple[float, Counter]:
    counts = Counter()
    started = time.perf_counter()
    for resource in generate_payer(slug="bench", name="Bench Health", members=members, seed=seed):
        counts[resource["resourceType"]] += 1
    return time.perf_counter() - started, counts


def main(argv: list[str]) -> None:
    sizes = [int(arg) for arg in argv] or [100, 1000]
    run(4)  # load the drug catalog outside the timings
    for members in sizes:
        elapsed, counts = run(members)
        total = sum(counts.values())
        print(
            f"{members:>6} members  {total:>8} resources  {elapsed:6.2f} s  "
            f"{members / elapsed:8.0f} members/s  {total / elapsed:8.0f} resources/s"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
