"""Property-based fuzzing (hypothesis) of the readers and the CLI entry points.

The invariant, on mutated fixtures of every reader family and on random
arrays with random calibrations: a result or a message that names the file;
never a traceback, a hang (timeout per case), a write outside ``--out`` or a
changed input. See ``tests/fuzzing.py``; ``benchmarks/fuzz.py`` runs the same
cases 10,000 at a time. The run here is small and derandomized (same cases
every time) to stay well under a minute.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzzing import BAD_OUTCOMES, MUTATIONS, Case, CaseRunner, build_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow  # every case runs the CLI or a reader in a subprocess

CI_EXAMPLES = {"read": 40, "info": 15, "tem": 12, "blot": 8}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("fuzz_corpus")
    return folder, build_corpus(folder)


@pytest.fixture(scope="module")
def runner(corpus, tmp_path_factory):
    with CaseRunner(corpus[0], tmp_path_factory.mktemp("fuzz_work") / "case") as r:
        yield r


def _cases(seeds: list[str], target: str) -> st.SearchStrategy[Case]:
    return st.builds(
        Case,
        seed=st.sampled_from([*seeds, "array"]),
        mutation=st.sampled_from(MUTATIONS),
        rng_seed=st.integers(0, 2**31 - 1),
        target=st.just(target),
        variant=st.integers(0, 11),
    )


@pytest.mark.parametrize("target", list(CI_EXAMPLES))
def test_fuzz_result_or_named_message(target, corpus, runner):
    seeds = corpus[1]
    failures = []

    @settings(
        max_examples=CI_EXAMPLES[target],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(seeds, target))
    def check(case: Case) -> None:
        outcome, detail = runner.run(case)
        if outcome in BAD_OUTCOMES:
            failures.append((case, outcome, detail))
        assert outcome not in BAD_OUTCOMES, f"{case}: {outcome}: {detail}"

    check()
    assert not failures


def test_fuzz_harness_catches_a_hang(corpus, runner):
    """The timeout really fires: a case that overruns it is a hang, and the next case gets a fresh worker."""
    warm = Case(seed=corpus[1][0], mutation="none", rng_seed=0, target="read")
    assert runner.run(warm)[0] in ("result", "message")
    assert (
        runner.run(Case(seed="", mutation="none", rng_seed=0, target="_sleep", variant=30), timeout_s=0.5)[0] == "hang"
    )
    assert runner.run(warm)[0] in ("result", "message")
