"""Testing without a model, and testing your own components.

- `FakeOpenAIServer` (`testing.server`): a local OpenAI-compatible server with scripted answers, latency
  and faults; `well_formed` answers ranker and critic prompts in their expected format.
- `testing.strategies`: hypothesis strategies for hostile and near-miss LM replies, conversations,
  candidate sets with critiques, layer states and valid architecture specs.
- `testing.checks`: ready-made property checks any signature (`check_parser`) or component
  (`check_component`) must pass.

The last two need hypothesis: `pip install 'archon-compile[testing]'`. They are imported on first use,
so `archon_compile.testing` itself never needs it.
"""

from __future__ import annotations

from archon_compile.testing.server import FakeOpenAIServer, Fault, Respond, well_formed

__all__ = ["FakeOpenAIServer", "Fault", "Respond", "well_formed"]
