"""An example archon-compile plugin: the `self_refine` component (Madaan et al., 2023, "Self-Refine").

Install the package and specs may use `{"type": "self_refine", "model": ..., "rounds": 1}`: the entry
point in pyproject.toml registers the spec class, whose `component` names the component class.
"""

from archon_self_refine.spec import SelfRefineSpec

__all__ = ["SelfRefineSpec"]
