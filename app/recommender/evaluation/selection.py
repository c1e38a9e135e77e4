"""Automatic model selection on a temporal holdout, within a time budget.

Rule: the winner is the candidate with the highest NDCG@k on the holdout; ties go to the candidate
evaluated first, and since every model's defaults are evaluated before any tuned variant, a tuned
variant must beat the defaults strictly to be chosen.

Order of work, so that stopping at any point still leaves the best answer found so far:
  1. every model with its default parameters and the base confidence config (until one has run,
     the budget is ignored, so there is a winner; a model that cannot take the data, e.g. EASE
     over its item limit, is skipped and reported in `Selection.skipped`);
  2. a few confidence configs (event-type weights, saturation, recency) for the best model so far;
  3. each model's grid from the registry with the best config, best default model first.
A candidate is skipped, not started, when the same model's previous run took longer than what is
left of the budget, so the budget is overshot by at most one run of a model known to fit in it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.recommender.evaluation.evaluate import EvalResult, ItemFeatures, evaluate_model
from app.recommender.evaluation.split import Events, SplitMethod, temporal_split
from app.recommender.registry import DEFAULT_PARAMS, GRIDS, MODELS
from app.shop import ConfidenceConfig

logger = logging.getLogger(__name__)

SELECTION_RULE = (
    "highest NDCG@{k} on a temporal holdout; ties go to the earlier candidate (defaults first)"
)


@dataclass
class Selection:
    """The winner and everything evaluated on the way."""

    model: str
    params: dict[str, Any]
    config: ConfidenceConfig
    metrics: dict[str, float]
    table: list[EvalResult]
    rule: str
    seconds: float
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def confidence_candidates(base: ConfidenceConfig) -> list[ConfidenceConfig]:
    """A handful of confidence configs around `base`: the event-type weights and the shape of C.

    Few on purpose: each costs a full fit.  Flat weights test whether the funnel order helps at all,
    a steeper funnel whether purchases deserve more, no saturation whether repeats should count
    linearly, a 30-day half-life whether recent taste matters more.
    """
    variants = [
        dataclasses.replace(base, view=1.0, add_to_cart=1.0, purchase=1.0),
        dataclasses.replace(base, view=1.0, add_to_cart=5.0, purchase=15.0),
        dataclasses.replace(base, saturation_alpha=None),
        dataclasses.replace(base, half_life_days=30.0),
    ]
    return [base] + [v for v in variants if v != base]


def select_model(
    events: Events,
    budget_seconds: float,
    *,
    method: SplitMethod = "global",
    test_fraction: float = 0.2,
    k: int = 10,
    models: Sequence[str] | None = None,
    grids: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    base_config: ConfidenceConfig | None = None,
    configs: Sequence[ConfidenceConfig] | None = None,
    item_features: ItemFeatures | None = None,
) -> Selection:
    """Pick a model, its parameters and a confidence config for these events.

    `item_features` (matrix rows or texts) are indexed by the item codes of `events`.  `models`
    defaults to every registered model (content only when features are given); `grids` to the
    registry's GRIDS; `configs` to `confidence_candidates(base_config)`.
    """
    start = time.perf_counter()
    split = temporal_split(events, method, test_fraction)
    base_config = base_config if base_config is not None else ConfidenceConfig()
    grids = GRIDS if grids is None else grids
    configs = confidence_candidates(base_config) if configs is None else list(configs)
    if models is None:
        models = [m for m in MODELS if item_features is not None or m not in _NEEDS_FEATURES]

    table: list[EvalResult] = []
    skipped: list[tuple[str, str]] = []
    last_seconds: dict[str, float] = {}

    def remaining() -> float:
        return budget_seconds - (time.perf_counter() - start)

    def run(name: str, params: Mapping[str, Any] | None, config: ConfidenceConfig, label: str,
            force: bool = False) -> EvalResult | None:
        if not force and remaining() <= last_seconds.get(name, 0.0):
            return None
        try:
            result = evaluate_model(
                name, split, params, config, k=k, item_features=item_features, label=label
            )
        except (ValueError, np.linalg.LinAlgError, MemoryError) as exc:
            # A model that cannot take this data (EASE over max_items, a singular system) is
            # not a candidate here; tuning goes on with the others.
            logger.warning("selection: %s skipped: %s", label, exc)
            skipped.append((label, str(exc)))
            last_seconds[name] = float("inf")
            return None
        last_seconds[name] = result.fit_seconds + result.predict_seconds
        table.append(result)
        return result

    # 1. Defaults: a winner exists even if the budget only covers the first.
    defaults = []
    for name in models:
        r = run(name, None, base_config, f"{name} (defaults)", force=not table)
        if r is not None:
            defaults.append(r)
    if not table:
        raise ValueError(f"no model could be fitted to these events: {skipped}")
    best = _best(table)

    # 2. Confidence configs for the best model; the base config was already run.
    best_config = base_config
    for j, config in enumerate(configs):
        if config == base_config:
            continue
        r = run(best.model, _explicit(best), config, f"{best.model} (config {j})")
        if r is not None and r.metrics["ndcg"] > best.metrics["ndcg"]:
            best, best_config = r, config

    # 3. Grids, most promising model first.
    for d in sorted(defaults, key=lambda r: -r.metrics["ndcg"]):
        for params in grids.get(d.model, ()):
            r = run(d.model, params, best_config, f"{d.model} {_short(params)}")
            if r is not None and r.metrics["ndcg"] > best.metrics["ndcg"]:
                best = r

    seconds = time.perf_counter() - start
    logger.info(
        "selected %s %s (ndcg@%d %.4f) from %d candidates in %.1fs",
        best.model, best.params, k, best.metrics["ndcg"], len(table), seconds,
    )
    return Selection(
        model=best.model,
        params=dict(best.params),
        config=best.config if best.config is not None else best_config,
        metrics=best.metrics,
        table=table,
        rule=SELECTION_RULE.format(k=k),
        seconds=seconds,
        skipped=skipped,
    )


# Models that score from item features alone and cannot run without them.
_NEEDS_FEATURES = frozenset({"content"})


def _best(results: Sequence[EvalResult]) -> EvalResult:
    # max() keeps the first of equal keys: the earlier candidate wins ties.
    return max(results, key=lambda r: r.metrics["ndcg"])


def _explicit(result: EvalResult) -> dict[str, Any] | None:
    return dict(result.params) if result.params else dict(DEFAULT_PARAMS.get(result.model, {}))


def _short(params: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in params.items())
