"""The same app through `archon-compile serve`, with nothing but the official `openai` client.

    export ARCHON_KEY=$(openssl rand -hex 16)
    archon-compile serve compiled/capitals-demo.json --api-key-env ARCHON_KEY &
    python examples/app_openai_client.py --api-key-env ARCHON_KEY "What causes tides?"

The model id is the artifact's name (asked from GET /v1/models unless --model is given). `usage` in each
answer sums every LM call the architecture made.
"""

from __future__ import annotations

import argparse
import os
import sys

import openai


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ask an archon-compile server questions.")
    parser.add_argument("questions", nargs="+", help="questions to answer")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1", help="the server's /v1 URL")
    parser.add_argument("--api-key-env", help="environment variable holding the server's key, if it has one")
    parser.add_argument("--model", help="model id (default: the one the server serves)")
    parser.add_argument("--stream", action="store_true", help="print the answer as it arrives")
    args = parser.parse_args(argv)

    key = os.environ.get(args.api_key_env, "") if args.api_key_env else "unused"
    client = openai.OpenAI(base_url=args.base_url, api_key=key)
    try:
        model = args.model or client.models.list().data[0].id
        for question in args.questions:
            print(f"Q: {question}\nA: ", end="", flush=True)
            messages: list[openai.types.chat.ChatCompletionMessageParam] = [
                {"role": "user", "content": question}
            ]
            if args.stream:
                for chunk in client.chat.completions.create(model=model, messages=messages, stream=True):
                    if chunk.choices:
                        print(chunk.choices[0].delta.content or "", end="", flush=True)
                print("\n")
                continue
            resp = client.chat.completions.create(model=model, messages=messages)
            tokens = resp.usage.total_tokens if resp.usage else 0
            print(f"{resp.choices[0].message.content}\n   [{tokens} tokens over the whole architecture]\n")
    except openai.APIError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
