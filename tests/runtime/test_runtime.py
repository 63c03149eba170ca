"""Runtime: concurrency, cache identity, parse retries, faults, usage under concurrency, reproducibility."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import archon_compile as ac
from archon_compile.lm.base import LMError, LMRequest
from archon_compile.runtime.cache import Cache, cache_key
from archon_compile.spec import ArchitectureSpec


def spec(*layers: list[dict]) -> ArchitectureSpec:
    return ArchitectureSpec.model_validate({"name": "t", "layers": list(layers)})


def gen(model: str = "m", samples: int = 1, **kw: object) -> dict:
    return {"type": "generator", "model": model, "samples": samples, **kw}


def by_sample(request: LMRequest) -> str:
    return f"{request.model} sample {request.sample_index}"


def test_samples_are_distinct_calls_and_a_rerun_hits_the_cache(tmp_path):
    lm = ac.ScriptedLM(by_sample)
    s = spec([gen("m", 3), gen("m", 2)], [{"type": "voter", "top_k": 1}])
    cache = tmp_path / "c.sqlite"
    first = ac.Program(s, lms={"*": lm}, cache=cache)("q")
    assert lm.calls == 5
    assert len({r.sample for r in first.trace}) == 5, "two generators of one model must not share samples"
    assert first.usage.calls == 5 and first.usage.cache_hits == 0
    again = ac.Program(s, lms={"*": lm}, cache=cache)("q")
    assert lm.calls == 5, "a rerun must be served from the disk cache"
    assert again.usage.cache_hits == 5 and again.usage.calls == 0
    assert again.response == first.response


def test_cache_key_covers_everything_that_shapes_an_answer():
    base = LMRequest(model="m", messages=(ac.Message(role="user", content="q"),))
    variants = [
        base.model_copy(update=u)
        for u in (
            {"model": "n"},
            {"api_base": "http://x"},
            {"temperature": 0.1},
            {"max_tokens": 7},
            {"sample_index": 1},
            {"attempt": 1},
            {"messages": (ac.Message(role="user", content="r"),)},
        )
    ]
    keys = {cache_key(v) for v in variants}
    assert len(keys) == len(variants) and cache_key(base) not in keys
    assert cache_key(base) == cache_key(base.model_copy())


def test_layer_latency_is_depth_not_call_count():
    lm = ac.ScriptedLM([(r"Rank the numbered", "[1] > [2]"), (r".", by_sample)], latency_s=0.1)
    s = spec(
        [gen("m", 10)], [{"type": "ranker", "model": "m", "top_k": 2}], [{"type": "fuser", "model": "m"}]
    )
    start = time.perf_counter()
    pred = ac.Program(s, lms={"*": lm}, cache=False)("q")
    elapsed = time.perf_counter() - start
    assert pred.usage.calls == 12
    assert elapsed < 0.3 * 1.5, f"3 layers of 0.1 s took {elapsed:.2f}s: layers are not concurrent"


def test_malformed_ranking_is_retried_then_falls_back_and_is_not_cached(tmp_path):
    lm = ac.ScriptedLM([(r"Rank the numbered", "I like them all"), (r".", by_sample)])
    s = spec([gen("m", 3)], [{"type": "ranker", "model": "m", "top_k": 1}])
    cache = Cache(tmp_path / "c.sqlite")
    pred = ac.Program(s, lms={"*": lm}, cache=cache)("q")
    rank_calls = [r for r in pred.trace if "Rank" in r.component]
    assert [r.attempt for r in rank_calls] == [0, 1]
    assert all(not r.parse_ok for r in rank_calls)
    assert rank_calls[-1].fallback and "input order" in rank_calls[-1].fallback
    assert pred.response == "m sample 0", "fallback keeps the input order"
    assert len(cache) == 3, "only the parsed generator answers are cached"


def test_failed_ensemble_member_does_not_fail_the_query():
    lm_ok = ac.ScriptedLM(by_sample)
    lm_bad = ac.ScriptedLM(lambda r: LMError("401 unauthorized", retryable=False, status=401))
    s = spec([gen("good", 2), gen("bad", 2)], [{"type": "voter", "top_k": 1}])
    pred = ac.Program(s, lms={"good": lm_ok, "bad": lm_bad}, cache=False)("q")
    assert pred.response.startswith("good")
    assert sum(1 for r in pred.trace if r.error) == 2
    assert pred.usage.failed_calls == 2


def test_query_fails_clearly_when_a_layer_has_nothing_left():
    lm_bad = ac.ScriptedLM(lambda r: LMError("boom", retryable=False))
    s = spec([gen("bad", 2)], [{"type": "voter", "top_k": 1}])
    with pytest.raises(ac.QueryFailed, match=r"L0\.C0 \(bad\).*boom"):
        ac.Program(s, lms={"*": lm_bad}, cache=False)("q")
    preds = ac.Program(s, lms={"*": lm_bad}, cache=False).batch(["a", "b"])
    assert all(p.error and not p.response for p in preds)


def test_retries_honour_retry_after_then_succeed():
    attempts: list[float] = []

    def flaky(request: LMRequest) -> str | LMError:
        attempts.append(time.perf_counter())
        if len(attempts) < 3:
            return LMError("429", retryable=True, retry_after=0.2, status=429)
        return "fine"

    s = spec([gen("m", 1)])
    policy = ac.RetryPolicy(base_delay_s=0.0, max_retries=3)
    pred = ac.Program(s, lms={"*": ac.ScriptedLM(flaky)}, cache=False, retry=policy)("q")
    assert pred.response == "fine" and pred.trace[0].retries == 2
    assert attempts[1] - attempts[0] >= 0.19 and attempts[2] - attempts[1] >= 0.19


def test_an_excessive_retry_after_fails_the_call_instead_of_hanging_it():
    lm = ac.ScriptedLM(lambda r: LMError("429", retryable=True, retry_after=3600, status=429))
    policy = ac.RetryPolicy(max_retry_after_s=5)
    start = time.perf_counter()
    with pytest.raises(ac.QueryFailed, match="Retry-After 3600s exceeds max_retry_after_s"):
        ac.Program(spec([gen("m", 1)]), lms={"*": lm}, cache=False, retry=policy)("q")
    assert time.perf_counter() - start < 2 and lm.calls == 1


def test_cache_key_ignores_credentials_in_the_endpoint():
    def req(base: str) -> LMRequest:
        return LMRequest(model="m", api_base=base, messages=(ac.Message(role="user", content="q"),))

    assert cache_key(req("http://u:key-one@h:8000/v1")) == cache_key(req("http://u:key-two@h:8000/v1"))
    assert cache_key(req("http://h:8000/v1")) != cache_key(req("http://h:8001/v1"))


def test_timeout_is_retried_and_then_fails_clearly():
    s = spec([gen("m", 1)])
    slow = ac.ScriptedLM(by_sample, latency_s=1.0)
    policy = ac.RetryPolicy(timeout_s=0.05, max_retries=1, base_delay_s=0.0)
    with pytest.raises(ac.QueryFailed, match="timed out"):
        ac.Program(s, lms={"*": slow}, cache=False, retry=policy)("q")
    assert slow.calls == 2


def test_usage_is_exact_under_threads_and_batches():
    lm = ac.ScriptedLM(by_sample, latency_s=0.005)
    s = spec([gen("m", 4)], [{"type": "fuser", "model": "m"}])
    program = ac.Program(s, lms={"*": lm}, cache=False)
    results: list[ac.Prediction] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        p = program(f"q{i}")
        with lock:
            results.append(p)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batch = program.batch([f"b{i}" for i in range(16)], concurrency=8)
    assert all(p.usage.calls == 5 for p in results + batch)
    assert lm.calls == 5 * (8 + 16)
    assert sum(p.usage.prompt_tokens for p in results + batch) == sum(
        sum(len(m.content.split()) for m in r.messages) for r in lm.requests
    )


def test_acall_from_a_foreign_event_loop():
    lm = ac.ScriptedLM(by_sample)
    program = ac.Program(spec([gen("m", 2)], [{"type": "voter"}]), lms={"*": lm}, cache=False)

    async def main() -> list[ac.Prediction]:
        return list(await asyncio.gather(program.acall("a"), program.acall("b")))

    assert [p.response for p in asyncio.run(main())] == ["m sample 0", "m sample 0"]


def test_seeded_scripted_run_is_bit_identical():
    def answer(r: LMRequest) -> str:
        if "Rank the numbered" in r.messages[-1].content:
            return "[2] > [1] > [3]"
        return f"{r.seed}-{r.sample_index}-{len(r.messages)}"

    s = ac.load("archon-quickstart").spec
    runs = [
        ac.Program(s, lms={"*": ac.ScriptedLM(answer, latency_s=0.001)}, cache=False, seed=7)("q")
        for _ in range(2)
    ]
    dumps = [p.model_dump(exclude={"trace": {"__all__": {"latency_s"}}}) for p in runs]
    assert dumps[0] == dumps[1]
    assert runs[0].response.startswith("7-")


def test_conversation_input_and_bad_conversation():
    lm = ac.ScriptedLM(lambda r: f"turns={len(r.messages)}")
    program = ac.Program(spec([gen()]), lms={"*": lm}, cache=False)
    convo = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "more"},
    ]
    assert program(convo).response == "turns=3"
    with pytest.raises(ValueError, match="end with a user message"):
        program(convo[:2])


def test_a_forked_child_can_still_call_a_program():
    """The sync API runs on a background loop thread, which a fork does not copy."""
    import multiprocessing

    program = ac.Program(spec([gen("m", 1)]), lms={"*": ac.ScriptedLM(by_sample)}, cache=False)
    assert program("warm the background loop").response == "m sample 0"
    ctx = multiprocessing.get_context("fork")
    answers = ctx.Queue()
    child = ctx.Process(target=lambda: answers.put(program("q").response))  # fork: nothing is pickled
    child.start()
    try:
        assert answers.get(timeout=20) == "m sample 0"
    finally:
        child.join(timeout=5)
        child.kill()
