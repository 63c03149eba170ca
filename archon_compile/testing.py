"""A local OpenAI-compatible server for tests and benchmarks: scripted answers, latency, faults.

    with FakeOpenAIServer(lambda body: "Paris", latency_s=0.2) as server:
        program = ac.load(spec, lm="openai/fake", api_base=server.url)

`respond(body)` gets the request JSON and returns the answer text or a `Fault` (a status code, a raw
body, an optional Retry-After, or a hang longer than the client's timeout). It binds 127.0.0.1 only.
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
    def __init__(self, respond: Respond, latency_s: float = 0.0, model: str = "fake") -> None:
        self.respond = respond
        self.latency_s = latency_s
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
                words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
                self._send(
                    200,
                    json.dumps(
                        {
                            "id": "chatcmpl-fake",
                            "object": "chat.completion",
                            "created": 0,
                            "model": body.get("model", server.model),
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": answer},
                                }
                            ],
                            "usage": {
                                "prompt_tokens": words,
                                "completion_tokens": len(answer.split()),
                                "total_tokens": words + len(answer.split()),
                            },
                        }
                    ),
                )

        return Handler
