"""A local OpenAI-compatible server for tests and benchmarks: scripted answers, latency, faults.

    with FakeOpenAIServer(lambda body: "Paris", latency_s=0.2) as server:
        program = ac.load(spec, lm="openai/fake", api_base=server.url)

`respond(body)` gets the request JSON and returns the answer text or a `Fault` (a status code, a raw
body, an optional Retry-After, or a hang longer than the client's timeout). It binds 127.0.0.1 only.
A request with `"stream": true` gets the answer as server-sent events, word by word, `token_latency_s`
apart (and a usage chunk when `stream_options.include_usage` asks for it), as OpenAI sends them.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from archon_compile.lm.scripted import words


@dataclass(frozen=True)
class Fault:
    status: int = 500
    body: str = '{"error": {"message": "injected fault", "type": "server_error"}}'
    retry_after: float | None = None
    hang_s: float = 0.0


Respond = Callable[[dict[str, Any]], "str | Fault"]


def well_formed(answer: Callable[[str], str]) -> Respond:
    """A responder that answers ranker and critic prompts in the format their parsers expect (the input
    order; one neutral critique per response), and every other prompt with `answer(prompt_text)`, so a
    benchmark measures the runtime rather than parse retries."""
    from archon_compile.signatures import CritiqueSignature, Rank

    def respond(body: dict[str, Any]) -> str:
        text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        n = len(re.findall(r"(?m)^\[\d+\]$", text))
        if Rank.instructions[:40] in text:
            return " > ".join(f"[{i}]" for i in range(1, n + 1))
        if CritiqueSignature.instructions[:40] in text:
            return "\n".join(f"[{i}]\nStrengths: clear.\nWeaknesses: brief." for i in range(1, n + 1))
        return answer(text)

    return respond


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # the default backlog of 5 drops connections under a burst of 100 clients


class FakeOpenAIServer:
    def __init__(
        self, respond: Respond, latency_s: float = 0.0, model: str = "fake", token_latency_s: float = 0.0
    ) -> None:
        self.respond = respond
        self.latency_s = latency_s
        self.token_latency_s = token_latency_s
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []  # each request's headers, in order (keys lower-cased)
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # delayed ACKs would add ~40 ms to every keep-alive request

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._send(
                    200, json.dumps({"object": "list", "data": [{"id": server.model, "object": "model"}]})
                )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                if server.latency_s:
                    time.sleep(server.latency_s)
                answer = server.respond(body)
                if isinstance(answer, Fault):
                    if answer.hang_s:
                        time.sleep(answer.hang_s)
                    headers = (
                        {"Retry-After": f"{answer.retry_after:g}"} if answer.retry_after is not None else {}
                    )
                    self._send(answer.status, answer.body, headers)
                    return
                usage = _usage(body, answer)
                if body.get("stream"):
                    try:
                        self._stream(body, answer, usage)
                    except (BrokenPipeError, ConnectionResetError):  # the client stopped reading
                        self.close_connection = True
                    return
                message = {"role": "assistant", "content": answer}
                choice = {"index": 0, "finish_reason": "stop", "message": message}
                self._send(200, json.dumps(_completion(body, "chat.completion", [choice], usage)))

            def _stream(self, body: dict[str, Any], answer: str, usage: dict[str, int]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                deltas = [{"role": "assistant", "content": ""}] + [{"content": w} for w in words(answer)]
                for i, delta in enumerate(deltas):
                    if i > 1 and server.token_latency_s:
                        time.sleep(server.token_latency_s)
                    self._event([{"index": 0, "delta": delta, "finish_reason": None}], body)
                self._event([{"index": 0, "delta": {}, "finish_reason": "stop"}], body)
                if (body.get("stream_options") or {}).get("include_usage"):
                    self._event([], body, usage)
                self._chunk(b"data: [DONE]\n\n")
                self._chunk(b"")

            def _event(
                self, choices: list[dict[str, Any]], body: dict[str, Any], usage: dict[str, int] | None = None
            ) -> None:
                data = _completion(body, "chat.completion.chunk", choices, usage)
                self._chunk(f"data: {json.dumps(data)}\n\n".encode())

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        return Handler


def _usage(body: dict[str, Any], answer: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    completion = len(answer.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion(
    body: dict[str, Any], kind: str, choices: list[dict[str, Any]], usage: dict[str, int] | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": kind,
        "created": 0,
        "model": body.get("model", "fake"),
        "choices": choices,
    }
    if usage is not None:
        out["usage"] = usage
    return out
