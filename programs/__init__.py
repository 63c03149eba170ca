"""Reference architecture specs (JSON data), importable as `archon_compile.programs`.

`ac.load("archon-quickstart")` finds a spec here by name.
"""

from pathlib import Path

FOLDER = Path(__file__).parent


def names() -> list[str]:
    return sorted(p.stem for p in FOLDER.glob("*.json"))
