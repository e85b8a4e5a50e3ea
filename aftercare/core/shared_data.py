"""Where the public data sets of ../shared/data live (tests, evaluations and benchmarks read them
in place; they are never copied into the project)."""

import os
from pathlib import Path

_BESIDE_CHECKOUT = Path(__file__).resolve().parents[3] / "shared" / "data"


def shared_data_dir() -> Path:
    """`AFTERCARE_SHARED_DATA` when set, else `shared/data` next to the checkout."""
    return Path(os.environ.get("AFTERCARE_SHARED_DATA") or _BESIDE_CHECKOUT)
