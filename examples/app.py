"""A tiny app on a compiled architecture: answer questions given on the command line (or stdin).

    python examples/app.py compiled/capitals-demo.json "What is the capital of Peru?"
    python examples/app.py archon-quickstart --lm openai/gpt-4o-mini "What causes tides?"
    echo "What causes tides?" | python examples/app.py compiled/capitals-demo.json

`--lm` / `--api-base` move the artifact to another provider or a local server (vLLM, llama.cpp, Ollama)
without recompiling it.
"""

from __future__ import annotations

import argparse
import sys

import archon_compile as ac


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Answer questions with a compiled ARCHON architecture.")
    parser.add_argument("artifact", help="a compiled artifact, a spec, or a reference program name")
    parser.add_argument("questions", nargs="*", help="questions to answer (default: one per line on stdin)")
    parser.add_argument("--lm", help="replace every model, e.g. 'local' or 'openai/gpt-4o-mini'")
    parser.add_argument("--api-base", help="endpoint for every model")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the LM cache")
    args = parser.parse_args(argv)

    questions = args.questions or [line.strip() for line in sys.stdin if line.strip()]
    try:
        program = ac.load(args.artifact, lm=args.lm, api_base=args.api_base, cache=not args.no_cache)
    except (ac.SpecError, ac.ArtifactError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = False
    # batch() answers the questions concurrently; a failed one comes back with `error` set.
    for question, pred in zip(questions, program.batch(questions), strict=True):
        if pred.error:
            print(f"Q: {question}\nerror: {pred.error}\n", file=sys.stderr)
            failed = True
            continue
        tokens = pred.usage.prompt_tokens + pred.usage.completion_tokens
        print(f"Q: {question}\nA: {pred.response}\n   [{pred.usage.calls} LM calls, {tokens} tokens]\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
