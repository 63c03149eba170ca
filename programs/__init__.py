"""Reference architecture specs (JSON data), importable as `archon_compile.programs`.

`ac.load("archon-quickstart")` finds a spec here by name.
"""

from pathlib import Path

FOLDER = Path(__file__).parent


def spec_names() -> list[str]:
    """The names of the shipped reference specs (`ac.load(name)` finds each)."""
    return sorted(p.stem for p in FOLDER.glob("*.json"))
