"""A world of users fitted to a real log, for ``RecoWorld-v0``, and how its users compare.

:func:`fit_world` fits the ``latent-fitted`` simulator
(:class:`~recoworld.fidelity.latent_fitted.LatentFittedSimulator`) to a log and turns it into a
:class:`FittedWorld`: the catalog with its embeddings refined from the log, the latent user model
with the fitted choice weights, and one user per real user of the log (their interests, interest
weights, boredom and familiarity fitted from their whole history, the items they consumed marked
as consumed, their watch history as the env summarises it, and a patience that ranks them as
their activity in the log ranks them), with the no-click utility, which scenes cannot identify,
calibrated to the log's activity. Then::

    env = gym.make("RecoWorld-v0", world=world)

runs any agent against these users (each reset draws one of them; ``info["user_id"]`` says
which; ``env.reset(options={"user_id": id})`` picks one).

:func:`world_fidelity` asks whether the fitted users behave like the real ones beyond a single
choice: each fitted user held out of the calibration plays one session of ``RecoWorld-v0`` with
registered agents, and it compares

* **activity**: clicks per session of the simulated users against the same users' interaction
  counts in the log, by the two-sample Kolmogorov-Smirnov statistic (on the raw values, and on
  values divided by their mean, which compares the shape of the two distributions whatever their
  scale: a session and a whole log are different spans of time);
* **popularity bias**: the share of clicks that go to the top 10% of items (ranked by the log's
  counts), simulated against real.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import scipy.sparse as sp
import scipy.stats

from recoworld.catalog import Catalog, Interactions
from recoworld.envs.recoworld.core import HISTORY_RATE
from recoworld.fidelity.latent_fitted import FittedChoice, LatentFittedSimulator
from recoworld.simulators.config import UserModelConfig
from recoworld.simulators.population import UserPopulation
from recoworld.validation import check_int, check_seed

__all__ = ["FittedWorld", "WorldFidelity", "fit_world", "world_fidelity"]

NO_CLICK_OFFSETS: tuple[float, ...] = tuple(float(step) for step in range(-4, 9))
"""Offsets (-4 to 8, step 1) added to the config's ``no_click_utility`` by the calibration of
:func:`fit_world` (then refined by :data:`NO_CLICK_REFINE` either side of the best)."""

NO_CLICK_REFINE = 0.5
"""The calibration also tries the best value of the grid plus and minus this."""

TOP_SHARE = 0.1
"""The head of the catalog whose share of clicks measures popularity bias (top 10% of items)."""


@dataclass(frozen=True, eq=False)
class FittedWorld:
    """Users fitted to a log, with the catalog and user model they live in (a
    :class:`~recoworld.simulators.population.World`).

    Attributes:
        catalog: the catalog the users were fitted on (embeddings refined from the log).
        user_config: the latent user model with the fitted choice weights.
        population: one user per user row of the log that has at least one interaction;
            ``population.user_ids`` are those rows.
        activity: ``(n,)`` interactions of each population user in the log.
        choice: the fitted choice parameters (:class:`FittedChoice`).
        simulator: the fitted simulator (scores scenes with the same parameters).
        calibration: how ``user_config.no_click_utility`` was chosen (see :func:`fit_world`):
            the value, its KS statistic, every value tried with its statistic, the users whose
            sessions were played for each value (held out of :func:`world_fidelity`) and the
            agent; ``None`` when it was not calibrated.
    """

    catalog: Catalog
    user_config: UserModelConfig
    population: UserPopulation
    activity: np.ndarray
    choice: FittedChoice
    simulator: LatentFittedSimulator = field(repr=False)
    calibration: dict[str, Any] | None = None


def fit_world(
    history: Interactions,
    catalog: Catalog,
    *,
    seed: int = 0,
    simulator: LatentFittedSimulator | None = None,
    calibration_users: int | None = 300,
    no_click_offsets: Sequence[float] = NO_CLICK_OFFSETS,
    env_settings: Mapping[str, Any] | None = None,
) -> FittedWorld:
    """Fit a world to the log ``history`` over ``catalog`` (see the module docstring).

    ``simulator`` (default ``LatentFittedSimulator(seed=seed)``) is fitted on ``history``
    unless it already was. A user's base patience is the quantile of the user model's patience
    range (``patience_low`` to ``patience_high``, the prior's uniform) at the user's activity rank
    in the log (mid-ranks for ties): the most active user is the most patient. A negative fitted
    weight is set to 0 with a warning (:meth:`LatentFittedSimulator.user_model_config`).

    **The level of the utility.** Scenes are forced choices: they fix the utility's weights
    relative to each other but not its level against the no-click option (``no_click_utility``),
    which decides how much a user clicks. With ``calibration_users`` (default 300; ``None`` keeps
    the simulator's config value) it is chosen by simulated moments on that many population
    users (at most half of them, drawn with the seed; the others stay held out for
    :func:`world_fidelity`): for each ``config.no_click_utility + offset`` (``no_click_offsets``)
    each of them plays one session with random slates (the agent that favours no items); the
    best value of that grid is refined by trying it plus and minus :data:`NO_CLICK_REFINE`; and
    the value whose clicks per session are closest to the same users' interaction counts in the
    log (smallest two-sample Kolmogorov-Smirnov statistic; the smallest value on ties) is kept.
    The choice, the users and every tried value are in :attr:`FittedWorld.calibration`.
    ``env_settings`` are the ``RecoWorld-v0`` settings those sessions are played with (e.g.
    ``{"num_candidates": 50}`` for a small catalog; ``multi_session`` is always off).

    Raises:
        ValueError: an empty log, a log naming items outside the catalog, a bad seed, a
            non-positive ``calibration_users``, a log of a single user with calibration, an
            empty or non-finite offset list, or a fitted ``simulator`` of another catalog.
    """
    seed = check_seed("seed", seed)
    if calibration_users is not None:
        calibration_users = check_int("calibration_users", calibration_users, 1)
    offsets = np.asarray(no_click_offsets, dtype=np.float64)
    if offsets.ndim != 1 or offsets.size == 0 or not np.isfinite(offsets).all():
        raise ValueError(
            f"no_click_offsets={no_click_offsets!r} must be a non-empty list of finite numbers"
        )
    if not isinstance(history, Interactions):
        raise ValueError(f"history must be an Interactions table, got {type(history)!r}")
    if len(history) == 0:
        raise ValueError("history is empty: a world is fitted to at least one interaction")
    if int(history.items.max()) >= catalog.n_items:
        raise ValueError(
            f"history names item row {int(history.items.max())}, outside the catalog's "
            f"0..{catalog.n_items - 1}"
        )
    if simulator is None:
        simulator = LatentFittedSimulator(seed=seed)
    if simulator.choice is None:
        simulator.fit(history, catalog)
    elif simulator.catalog.n_items != catalog.n_items or not np.array_equal(
        simulator.catalog.item_ids, catalog.item_ids
    ):
        raise ValueError(
            f"simulator was fitted on a catalog of {simulator.catalog.n_items} items, not this "
            f"one ({catalog.n_items} items, or other item ids)"
        )
    assert simulator.choice is not None
    config = simulator.user_model_config()
    fitted_catalog = simulator.catalog
    states = simulator.users_from_log(history)
    counts = np.bincount(history.users, minlength=history.n_users)
    rows = np.flatnonzero(counts > 0)
    users = states.take(rows)
    activity = counts[rows].astype(np.int64)
    ranks = scipy.stats.rankdata(activity, method="average")
    users.base_patience[:] = config.patience_low + (config.patience_high - config.patience_low) * (
        (ranks - 0.5) / len(rows)
    )
    users.patience[:] = users.base_patience
    users.consumed_bits[:] = _consumed_bits(history, rows, fitted_catalog.n_items)
    history_summary = watch_history(history, rows, fitted_catalog)
    population = UserPopulation(users, rows.astype(np.int64), history_summary)
    population.check(fitted_catalog, config)
    world = FittedWorld(
        catalog=fitted_catalog,
        user_config=config,
        population=population,
        activity=activity,
        choice=simulator.choice,
        simulator=simulator,
    )
    if calibration_users is None:
        return world
    settings = dict(env_settings or {})
    if "multi_session" in settings:
        raise ValueError(
            "env_settings: multi_session is not a setting: calibration plays one session"
        )
    if population.n_users < 2:
        raise ValueError(
            "calibration_users: a log of one user leaves none held out; pass calibration_users=None"
        )
    n_calibration = min(calibration_users, population.n_users // 2)
    pick = np.random.default_rng([seed, 2]).choice(population.n_users, n_calibration, replace=False)
    chosen = np.sort(population.user_ids[pick])
    return _calibrate_no_click(world, offsets, chosen, seed, settings)


def _calibrate_no_click(
    world: FittedWorld,
    offsets: np.ndarray,
    user_ids: np.ndarray,
    seed: int,
    settings: dict[str, Any],
) -> FittedWorld:
    from recoworld.agents import make_agent

    base = world.user_config.no_click_utility
    real = world.activity[np.searchsorted(world.population.user_ids, user_ids)].astype(np.float64)
    tried: dict[float, float] = {}

    def statistic(value: float) -> float:
        if value not in tried:
            config = dataclasses.replace(world.user_config, no_click_utility=value)
            env = gym.make(
                "RecoWorld-v0", world=dataclasses.replace(world, user_config=config), **settings
            )
            try:
                agent = make_agent("random", env, seed=seed)
                per_session, _, _ = _play(env, agent, user_ids, seed)
            finally:
                env.close()
            tried[value] = float(scipy.stats.ks_2samp(per_session, real).statistic)
        return tried[value]

    grid_best = min((float(base + offset) for offset in offsets), key=lambda v: (statistic(v), v))
    for value in (grid_best - NO_CLICK_REFINE, grid_best + NO_CLICK_REFINE):
        statistic(value)
    values = sorted(tried)
    statistics = [tried[value] for value in values]
    best = int(np.argmin(statistics))
    calibration = {
        "no_click_utility": values[best],
        "ks_activity": statistics[best],
        "tried": values,
        "ks_tried": statistics,
        "users": user_ids.tolist(),
        "agent": "random",
        "env_settings": settings,
    }
    config = dataclasses.replace(world.user_config, no_click_utility=values[best])
    return dataclasses.replace(world, user_config=config, calibration=calibration)


def watch_history(
    history: Interactions, rows: np.ndarray, catalog: Catalog, rate: float = HISTORY_RATE
) -> np.ndarray:
    """``(len(rows), d + T)`` float32: the watch-history summary ``RecoWorld-v0`` observes
    (``observation["history"]``) of each user row in ``rows``, as if they had watched their log
    items one a turn in time order: the moving average ``h <- (1 - rate) h + rate x`` of the
    items' embeddings and topics, from zero (the item ``k`` places from the end weighs
    ``rate * (1 - rate) ** k``)."""
    ordered = history.chronological()
    counts = np.bincount(ordered.users, minlength=history.n_users)
    ends = np.cumsum(counts)
    age = ends[ordered.users] - 1 - np.arange(len(ordered))
    weights = rate * (1.0 - rate) ** age
    position = np.full(history.n_users, -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    keep = position[ordered.users] >= 0
    matrix = sp.csr_matrix(
        (weights[keep], (position[ordered.users[keep]], ordered.items[keep])),
        shape=(len(rows), catalog.n_items),
    )
    features = np.concatenate([catalog.embeddings, catalog.item_topics], axis=1)
    return np.asarray(matrix @ features.astype(np.float64), dtype=np.float32)


def _consumed_bits(history: Interactions, rows: np.ndarray, n_items: int) -> np.ndarray:
    """``(len(rows), ceil(n_items / 8))`` uint8: each user's log items, as the engine's bitset
    (bit ``item & 7`` of byte ``item >> 3``)."""
    position = np.full(history.n_users, -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    dense = np.zeros((len(rows), n_items), dtype=bool)
    dense[position[history.users], history.items] = True
    return np.packbits(dense, axis=1, bitorder="little")


@dataclass(frozen=True)
class WorldFidelity:
    """How the fitted users of a world behave in ``RecoWorld-v0`` next to the real log.

    Attributes:
        metrics: per agent, ``{"ks_activity", "ks_activity_pvalue", "ks_activity_shape",
            "ks_activity_shape_pvalue", "clicks_per_session_mean", "clicks_per_session_median",
            "capped_share", "top10_share", "sessions", "clicks"}`` (``capped_share``: sessions
            cut by the turn limit, ``max_session_turns``); under ``"real"``:
            ``"interactions_per_user_mean"``, ``"interactions_per_user_median"``,
            ``"top10_share"``, ``"users"``, ``"interactions"``.
        config: the agents, the number and ids of the users compared, whether they were held
            out of a calibration, the seed and the env settings.
    """

    metrics: dict[str, dict[str, float]]
    config: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """``{"metrics", "config"}`` as JSON-safe values."""
        from recoworld.evaluation.report import json_safe

        return {"metrics": json_safe(self.metrics), "config": json_safe(self.config)}

    def table(self) -> Any:
        """A rich table: one column per agent and one for the real log."""
        from rich.table import Table

        from recoworld.evaluation.report import format_number

        agents = [name for name in self.metrics if name != "real"]
        held = " held out of the calibration" if self.config["held_out_from_calibration"] else ""
        table = Table(
            title=f"Fitted world against the real log: {self.config['users']} users{held}"
        )
        table.add_column("Metric")
        for name in [*agents, "real"]:
            table.add_column(name, justify="right")
        real = self.metrics["real"]
        rows = [
            ("Clicks per session / interactions per user, mean", "clicks_per_session_mean",
             "interactions_per_user_mean"),
            ("... median", "clicks_per_session_median", "interactions_per_user_median"),
            ("KS statistic of activity (raw)", "ks_activity", None),
            ("KS statistic of activity (divided by its mean)", "ks_activity_shape", None),
            (f"Share of clicks on the top {TOP_SHARE:.0%} items", "top10_share", "top10_share"),
            ("Sessions cut by the turn limit (share)", "capped_share", None),
            ("Sessions / users", "sessions", "users"),
        ]  # fmt: skip
        for label, key, real_key in rows:
            cells = [format_number(self.metrics[name][key]) for name in agents]
            cells.append(format_number(real[real_key]) if real_key is not None else "")
            table.add_row(label, *cells)
        return table


def world_fidelity(
    world: FittedWorld,
    log: Interactions,
    *,
    agents: Sequence[str] = ("random", "popular"),
    users: int | None = None,
    seed: int = 0,
    **env_kwargs: Any,
) -> WorldFidelity:
    """Each held-out fitted user plays one session of ``RecoWorld-v0`` on ``world`` with each
    agent (a name registered for ``RecoWorld-v0``, :func:`recoworld.agents.agent_names`), and
    the sessions are compared with the same users' interactions in the real ``log`` (see the
    module docstring).

    The held-out users are the population's users not used to calibrate the world
    (:attr:`FittedWorld.calibration`; all of them for a world not calibrated); ``users`` plays
    only that many of them, drawn with the seed. User ``i`` (in id order) plays with reset seed
    ``seed + i`` (``options={"user_id": id}``), so every agent meets the same users on the same
    seeds. The real side is the same users' rows of ``log``: their interaction counts and the
    share of their interactions on the top 10% items of the whole log. ``env_kwargs`` are
    further ``RecoWorld-v0`` settings (``multi_session`` is always off: one session per user).

    Raises:
        ValueError: an unknown agent, ``users`` not a positive integer or more than the
            held-out users, a bad seed, an empty log, or a log naming items outside the world's
            catalog.
    """
    from recoworld.agents import make_agent

    seed = check_seed("seed", seed)
    if isinstance(agents, str) or not agents:
        raise ValueError(f"agents={agents!r} must be a non-empty sequence of agent names")
    if len(log) == 0:
        raise ValueError("log is empty: nothing to compare the fitted users with")
    n_items = world.catalog.n_items
    if int(log.items.max()) >= n_items:
        raise ValueError(
            f"log names item row {int(log.items.max())}, outside the world's 0..{n_items - 1}"
        )
    if "multi_session" in env_kwargs:
        raise ValueError("multi_session: world_fidelity plays one session per user")
    calibrated = [] if world.calibration is None else world.calibration["users"]
    held_out = np.setdiff1d(world.population.user_ids, np.asarray(calibrated, dtype=np.int64))
    if users is not None:
        users = check_int("users", users, 1, len(held_out))
        pick = np.random.default_rng([seed, 3]).choice(len(held_out), users, replace=False)
        held_out = np.sort(held_out[pick])
    item_counts = np.bincount(log.items, minlength=n_items)
    head = _head_items(item_counts)
    mine = np.isin(log.users, held_out)
    user_counts = np.bincount(log.users, minlength=int(held_out.max()) + 1)
    real_activity = user_counts[held_out].astype(np.float64)
    mine_items = np.bincount(log.items[mine], minlength=n_items)
    metrics: dict[str, dict[str, float]] = {
        "real": {
            "interactions_per_user_mean": float(real_activity.mean()),
            "interactions_per_user_median": float(np.median(real_activity)),
            "top10_share": float(mine_items[head].sum() / max(mine_items.sum(), 1)),
            "users": float(len(held_out)),
            "interactions": float(mine.sum()),
        }
    }
    for name in agents:
        env = gym.make("RecoWorld-v0", world=world, **env_kwargs)
        try:
            agent = make_agent(name, env, seed=seed)
            per_session, clicked, capped = _play(env, agent, held_out, seed)
        finally:
            env.close()
        metrics[name] = _activity_metrics(per_session, clicked, real_activity, head, n_items)
        metrics[name]["capped_share"] = capped
    config = {
        "agents": list(agents),
        "users": len(held_out),
        "user_ids": held_out.tolist(),
        "held_out_from_calibration": world.calibration is not None,
        "seed": seed,
        **env_kwargs,
    }
    return WorldFidelity(metrics=metrics, config=config)


def _head_items(counts: np.ndarray) -> np.ndarray:
    """The top ``TOP_SHARE`` of items by count (at least one; ties toward the lower row)."""
    n_head = max(1, round(TOP_SHARE * len(counts)))
    return np.argsort(-counts, kind="stable")[:n_head]


def _play(
    env: gym.Env, agent: Any, user_ids: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """One session of each user in ``user_ids`` (user ``i`` with reset seed ``seed + i``):
    clicks per session, every clicked item, and the share of sessions cut by the turn limit
    (``truncated``)."""
    per_session = np.zeros(len(user_ids), dtype=np.float64)
    capped = 0
    clicked: list[np.ndarray] = []
    for episode, user in enumerate(user_ids):
        observation, info = env.reset(seed=seed + episode, options={"user_id": int(user)})
        agent.reset(seed=seed + episode)
        done = False
        while not done:
            observation, _, terminated, truncated, info = env.step(agent.act(observation, info))
            clicks = np.asarray(info["clicks"], dtype=np.int64)
            per_session[episode] += len(clicks)
            clicked.append(clicks)
            done = terminated or truncated
        capped += int(truncated and not terminated)
    items = np.concatenate(clicked) if clicked else np.empty(0, np.int64)
    return per_session, items, capped / len(user_ids)


def _activity_metrics(
    per_session: np.ndarray,
    clicked: np.ndarray,
    real: np.ndarray,
    head: np.ndarray,
    n_items: int,
) -> dict[str, float]:
    raw = scipy.stats.ks_2samp(per_session, real)
    sim_mean = float(per_session.mean())
    if sim_mean > 0:
        shape = scipy.stats.ks_2samp(per_session / sim_mean, real / real.mean())
        shape_stat, shape_p = float(shape.statistic), float(shape.pvalue)
    else:  # nobody clicked: no shape to compare
        shape_stat, shape_p = float("nan"), float("nan")
    counts = np.bincount(clicked, minlength=n_items)
    total = counts.sum()
    return {
        "ks_activity": float(raw.statistic),
        "ks_activity_pvalue": float(raw.pvalue),
        "ks_activity_shape": shape_stat,
        "ks_activity_shape_pvalue": shape_p,
        "clicks_per_session_mean": sim_mean,
        "clicks_per_session_median": float(np.median(per_session)),
        "top10_share": float(counts[head].sum() / total) if total else float("nan"),
        "sessions": float(len(per_session)),
        "clicks": float(total),
    }
