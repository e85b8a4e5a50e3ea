#!/usr/bin/env python3
"""Pass rates of the mail parser and reply stripping on the three public fixture suites.

Runs every fixture of email-zammad-mail, email-reply-parser-github and email-talon (in
../shared/data) through the comparison rules documented in `aftercare.intake.conformance`
(the same code the test suite runs), then prints per suite: fixtures, passed, rate, and each
failure with its reason (the KNOWN_FAILURES explanation, or the mismatches found). Run::

    .venv/bin/python bench/mail_conformance.py

Writes bench/results/mail_conformance.json.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=REPO_DIR / "bench/results/mail_conformance.json"
    )
    args = parser.parse_args()

    import django

    os.environ.setdefault("AFTERCARE_ALLOW_DEV_SECRET", "1")
    django.setup()
    from aftercare.intake.conformance import KNOWN_FAILURES, SUITE_DIRS, fixtures, run_fixture

    suites = []
    for suite, folder in SUITE_DIRS.items():
        results = [run_fixture(suite, fixture) for fixture in fixtures(suite)]
        failures = [
            {
                "fixture": result.fixture,
                "known": f"{suite}/{result.fixture}" in KNOWN_FAILURES,
                "reason": KNOWN_FAILURES.get(f"{suite}/{result.fixture}")
                or "; ".join(result.problems),
                "mismatches": result.problems,
            }
            for result in results
            if not result.passed
        ]
        passed = len(results) - len(failures)
        suites.append(
            {
                "suite": suite,
                "data": folder,
                "fixtures": len(results),
                "passed": passed,
                "rate": round(passed / len(results), 4) if results else None,
                # Failures explained in KNOWN_FAILURES (reference defects, RFC readings).
                "known_failures": sum(failure["known"] for failure in failures),
                "seconds": round(sum(result.seconds for result in results), 2),
                "failures": failures,
            }
        )

    print("| suite | fixtures | passed | rate | known failures | unexplained failures |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for entry in suites:
        rate = f"{entry['rate']:.1%}" if entry["rate"] is not None else "n/a"
        unexplained = len(entry["failures"]) - entry["known_failures"]
        print(
            f"| {entry['suite']} | {entry['fixtures']} | {entry['passed']} | {rate} | "
            f"{entry['known_failures']} | {unexplained} |"
        )
    for entry in suites:
        for failure in entry["failures"]:
            label = "known" if failure["known"] else "NEW"
            print(f"- {entry['suite']}/{failure['fixture']} ({label}): {failure['reason']}")

    result = {
        "benchmark": "mail_conformance",
        "goal": ">= 95% of the fixtures of each suite",
        "machine": {"python": platform.python_version()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "suites": suites,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
