"""Keys never leak: one in the environment (OPENAI_API_KEY), one in an api_base URL's userinfo. A program
runs against a local server with a disk cache, is saved as an artifact, and fails on purpose; neither key
may appear in the artifact, the trace, the cache file, the logs, stdout/stderr or an error message, while
both still reach the server (so the test is not vacuous)."""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

import archon_compile as ac
from archon_compile.lm.base import LM, LMError
from archon_compile.lm.litellm_client import LiteLLMClient
from archon_compile.testing import FakeOpenAIServer, Fault
from tests.helpers.http import CLIENTS, FAST, Script, lms_for, warm_litellm

ENV_KEY = "sk-test-envKEY-7Hq2Lm9Xw4Rt6Yp1"
URL_KEY = "sk-test-urlKEY-3Vb8Nc5Zd0Kf2Gj7"
KEYS = (ENV_KEY, URL_KEY)


class RecordingServer(FakeOpenAIServer):
    """FakeOpenAIServer that also keeps each request's Authorization header."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.authorizations: list[str] = []
        super().__init__(*args, **kwargs)

    def __enter__(self) -> RecordingServer:
        super().__enter__()
        return self

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        base: Any = super()._handler()
        server = self

        class Handler(base):  # type: ignore[misc, valid-type]
            def do_POST(self) -> None:
                server.authorizations.append(self.headers.get("Authorization", ""))
                super().do_POST()

        return Handler


def keyed(url: str) -> str:
    return url.replace("http://", f"http://user:{URL_KEY}@")


def build(server: FakeOpenAIServer, client: str, cache: Path, *generators: str) -> ac.Program:
    """Generators (default a and b) and a fuser, all at the keyed api_base."""
    api_base = keyed(server.url)
    layers = [
        [
            {"type": "generator", "model": m, "api_base": api_base, "temperature": 0.0}
            for m in generators or ("openai/a", "openai/b")
        ]
    ]
    if len(layers[0]) > 1:
        layers.append([{"type": "fuser", "model": "openai/a", "api_base": api_base}])
    spec = ac.ArchitectureSpec.from_data({"name": "secrets", "layers": layers})
    lms: dict[str, LM] | None = None
    if client == "litellm":
        warm_litellm()
        lms = {"*": LiteLLMClient("openai/a", api_base)}
    return ac.Program(spec, lms=lms, cache=cache, retry=FAST)


def assert_clean(text: str, where: str) -> None:
    for key in KEYS:
        assert key not in text, f"a key leaked into {where}"


@pytest.mark.parametrize("client", CLIENTS)
def test_keys_reach_the_server_and_nothing_else(
    client: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    caplog.set_level(logging.DEBUG)
    echo = f'{{"error": {{"message": "bad key {ENV_KEY} for {keyed("http://h")}"}}}}'
    cache = tmp_path / "cache.sqlite"
    failures: list[str] = []

    with RecordingServer(Script(per_model={"b": Fault(status=401, body=echo)})) as server:
        program = build(server, client, cache)
        pred = program("Capital of France?")
        ac.save(program, tmp_path / "artifact.json")
        with pytest.raises(ac.QueryFailed) as failed:  # the error path, end to end
            build(server, client, cache, "openai/b")("Capital of Peru?")
        failures.append(str(failed.value))
        failures.append(repr(failed.value))

    assert pred.response == "Paris" and pred.usage.failed_calls == 1
    assert set(server.authorizations) == {f"Bearer {URL_KEY}"}, "the endpoint's key did not reach it"
    out, err = capfd.readouterr()
    artifact = (tmp_path / "artifact.json").read_text()
    cache_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("cache.sqlite*")).decode("latin-1")
    for text, where in [
        (artifact, "the artifact"),
        (pred.model_dump_json(), "the prediction and its trace"),
        (cache_bytes, "the cache file"),
        (caplog.text, "the logs"),
        (out + err, "stdout/stderr"),
        ("\n".join(failures), "the error messages"),
        (repr(program.runtime.resolve("openai/a", None)), "repr"),
    ]:
        assert_clean(text, where)
    assert "user@" not in artifact and "127.0.0.1" in artifact  # endpoint kept, userinfo stripped


@pytest.mark.parametrize("client", CLIENTS)
def test_userinfo_key_wins_over_the_environment_key(
    client: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An api_base's own key is that endpoint's bearer token; without one, OPENAI_API_KEY is used."""
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    with RecordingServer(Script()) as server:
        build(server, client, tmp_path / "c.sqlite")("Capital of France?")
        keyed_calls = set(server.authorizations)
        spec = ac.ArchitectureSpec.from_data(
            {
                "name": "plain",
                "layers": [[{"type": "generator", "model": "openai/a", "api_base": server.url}]],
            }
        )
        lms = lms_for(client, server)
        ac.Program(spec, lms=lms, cache=False, retry=FAST)("Capital of France?")
    assert keyed_calls == {f"Bearer {URL_KEY}"}
    assert server.authorizations[-1] == f"Bearer {ENV_KEY}"


def test_unreachable_endpoint_error_hides_the_userinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    spec = ac.ArchitectureSpec.from_data(
        {
            "name": "down",
            "layers": [
                [{"type": "generator", "model": "openai/a", "api_base": keyed("http://127.0.0.1:9/v1")}]
            ],
        }
    )
    with pytest.raises(ac.QueryFailed) as failed:
        ac.Program(spec, cache=False, retry=FAST.model_copy(update={"max_retries": 0}))("hi")
    assert "connection failed" in str(failed.value)
    assert_clean(str(failed.value), "the connection error")


def test_runtime_redacts_the_errors_of_any_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    leaky = ac.ScriptedLM([(".*", LMError(f"denied for {ENV_KEY} at {keyed('http://h')}", retryable=False))])
    spec = ac.ArchitectureSpec.from_data(
        {
            "name": "leaky",
            "layers": [[{"type": "generator", "model": "openai/a", "api_base": keyed("http://h")}]],
        }
    )
    with pytest.raises(ac.QueryFailed) as failed:
        ac.Program(spec, lms={"*": leaky}, cache=False)("hi")
    assert "denied for ***" in str(failed.value)
    assert_clean(str(failed.value), "a scripted backend's error")
