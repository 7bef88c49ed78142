"""What an evaluation measures, per env id: one metric set for each env family.

A :class:`MetricSet` names its metrics (with definitions and table labels), says which ``info``
keys it reads, and makes a :class:`Recorder` for a run; the recorder takes every whole episode's
rewards and step ``info`` dicts and finally summarizes them as means with 95% intervals. The
episode runner (:func:`recoworld.evaluation.evaluate`) is the same for every env; only the
metric set differs. Register one for your own env with :func:`register_metric_set`; an env
without one is measured by :data:`GENERIC_METRICS` (return and episode length).

Built in: ``RecoWorld-v0`` (engagement, retention, diversity, exposure), ``ConvRec-v0`` (SR@k,
AT, hDCG), ``RecoChat-v0`` (success rate, turns, satisfaction) and ``SlateRec-v0`` (clicks,
CTR, groups per slate, coverage).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from recoworld.agents.registry import family_id
from recoworld.evaluation.convrec_metrics import CONVREC_METRICS, convrec_metrics
from recoworld.evaluation.metrics import (
    bootstrap_ci95,
    catalog_coverage,
    gini,
    intra_list_diversity,
    mean_ci95,
    novelty,
)

__all__ = [
    "GENERIC_METRICS",
    "MIN_EPISODES_FOR_CI",
    "MetricSet",
    "MetricSummary",
    "Recorder",
    "metric_label",
    "metric_set_for",
    "register_metric_set",
    "sample_size",
]

NAN = float("nan")

MIN_EPISODES_FOR_CI = 5
"""Fewest defined values a metric needs for a 95% interval in a report.

With fewer, a Student-t interval is so wide (``t_{0.975, 1}`` is 12.7) that it mostly says the
sample is too small, and it can reach far outside the values the metric can take; the report
gives ``(nan, nan)`` instead and its tables say "n too small". Above it, the interval of a
bounded metric (a rate, a satisfaction score) is clipped to the metric's range
(:attr:`MetricSet.bounds`)."""


@dataclass(frozen=True)
class MetricSummary:
    """A run's metrics: ``metrics`` name -> value, ``ci95`` name -> ``(lo, hi)``,
    ``per_episode`` name -> ``(episodes_completed,)`` values (NaN = undefined), and ``config``:
    facts about the env the report's config should carry (e.g. ``max_turns``)."""

    metrics: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    per_episode: dict[str, np.ndarray]
    config: dict[str, Any] = field(default_factory=dict)


class Recorder(Protocol):
    """Collects a run's whole episodes, then summarizes them."""

    def record(
        self, episode: int, rewards: Sequence[float], infos: Sequence[dict[str, Any]]
    ) -> None:
        """One whole episode: its rewards and the ``info`` of every step (in order)."""
        ...

    def summarize(self, completed: int, seed: int) -> MetricSummary:
        """The metrics over the first ``completed`` episodes (``seed`` seeds any bootstrap)."""
        ...


@dataclass(frozen=True)
class MetricSet:
    """The metrics of one env id and how to compute them.

    Attributes:
        env_id: the env id it measures.
        metrics: metric name -> definition, in report order.
        labels: metric name -> table label (defaults to the name).
        comparison: the metrics :func:`~recoworld.evaluation.comparison_table` shows by default.
        required_info: ``info`` keys every step must report (checked on the first step, so a
            wrong env fails with a message naming the missing keys).
        recorder: ``(env, episodes) -> Recorder`` for one run.
        bounds: metric name -> ``(low, high)``, the values the metric can take; the report
            clips its interval to them (see :meth:`finish`).
    """

    env_id: str
    metrics: dict[str, str]
    recorder: Callable[[gym.Env, int], Recorder]
    labels: dict[str, str] = field(default_factory=dict)
    comparison: tuple[str, ...] = ()
    required_info: tuple[str, ...] = ()
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)

    def make_recorder(self, env: gym.Env, episodes: int) -> Recorder:
        """A recorder for a run of ``episodes`` episodes that checks the required ``info``
        keys on the first step it sees."""
        return _CheckedRecorder(self, self.recorder(env, episodes))

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    def finish(self, summary: MetricSummary, completed: int) -> MetricSummary:
        """``summary`` with the report's interval rule applied to every metric.

        A metric with fewer than :data:`MIN_EPISODES_FOR_CI` defined values (its non-NaN
        per-episode values, or the completed episodes for a run-level metric) gets the interval
        ``(nan, nan)``; any other interval is clipped to the metric's :attr:`bounds`.
        """
        ci95: dict[str, tuple[float, float]] = {}
        for name, interval in summary.ci95.items():
            if sample_size(summary.per_episode, name, completed) < MIN_EPISODES_FOR_CI:
                ci95[name] = (NAN, NAN)
                continue
            lo, hi = interval
            if name in self.bounds:
                low, high = self.bounds[name]
                lo, hi = float(np.clip(lo, low, high)), float(np.clip(hi, low, high))
            ci95[name] = (lo, hi)
        return MetricSummary(summary.metrics, ci95, summary.per_episode, summary.config)


def sample_size(per_episode: Mapping[str, np.ndarray], name: str, completed: int) -> int:
    """The values behind metric ``name``: its defined (non-NaN) per-episode values, or
    ``completed`` for a metric computed over the whole run."""
    values = per_episode.get(name)
    if values is None:
        return int(completed)
    return int(np.count_nonzero(~np.isnan(np.asarray(values, dtype=np.float64)[:completed])))


class _CheckedRecorder:
    def __init__(self, metric_set: MetricSet, inner: Recorder) -> None:
        self.metric_set = metric_set
        self.inner = inner
        self.checked = False

    def record(
        self, episode: int, rewards: Sequence[float], infos: Sequence[dict[str, Any]]
    ) -> None:
        if not self.checked and infos:
            missing = [key for key in self.metric_set.required_info if key not in infos[0]]
            if missing:
                raise ValueError(
                    f"the env's step info lacks {missing}; the {self.metric_set.env_id} metrics "
                    f"need the info keys {list(self.metric_set.required_info)}"
                )
            self.checked = True
        self.inner.record(episode, rewards, infos)

    def summarize(self, completed: int, seed: int) -> MetricSummary:
        return self.inner.summarize(completed, seed)


_METRIC_SETS: dict[str, MetricSet] = {}


def register_metric_set(metric_set: MetricSet, *, overwrite: bool = False) -> MetricSet:
    """Make ``metric_set`` the metrics of its env id; ``ValueError`` if one is registered
    (unless ``overwrite``)."""
    if not isinstance(metric_set, MetricSet):
        raise ValueError(f"metric_set={metric_set!r} must be a MetricSet")
    if metric_set.env_id in _METRIC_SETS and not overwrite:
        raise ValueError(
            f"a metric set is already registered for {metric_set.env_id}; pass overwrite=True"
        )
    _METRIC_SETS[metric_set.env_id] = metric_set
    return metric_set


def metric_set_for(env_id: str) -> MetricSet:
    """The metric set registered for ``env_id`` or its family (an env class derived from a
    registered env's class, see :func:`recoworld.agents.registry.family_id`), else
    :data:`GENERIC_METRICS` for it."""
    found = _METRIC_SETS.get(family_id(env_id, _METRIC_SETS))
    if found is not None:
        return found
    return MetricSet(
        env_id,
        GENERIC_METRICS.metrics,
        GENERIC_METRICS.recorder,
        GENERIC_METRICS.labels,
        GENERIC_METRICS.comparison,
        bounds=GENERIC_METRICS.bounds,
    )


def metric_label(name: str) -> str:
    """The table label of metric ``name`` in any registered set (else the name)."""
    for metric_set in _METRIC_SETS.values():
        if name in metric_set.labels:
            return metric_set.labels[name]
    return GENERIC_METRICS.labels.get(name, name)


def _summarize_means(
    per_episode: Mapping[str, np.ndarray], completed: int
) -> tuple[dict[str, float], dict[str, tuple[float, float]], dict[str, np.ndarray]]:
    kept = {name: values[:completed] for name, values in per_episode.items()}
    metrics: dict[str, float] = {}
    ci95: dict[str, tuple[float, float]] = {}
    for name, values in kept.items():
        mean, lo, hi = mean_ci95(values)
        metrics[name], ci95[name] = mean, (lo, hi)
    return metrics, ci95, kept


# -------------------------------------------------------------------------------- generic


class _GenericRecorder:
    def __init__(self, env: gym.Env, episodes: int) -> None:
        self.per_episode = {name: np.empty(episodes) for name in ("return", "length")}

    def record(
        self, episode: int, rewards: Sequence[float], infos: Sequence[dict[str, Any]]
    ) -> None:
        self.per_episode["return"][episode] = float(sum(rewards))
        self.per_episode["length"][episode] = len(rewards)

    def summarize(self, completed: int, seed: int) -> MetricSummary:
        return MetricSummary(*_summarize_means(self.per_episode, completed))


GENERIC_METRICS = MetricSet(
    "*",
    {"return": "sum of rewards over the episode", "length": "steps in the episode"},
    _GenericRecorder,
    {"return": "Return", "length": "Episode length"},
    ("return", "length"),
    bounds={"length": (0.0, math.inf)},
)
"""The metrics of an env with no registered set: episode return and length."""


# ---------------------------------------------------------------------------- RecoWorld-v0

RECOWORLD_EPISODE_METRICS: dict[str, str] = {
    "return": "sum of rewards over the episode",
    "clicks": "items clicked over the episode",
    "ctr": "clicks / non-empty slots shown",
    "watch_time": "minutes watched over the episode",
    "session_length": "turns per session (mean over the episode's sessions)",
    "sessions": "sessions in the episode (one user per episode)",
    "return_gap_days": "mean drawn return gap over the sessions that ended (days)",
    "churn_rate": "1 if the user churned during the episode, else 0",
    "intra_list_diversity": "mean over slates of the mean pairwise cosine distance",
    "novelty": "mean self-information -log2(popularity) of shown items (bits)",
    "wasted_slots": "empty slots (repeated candidates) over the episode",
    "instructions": "reflective instructions the user gave over the episode",
}
"""RecoWorld-v0 metrics computed per episode; reported as mean and Student-t interval.

An episode where a metric is undefined (no session ended, so no return gap; no non-empty slot)
records NaN and does not contribute to the mean.
"""

RECOWORLD_RUN_METRICS: dict[str, str] = {
    "coverage": "fraction of catalog items shown at least once over the run",
    "exposure_gini": "Gini coefficient of item exposure counts over the run",
}
"""RecoWorld-v0 metrics computed over the whole run, with percentile-bootstrap intervals.

Resampling episodes with replacement repeats some and drops others, so a resample sees fewer
distinct items than the run: the coverage interval sits mostly below the run's value (and the
Gini interval mostly above). Read these intervals as the spread due to which users were drawn.
"""


class _RecoWorldRecorder:
    """Per-episode RecoWorld metrics and item exposure, filled one whole episode at a time."""

    def __init__(self, env: gym.Env, episodes: int) -> None:
        catalog = env.unwrapped.catalog  # type: ignore[attr-defined]
        self.n_items = catalog.n_items
        # Row ``n_items`` is a zero embedding, so indexing with an empty slot (-1) finds no item.
        self.padded_embeddings = np.vstack(
            [catalog.embeddings.astype(np.float64), np.zeros((1, catalog.embedding_dim))]
        )
        self.popularity = catalog.popularity
        self.per_episode = {
            name: np.empty(episodes, np.float64) for name in RECOWORLD_EPISODE_METRICS
        }
        self.exposure = np.zeros((episodes, self.n_items), np.int32)
        """``(episodes, n_items)`` times each item was shown in each episode."""

    def record(
        self, episode: int, rewards: Sequence[float], infos: Sequence[dict[str, Any]]
    ) -> None:
        clicks = instructions = sessions_ended = 0
        watch_time = 0.0
        gaps: list[float] = []
        churned = False
        for info in infos:
            clicks += len(info["clicks"])
            watch_time += info["watch_time"]
            if info["session_ended"]:
                sessions_ended += 1
                if info["return_gap_days"] is not None:
                    gaps.append(info["return_gap_days"])
            churned = churned or info["churned"]
            if info.get("instruction") is not None:
                instructions += 1
        turns = len(infos)
        slate_rows = np.stack([info["slate"] for info in infos])
        shown = slate_rows[slate_rows >= 0]
        self.exposure[episode] = np.bincount(shown, minlength=self.n_items)
        # An episode cut off mid-session (a time limit) still counts that session.
        sessions = sessions_ended + (0 if infos[-1]["session_ended"] else 1)
        values = self.per_episode
        values["return"][episode] = sum(rewards)
        values["clicks"][episode] = clicks
        values["ctr"][episode] = clicks / shown.size if shown.size else np.nan
        values["watch_time"][episode] = watch_time
        values["session_length"][episode] = turns / sessions
        values["sessions"][episode] = sessions
        values["return_gap_days"][episode] = np.mean(gaps) if gaps else np.nan
        values["churn_rate"][episode] = float(churned)
        values["intra_list_diversity"][episode] = _nanmean(
            np.asarray(intra_list_diversity(self.padded_embeddings[slate_rows]))
        )
        values["novelty"][episode] = novelty(shown, self.popularity)
        values["wasted_slots"][episode] = slate_rows.size - shown.size
        values["instructions"][episode] = instructions

    def summarize(self, completed: int, seed: int) -> MetricSummary:
        metrics, ci95, per_episode = _summarize_means(self.per_episode, completed)
        exposure = self.exposure[:completed]
        rng = np.random.default_rng(seed)
        run_statistics: dict[str, Callable[[np.ndarray], float]] = {
            "coverage": lambda counts: catalog_coverage(counts.sum(axis=0)),
            "exposure_gini": lambda counts: gini(counts.sum(axis=0)),
        }
        for name, statistic in run_statistics.items():
            if completed:
                metrics[name] = statistic(exposure)
                ci95[name] = bootstrap_ci95(exposure, statistic, rng)
            else:
                metrics[name], ci95[name] = NAN, (NAN, NAN)
        return MetricSummary(metrics, ci95, per_episode)


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else NAN


RECOWORLD_METRICS = MetricSet(
    "RecoWorld-v0",
    {**RECOWORLD_EPISODE_METRICS, **RECOWORLD_RUN_METRICS},
    _RecoWorldRecorder,
    {
        "return": "Return",
        "clicks": "Clicks",
        "ctr": "CTR",
        "watch_time": "Watch time (min)",
        "session_length": "Session length (turns)",
        "sessions": "Sessions",
        "return_gap_days": "Return gap (days)",
        "churn_rate": "Churn rate",
        "intra_list_diversity": "Diversity (ILD)",
        "novelty": "Novelty (bits)",
        "wasted_slots": "Wasted slots",
        "instructions": "Instructions",
        "coverage": "Coverage",
        "exposure_gini": "Exposure Gini",
    },
    (
        "return",
        "clicks",
        "ctr",
        "watch_time",
        "session_length",
        "return_gap_days",
        "intra_list_diversity",
        "coverage",
        "exposure_gini",
    ),
    ("slate", "clicks", "watch_time", "session_ended", "return_gap_days", "churned"),
    bounds={
        **dict.fromkeys(
            (
                "clicks",
                "watch_time",
                "session_length",
                "sessions",
                "return_gap_days",
                "novelty",
                "wasted_slots",
                "instructions",
            ),
            (0.0, math.inf),
        ),
        **dict.fromkeys(("ctr", "churn_rate", "coverage", "exposure_gini"), (0.0, 1.0)),
        "intra_list_diversity": (0.0, 2.0),
    },
)
"""The metrics of ``RecoWorld-v0``: :data:`RECOWORLD_EPISODE_METRICS` and
:data:`RECOWORLD_RUN_METRICS`."""


# ------------------------------------------------------------------------------ ConvRec-v0


class _ConvRecRecorder:
    """Success turn and rank of every conversation; SR@k, AT, hDCG (see
    :mod:`recoworld.evaluation.convrec_metrics`)."""

    def __init__(self, env: gym.Env, episodes: int) -> None:
        self.max_turns = int(env.unwrapped.max_turns)  # type: ignore[attr-defined]
        self.per_episode = {
            name: np.empty(episodes, np.float64)
            for name in ("success_turn", "success_rank", "turns", "return")
        }

    def record(
        self, episode: int, rewards: Sequence[float], infos: Sequence[dict[str, Any]]
    ) -> None:
        info = infos[-1]
        values = self.per_episode
        values["success_turn"][episode] = info["turn"] if info["success"] else -1
        values["success_rank"][episode] = info["accepted_rank"] if info["success"] else 0
        values["turns"][episode] = info["turn"] if info["success"] else self.max_turns
        values["return"][episode] = sum(rewards)

    def summarize(self, completed: int, seed: int) -> MetricSummary:
        per_episode = {name: values[:completed] for name, values in self.per_episode.items()}
        if completed:
            summary = convrec_metrics(
                per_episode["success_turn"].astype(np.int64),
                self.max_turns,
                np.maximum(per_episode["success_rank"], 1).astype(np.int64),
            )
        else:
            summary = {name: (NAN, NAN, NAN) for name in CONVREC_METRICS if name != "return"}
        summary["return"] = mean_ci95(per_episode["return"])
        return MetricSummary(
            {name: value[0] for name, value in summary.items()},
            {name: (value[1], value[2]) for name, value in summary.items()},
            per_episode,
            {"max_turns": self.max_turns},
        )


CONVREC_METRIC_SET = MetricSet(
    "ConvRec-v0",
    dict(CONVREC_METRICS),
    _ConvRecRecorder,
    {"return": "Return", "AT": "AT (turns)"},
    ("SR@5", "SR@10", "SR@15", "AT", "hDCG", "return"),
    ("success", "turn", "accepted_rank"),
    bounds={
        **dict.fromkeys(("SR@5", "SR@10", "SR@15", "hDCG"), (0.0, 1.0)),
        "AT": (1.0, math.inf),
    },
)
"""The metrics of ``ConvRec-v0``: SR@5/10/15, AT, hDCG and return."""


# ----------------------------------------------------------------------------- RecoChat-v0

RECOCHAT_METRICS: dict[str, str] = {
    "success_rate": "fraction of conversations where the user accepted a recommendation",
    "turns": "agent turns per conversation",
    "satisfaction": "mean per-turn satisfaction the user reported (1..5)",
    "final_satisfaction": "the user's satisfaction at the conversation's last turn (1..5)",
    "left_rate": "fraction of conversations the user left before success or the turn budget",
    "recommendations": "turns that recommended items, per conversation",
    "failed_turns": "turns whose reply stood in for a failed model call, per conversation",
    "return": "sum of rewards over the conversation",
}
"""``RecoChat-v0`` metrics, per conversation, reported as mean and Student-t interval."""


class _RecoChatRecorder:
    def __init__(self, env: gym.Env, episodes: int) -> None:
        self.per_episode = {name: np.empty(episodes, np.float64) for name in RECOCHAT_METRICS}

    def record(
        self, episode: int, rewards: Sequence[float], infos: Sequence[dict[str, Any]]
    ) -> None:
        last = infos[-1]
        values = self.per_episode
        satisfaction = [float(info["satisfaction"]) for info in infos]
        values["success_rate"][episode] = float(bool(last["success"]))
        values["turns"][episode] = len(infos)
        values["satisfaction"][episode] = float(np.mean(satisfaction)) if satisfaction else NAN
        values["final_satisfaction"][episode] = satisfaction[-1] if satisfaction else NAN
        values["left_rate"][episode] = float(bool(last["left"]) and not bool(last["success"]))
        values["recommendations"][episode] = sum(1 for info in infos if len(info["recommended"]))
        values["failed_turns"][episode] = sum(1 for info in infos if info.get("llm_failed"))
        values["return"][episode] = sum(rewards)

    def summarize(self, completed: int, seed: int) -> MetricSummary:
        return MetricSummary(*_summarize_means(self.per_episode, completed))


RECOCHAT_METRIC_SET = MetricSet(
    "RecoChat-v0",
    RECOCHAT_METRICS,
    _RecoChatRecorder,
    {
        "success_rate": "Success rate",
        "turns": "Turns",
        "satisfaction": "Satisfaction (1-5)",
        "final_satisfaction": "Final satisfaction",
        "left_rate": "Left rate",
        "recommendations": "Recommendations",
        "failed_turns": "Failed LLM turns",
        "return": "Return",
    },
    ("success_rate", "turns", "satisfaction", "left_rate", "return"),
    ("success", "satisfaction", "left", "recommended"),
    bounds={
        **dict.fromkeys(("success_rate", "left_rate"), (0.0, 1.0)),
        **dict.fromkeys(("satisfaction", "final_satisfaction"), (1.0, 5.0)),
        **dict.fromkeys(("turns", "recommendations", "failed_turns"), (0.0, math.inf)),
    },
)
"""The metrics of ``RecoChat-v0``: :data:`RECOCHAT_METRICS`."""


for _metric_set in (RECOWORLD_METRICS, CONVREC_METRIC_SET, RECOCHAT_METRIC_SET):
    register_metric_set(_metric_set)


# ----------------------------------------------------------------------------- SlateRec-v0

SLATEREC_EPISODE_METRICS: dict[str, str] = {
    "clicks": "clicks over the episode (the sum of its rewards)",
    "ctr": "clicks / slates shown (a slate gets one click or none)",
    "no_click_rate": "slates without a click / slates shown",
    "groups_per_slate": "distinct item groups among a slate's items, mean over the slates",
    "episode_length": "slates shown in the episode (the horizon, or fewer if the user left)",
}
"""``SlateRec-v0`` metrics computed per episode; reported as mean and Student-t interval."""

SLATEREC_RUN_METRICS: dict[str, str] = {
    "coverage": "fraction of the world's items shown at least once over the run",
}
"""``SlateRec-v0`` metrics computed over the whole run, with percentile-bootstrap intervals
over episodes (read them as for :data:`RECOWORLD_RUN_METRICS`)."""


class _SlateRecRecorder:
    """Per-episode SlateRec metrics and the distinct items each episode showed (kept per
    episode, not as an items-wide count, since a FINN.no world has over a million items)."""

    def __init__(self, env: gym.Env, episodes: int) -> None:
        unwrapped: Any = env.unwrapped
        world = unwrapped.world
        self.n_items = int(world.n_items)
        self.config = {
            "slate_size": int(unwrapped.slate_size),
            "horizon": int(unwrapped.horizon),
            "n_items": self.n_items,
            "n_groups": int(world.n_groups),
            "world": str(world.name),
        }
        self.per_episode = {
            name: np.empty(episodes, np.float64) for name in SLATEREC_EPISODE_METRICS
        }
        self.shown: list[np.ndarray] = [np.empty(0, np.int64)] * episodes
        """The distinct catalog rows each episode showed."""

    def record(
        self, episode: int, rewards: Sequence[float], infos: Sequence[dict[str, Any]]
    ) -> None:
        steps = len(infos)
        clicks = float(sum(rewards))
        slates = np.stack([np.asarray(info["slate"], dtype=np.int64) for info in infos])
        self.shown[episode] = np.unique(slates[slates >= 0])
        values = self.per_episode
        values["clicks"][episode] = clicks
        values["ctr"][episode] = clicks / steps if steps else NAN
        no_clicks = sum(1 for info in infos if int(info["clicked"]) < 0)
        values["no_click_rate"][episode] = no_clicks / steps if steps else NAN
        values["groups_per_slate"][episode] = (
            float(np.mean([info["groups_in_slate"] for info in infos])) if steps else NAN
        )
        values["episode_length"][episode] = steps

    def summarize(self, completed: int, seed: int) -> MetricSummary:
        metrics, ci95, per_episode = _summarize_means(self.per_episode, completed)
        if not completed:
            metrics["coverage"], ci95["coverage"] = NAN, (NAN, NAN)
            return MetricSummary(metrics, ci95, per_episode, dict(self.config))
        shown = self.shown[:completed]
        owner = np.repeat(np.arange(completed), [rows.size for rows in shown])
        distinct, compact = np.unique(np.concatenate(shown), return_inverse=True)

        def coverage(episodes: np.ndarray) -> float:
            chosen = np.zeros(completed, np.bool_)
            chosen[episodes] = True
            seen = np.zeros(distinct.size, np.bool_)
            seen[compact[chosen[owner]]] = True
            return float(np.count_nonzero(seen)) / self.n_items

        metrics["coverage"] = distinct.size / self.n_items
        ci95["coverage"] = bootstrap_ci95(
            np.arange(completed), coverage, np.random.default_rng(seed)
        )
        return MetricSummary(metrics, ci95, per_episode, dict(self.config))


SLATEREC_METRIC_SET = MetricSet(
    "SlateRec-v0",
    {**SLATEREC_EPISODE_METRICS, **SLATEREC_RUN_METRICS},
    _SlateRecRecorder,
    {
        "clicks": "Clicks",
        "ctr": "CTR",
        "no_click_rate": "No-click rate",
        "groups_per_slate": "Groups per slate",
        "episode_length": "Episode length",
        "coverage": "Coverage",
    },
    ("clicks", "ctr", "no_click_rate", "groups_per_slate", "episode_length", "coverage"),
    ("clicked", "slate", "groups_in_slate"),
    bounds={
        **dict.fromkeys(("clicks", "groups_per_slate", "episode_length"), (0.0, math.inf)),
        **dict.fromkeys(("ctr", "no_click_rate", "coverage"), (0.0, 1.0)),
    },
)
"""The metrics of ``SlateRec-v0``: :data:`SLATEREC_EPISODE_METRICS` and
:data:`SLATEREC_RUN_METRICS`."""

register_metric_set(SLATEREC_METRIC_SET)
