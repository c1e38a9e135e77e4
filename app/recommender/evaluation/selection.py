"""Automatic model selection that predicts which model wins on a shop's *future* events.

The deployment is emulated: train on the events before a cut, recommend, score on the events after
it.  Several cuts (rolling origin, `rolling_splits`) are averaged, so a model that only suits the
last days' quirks does not win by luck.  Candidates are compared with the default model shopper by
shopper (paired), and the default is kept unless a challenger beats it with confidence: the lower
bound of a bootstrap interval of the mean per-shopper NDCG gain must be above zero.

The search is bounded by work, never by the clock, so the same events give the same choice on an
idle and on a loaded machine:
  - a large store is judged on a sample: whole shoppers drawn by a seeded permutation until
    `max_events` events, on the `max_items` items most shoppers of the sample touched;
  - each candidate's cost is *estimated* from the sample's shape (`estimated_seconds`: nominal
    seconds of an idle 2-core machine), and the candidates that the budget cannot cover are cut
    from the tail of the list before anything runs.  The default model always runs.
Fits are shared: a blend's components, and the same model under another blend weight, are fitted
once per fold, so the blend weights cost only their scoring.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from app.recommender.base import Recommender
from app.recommender.evaluation.evaluate import (
    EvalResult,
    ItemFeatures,
    recommend_users,
    seen_matrix,
    train_matrix,
    training_features,
)
from app.recommender.evaluation.metrics import METRIC_NAMES, per_user_metrics
from app.recommender.evaluation.split import Events, Split, SplitMethod, rolling_splits
from app.recommender.hybrid import Hybrid
from app.recommender.registry import DEFAULT_MODEL, DEFAULT_PARAMS, GRIDS, make_model
from app.shop import ConfidenceConfig

logger = logging.getLogger(__name__)

SELECTION_RULE = (
    "mean NDCG@{k} over {folds} rolling-origin cuts; the default ({default}) is kept unless a "
    "challenger's per-shopper gain over it has a {confidence:.0%} bootstrap lower bound above 0"
)
FOLDS = 2
FOLD_FRACTION = 0.1
MAX_EVENTS = 80_000  # the sample a large store is judged on (whole shoppers)
MAX_ITEMS = 4_000  # its most touched items
# Shoppers per cut below which a time cut gives way to per-shopper holdouts.  Low on purpose: the
# paired bootstrap already keeps the default when a cut judges too few, and per-shopper holdouts
# favour models of a shopper's own sequence that time cuts (the future) do not reward.
MIN_JUDGED = 50
CONFIDENCE = 0.95
BOOTSTRAP_ROUNDS = 1000
SEED = 7


@dataclass(frozen=True)
class Candidate:
    """One model to evaluate: a registry name, its parameters (over the registry's defaults) and
    the confidence config its matrix is built with."""

    label: str
    model: str
    params: Mapping[str, Any]
    config: ConfidenceConfig

    def components(self) -> list[tuple[str, dict[str, Any], float]]:
        """(name, explicit params, weight) of each fitted part: a hybrid's components, else itself."""
        if self.model != "hybrid":
            return [(self.model, dict(self.params), 1.0)]
        merged = {**DEFAULT_PARAMS["hybrid"], **self.params}
        return [(c["name"], dict(c.get("params", {})), float(c.get("weight", 1.0)))
                for c in merged["components"]]


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
    method: SplitMethod = "global"
    sample: dict[str, int] = dataclasses.field(default_factory=dict)


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


def _blend(personal: str, weight: float, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"components": [
        {"name": personal, "params": dict(params or {}), "weight": round(1.0 - weight, 4)},
        {"name": "popularity", "params": {"log_scale": True}, "weight": weight},
    ]}


def default_candidates(base: ConfidenceConfig, *, with_features: bool = False) -> list[Candidate]:
    """The default model first, then challengers, cheapest and most promising first: what the
    budget cuts is the tail.  Blends of a model already fitted cost only their scoring."""
    c = [Candidate(f"{DEFAULT_MODEL} (default)", DEFAULT_MODEL, {}, base)]
    for w in (0.2, 0.35, 0.65, 0.8):
        c.append(Candidate(f"ease + {w:g} popularity", "hybrid", _blend("ease", w), base))
    c.append(Candidate("ease", "ease", {}, base))
    c.append(Candidate("popularity", "popularity", {}, base))
    c.append(Candidate("itemknn", "itemknn", {}, base))
    for w in (0.2, 0.5):
        c.append(Candidate(f"itemknn + {w:g} popularity", "hybrid", _blend("itemknn", w), base))
    c.append(Candidate("ease + 0.5 itemknn", "hybrid", {"components": [
        {"name": "ease", "params": {}, "weight": 0.5},
        {"name": "itemknn", "params": {}, "weight": 0.5},
    ]}, base))
    c.append(Candidate("rp3beta", "rp3beta", {}, base))
    c.append(Candidate("rp3beta + 0.2 popularity", "hybrid", _blend("rp3beta", 0.2), base))
    c.append(Candidate("als", "als", {}, base))
    for j, config in enumerate(confidence_candidates(base)[1:], start=1):
        c.append(Candidate(f"{DEFAULT_MODEL} (config {j})", DEFAULT_MODEL, {}, config))
    for name in ("ease", "itemknn", "rp3beta", "als"):
        for params in GRIDS.get(name, ()):
            c.append(Candidate(f"{name} {_short(params)}", name, params, base))
    c.append(Candidate("userknn", "userknn", {}, base))
    c.append(Candidate("svd", "svd", {}, base))
    if with_features:
        c.append(Candidate("content", "content", {}, base))
    return c


# --- work estimates ---------------------------------------------------------------------------
# Nominal seconds on an idle 2-core machine, from the sample's shape (the constants were fitted to
# a selection on a 1M-event synthetic shop's sample).  They only decide which candidates fit the
# budget; being estimates of the data, not clock readings, they make the choice independent of the
# machine's load.

FIT_OVERHEAD = 0.05  # building and fitting any model, however small its data
SCORE_OVERHEAD = 0.02  # scoring and ranking one candidate on one cut


def estimated_seconds(name: str, params: Mapping[str, Any], n_users: int, n_items: int,
                      nnz: int) -> float:
    """A component's fit, estimated from its training matrix's shape."""
    p = {**DEFAULT_PARAMS.get(name, {}), **params}
    per_user = nnz / max(n_users, 1)
    if name == "ease":
        m = min(n_items, int(p.get("max_items", n_items)))
        work = 2.4e-11 * m**3 + 2e-9 * nnz * per_user
    elif name in ("itemknn", "userknn", "rp3beta"):
        work = 8e-8 * nnz * per_user + 1e-7 * (n_users + n_items)
    elif name in ("als", "svd"):
        f = int(p.get("factors", 64))
        if name == "als":
            work = int(p.get("iterations", 15)) * (4e-9 * nnz * f + 4e-10 * (n_users + n_items) * f * f)
        else:  # Lanczos iterations over the whole matrix
            work = 4e-7 * nnz * f
    elif name == "content":
        work = 1e-7 * n_items * 20
    else:  # popularity
        work = 1e-8 * nnz
    return FIT_OVERHEAD + work


def _score_seconds(n_eval: int, n_items: int, n_parts: int) -> float:
    return SCORE_OVERHEAD + 4e-8 * n_eval * n_items * n_parts


# --- the search -------------------------------------------------------------------------------

def sample_events(events: Events, max_events: int, max_items: int, seed: int = SEED) -> Events:
    """Whole shoppers in a seeded random order until `max_events`, then their `max_items` most
    touched items.  The events themselves are left as they are (same codes, same order)."""
    keep = np.ones(len(events), dtype=bool)
    if len(events) > max_events:
        users, counts = np.unique(events.users, return_counts=True)
        order = np.random.default_rng(seed).permutation(len(users))
        cum = np.cumsum(counts[order])
        chosen = users[order[: int(np.searchsorted(cum, max_events)) + 1]]
        keep &= np.isin(events.users, chosen)
    users, items = events.users[keep], events.items[keep]
    width = int(items.max()) + 1 if len(items) else 1
    pairs = np.unique(users * width + items)  # distinct (shopper, item) pairs
    items, item_users = np.unique(pairs % width, return_counts=True)
    if len(items) > max_items:
        head = items[np.argsort(-item_users, kind="stable")[:max_items]]
        keep &= np.isin(events.items, head)
    return events.subset(keep) if not keep.all() else events


def select_model(
    events: Events,
    budget_seconds: float,
    *,
    method: SplitMethod | Literal["auto"] = "global",
    folds: int = FOLDS,
    fold_fraction: float = FOLD_FRACTION,
    k: int = 10,
    candidates: Sequence[Candidate] | None = None,
    base_config: ConfidenceConfig | None = None,
    item_features: ItemFeatures | None = None,
    max_events: int = MAX_EVENTS,
    max_items: int = MAX_ITEMS,
    confidence: float = CONFIDENCE,
    seed: int = SEED,
) -> Selection:
    """Pick a model, its parameters and a confidence config for these events.

    `candidates[0]` is the default, kept unless a challenger wins with confidence; the default list
    is `default_candidates(base_config)`.  `item_features` (matrix rows or texts) are indexed by the
    item codes of `events`.  `budget_seconds` bounds the *estimated* work (module docstring).
    """
    start = time.perf_counter()
    base_config = base_config if base_config is not None else ConfidenceConfig()
    if candidates is None:
        candidates = default_candidates(base_config, with_features=item_features is not None)
    if not candidates:
        raise ValueError("no candidates to select from")
    sample = sample_events(events, max_events, max_items, seed)
    if method == "auto":
        method, splits = _auto_splits(sample, folds, fold_fraction)
    else:
        splits = rolling_splits(sample, method, folds, fold_fraction)
    if any(s.n_eval == 0 for s in splits):
        raise ValueError("a rolling-origin cut has no shopper to judge by")
    plan = _plan(candidates, splits, budget_seconds)

    per_user: dict[str, list[np.ndarray]] = {c.label: [] for c in plan}
    means: dict[str, list[dict[str, float]]] = {c.label: [] for c in plan}
    fit_s: dict[str, float] = dict.fromkeys(per_user, 0.0)
    predict_s: dict[str, float] = dict.fromkeys(per_user, 0.0)
    skipped: dict[str, str] = {}
    for split in splits:
        features = training_features(item_features, split)
        fitted: dict[tuple[ConfidenceConfig, str], Recommender | Exception] = {}
        matrices: dict[ConfidenceConfig, sp.csr_matrix] = {}
        seen = seen_matrix(split)
        for cand in plan:
            if cand.label in skipped:
                continue
            X = matrices.get(cand.config)
            if X is None:
                X = matrices[cand.config] = train_matrix(split, cand.config)
            t0 = time.perf_counter()
            try:
                model = _fitted(cand, X, fitted, features)
            except (ValueError, np.linalg.LinAlgError, MemoryError) as exc:
                # A model that cannot take this data is not a candidate; the others go on.
                logger.warning("selection: %s skipped: %s", cand.label, exc)
                skipped[cand.label] = str(exc)
                continue
            t1 = time.perf_counter()
            recommended = recommend_users(model, split.eval_users, k, exclude=seen)
            per_user_scores = per_user_metrics(recommended, split.truth)
            fit_s[cand.label] += t1 - t0
            predict_s[cand.label] += time.perf_counter() - t1
            per_user[cand.label].append(per_user_scores["ndcg"])
            means[cand.label].append({m: float(v.mean()) for m, v in per_user_scores.items()})
        del fitted, matrices

    default = plan[0]
    if default.label in skipped:
        raise ValueError(f"the default model could not be fitted: {skipped[default.label]}")
    base_ndcg = np.concatenate(per_user[default.label])
    rng_seed = seed
    table: list[EvalResult] = []
    best, best_ndcg = default, float(base_ndcg.mean())
    for cand in plan:
        if cand.label in skipped:
            continue
        ndcg = np.concatenate(per_user[cand.label])
        gain, low = _paired_gain(ndcg - base_ndcg, confidence, rng_seed)
        metrics = {m: float(np.mean([f[m] for f in means[cand.label]]))
                   for m in METRIC_NAMES if m != "coverage"}
        metrics.update(ndcg_gain=gain, ndcg_gain_low=low)
        row = EvalResult(cand.label, cand.model, dict(cand.params), metrics,
                         fit_s[cand.label], predict_s[cand.label], config=cand.config)
        table.append(row)
        if cand is not default and low > 0 and metrics["ndcg"] > best_ndcg:
            best, best_ndcg = cand, metrics["ndcg"]

    winner = next(r for r in table if r.label == best.label)
    seconds = time.perf_counter() - start
    logger.info("selected %s (ndcg@%d %.4f, default %.4f) from %d candidates in %.1fs",
                best.label, k, best_ndcg, float(base_ndcg.mean()), len(table), seconds)
    return Selection(
        model=best.model,
        params=_explicit(best),
        config=best.config,
        metrics=winner.metrics,
        table=table,
        rule=SELECTION_RULE.format(k=k, folds=len(splits), default=default.label,
                                   confidence=confidence),
        seconds=seconds,
        skipped=list(skipped.items()),
        method=method,
        sample={"events": len(sample), "shoppers": int(len(np.unique(sample.users))),
                "items": int(len(np.unique(sample.items))),
                "judged": int(sum(s.n_eval for s in splits)), "candidates": len(plan),
                "of_candidates": len(candidates)},
    )


def _auto_splits(sample: Events, folds: int, fold_fraction: float) -> tuple[SplitMethod, list[Split]]:
    """Time cuts mirror serving the future, but a short or bursty history can leave them too few
    shoppers to judge by; then each shopper's latest events are held out instead.  Events without
    a past (one timestamp for all) cannot be split either way: ValueError."""
    splits = rolling_splits(sample, "global", folds, fold_fraction)
    if min(s.n_eval for s in splits) >= MIN_JUDGED:
        return "global", splits
    return "per_user", rolling_splits(sample, "per_user", folds, fold_fraction)


def _plan(candidates: Sequence[Candidate], splits: Sequence[Split], budget: float) -> list[Candidate]:
    """The candidates whose estimated work fits the budget, in order (the default always)."""
    done: set[tuple[ConfidenceConfig, str]] = set()
    spent = 0.0
    plan: list[Candidate] = []
    for n, cand in enumerate(candidates):
        cost = 0.0
        new = []
        for name, params, _ in cand.components():
            key = (cand.config, _key(name, params))
            if key not in done:
                new.append(key)
                for s in splits:
                    cost += estimated_seconds(name, params, s.n_users, s.n_items, len(s.train))
        cost += sum(_score_seconds(s.n_eval, s.n_items, len(cand.components())) for s in splits)
        if n > 0 and spent + cost > budget:
            continue  # a cheaper one later in the list may still fit
        spent += cost
        done.update(new)
        plan.append(cand)
    return plan


def _fitted(cand: Candidate, X: sp.csr_matrix,
            fitted: dict[tuple[ConfidenceConfig, str], Recommender | Exception],
            features: ItemFeatures | None) -> Recommender:
    parts = []
    for name, params, weight in cand.components():
        key = (cand.config, _key(name, params))
        model = fitted.get(key)
        if model is None:
            try:
                model = make_model(name, params or None, item_features=features).fit(X)
            except (ValueError, np.linalg.LinAlgError, MemoryError) as exc:
                model = exc
            fitted[key] = model
        if isinstance(model, Exception):
            raise model
        parts.append((model, weight))
    if cand.model != "hybrid":
        return parts[0][0]
    blend = Hybrid(parts)
    blend.n_users, blend.n_items = X.shape
    return blend


def _paired_gain(diff: np.ndarray, confidence: float, seed: int) -> tuple[float, float]:
    """Mean per-shopper gain and the lower bound of its bootstrap interval (one-sided)."""
    if len(diff) == 0:
        return 0.0, 0.0
    if not diff.any():
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    n = len(diff)
    rounds = []
    for start in range(0, BOOTSTRAP_ROUNDS, 100):
        b = min(100, BOOTSTRAP_ROUNDS - start)
        rounds.append(diff[rng.integers(0, n, size=(b, n))].mean(axis=1))
    boot = np.concatenate(rounds)
    return float(diff.mean()), float(np.quantile(boot, 1.0 - confidence))


def _key(name: str, params: Mapping[str, Any]) -> str:
    return name + json.dumps({**DEFAULT_PARAMS.get(name, {}), **params}, sort_keys=True, default=str)


def _explicit(cand: Candidate) -> dict[str, Any]:
    return {**DEFAULT_PARAMS.get(cand.model, {}), **cand.params}


def _short(params: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in params.items())
