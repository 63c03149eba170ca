"""Options shared by several commands, defined once so they read and behave the same everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

LmOption = Annotated[
    str | None, typer.Option("--lm", help="replace every model, e.g. 'local' or 'openai/gpt-4o-mini'")
]
ApiBaseOption = Annotated[
    str | None, typer.Option("--api-base", help="endpoint for every model (vLLM, llama.cpp, Ollama...)")
]
NoCacheOption = Annotated[bool, typer.Option("--no-cache", help="do not read or write the LM cache")]
