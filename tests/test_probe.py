"""Endpoint probes: a dead port, a server refusing the key, one not knowing the model, a hung one, and a
good one, each probed once, concurrently, without credentials in the error."""

from __future__ import annotations

import socket
import time

import pytest

import archon_compile as ac
from archon_compile import probe
from archon_compile.probe import Endpoint, EndpointError, endpoints_of, probe_endpoints
from archon_compile.spec import ArchitectureSpec
from archon_compile.testing import FakeOpenAIServer, Fault

KEY = "sk-probe-secret-0123456789"


def dead_url() -> str:
    """A local port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def with_key(url: str) -> str:
    return url.replace("http://", f"http://user:{KEY}@")


def test_a_good_endpoint_passes_with_one_uncached_call() -> None:
    with FakeOpenAIServer(lambda body: "OK") as server:
        results = probe_endpoints([Endpoint(model="openai/a", api_base=server.url)])
        results_again = probe_endpoints([Endpoint(model="openai/a", api_base=server.url)])
        assert len(server.requests) == 2  # never served from a cache
        assert server.requests[0]["max_tokens"] == 1
    assert [(r.model, r.endpoint, r.role) for r in results] == [("openai/a", server.url, "model")]
    assert results_again[0].latency_s >= 0


def test_a_dead_port_is_unreachable_and_named_without_credentials() -> None:
    url = dead_url()
    start = time.perf_counter()
    with pytest.raises(EndpointError) as info:
        probe_endpoints([Endpoint(model="openai/a", api_base=with_key(url))])
    assert time.perf_counter() - start < 8
    (failure,) = info.value.failures
    assert (failure.model, failure.endpoint, failure.kind) == ("openai/a", url, "unreachable")
    message = str(info.value)
    assert "openai/a" in message and url in message and "start the server" in message
    assert KEY not in message and "user:" not in message


@pytest.mark.parametrize(
    ("status", "kind", "advice"),
    [
        (401, "bad credentials", "refused the key"),
        (403, "bad credentials", "OPENAI_API_KEY"),
        (404, "unknown model", "/v1/models"),
        (400, "rejected", "minimal request"),
        (503, "server error", "logs"),
    ],
)
def test_http_failures_are_classified_with_what_to_do(status: int, kind: str, advice: str) -> None:
    body = '{"error": {"message": "nope", "type": "x"}}'
    with FakeOpenAIServer(lambda b: Fault(status=status, body=body)) as server:
        with pytest.raises(EndpointError) as info:
            probe_endpoints([Endpoint(model="openai/a", api_base=with_key(server.url), role="judge")])
        assert len(server.requests) == 1  # no retries, even for a 503
    (failure,) = info.value.failures
    assert failure.kind == kind and failure.role == "judge"
    assert advice in failure.advice and f"HTTP {status}" in failure.detail
    assert KEY not in str(info.value) and str(info.value).startswith("1 endpoint failed the probe")


def test_a_rate_limit_passes_the_endpoint_is_up() -> None:
    with FakeOpenAIServer(lambda b: Fault(status=429, retry_after=30)) as server:
        assert len(probe_endpoints([Endpoint(model="openai/a", api_base=server.url)])) == 1


def test_probes_run_concurrently_each_with_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backends replaced by scripted ones (1 s each; `hung` takes 60 s): no client set-up in the timing."""
    slow, hung = ac.ScriptedLM([(".", "OK")], latency_s=1.0), ac.ScriptedLM([(".", "OK")], latency_s=60)
    monkeypatch.setattr(probe, "Backends", lambda: lambda model, api_base: hung if "hung" in model else slow)
    endpoints = [Endpoint(model=f"openai/m{i}", api_base=f"http://h{i}/v1") for i in range(5)]
    start = time.perf_counter()
    assert len(probe_endpoints(endpoints, timeout_s=10)) == 5
    assert time.perf_counter() - start < 3  # one after another: 5 s
    start = time.perf_counter()
    with pytest.raises(EndpointError) as info:
        probe_endpoints([*endpoints, Endpoint(model="openai/hung", api_base="http://h/v1")], timeout_s=2)
    assert time.perf_counter() - start < 4
    (failure,) = info.value.failures
    assert (failure.model, failure.kind, failure.detail) == ("openai/hung", "timeout", "no answer within 2 s")


def test_a_hung_server_times_out_and_every_failure_is_reported() -> None:
    with FakeOpenAIServer(lambda body: Fault(hang_s=6)) as server:
        endpoints = [
            Endpoint(model="openai/hung", api_base=server.url),
            Endpoint(model="openai/x", api_base=dead_url()),
        ]
        start = time.perf_counter()
        with pytest.raises(EndpointError) as info:
            probe_endpoints(endpoints, timeout_s=2)
        assert time.perf_counter() - start < 4  # within seconds, not the 6 s hang
    kinds = {(f.model, f.kind) for f in info.value.failures}
    assert kinds == {("openai/hung", "timeout"), ("openai/x", "unreachable")}
    assert str(info.value).startswith("2 endpoints failed the probe")


def test_each_distinct_endpoint_is_probed_once_and_in_process_models_not_at_all() -> None:
    with FakeOpenAIServer(lambda body: "OK") as server:
        spec = ArchitectureSpec.model_validate(
            {
                "name": "mixed",
                "layers": [
                    [
                        {"type": "generator", "model": "openai/a", "api_base": server.url, "samples": 3},
                        {"type": "generator", "model": "openai/a", "api_base": server.url},
                        {"type": "generator", "model": "openai/b", "api_base": server.url},
                        {"type": "generator", "model": "scripted"},
                        {"type": "generator", "model": "local"},
                    ],
                    [{"type": "fuser", "model": "openai/a", "api_base": server.url}],
                ],
            }
        )
        endpoints = endpoints_of(spec)
        assert [e.model for e in endpoints] == ["openai/a", "openai/b", "scripted", "local"]
        judge = Endpoint(model="openai/a", api_base=server.url, role="judge")
        probe_endpoints([*endpoints, judge], lms={"scripted": ac.ScriptedLM([(".", "x")])})
        assert sorted(r["model"] for r in server.requests) == ["a", "b"]
