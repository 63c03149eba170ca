"""The OpenAI-compatible server: the real `openai` client, streaming, auth, errors, limits, concurrency."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import archon_compile as ac
from archon_compile.cli import app as cli_app
from archon_compile.lm.base import LMError, LMRequest, LMResponse
from archon_compile.serve import ApiError, ServeOptions, ServerThread, create_app
from archon_compile.serve.app import parse_request
from archon_compile.testing import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]
NAME = "tiny-moa"
SPEC = {
    "name": NAME,
    "layers": [
        [
            {"type": "generator", "model": "m1", "samples": 2, "temperature": 0.7},
            {"type": "generator", "model": "m2", "temperature": 0.7},
        ],
        [{"type": "fuser", "model": "m1", "temperature": 0.7}],
    ],
}
CALLS = 4
NO_RETRY = ac.RetryPolicy(max_retries=0, parse_retries=0)


def answer_for(request: LMRequest) -> str:
    """Drafts from generators, a final answer from the fuser; both derived from the question."""
    question = request.messages[-1].content
    fusing = request.messages[0].role == "system" and "Responses:" in request.messages[0].content
    return f"final answer to: {question}" if fusing else f"draft for: {question}"


class FaultyLM:
    """Answers like `answer_for`, but hangs on questions containing 'hang' and fails on 'fail'."""

    def __init__(self) -> None:
        self.inner = ac.ScriptedLM(answer_for)

    async def complete(self, request: LMRequest) -> LMResponse:
        question = request.messages[-1].content
        if "hang" in question:
            await asyncio.sleep(30)
        if "fail" in question:
            raise LMError("provider said no (HTTP 400)", retryable=False, status=400)
        return await self.inner.complete(request)


@contextmanager
def serving(lm: Any = None, log_level: str = "warning", **options: Any) -> Iterator[tuple[str, Any]]:
    lm = lm or ac.ScriptedLM(answer_for)
    program = ac.Program(ac.ArchitectureSpec.model_validate(SPEC), lms={"*": lm}, cache=False, retry=NO_RETRY)
    with ServerThread(create_app(program, ServeOptions(**options)), log_level=log_level) as server:
        yield server.base_url, lm


def client(base_url: str, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=20)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def expected_usage(lm: ac.ScriptedLM) -> tuple[int, int]:
    prompt = sum(len(m.content.split()) for r in lm.requests for m in r.messages)
    completion = sum(len(answer_for(r).split()) for r in lm.requests)
    return prompt, completion


def test_openai_client_gets_the_final_answer_and_usage_summed_over_every_call():
    with serving() as (url, lm):
        resp = client(url).chat.completions.create(model=NAME, messages=user("What causes tides?"))
    assert resp.choices[0].message.content == "final answer to: What causes tides?"
    assert resp.choices[0].finish_reason == "stop" and resp.choices[0].message.role == "assistant"
    assert resp.model == NAME and resp.object == "chat.completion" and resp.id.startswith("chatcmpl-")
    assert lm.calls == CALLS
    prompt, completion = expected_usage(lm)
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (prompt, completion)
    assert resp.usage.total_tokens == prompt + completion
    assert resp.model_extra is not None and resp.model_extra["archon"]["calls"] == CALLS


def test_streaming_sends_role_then_content_then_stop_then_done():
    with serving() as (url, lm):
        stream = client(url).chat.completions.create(
            model=NAME,
            messages=user("Why is the sky blue?"),
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        raw = httpx.post(
            f"{url}/chat/completions",
            json={"model": NAME, "messages": user("raw"), "stream": True},
            timeout=20,
        )
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in with_choices)
    assert text == "final answer to: Why is the sky blue?"
    assert len(with_choices) > 3, "the fuser's words arrive as separate chunks"
    assert with_choices[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in with_choices[:-1])
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert {c.id for c in chunks} == {chunks[0].id} and all(c.model == NAME for c in chunks)
    assert raw.headers["content-type"].startswith("text/event-stream")
    events = [line for line in raw.text.split("\n\n") if line]
    assert events[-1] == "data: [DONE]" and all(e.startswith("data: ") for e in events)
    deltas = [json.loads(e.removeprefix("data: "))["choices"][0]["delta"] for e in events[1:-2]]
    assert "".join(d["content"] for d in deltas) == "final answer to: raw"
    assert all(json.loads(e.removeprefix("data: ")).get("usage") is None for e in events[:-1])


def sse_timeline(url: str, question: str, read_events: int | None = None) -> list[tuple[float, str]]:
    """(seconds since the request, event data) for each server-sent event, in order of arrival."""
    start = time.perf_counter()
    out: list[tuple[float, str]] = []
    body = {"model": NAME, "messages": user(question), "stream": True}
    with httpx.stream("POST", f"{url}/chat/completions", json=body, timeout=20) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: "):
                out.append((time.perf_counter() - start, line.removeprefix("data: ")))
                if read_events is not None and len(out) >= read_events:
                    break
    return out


def test_streamed_tokens_reach_the_client_as_the_fuser_writes_them():
    lm = ac.ScriptedLM(answer_for, latency_s=0.1, token_latency_s=0.05)
    with serving(lm) as (url, _):
        timeline = sse_timeline(url, "one two three four five six")
    content = [(t, json.loads(d)["choices"][0]["delta"]["content"]) for t, d in timeline[1:-2]]
    assert "".join(c for _, c in content) == "final answer to: one two three four five six"
    first, last = content[0][0], content[-1][0]
    # The words leave as the fuser writes them (0.05 s apart), not all at once when it has finished.
    assert last - first > 0.05 * (len(content) - 3), (first, last)


class SlowStreamLM:
    """Generators answer at once; the final fuser streams a word every 50 ms, and notes how far it got."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.inner = ac.ScriptedLM(answer_for)
        self.fail_after = fail_after
        self.words_sent = 0
        self.finished = False

    async def complete(self, request: LMRequest) -> LMResponse:
        return await self.inner.complete(request)

    async def stream(self, request: LMRequest) -> AsyncIterator[str | LMResponse]:
        text = " ".join(["word"] * 40)
        for i, word in enumerate(text.split(" ")):
            if i == self.fail_after:
                raise LMError("connection reset", retryable=True)
            await asyncio.sleep(0.05)
            self.words_sent += 1
            yield word + " "
        self.finished = True
        yield LMResponse(text=text)


def test_a_client_leaving_a_stream_cancels_the_fuser():
    lm = SlowStreamLM()
    with serving(lm) as (url, _):
        events = sse_timeline(url, "q", read_events=3)  # role, two words, then hang up
        time.sleep(0.5)
        sent = lm.words_sent
        time.sleep(0.3)
    assert len(events) == 3 and not lm.finished
    assert sent < 10 and lm.words_sent == sent, "the stream stopped when the client left"


def test_a_stream_broken_after_its_first_tokens_ends_with_an_error_event():
    with serving(SlowStreamLM(fail_after=3)) as (url, _):
        timeline = sse_timeline(url, "q")
    data = [d for _, d in timeline]
    assert json.loads(data[0])["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(json.loads(d)["choices"][0]["delta"]["content"] for d in data[1:4]) == "word word word"
    error = json.loads(data[-1])["error"]
    assert error["code"] == "upstream_failed" and "streamed" in error["message"]


def test_models_and_health():
    with serving() as (url, _):
        c = client(url)
        assert [m.id for m in c.models.list().data] == [NAME]
        assert c.models.retrieve(NAME).id == NAME
        with pytest.raises(openai.NotFoundError):
            c.models.retrieve("gpt-4o")
        health = httpx.get(url.removesuffix("/v1") + "/health")
    assert health.status_code == 200 and health.json() == {"status": "ok", "model": NAME}


def test_sampling_parameters_are_accepted_and_ignored():
    with serving() as (url, lm):
        resp = client(url).chat.completions.create(
            model=NAME, messages=user("q"), temperature=0.0, top_p=0.1, max_tokens=1, stop=["x"], seed=3
        )
    assert resp.choices[0].message.content == "final answer to: q"
    assert {r.temperature for r in lm.requests} == {0.7} and {r.stop for r in lm.requests} == {()}


def test_conversations_keep_their_roles():
    messages = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Capital of France?"},
    ]
    with serving() as (url, lm):
        resp = client(url).chat.completions.create(model=NAME, messages=messages)  # type: ignore[arg-type]
    assert resp.choices[0].message.content == "final answer to: Capital of France?"
    generator_request = next(r for r in lm.requests if r.model == "m2")
    assert [(m.role, m.content) for m in generator_request.messages] == [
        ("system", "Be brief."),
        ("user", "Hi"),
        ("assistant", "Hello."),
        ("user", "Capital of France?"),
    ]


BAD_REQUESTS = [
    ("not json", b'{"model": ', 400, None, "invalid_json"),
    ("not an object", b"[]", 400, None, "invalid_json"),
    ("missing messages", {"model": NAME}, 400, "messages", "invalid_value"),
    ("empty messages", {"model": NAME, "messages": []}, 400, "messages", "invalid_value"),
    (
        "bad role",
        {"model": NAME, "messages": [{"role": "tool", "content": "x"}]},
        400,
        "messages[0].role",
        "invalid_value",
    ),
    (
        "ends with assistant",
        {"model": NAME, "messages": [{"role": "assistant", "content": "x"}]},
        400,
        "messages",
        "invalid_value",
    ),
    (
        "image content",
        {"model": NAME, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
        400,
        "messages[0].content",
        "invalid_value",
    ),
    (
        "null content",
        {"model": NAME, "messages": [{"role": "user", "content": None}]},
        400,
        "messages[0].content",
        "invalid_value",
    ),
    ("n > 1", {"model": NAME, "n": 2, "messages": user("x")}, 400, "n", "invalid_value"),
    (
        "tools",
        {"model": NAME, "tools": [{"type": "function"}], "messages": user("x")},
        400,
        "tools",
        "invalid_value",
    ),
    (
        "json mode",
        {"model": NAME, "response_format": {"type": "json_object"}, "messages": user("x")},
        400,
        "response_format",
        "invalid_value",
    ),
    (
        "bad temperature",
        {"model": NAME, "temperature": "hot", "messages": user("x")},
        400,
        "temperature",
        "invalid_value",
    ),
    ("unknown model", {"model": "gpt-4o", "messages": user("x")}, 404, "model", "model_not_found"),
]


@pytest.fixture(scope="module")
def shared_server() -> Iterator[tuple[str, Any]]:
    with serving(max_body_bytes=4096) as served:
        yield served


@pytest.mark.parametrize(
    ("case", "body", "status", "param", "code"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
def test_bad_requests_get_openai_style_errors(shared_server, case, body, status, param, code):
    url, lm = shared_server
    before = lm.calls
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = httpx.post(
        f"{url}/chat/completions", content=content, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    assert (error["param"], error["code"]) == (param, code)
    assert error["message"] and (param is None or param.split("[")[0] in error["message"] or status == 404)
    assert lm.calls == before, "a rejected request must not reach the LMs"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
REQUEST_LIKE = st.fixed_dictionaries(
    {"model": st.sampled_from([NAME, "other"]) | JSON_VALUES},
    optional={
        "messages": st.lists(
            st.fixed_dictionaries(
                {"role": st.sampled_from(["user", "system", "assistant", "developer", "tool"]) | JSON_VALUES},
                optional={"content": JSON_VALUES, "name": JSON_VALUES},
            ),
            max_size=3,
        )
        | JSON_VALUES,
        "n": JSON_VALUES,
        "stream": JSON_VALUES,
        "temperature": JSON_VALUES,
        "tools": JSON_VALUES,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | REQUEST_LIKE.map(lambda d: json.dumps(d).encode()))
def test_any_body_parses_to_a_request_or_a_400(body):
    try:
        req = parse_request(body)
    except ApiError as exc:
        assert exc.status == 400 and exc.body.error.message
    else:
        assert req.messages and req.messages[-1].role == "user" and req.n == 1


MALFORMED = [
    (
        "5,000-digit number",
        b'{"model": "%s", "seed": %s, "messages": [{"role": "user", "content": "x"}]}'
        % (NAME.encode(), b"9" * 5000),
    ),
    ("100,000 nested arrays", b"[" * 100_000 + b"]" * 100_000),
    (
        "nested deep in a field",
        b'{"model": "%s", "tools": %s%s}' % (NAME.encode(), b"[" * 50_000, b"]" * 50_000),
    ),
    (
        "lone surrogate",
        b'{"model": "%s", "messages": [{"role": "user", "content": "\\ud800 x"}]}' % NAME.encode(),
    ),
    (
        "lone surrogate in a part",
        json.dumps(
            {"model": NAME, "messages": [{"role": "user", "content": [{"type": "text", "text": "a\udfff"}]}]}
        ).encode(),
    ),
    (
        "raw surrogate bytes",
        b'{"model": "%s", "messages": [{"role": "user", "content": "\xed\xa0\x80"}]}' % NAME.encode(),
    ),
    ("invalid UTF-8", b'{"model": "\xff"}'),
]


@pytest.mark.parametrize("body", [b for _, b in MALFORMED], ids=[n for n, _ in MALFORMED])
def test_malformed_bodies_are_400s_in_openai_shape(body):
    with serving() as (url, lm):
        resp = httpx.post(f"{url}/chat/completions", content=body, timeout=20)
        assert lm.calls == 0
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["type"] == "invalid_request_error" and resp.json()["error"]["message"]


def test_a_lone_surrogate_is_named_in_the_error():
    body = b'{"model": "%s", "messages": [{"role": "user", "content": "\\ud800 x"}]}' % NAME.encode()
    with pytest.raises(ApiError) as caught:
        parse_request(body)
    assert caught.value.body.error.param == "messages[0].content"
    assert "surrogate" in caught.value.body.error.message


def test_unknown_routes_and_methods_get_openai_style_errors(shared_server):
    url, _ = shared_server
    missing = httpx.post(f"{url}/completions", json={})
    wrong_method = httpx.get(f"{url}/chat/completions")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert (wrong_method.status_code, wrong_method.json()["error"]["code"]) == (405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "POST"  # RFC 9110: a 405 names the methods that work


def raw_exchange(url: str, head: str, body: bytes = b"") -> str:
    """Send a request head (and part of a body) without finishing it; return what the server answers."""
    host, port = httpx.URL(url).host, httpx.URL(url).port
    assert port is not None
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            part = sock.recv(65536)
            if not part:
                break
            data += part
    return data.decode()


def test_oversized_body_is_refused_by_content_length_before_it_is_sent(shared_server):
    url, lm = shared_server
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 50000000\r\n"
    )
    reply = raw_exchange(url, head)  # not one byte of the 50 MB body is sent
    assert reply.startswith("HTTP/1.1 413")
    assert json.loads(reply.split("\r\n\r\n", 1)[1])["error"]["code"] == "request_too_large"


def test_oversized_chunked_body_is_refused_while_it_arrives(shared_server):
    url, _ = shared_server
    head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    chunk = b"a" * 5000
    reply = raw_exchange(url, head, f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")  # and no final chunk
    assert reply.startswith("HTTP/1.1 413")
    assert "--max-body-bytes" in reply


def test_body_at_the_limit_is_accepted_and_one_byte_over_is_not(shared_server):
    url, _ = shared_server
    base = json.dumps({"model": NAME, "messages": user("x")})
    padded = base[:-1] + " " * (4096 - len(base)) + "}"
    assert len(padded) == 4096
    assert httpx.post(f"{url}/chat/completions", content=padded, timeout=20).status_code == 200
    over = httpx.post(f"{url}/chat/completions", content=padded + " ", timeout=20)
    assert over.status_code == 413


def test_api_key_is_required_and_never_logged(caplog, capfd):
    key = "sk-archon-test-3f9a1c77e2"
    caplog.set_level("DEBUG")
    with serving(lm=FaultyLM(), log_level="debug", api_key=key) as (url, _):
        assert client(url, key).chat.completions.create(model=NAME, messages=user("ok")).choices
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {key}"}):
            resp = httpx.post(
                f"{url}/chat/completions", json={"model": NAME, "messages": user("x")}, headers=headers
            )
            assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_api_key"
            assert key not in resp.text
        assert httpx.get(f"{url}/models").status_code == 401
        assert httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        with pytest.raises(openai.AuthenticationError):
            client(url, "sk-wrong").models.list()
        with pytest.raises(openai.APIStatusError):
            client(url, key).chat.completions.create(model=NAME, messages=user("please fail"))
    out, err = capfd.readouterr()
    assert "401" in caplog.text + out + err, "the check must see the server's log"
    assert key not in caplog.text and key not in out and key not in err
    assert key not in repr(ServeOptions(api_key=key))


def test_upstream_failure_is_a_502_with_a_clear_message():
    with serving(lm=FaultyLM()) as (url, _):
        resp = httpx.post(f"{url}/chat/completions", json={"model": NAME, "messages": user("please fail")})
        streamed = httpx.post(
            f"{url}/chat/completions", json={"model": NAME, "messages": user("fail"), "stream": True}
        )
    assert resp.status_code == 502 and streamed.status_code == 502
    error = resp.json()["error"]
    assert error["type"] == "upstream_error" and error["code"] == "upstream_failed"
    assert "provider said no" in error["message"]


def test_a_bug_in_the_program_is_a_500_in_openai_shape_and_the_server_survives():
    class BrokenLM:
        async def complete(self, request: LMRequest) -> LMResponse:
            if "boom" in request.messages[-1].content:
                raise RuntimeError("a bug, not an LM error")
            return await ac.ScriptedLM(answer_for).complete(request)

    with serving(lm=BrokenLM()) as (url, _):
        broken = httpx.post(f"{url}/chat/completions", json={"model": NAME, "messages": user("boom")})
        fine = httpx.post(f"{url}/chat/completions", json={"model": NAME, "messages": user("fine")})
    assert broken.status_code == 500 and broken.json()["error"]["type"] == "server_error"
    assert "a bug" not in broken.text, "internals stay in the server log"
    assert fine.status_code == 200


async def _post(http: httpx.AsyncClient, url: str, question: str) -> tuple[httpx.Response, float]:
    start = time.perf_counter()
    resp = await http.post(f"{url}/chat/completions", json={"model": NAME, "messages": user(question)})
    return resp, time.perf_counter() - start


def test_a_hung_upstream_times_out_while_other_requests_are_served():
    async def scenario(url: str) -> list[tuple[httpx.Response, float]]:
        async with httpx.AsyncClient(timeout=20) as http:
            return await asyncio.gather(
                _post(http, url, "hang forever"), *(_post(http, url, f"quick {i}") for i in range(5))
            )

    with serving(lm=FaultyLM(), timeout_s=2.0) as (url, _):
        (hung, hung_s), *quick = asyncio.run(scenario(url))
        after = httpx.post(f"{url}/chat/completions", json={"model": NAME, "messages": user("still there?")})
    assert hung.status_code == 504 and hung.json()["error"]["code"] == "timeout"
    assert 1.9 < hung_s < 6
    assert all(r.status_code == 200 and s < 1.5 for r, s in quick), [(r.status_code, s) for r, s in quick]
    assert after.status_code == 200


@pytest.mark.parametrize(("concurrency", "serialised"), [(4, False), (1, True)])
def test_requests_are_answered_concurrently_up_to_the_limit(concurrency, serialised):
    async def scenario(url: str) -> float:
        start = time.perf_counter()
        async with httpx.AsyncClient(timeout=20) as http:
            results = await asyncio.gather(*(_post(http, url, f"q{i}") for i in range(4)))
        assert all(r.status_code == 200 for r, _ in results)
        return time.perf_counter() - start

    # 4 queries of 2 layers x 0.15 s: 0.3 s when concurrent, 1.2 s when serialised.
    with serving(lm=ac.ScriptedLM(answer_for, latency_s=0.15), concurrency=concurrency) as (url, _):
        wall = asyncio.run(scenario(url))
    assert (wall >= 1.2) if serialised else (wall < 0.9), wall


class CountingLM:
    """Every call takes 0.3 s; counts calls started, finished and cancelled."""

    def __init__(self) -> None:
        self.started = self.finished = self.cancelled = 0

    async def complete(self, request: LMRequest) -> LMResponse:
        self.started += 1
        try:
            await asyncio.sleep(0.3)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        return await ac.ScriptedLM(answer_for).complete(request)


DEEP = {  # four LM calls, one per layer: an abandoned query should stop after the first
    "name": NAME,
    "layers": [[{"type": "generator", "model": "m1"}]] + [[{"type": "fuser", "model": "m1"}]] * 3,
}


def abandon(url: str, body: bytes, *, after_s: float, declared: int | None = None) -> None:
    """Send a request (or the start of one) and hang up without reading the answer."""
    u = httpx.URL(url)
    assert u.port is not None
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared if declared is not None else len(body)}\r\n\r\n"
    )
    with socket.create_connection((u.host, u.port), timeout=5) as sock:
        sock.sendall(head.encode() + body)
        time.sleep(after_s)


@pytest.mark.parametrize("stream", [False, True])
def test_abandoned_requests_cancel_their_queries_and_pending_lm_calls(stream, caplog):
    lm = CountingLM()
    program = ac.Program(ac.ArchitectureSpec.model_validate(DEEP), lms={"*": lm}, cache=False, retry=NO_RETRY)
    body = json.dumps({"model": NAME, "messages": user("q"), "stream": stream}).encode()
    with ServerThread(create_app(program)) as server:
        threads = [
            threading.Thread(target=abandon, args=(server.base_url, body), kwargs={"after_s": 0.1})
            for _ in range(5)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(1.0)  # what a query that kept running would have spent on its next layers
    assert lm.started == 5 and lm.cancelled == 5 and lm.finished == 0, vars(lm)
    assert "disconnected" in caplog.text


def test_a_client_that_hangs_up_while_sending_its_body_is_one_warning_line(caplog, capfd):
    caplog.set_level("INFO")
    with serving(log_level="info") as (url, lm):
        abandon(url, b'{"model": "', after_s=0.1, declared=1000)
        time.sleep(0.3)
    out, err = capfd.readouterr()
    logs = caplog.text + out + err
    assert "Exception in ASGI application" not in logs and "Traceback" not in logs
    warnings = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING" and lm.calls == 0
    assert "11 bytes" in warnings[0].getMessage()


def test_openapi_document_describes_every_route_and_status():
    with serving(api_key="k") as (url, _):
        root = url.removesuffix("/v1")
        doc = httpx.get(f"{root}/openapi.json").json()
        bad = httpx.post(
            f"{url}/chat/completions", json={"model": NAME}, headers={"Authorization": "Bearer k"}
        )
    paths = doc["paths"]
    assert set(paths) == {"/health", "/v1/models", "/v1/models/{model_id}", "/v1/chat/completions"}
    chat = paths["/v1/chat/completions"]["post"]
    assert {"200", "400", "401", "404", "413", "502", "504"} <= set(chat["responses"])
    assert str(bad.status_code) in chat["responses"]
    ref = chat["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    request = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert request["properties"]["model"]["enum"] == [NAME] and "messages" in request["required"]
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(doc)))
    assert refs <= set(doc["components"]["schemas"]), "every reference resolves"
    assert chat["security"] == [{"bearer": []}] and "security" not in paths["/health"]["get"]


def test_cli_refuses_to_start_without_the_key_or_with_a_bad_program(monkeypatch, tmp_path):
    monkeypatch.delenv("ARCHON_NO_SUCH_KEY", raising=False)
    no_key = CliRunner().invoke(cli_app, ["serve", "single-model", "--api-key-env", "ARCHON_NO_SUCH_KEY"])
    assert no_key.exit_code == 2 and "ARCHON_NO_SUCH_KEY is not set" in no_key.output
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    bad_program = CliRunner().invoke(cli_app, ["serve", str(bad)])
    assert bad_program.exit_code == 1 and "bad.json" in bad_program.output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(base: str, proc: subprocess.Popen[str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.communicate()}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not become healthy")


def test_cli_serves_an_artifact_against_a_fake_upstream(tmp_path):
    """End to end: `archon-compile serve` in a subprocess, LiteLLM to a fake provider, the openai client."""
    artifact = ac.save(ac.load("single-model", cache=False), tmp_path / "single.json")
    key = "sk-cli-test-41b7d2e9"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"} | {"ARCHON_TEST_KEY": key}
    with FakeOpenAIServer(lambda body: f"echo {body['messages'][-1]['content']}") as upstream:
        cmd = [
            sys.executable,
            "-c",
            "from archon_compile.cli import main; main()",
            "serve",
            str(artifact),
            "--port",
            str(port),
            "--lm",
            "openai/fake",
            "--api-base",
            upstream.url,
            "--api-key-env",
            "ARCHON_TEST_KEY",
            "--no-cache",
            "--timeout",
            "60",
        ]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait_healthy(f"http://127.0.0.1:{port}", proc)
            c = client(f"http://127.0.0.1:{port}/v1", key)
            answer = c.chat.completions.create(model="single-model", messages=user("ping"))
            streamed = c.chat.completions.create(model="single-model", messages=user("pong"), stream=True)
            text = "".join(ch.choices[0].delta.content or "" for ch in streamed if ch.choices)
            with pytest.raises(openai.AuthenticationError):
                client(f"http://127.0.0.1:{port}/v1", "wrong").chat.completions.create(
                    model="single-model", messages=user("x")
                )
        finally:
            proc.terminate()
            output, _ = proc.communicate(timeout=30)
    assert answer.choices[0].message.content == "echo ping" and text == "echo pong"
    assert answer.usage is not None and answer.usage.total_tokens > 0
    assert [r["model"] for r in upstream.requests] == ["fake", "fake"]
    assert "POST /v1/chat/completions" in output and "401" in output
    assert key not in output


def test_example_openai_client_app_runs_against_the_server():
    example = ROOT / "examples" / "app_openai_client.py"
    with serving() as (url, _):
        done = subprocess.run(
            [sys.executable, str(example), "--base-url", url, "--stream", "What causes tides?", "Why?"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    assert "final answer to: What causes tides?" in done.stdout and "final answer to: Why?" in done.stdout
