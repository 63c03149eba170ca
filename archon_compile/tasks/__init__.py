"""Tasks: the interface, the registry of ARCHON's benchmarks and demo tasks, metrics and judges; code
answers run in `archon_compile.sandbox`."""

from archon_compile.tasks.base import FunctionMetric, Item, ItemResult, Judge, Metric, Score, Task
from archon_compile.tasks.registry import get, names

__all__ = ["FunctionMetric", "Item", "ItemResult", "Judge", "Metric", "Score", "Task", "get", "names"]
