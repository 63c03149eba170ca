"""The spec of `self_refine`: its parameters and its contract (what the rules, budgets and search read)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from archon_compile.plugins import Flow, LMParams, TokenEstimate


class SelfRefineSpec(LMParams):
    """Each candidate gets feedback from the model, then is rewritten to address it, `rounds` times
    (it stops early once the feedback finds nothing to fix)."""

    type: Literal["self_refine"] = "self_refine"
    rounds: int = Field(1, ge=1, le=5)

    component = "archon_self_refine.component:SelfRefine"
    stands_alone = True  # it rewrites every incoming candidate: two in one layer would double them
    makes_candidates = True  # rewritten answers are new candidates: old critiques no longer apply

    def calls(self, n: int) -> int:
        return 2 * self.rounds * n  # feedback + rewrite, per candidate and round

    def leaves(self, n: int) -> int:
        return n

    def tokens(self, flow: Flow) -> TokenEstimate:
        """Feedback reads the query and the answer; the rewrite reads those and the feedback too."""
        answer = max(flow.candidate_tokens, self.max_tokens)
        per_round = 2 * (flow.prompt_tokens + answer) + self.max_tokens
        return TokenEstimate(
            input=self.rounds * flow.n * per_round, output=self.calls(flow.n) * self.max_tokens
        )
