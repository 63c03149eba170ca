"""The contract every component spec declares: where it may stand, what it does to the candidates, and
what one query costs through it.

Construction rules, budgets, the search space, the importer and artifacts read a component only through
this contract, so a new component type (built in or from a plugin) is one spec class, one component
class and its signatures.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class TokenEstimate(BaseModel):
    """Upper bounds of the tokens a query reads and writes."""

    input: int = 0
    output: int = 0

    def __add__(self, other: TokenEstimate) -> TokenEstimate:
        return TokenEstimate(input=self.input + other.input, output=self.output + other.output)


class Flow(BaseModel):
    """What reaches a layer, as upper bounds: how many candidates, and the tokens of each prompt part."""

    model_config = ConfigDict(frozen=True)

    n: int = 0
    query_tokens: int = 0
    instruction_tokens: int = 0
    candidate_tokens: int = 0
    critique_tokens: int = 0
    test_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        """A prompt that quotes the query under a component's instructions."""
        return self.query_tokens + self.instruction_tokens

    @property
    def shown_tokens(self) -> int:
        """Every candidate with its critique, as a ranker, critic or fuser is shown them."""
        return self.n * (self.candidate_tokens + self.critique_tokens)


class ComponentSpecBase(BaseModel):
    """A component's parameters (pydantic fields) plus its contract (class variables and methods).

    Subclasses set `type` as `Literal["name"] = "name"` and `component` as "module:Class". The defaults
    describe a component that stands alone and passes the candidates on unchanged without an LM call.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str

    component: ClassVar[str]
    """Import path "package.module:Class" of the component class that runs this spec."""
    stands_alone: ClassVar[bool] = True
    """Rule 4: the only component of its layer (a layer's outputs are concatenated)."""
    makes_candidates: ClassVar[bool] = False
    """It writes new candidates, which start without critiques, verdicts or test results."""
    first_layer: ClassVar[bool] = False
    """Rule 2: it is what the first layer holds, and may stand nowhere else."""
    adds_critiques: ClassVar[bool] = False
    """Rule 3: candidates leaving it carry critiques a later `use_critiques` may read."""
    comes_before: ClassVar[str | None] = None
    """Rule 5: the type that must come right after it (its consumer), if any."""
    comes_after: ClassVar[str | None] = None
    """Rule 5: the type that must come right before it (its producer), if any."""

    def reads_critiques(self) -> bool:
        """Rule 3: this instance is shown the critiques of its input."""
        return False

    def input_cap(self) -> int | None:
        """At most this many incoming candidates, checked when the spec loads (None: no cap)."""
        return None

    def calls(self, n: int) -> int:
        """LM calls for `n` incoming candidates when every call succeeds first time (an upper bound)."""
        return 0

    def leaves(self, n: int) -> int:
        """Upper bound of the candidates this component leaves, given `n` incoming ones."""
        return n

    def output_tokens(self) -> int:
        """Tokens one of its LM calls may write."""
        return int(getattr(self, "max_tokens", 0))

    def tokens(self, flow: Flow) -> TokenEstimate:
        """Tokens read and written for `flow`; by default every call is shown the query and every
        candidate with its critique."""
        calls = self.calls(flow.n)
        return TokenEstimate(
            input=calls * (flow.prompt_tokens + flow.shown_tokens), output=calls * self.output_tokens()
        )

    def passes_on(self, flow: Flow) -> Flow:
        """What the next layer receives from this component (its `n` is set by the layer)."""
        if self.makes_candidates:
            return flow.model_copy(update={"candidate_tokens": self.output_tokens(), "critique_tokens": 0})
        return flow
