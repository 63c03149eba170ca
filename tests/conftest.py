"""Shared test setup: an isolated cache home, offline Hub, and helpers for scripted programs."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's real cache."""
    monkeypatch.setenv("ARCHON_COMPILE_HOME", str(tmp_path_factory.mktemp("archon-home")))


@pytest.fixture(autouse=True, scope="session")
def _models_once(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The embedded Qwen model is assembled (491 MB) once per test session, not once per test's home."""
    if not os.environ.get("ARCHON_COMPILE_MODELS"):
        os.environ["ARCHON_COMPILE_MODELS"] = str(tmp_path_factory.mktemp("models"))


@pytest.fixture
def dspy_cache_off() -> Iterator[None]:
    """DSPy's own caches off for a DSPy test (each test sees the architecture's answers, not DSPy's
    memory of an earlier test), back to DSPy's default memory cache after it."""
    import dspy

    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    yield
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
