"""Reliability outside the server: queries under injected upstream faults, and fuzzed specs and files.

1. Faults: 200 queries (concurrency 50) of 10 generators -> critic -> ranker(5) -> fuser against a local
   OpenAI-compatible server on 127.0.0.1 where each call fails with a 500 at a seeded rate (two retries
   per call). Prints, per rate, the queries answered, those answered by falling back to the best
   remaining candidate (each would have failed before), those failed, and that every failed query kept
   its usage.
2. Specs: 3,000 seeded mutations of the shipped reference programs (wrong types, huge counts, empty
   strings, deep nesting, lone surrogates), loaded as data: every one either loads or raises SpecError.
3. Files: 500 seeded corruptions of spec files (truncation, random bytes, re-encoding, deep nesting),
   loaded with `ac.load`: every one either loads or raises SpecError naming the file (one line when
   the file cannot be read or parsed; the file, then one line per invalid field, when it parses).

Run: uv run --frozen python bench/reliability.py
"""

from __future__ import annotations

import json
import random
import tempfile
import threading
from pathlib import Path
from typing import Any

import archon_compile as ac
from archon_compile import programs as shipped
from archon_compile.runtime.calls import RetryPolicy
from archon_compile.testing import FakeOpenAIServer, Fault, well_formed

QUERIES = 200
RATES = (0.1, 0.3, 0.5, 0.7)
SPEC_MUTATIONS = 3000
FILE_CORRUPTIONS = 500
ODD_VALUES: list[Any] = [True, False, "3", "", 1e23, -1, 0, 10**9, 2.5, None, [], {}, "x" * 100_000, "\ud800"]


class FaultyUpstream:
    """Answers well-formed text, failing each call with a 500 at `rate` (seeded, thread-safe)."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.answer = well_formed(lambda text: "Paris")

    def __call__(self, body: dict[str, Any]) -> str | Fault:
        with self.lock:
            fail = self.rng.random() < self.rate
        return Fault(status=500) if fail else self.answer(body)


def fault_run(rate: float) -> str:
    with FakeOpenAIServer(FaultyUpstream(rate, seed=0)) as server:
        gen = {"type": "generator", "api_base": server.url, "temperature": 0.7, "max_tokens": 64}
        lm = {"api_base": server.url}
        spec = ac.ArchitectureSpec.from_data(
            {
                "name": "faults",
                "layers": [
                    [{**gen, "model": f"openai/m{i}", "samples": 2} for i in range(5)],
                    [{"type": "critic", "model": "openai/c", **lm}],
                    [{"type": "ranker", "model": "openai/r", "top_k": 5, **lm}],
                    [{"type": "fuser", "model": "openai/f", **lm}],
                ],
            }
        )
        retry = RetryPolicy(timeout_s=10, max_retries=2, base_delay_s=0.01, max_delay_s=0.05, parse_retries=0)
        program = ac.Program(spec, cache=False, retry=retry)
        preds = program.batch([f"question {i}?" for i in range(QUERIES)], concurrency=50)
    assert len(preds) == QUERIES
    failed = [p for p in preds if p.error]
    fallback = [p for p in preds if any(r.fallback and "best remaining" in r.fallback for r in p.trace)]
    kept = all(p.usage.calls + p.usage.failed_calls > 0 for p in failed)
    return (
        f"fault rate {rate:.0%}: {QUERIES - len(failed)}/{QUERIES} answered "
        f"({len(fallback)} by falling back to the best remaining candidate), {len(failed)} failed"
        + (f", each keeping its usage: {kept}" if failed else "")
    )


def mutate(data: Any, rng: random.Random) -> Any:
    """`data` with one randomly chosen value replaced by an odd one (or the whole thing nested deep)."""
    if rng.random() < 0.05:
        return [data] * 1 if rng.random() < 0.5 else {"layers": "[" * 50_000}
    spots: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for key, value in list(items):
            spots.append((node, key))
            walk(value)

    walk(data)
    node, key = rng.choice(spots)
    node[key] = rng.choice([*ODD_VALUES, [[[[[]]]]] * 3, {"type": "generator"}])
    if rng.random() < 0.2 and isinstance(node, dict):
        node[rng.choice(["extra", "samples", "layers", "type"])] = rng.choice(ODD_VALUES)
    return data


def spec_fuzz(rng: random.Random) -> str:
    bases = [json.loads((Path(shipped.FOLDER) / f"{n}.json").read_text()) for n in shipped.spec_names()]
    outcomes = {"loaded": 0, "SpecError": 0}
    for _ in range(SPEC_MUTATIONS):
        data = mutate(json.loads(json.dumps(rng.choice(bases))), rng)
        try:
            ac.ArchitectureSpec.from_data(data)
            outcomes["loaded"] += 1
        except ac.SpecError:
            outcomes["SpecError"] += 1
        except Exception as exc:  # noqa: BLE001 - counting anything else is the point
            outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
    return f"spec mutations: {SPEC_MUTATIONS} -> {outcomes}"


def corrupt(raw: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return raw[: rng.randrange(len(raw))]
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
    if kind == 2:
        at = rng.randrange(len(raw))
        return raw[:at] + bytes([rng.randrange(128, 256)]) + raw[at + 1 :]
    if kind == 3:
        return raw.decode().encode("utf-16")
    return b"[" * rng.randrange(1000, 200_000) + raw


def file_fuzz(rng: random.Random) -> str:
    names = shipped.spec_names()
    outcomes = {"loaded": 0, "one line naming the file": 0, "the file, then the invalid fields": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(FILE_CORRUPTIONS):
            raw = (Path(shipped.FOLDER) / f"{rng.choice(names)}.json").read_bytes()
            path = Path(tmp, f"spec-{i}{rng.choice(['.json', '.yaml'])}")
            path.write_bytes(corrupt(raw, rng))
            try:
                ac.load(path, cache=False)
                outcomes["loaded"] += 1
            except ac.SpecError as exc:
                first, *rest = str(exc).splitlines()
                if not rest and first.startswith(str(path)):
                    key = "one line naming the file"
                elif first == f"{path}: invalid architecture spec:":
                    key = "the file, then the invalid fields"
                else:
                    key = "SpecError of another form"
                outcomes[key] = outcomes.get(key, 0) + 1
            except Exception as exc:  # noqa: BLE001 - counting anything else is the point
                outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
    return f"file corruptions: {FILE_CORRUPTIONS} -> {outcomes}"


def main() -> None:
    for rate in RATES:
        print(fault_run(rate), flush=True)
    rng = random.Random(0)
    print(spec_fuzz(rng), flush=True)
    print(file_fuzz(rng), flush=True)


if __name__ == "__main__":
    main()
