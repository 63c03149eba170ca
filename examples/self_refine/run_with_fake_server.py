"""Run `archon-compile run SPEC` against a local fake model and show which components answered.

Usage: python run_with_fake_server.py PATH/TO/archon-compile SPEC.json
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from archon_compile.testing import FakeOpenAIServer


def respond(body: dict[str, Any]) -> str:
    text = "\n".join(str(m.get("content", "")) for m in body["messages"])
    if "Rank the numbered" in text:
        return "[2] > [1]"
    if "Review the answer" in text:
        return "[No issues]" if "Paris, France" in text else "Name the country too."
    if "Rewrite the answer" in text:
        return "Refined answer: Paris, France."
    return "Paris"


def main(cli: str, spec: str) -> int:
    with FakeOpenAIServer(respond) as server:
        done = subprocess.run(
            [cli, "run", spec, "--query", "What is the capital of France?", "--api-base", server.url,
             "--no-cache", "--json"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    if done.returncode:
        print(done.stderr, file=sys.stderr)
        return done.returncode
    pred = json.loads(done.stdout)
    components = sorted({r["component"].split(":")[-1] for r in pred["trace"]})
    print(f"response: {pred['response']}")
    print(f"LM calls: {pred['usage']['calls']}; signatures called: {', '.join(components)}")
    return 0 if "GiveFeedback" in components else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
