"""Embedded Qwen speed on HumanEval answers: before (the complete function with its docstring asked for,
every sample evaluating its prompt from scratch) vs after (no docstring repeated, the k samples of one
prompt sharing its evaluated prefix). Same problems, same model, one run, sequential.

Prints seconds per answer and generated tokens per answer for both, and their ratio. Problems come from
the dev end of the seeded shuffle that `bench/quality_humaneval.py` uses, never from its held-out set.
Run: `uv run --frozen python bench/local_speed.py [--problems 2] [--k 3]`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time

from archon_compile.lm.base import LMRequest, Message
from archon_compile.lm.local import QWEN, local_lm
from archon_compile.tasks.code import HUMANEVAL_QUERY

BEFORE_QUERY = (
    "Complete the following Python function. Answer with the complete function, including its signature "
    "and any imports it needs, in one ```python code block.\n\n```python\n{prompt}```"
)


async def answers(prompts: list[str], k: int) -> tuple[float, int, int]:
    """Seconds, completion tokens and prompt tokens for k samples of each prompt."""
    lm, start, completion, prompt_tokens = local_lm(QWEN), time.perf_counter(), 0, 0
    for text in prompts:
        requests = [
            LMRequest(
                model=QWEN,
                messages=(Message(role="user", content=text),),
                temperature=0.8,
                max_tokens=512,
                sample_index=i,
                seed=0,
            )
            for i in range(k)
        ]
        for r in await asyncio.gather(*(lm.complete(q) for q in requests)):
            completion += r.completion_tokens
            prompt_tokens += r.prompt_tokens
    return time.perf_counter() - start, completion, prompt_tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", type=int, default=2)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import random

    from archon_compile.tasks import registry

    items = registry.get("humaneval").items()
    random.Random(args.seed).shuffle(items)
    problems = [i.reference["prompt"] for i in items[: args.problems]]  # the dev end of the shuffle
    lm = local_lm(QWEN)
    lm.llama()  # load outside the timings
    after_info = lm.info
    lm.info = dataclasses.replace(after_info, reuse_prefix=False)
    before = asyncio.run(answers([BEFORE_QUERY.format(prompt=p) for p in problems], args.k))
    lm.info = after_info
    after = asyncio.run(answers([HUMANEVAL_QUERY.format(prompt=p) for p in problems], args.k))
    n = args.problems * args.k
    for name, (secs, tokens, _) in (("before", before), ("after", after)):
        print(
            f"{name}: {secs / n:.1f} s/answer, {tokens / n:.0f} tokens/answer, {tokens / secs:.1f} tokens/s"
        )
    print(
        f"seconds per answer after/before: {after[0] / before[0]:.2f}x "
        f"(generated tokens {after[1] / before[1]:.2f}x)"
    )


if __name__ == "__main__":
    main()
