"""Endpoint probes: one cheap call per distinct (model, endpoint) and per judge before any real work, so
that a dead server, a bad key or an unknown model name stops a run within seconds, with an error that
names the model, the endpoint (without credentials) and what to do, instead of a run scored 0.

    probe_endpoints(endpoints_of(program.spec) + [Endpoint(model="openai/judge", api_base=url, role="judge")])

Each probe is a one-token completion sent straight to the backend: no cache (a cached answer proves
nothing), no retries, `timeout_s` each, all at once. Only what is reached over the network is probed:
models served by injected LMs (`lms=`) and the embedded `local` model have no endpoint. A rate limit
(HTTP 429) passes: the endpoint is up and took the key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from archon_compile.errors import ArchonError
from archon_compile.lm.base import LM, LMError, LMRequest, Message, NeedsSetUp
from archon_compile.lm.redact import public_url, redact
from archon_compile.lm.resolve import Backends, is_local
from archon_compile.program import synchronous
from archon_compile.spec import ArchitectureSpec

PROBE_TIMEOUT_S = 15.0
Role = Literal["model", "judge"]
Failure = Literal[
    "unreachable", "timeout", "bad credentials", "unknown model", "rejected", "server error", "failed"
]


class Endpoint(BaseModel):
    """A model at an endpoint (None: the provider's default one), as a program or a judge uses it."""

    model_config = ConfigDict(frozen=True)

    model: str
    api_base: str | None = None
    role: Role = "model"

    @property
    def where(self) -> str:
        """The endpoint as it may be shown: no userinfo, no query string."""
        return public_url(self.api_base) if self.api_base else "the provider's default endpoint"


class ProbeResult(BaseModel):
    """A probe that passed."""

    model: str
    endpoint: str
    role: Role
    latency_s: float


class ProbeFailure(BaseModel):
    """A probe that failed: what, where, which kind of failure, the server's words, and what to do."""

    model: str
    endpoint: str
    role: Role
    kind: Failure
    detail: str
    advice: str

    def line(self) -> str:
        return f"{self.role} {self.model} at {self.endpoint}: {self.kind} ({self.detail}). {self.advice}"


class EndpointError(ArchonError, RuntimeError):
    """Some endpoints failed their probe; `failures` says which and why."""

    def __init__(self, failures: Sequence[ProbeFailure], timeout_s: float) -> None:
        self.failures = list(failures)
        n = len(self.failures)
        head = (
            f"{n} endpoint{'s' if n > 1 else ''} failed the probe (one 1-token call each, no retries, "
            f"{timeout_s:g} s timeout); nothing was run:"
        )
        super().__init__("\n".join([head, *(f"- {f.line()}" for f in self.failures)]))


def endpoints_of(spec: ArchitectureSpec, role: Role = "model") -> list[Endpoint]:
    """The distinct (model, endpoint) pairs of an architecture, in order of appearance."""
    found = [
        Endpoint(model=model, api_base=getattr(c, "api_base", None), role=role)
        for layer in spec.layers
        for c in layer
        if (model := getattr(c, "model", None))
    ]
    return list(dict.fromkeys(found))


async def aprobe_endpoints(
    endpoints: Iterable[Endpoint],
    *,
    lms: Mapping[str, LM] | None = None,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> list[ProbeResult]:
    """Probe each distinct (model, endpoint) once, concurrently; raise EndpointError naming every failure.

    `lms` are the injected LMs of the run (model string or "*"): their models are not probed.
    """
    backends = Backends()
    todo: dict[tuple[str, str | None], Endpoint] = {}
    for e in endpoints:
        served = lms is not None and (e.model in lms or "*" in lms)
        if not served and not is_local(e.model):
            todo.setdefault((e.model, e.api_base), e)
    clients = [(e, backends(e.model, e.api_base)) for e in todo.values()]
    outcomes = await asyncio.gather(*(_probe(e, lm, timeout_s) for e, lm in clients))
    failures = [o for o in outcomes if isinstance(o, ProbeFailure)]
    if failures:
        raise EndpointError(failures, timeout_s)
    return [o for o in outcomes if isinstance(o, ProbeResult)]


probe_endpoints = synchronous(
    aprobe_endpoints, "probe_endpoints", "The synchronous `aprobe_endpoints` (same parameters)."
)


async def _probe(endpoint: Endpoint, lm: LM, timeout_s: float) -> ProbeResult | ProbeFailure:
    request = LMRequest(
        model=endpoint.model,
        api_base=endpoint.api_base,
        messages=(Message(role="user", content="Reply with the word OK."),),
        temperature=0.0,
        max_tokens=1,
    )
    try:
        if isinstance(lm, NeedsSetUp):
            await lm.prepare()  # imports, TLS, prices: set-up is not the endpoint's latency
    except Exception as exc:  # a backend that cannot even set up fails its probe too
        return _failure(endpoint, "failed", f"{type(exc).__name__}: {exc}")
    start = time.perf_counter()
    try:
        await asyncio.wait_for(lm.complete(request), timeout_s)
    except TimeoutError:
        return _failure(endpoint, "timeout", f"no answer within {timeout_s:g} s")
    except LMError as exc:
        if exc.status == 429:
            return _passed(endpoint, start)
        return _failure(endpoint, _kind(exc), str(exc))
    except Exception as exc:  # a backend's unexpected error is still this endpoint's failure
        return _failure(endpoint, "failed", f"{type(exc).__name__}: {exc}")
    return _passed(endpoint, start)


def _passed(endpoint: Endpoint, start: float) -> ProbeResult:
    return ProbeResult(
        model=endpoint.model,
        endpoint=endpoint.where,
        role=endpoint.role,
        latency_s=time.perf_counter() - start,
    )


def _kind(exc: LMError) -> Failure:
    status, text = exc.status, str(exc).lower()
    if status in (401, 403):
        return "bad credentials"
    if status == 404:
        return "unknown model"
    if status is not None:
        return "server error" if status >= 500 else "rejected"
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if "connect" in text:
        return "unreachable"
    return "failed"


def _failure(endpoint: Endpoint, kind: Failure, detail: str) -> ProbeFailure:
    return ProbeFailure(
        model=endpoint.model,
        endpoint=endpoint.where,
        role=endpoint.role,
        kind=kind,
        detail=redact(detail, endpoint.api_base)[:300],
        advice=_advice(endpoint, kind),
    )


def _advice(endpoint: Endpoint, kind: Failure) -> str:
    flag = "--judge-api-base URL" if endpoint.role == "judge" else "--api-base URL"
    python = "judge_api_base=" if endpoint.role == "judge" else "api_bases={model: url}"
    fix_url = f"fix the endpoint ({flag}; in Python {python})"
    return {
        "unreachable": f"Nothing answers there: start the server, or {fix_url}.",
        "timeout": f"No answer in time: check that the server is up and not overloaded, or {fix_url}.",
        "bad credentials": (
            "The server refused the key: set the provider's key variable (e.g. OPENAI_API_KEY), or put "
            "the endpoint's key in its URL (http://:KEY@host/v1)."
        ),
        "unknown model": (
            f"The server does not serve {endpoint.model!r} there: check the model name (an "
            f"OpenAI-compatible server lists its models at GET /v1/models), and that the endpoint ends "
            f"where /chat/completions is served (usually /v1)."
        ),
        "rejected": "The server rejected a minimal request: check the model string and the endpoint.",
        "server error": "The server failed: see its logs, or retry when it is healthy.",
        "failed": f"Check the model string and {fix_url}.",
    }[kind]
