"""Runtime fault handling over real HTTP (127.0.0.1), through both clients: rate limits, server errors,
hangs, garbage bodies, client errors, and ensemble members that fail for good."""

from __future__ import annotations

import time

import pytest

import archon_compile as ac
from archon_compile.lm.wire import retry_after
from archon_compile.testing import FakeOpenAIServer, Fault
from tests.helpers.http import CLIENTS, FAST, Script, program

both_clients = pytest.mark.parametrize("client", CLIENTS)

KEY = "sk-test-Zq8vN3xT5pL0wR7yK2mB9cD4"


def retries_of(pred: ac.Prediction) -> list[int]:
    return [r.retries for r in pred.trace if r.error is None]


@both_clients
def test_429_waits_at_least_retry_after(client: str) -> None:
    with FakeOpenAIServer(Script([Fault(status=429, retry_after=0.4)])) as server:
        start = time.perf_counter()
        pred = program(server, client)("Capital of France?")
        elapsed = time.perf_counter() - start
    assert pred.response == "Paris"
    assert retries_of(pred) == [1]
    assert len(server.requests) == 2
    assert elapsed >= 0.4  # FAST's own backoff is at most 0.05 s: the wait came from Retry-After


@both_clients
def test_500_is_retried_then_succeeds(client: str) -> None:
    with FakeOpenAIServer(Script([Fault(status=500), Fault(status=503)])) as server:
        pred = program(server, client)("Capital of France?")
    assert pred.response == "Paris"
    assert retries_of(pred) == [2]
    assert len(server.requests) == 3


@both_clients
def test_hang_longer_than_timeout_is_cut_and_retried(client: str) -> None:
    # a timeout of 1 s leaves a loaded 2-core machine room for the retried (immediate) answer
    policy = FAST.model_copy(update={"timeout_s": 1.0})
    with FakeOpenAIServer(Script([Fault(status=200, hang_s=5.0)])) as server:
        start = time.perf_counter()
        pred = program(server, client, retry=policy)("Capital of France?")
        elapsed = time.perf_counter() - start
    assert pred.response == "Paris"
    assert retries_of(pred) == [1]
    assert elapsed < 4.0  # did not wait for the hung response


@pytest.mark.parametrize(
    "body", ["<html>502 bad gateway</html>", '{"object": "chat.completion"}', '{"choices": []}']
)
@both_clients
def test_garbage_body_is_retried_then_fails_clearly(client: str, body: str) -> None:
    with (
        FakeOpenAIServer(Script(default=Fault(status=200, body=body))) as server,
        pytest.raises(ac.QueryFailed) as failed,
    ):
        program(server, client)("Capital of France?")
    assert len(server.requests) == FAST.max_retries + 1
    message = str(failed.value)
    assert "L0.C0 (openai/fake): no usable sample" in message
    assert f"after {FAST.max_retries} retries" in message


@both_clients
@pytest.mark.parametrize("status", [400, 401])
def test_client_error_fails_at_once_without_leaking_the_key(
    client: str, status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    echo = f'{{"error": {{"message": "Incorrect API key provided: {KEY}", "type": "invalid_request_error"}}}}'
    with (
        FakeOpenAIServer(Script(default=Fault(status=status, body=echo))) as server,
        pytest.raises(ac.QueryFailed) as failed,
    ):
        program(server, client)("Capital of France?")
    assert len(server.requests) == 1
    message = str(failed.value)
    assert str(status) in message
    assert "after 0 retries" in message
    assert KEY not in message


@both_clients
def test_no_call_is_paid_twice(client: str) -> None:
    """With the runtime's retries off, one failing call is exactly one request (no SDK/LiteLLM retry)."""
    policy = FAST.model_copy(update={"max_retries": 0})
    with FakeOpenAIServer(Script(default=Fault(status=500))) as server, pytest.raises(ac.QueryFailed):
        program(server, client, retry=policy)("Capital of France?")
    assert len(server.requests) == 1


@both_clients
def test_failed_ensemble_member_does_not_fail_the_query(client: str) -> None:
    script = Script(per_model={"b": Fault(status=400)})
    with FakeOpenAIServer(script) as server:
        pred = program(server, client, "openai/a", "openai/b", "openai/c", fuser="openai/a")("Capital?")
    assert pred.response == "Paris"
    failed = [r for r in pred.trace if r.error is not None]
    assert [(r.model, r.component.split(":")[0]) for r in failed] == [("openai/b", "L0.C1")]
    assert "400" in (failed[0].error or "")
    assert pred.usage.failed_calls == 1
    assert pred.usage.calls == 3  # two generators and the fuser
    fuse_prompt = server.requests[-1]["messages"][0]["content"]
    assert "[2]" in fuse_prompt and "[3]" not in fuse_prompt  # the fuser saw the two survivors


@both_clients
def test_layer_with_nothing_left_fails_the_query_clearly(client: str) -> None:
    script = Script(default=Fault(status=400))
    with FakeOpenAIServer(script) as server:
        prog = program(server, client, "openai/a", "openai/b", fuser="openai/a")
        with pytest.raises(ac.QueryFailed, match=r"layer L0: every component failed.*openai/a.*openai/b"):
            prog("Capital?")
        [pred] = prog.batch(["Capital?"])
    assert pred.response == "" and pred.error and "every component failed" in pred.error
    assert all(body["model"] in {"a", "b"} for body in server.requests)  # the fuser was never called


def test_retry_after_header_forms() -> None:
    assert retry_after("1.5") == 1.5
    assert retry_after("-3") == 0.0
    assert retry_after(None) is None and retry_after("soon") is None
    future = retry_after("Fri, 01 Jan 2100 00:00:00 GMT")
    assert future is not None and future > 1e9
    assert retry_after("Mon, 01 Jan 2001 00:00:00 GMT") == 0.0
