"""The power ranking: every model alone on the dev split, best first (ARCHON's first step).

Each model runs as the one-generator architecture a trial's first layer would contain (same temperature,
max_tokens and sample index 0), so trials that use it hit the cache for those answers. The ranking is
stored in the study (a user attribute), so a resumed search or a second worker reuses it unpaid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import optuna
from pydantic import BaseModel, Field

from archon_compile.compiler.objective import Evaluation
from archon_compile.spec import ArchitectureSpec

ATTR = "power_ranking"


class ModelScore(BaseModel):
    model: str
    quality: float
    calls: int
    usd: float
    scores: list[float | None] = Field(
        default_factory=list, description="per dev item, in dev order (None: the judge failed)"
    )
    errors: int = Field(0, description="dev items that failed (program or judge)")
    first_error: str | None = None


class PowerRanking(BaseModel):
    scores: list[ModelScore]

    @property
    def order(self) -> list[str]:
        return [s.model for s in self.scores]

    @property
    def calls(self) -> int:
        return sum(s.calls for s in self.scores)

    @property
    def usd(self) -> float:
        return sum(s.usd for s in self.scores)

    @property
    def best(self) -> ModelScore:
        return self.scores[0]


def single_model_spec(model: str, temperature: float, max_tokens: int) -> ArchitectureSpec:
    generator = {
        "type": "generator",
        "model": model,
        "samples": 1,
        "temperature": temperature,
        "max_tokens": max_tokens,
    }
    name = f"single-{model.replace('/', '-')}"
    return ArchitectureSpec.from_data({"name": name, "layers": [[generator]]}, source=name[:200])


def rank_models(
    models: Sequence[str],
    evaluate: Callable[[ArchitectureSpec], Evaluation],
    temperature: float,
    max_tokens: int,
) -> PowerRanking:
    """Score each model alone; sort by quality (ties keep the pool's order)."""
    scores = []
    for model in models:
        ev = evaluate(single_model_spec(model, temperature, max_tokens))
        errors = [r.program_error or r.judge_error for r in ev.records if r.failed]
        scores.append(
            ModelScore(
                model=model,
                quality=ev.quality,
                calls=ev.usage.calls,
                usd=ev.usage.cost_usd,
                scores=ev.scores,
                errors=len(errors),
                first_error=errors[0] if errors else None,
            )
        )
    order = sorted(range(len(scores)), key=lambda i: (-scores[i].quality, i))
    return PowerRanking(scores=[scores[i] for i in order])


def load_or_rank(study: optuna.Study, rank: Callable[[], PowerRanking]) -> tuple[PowerRanking, bool]:
    """The study's stored ranking, or a new one stored for every later run and worker.

    Returns (ranking, computed_now). If two workers rank at once, the first stored ranking wins, so all
    workers build architectures from the same order.
    """
    stored = study.user_attrs.get(ATTR)
    if stored is not None:
        return PowerRanking.model_validate(stored), False
    ranking = rank()
    stored = study.user_attrs.get(ATTR)  # read again: another worker may have stored one meanwhile
    if stored is None:
        study.set_user_attr(ATTR, ranking.model_dump(mode="json"))
        return ranking, True
    return PowerRanking.model_validate(stored), True
