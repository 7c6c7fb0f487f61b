"""Mutation fuzzing of the readers and CLI entry points: at least 10,000 cases, tally by outcome.

Usage::

    python benchmarks/fuzz.py [--cases 10000] [--seed 0] [--jobs 2] [--failures failures.jsonl] [--json PATH]

Builds a seed corpus of every reader family (generated files, plus small real
fixtures from ../shared/data/formats when present), then runs cases drawn
from a seeded generator: each seed file damaged by one mutation (truncation,
byte flips, zeroed header, extreme integers, spliced block, wrong extension)
or a random array with a random calibration, through ``read_image``,
``exo-vision info``, ``tem`` or ``blot`` (see ``tests/fuzzing.py``). Every
case runs in a worker process with a timeout, so hangs in compiled code are
caught. Prints the tally by target and outcome; the exit status is 1 if any
case traced back, hung, crashed, wrote outside --out or changed its input.
Failing cases are written as JSON lines to replay them; ``--json PATH`` writes the tally.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_record import write_json  # noqa: E402
from fuzzing import BAD_OUTCOMES, GOOD_OUTCOMES, TARGETS, CaseRunner, build_corpus, random_case  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes running cases in parallel")
    parser.add_argument("--failures", type=Path, help="write failing cases here (JSON lines)")
    parser.add_argument("--json", type=Path, default=None, help="also write the tally to this JSON file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="exo-vision-fuzz-") as tmp:
        root = Path(tmp)
        seeds = build_corpus(root / "corpus")
        rng = np.random.default_rng(args.seed)
        cases = [random_case(rng, seeds) for _ in range(args.cases)]
        tally: collections.Counter[tuple[str, str]] = collections.Counter()
        failures: list[dict] = []
        lock = threading.Lock()
        next_index = iter(range(len(cases)))
        start = time.perf_counter()

        def drive(job: int) -> None:
            with CaseRunner(root / "corpus", root / f"work{job}") as runner:
                while True:
                    with lock:
                        index = next(next_index, None)
                    if index is None:
                        return
                    case = cases[index]
                    outcome, detail = runner.run(case)
                    with lock:
                        tally[(case.target, outcome)] += 1
                        done = sum(tally.values())
                        if outcome in BAD_OUTCOMES:
                            failures.append({"case": case.__dict__, "outcome": outcome, "detail": detail})
                        if done % 500 == 0:
                            print(f"  {done} cases, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)

        threads = [threading.Thread(target=drive, args=(j,)) for j in range(max(1, args.jobs))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start

    outcomes = GOOD_OUTCOMES + BAD_OUTCOMES
    print(f"exo-vision fuzz: {sum(tally.values())} cases, seed {args.seed}, {len(seeds)} seed files, {wall:.0f} s")
    print(f"{'target':<8}" + "".join(f"{o:>14}" for o in outcomes))
    for target in TARGETS:
        print(f"{target:<8}" + "".join(f"{tally[(target, o)]:>14}" for o in outcomes))
    totals = {o: sum(tally[(t, o)] for t in TARGETS) for o in outcomes}
    print(f"{'total':<8}" + "".join(f"{totals[o]:>14}" for o in outcomes))
    if args.failures is not None:
        args.failures.write_text("".join(json.dumps(f) + "\n" for f in failures))
    for failure in failures[:10]:
        print(json.dumps(failure)[:800])
    if args.json is not None:
        figures = {
            "cases_count": sum(tally.values()),
            "seed": args.seed,
            "seed_files_count": len(seeds),
            "wall_s": wall,
            "outcome_counts_by_target": {t: {o: tally[(t, o)] for o in outcomes} for t in TARGETS},
            "outcome_counts_total": totals,
            "failures_count": len(failures),
        }
        write_json(args.json, figures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
