"""Every fixture of the three public mail suites, compared per `aftercare.intake.conformance`.

Fixtures listed in KNOWN_FAILURES are strict xfails: if one starts passing, the test fails
so that the entry is removed. The suites live in ../shared/data; without them nothing runs.
"""

import pytest

from aftercare.intake.conformance import KNOWN_FAILURES, SUITE_DIRS, fixtures, run_fixture

CASES = [
    pytest.param(
        suite,
        fixture,
        id=f"{suite}/{fixture}",
        marks=[pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[f"{suite}/{fixture}"])]
        if f"{suite}/{fixture}" in KNOWN_FAILURES
        else [],
    )
    for suite in SUITE_DIRS
    for fixture in fixtures(suite)
]


@pytest.mark.parametrize(("suite", "fixture"), CASES)
def test_fixture(suite: str, fixture: str) -> None:
    result = run_fixture(suite, fixture)
    assert result.problems == []


def test_every_suite_is_present() -> None:
    # Each README lists its fixtures on this side of the split: 70, 15 and 20.
    assert {suite: len(fixtures(suite)) for suite in SUITE_DIRS} == {
        "zammad": 70,
        "github": 15,
        "talon": 20,
    }


def test_known_failures_name_real_fixtures() -> None:
    names = {f"{suite}/{fixture}" for suite in SUITE_DIRS for fixture in fixtures(suite)}
    assert set(KNOWN_FAILURES) <= names
