"""Files under ../shared: beside the developers' checkout only, so a test needing one skips elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or skip the test: a user's clone does not have it."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not present (../shared is only beside the developers' checkout)")
    return p
