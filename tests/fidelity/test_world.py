"""A world of users fitted to a log: RecoWorld-v0 on it, and its fidelity beyond one choice."""

from __future__ import annotations

import dataclasses
import warnings

import gymnasium as gym
import numpy as np
import pytest

import recoworld  # noqa: F401  (registers the envs)
from recoworld.catalog import Catalog, Interactions, SyntheticCatalogConfig, generate_catalog
from recoworld.fidelity.latent_fitted import LatentFittedSimulator
from recoworld.fidelity.world import FittedWorld, _head_items, fit_world, world_fidelity
from recoworld.simulators.config import UserModelConfig
from recoworld.simulators.latent import sample_users
from recoworld.simulators.population import UserPopulation
from recoworld.testing import check_env_conformance


def synthetic_log(seed: int = 0) -> tuple[Catalog, Interactions]:
    """40 users of a 300-item catalog, each choosing 5 to 60 items one after another (more for
    later user rows) by the latent model's utility, without repeats; user row 3 has no rows."""
    catalog = generate_catalog(SyntheticCatalogConfig(n_items=300, embedding_dim=8), seed=seed)
    rng = np.random.default_rng(seed)
    state = sample_users(40, catalog, UserModelConfig(), rng)
    affinity = np.einsum("ukd,id->uki", state.interests, catalog.embeddings).max(axis=1)
    keys = 4.0 * affinity + rng.gumbel(size=affinity.shape)
    order = np.argsort(-keys, axis=1)
    users, items, times = [], [], []
    for user in range(40):
        if user == 3:
            continue
        length = 5 + (55 * user) // 39
        users.append(np.full(length, user))
        items.append(order[user, :length])
        times.append(np.arange(length))
    n = sum(len(u) for u in users)
    log = Interactions(
        np.concatenate(users),
        np.concatenate(items),
        np.full(n, 4.0, np.float32),
        np.concatenate(times),
    )
    return catalog, log


@pytest.fixture(scope="module")
def fitted() -> tuple[Catalog, Interactions, FittedWorld]:
    catalog, log = synthetic_log()
    simulator = LatentFittedSimulator(seed=0, collaborative_dims=4, fit_scenes=400)
    with warnings.catch_warnings():  # negative fitted weights set to 0: said, and expected here
        warnings.simplefilter("ignore", UserWarning)
        world = fit_world(log, catalog, seed=0, simulator=simulator, calibration_users=10)
    return catalog, log, world


def test_one_fitted_user_per_active_log_user(fitted: tuple[Catalog, Interactions, FittedWorld]):
    catalog, log, world = fitted
    assert world.population.n_users == 39
    assert 3 not in world.population.user_ids
    np.testing.assert_array_equal(world.activity, np.bincount(log.users)[world.population.user_ids])
    # consumed items are exactly the user's log items
    consumed = np.unpackbits(world.population.users.consumed_bits, axis=1, bitorder="little")
    for position, user in enumerate(world.population.user_ids):
        expected = np.zeros(catalog.n_items, np.uint8)
        expected[log.items[log.users == user]] = 1
        np.testing.assert_array_equal(consumed[position, : catalog.n_items], expected)
    # patience ranks users as their activity does, inside the model's range
    patience = world.population.users.base_patience
    assert np.all(np.diff(patience[np.argsort(world.activity, kind="stable")]) >= 0)
    config = world.user_config
    assert config.patience_low <= patience.min() and patience.max() <= config.patience_high
    # the world's choice weights are the fitted simulator's
    assert config.affinity_scale == pytest.approx(max(world.choice.weights[0], 0.0))


def test_recoworld_runs_on_the_fitted_world(fitted: tuple[Catalog, Interactions, FittedWorld]):
    _, _, world = fitted
    check_env_conformance("RecoWorld-v0", world=world, steps=30)
    env = gym.make("RecoWorld-v0", world=world)
    ids = set()
    for seed in range(12):
        observation, info = env.reset(seed=seed)
        user = info["user_id"]
        ids.add(user)
        position = int(np.flatnonzero(world.population.user_ids == user)[0])
        core = env.unwrapped.core
        np.testing.assert_allclose(
            core.state.interests[0], world.population.users.interests[position], rtol=1e-6
        )
        assert core.state.patience[0] == pytest.approx(
            world.population.users.base_patience[position]
        )
        # the user's log items are never offered as available
        consumed = np.unpackbits(core.state.consumed_bits[0], bitorder="little")
        candidates = info["candidates"]
        assert not np.any(observation["candidates"][consumed[candidates] == 1, -1])
        _, _, _, _, info = env.step(env.action_space.sample())
        assert info["user_id"] == user
    assert len(ids) > 1 and ids <= set(world.population.user_ids.tolist())


def test_same_seed_same_fitted_users_and_trajectory(
    fitted: tuple[Catalog, Interactions, FittedWorld],
):
    _, _, world = fitted

    def trajectory(seed: int) -> list[tuple[int, float]]:
        env = gym.make("RecoWorld-v0", world=world)
        env.action_space.seed(seed)
        _, info = env.reset(seed=seed)
        out = [(info["user_id"], 0.0)]
        for _ in range(10):
            _, reward, terminated, truncated, info = env.step(env.action_space.sample())
            out.append((info["user_id"], float(reward)))
            if terminated or truncated:
                break
        return out

    assert trajectory(5) == trajectory(5)


def test_vector_env_draws_population_users(fitted: tuple[Catalog, Interactions, FittedWorld]):
    _, _, world = fitted
    envs = gym.make_vec("RecoWorld-v0", num_envs=6, vectorization_mode="vector_entry_point",
                        world=world)  # fmt: skip
    _, infos = envs.reset(seed=0)
    assert infos["user_id"].shape == (6,)
    assert set(infos["user_id"].tolist()) <= set(world.population.user_ids.tolist())
    _, _, _, _, infos = envs.step(envs.action_space.sample())
    assert set(infos["user_id"].tolist()) <= set(world.population.user_ids.tolist())
    envs.close()


def test_world_excludes_catalog_and_user_config(fitted):
    catalog, _, world = fitted
    with pytest.raises(ValueError, match="catalog= cannot be given"):
        gym.make("RecoWorld-v0", world=world, catalog=catalog)
    with pytest.raises(ValueError, match="user_config= cannot be given"):
        gym.make("RecoWorld-v0", world=world, user_config=UserModelConfig())
    with pytest.raises(ValueError, match="lacks catalog, user_config, population"):
        gym.make("RecoWorld-v0", world=object())


def test_a_population_that_does_not_fit_the_catalog_is_refused(fitted):
    _, _, world = fitted
    other = generate_catalog(SyntheticCatalogConfig(n_items=400, embedding_dim=8), seed=1)
    with pytest.raises(ValueError, match=r"users\.interests has shape .*400 items"):
        gym.make("RecoWorld-v0", world=dataclasses.replace(world, catalog=other))
    wrong_k = dataclasses.replace(world, user_config=UserModelConfig(n_interests=2))
    with pytest.raises(ValueError, match=r"users\.interests has shape .*n_interests=2"):
        gym.make("RecoWorld-v0", world=wrong_k)


def test_population_validation():
    catalog = generate_catalog(SyntheticCatalogConfig(n_items=50, embedding_dim=4), seed=0)
    users = sample_users(3, catalog, UserModelConfig(), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"user_ids has shape \(2,\)"):
        UserPopulation(users, np.arange(2))
    with pytest.raises(ValueError, match="at least one user"):
        UserPopulation(users.take(np.arange(0)), np.arange(0))
    users.interests[1, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"users\.interests holds NaN"):
        UserPopulation(users, np.arange(3))


def held_out(world: FittedWorld) -> np.ndarray:
    assert world.calibration is not None
    return np.setdiff1d(world.population.user_ids, world.calibration["users"])


def test_world_fidelity_compares_activity_and_popularity_bias(fitted):
    _, log, world = fitted
    report = world_fidelity(world, log, agents=("random", "popular"), seed=0)
    ids = held_out(world)
    assert len(ids) == 29 and report.config["user_ids"] == ids.tolist()
    real = report.metrics["real"]
    counts = np.bincount(log.items, minlength=world.catalog.n_items)
    head = np.argsort(-counts, kind="stable")[:30]
    theirs = np.isin(log.users, ids)
    assert real["top10_share"] == pytest.approx(np.isin(log.items[theirs], head).mean())
    assert real["users"] == 29
    assert real["interactions_per_user_mean"] == pytest.approx(theirs.sum() / 29)
    for name in ("random", "popular"):
        metrics = report.metrics[name]
        assert 0.0 <= metrics["ks_activity"] <= 1.0
        assert metrics["sessions"] == 29
        assert 0.0 <= metrics["top10_share"] <= 1.0
    # the popular agent pushes clicks to the head of the catalog more than the random one
    assert report.metrics["popular"]["top10_share"] > report.metrics["random"]["top10_share"]
    again = world_fidelity(world, log, agents=("random", "popular"), seed=0)
    assert again.to_dict() == report.to_dict()


def test_world_fidelity_plays_each_held_out_user_once(fitted):
    import scipy.stats

    from recoworld.agents import make_agent

    _, log, world = fitted
    report = world_fidelity(world, log, agents=("random",), users=8, seed=3)
    ids = report.config["user_ids"]
    assert len(ids) == 8 and set(ids) <= set(held_out(world).tolist())
    env = gym.make("RecoWorld-v0", world=world)
    agent = make_agent("random", env, seed=3)
    clicks = []
    for episode, user in enumerate(ids):
        observation, info = env.reset(seed=3 + episode, options={"user_id": user})
        assert info["user_id"] == user
        agent.reset(seed=3 + episode)
        total, done = 0, False
        while not done:
            observation, _, terminated, truncated, info = env.step(agent.act(observation, info))
            total += len(info["clicks"])
            done = terminated or truncated
        clicks.append(total)
    real = np.bincount(log.users)[ids]
    expected = scipy.stats.ks_2samp(clicks, real).statistic
    assert report.metrics["random"]["ks_activity"] == pytest.approx(expected)
    assert report.metrics["random"]["clicks_per_session_mean"] == pytest.approx(np.mean(clicks))


def test_reset_can_name_the_fitted_user(fitted):
    catalog, _, world = fitted
    env = gym.make("RecoWorld-v0", world=world)
    user = int(world.population.user_ids[5])
    _, info = env.reset(seed=0, options={"user_id": user})
    assert info["user_id"] == user
    np.testing.assert_allclose(
        env.unwrapped.core.state.interests[0], world.population.users.interests[5], rtol=1e-6
    )
    with pytest.raises(ValueError, match="user_id=3 is not the id of a population user"):
        env.reset(options={"user_id": 3})
    with pytest.raises(ValueError, match="only option is user_id"):
        env.reset(options={"user_id": user, "day": 2})
    plain = gym.make("RecoWorld-v0", catalog=catalog, num_candidates=50)
    with pytest.raises(ValueError, match="user_id needs a world="):
        plain.reset(options={"user_id": user})


def test_world_fidelity_errors(fitted):
    _, log, world = fitted
    with pytest.raises(ValueError, match="no-such-agent"):
        world_fidelity(world, log, agents=("no-such-agent",), users=2)
    with pytest.raises(ValueError, match="users"):
        world_fidelity(world, log, users=0)
    with pytest.raises(ValueError, match="users"):
        world_fidelity(world, log, users=30)  # 29 are held out
    with pytest.raises(ValueError, match="agents="):
        world_fidelity(world, log, agents="random", users=2)
    with pytest.raises(ValueError, match="multi_session"):
        world_fidelity(world, log, users=2, multi_session=True)
    outside = Interactions(
        np.array([0]), np.array([world.catalog.n_items]), np.array([4.0], np.float32),
        np.array([0]),
    )  # fmt: skip
    with pytest.raises(ValueError, match="outside the world's"):
        world_fidelity(world, outside, users=2)


def test_fit_world_errors():
    catalog, log = synthetic_log()
    with pytest.raises(ValueError, match="history is empty"):
        fit_world(log.take(np.arange(0)), catalog)
    with pytest.raises(ValueError, match="Interactions table"):
        fit_world("log", catalog)  # type: ignore[arg-type]


def test_head_items_is_the_top_tenth_by_count():
    counts = np.array([5, 0, 9, 9, 1, 2, 3, 4, 0, 7, 1, 1, 1, 1, 1, 1, 1, 1, 1, 8])
    np.testing.assert_array_equal(_head_items(counts), [2, 3])


@pytest.mark.parametrize("env_id", ["ConvRec-v0", "RecoChat-v0"])
def test_the_other_envs_take_the_fitted_catalog(fitted, env_id: str):
    _, _, world = fitted
    env = gym.make(env_id, catalog=world.catalog)
    env.reset(seed=0)
    env.action_space.seed(0)
    _, reward, _, _, _ = env.step(env.action_space.sample())
    assert np.isfinite(reward)
    assert env.unwrapped.catalog is world.catalog


def test_the_no_click_utility_is_calibrated_to_the_log_activity(fitted):
    import scipy.stats

    from recoworld.agents import make_agent
    from recoworld.fidelity.world import NO_CLICK_OFFSETS, NO_CLICK_REFINE, _play

    _, _, world = fitted
    calibration = world.calibration
    assert calibration is not None and len(calibration["users"]) == 10
    base = world.simulator.user_model_config().no_click_utility
    grid = base + np.asarray(NO_CLICK_OFFSETS)
    tried = np.asarray(calibration["tried"])
    assert np.all(np.diff(tried) > 0) and set(grid) <= set(tried)
    ks = dict(zip(calibration["tried"], calibration["ks_tried"], strict=True))
    grid_best = min(grid, key=lambda value: (ks[value], value))
    # the refinement tried the grid's best plus and minus half a step, and nothing else
    assert set(tried) == set(grid) | {grid_best - NO_CLICK_REFINE, grid_best + NO_CLICK_REFINE}
    best = int(np.argmin(calibration["ks_tried"]))
    assert world.user_config.no_click_utility == calibration["tried"][best]
    assert calibration["ks_activity"] == min(calibration["ks_tried"])
    # the statistic of the chosen value is what the calibration users' random-slate sessions
    # give against their own activity
    env = gym.make("RecoWorld-v0", world=world)
    ids = np.asarray(calibration["users"])
    per_session, _, _ = _play(env, make_agent("random", env, seed=0), ids, 0)
    activity = world.activity[np.searchsorted(world.population.user_ids, ids)]
    expected = scipy.stats.ks_2samp(per_session, activity).statistic
    assert calibration["ks_activity"] == pytest.approx(expected)


def test_calibration_can_be_skipped_and_checks_its_arguments(fitted):
    catalog, log, world = fitted
    simulator = world.simulator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        plain = fit_world(log, catalog, simulator=simulator, calibration_users=None)
        assert plain.calibration is None
        assert plain.user_config.no_click_utility == simulator.user_model_config().no_click_utility
        with pytest.raises(ValueError, match="calibration_users"):
            fit_world(log, catalog, simulator=simulator, calibration_users=0)
        one_user = log.take(np.flatnonzero(log.users == 5))
        with pytest.raises(ValueError, match="leaves none held out"):
            fit_world(one_user, catalog, simulator=simulator)
        other = generate_catalog(SyntheticCatalogConfig(n_items=301, embedding_dim=8), seed=0)
        with pytest.raises(ValueError, match="fitted on a catalog of 300 items"):
            fit_world(log, other, simulator=simulator)
        with pytest.raises(ValueError, match="no_click_offsets"):
            fit_world(log, catalog, simulator=simulator, no_click_offsets=[])
        with pytest.raises(ValueError, match="no_click_offsets"):
            fit_world(log, catalog, simulator=simulator, no_click_offsets=[0.0, float("nan")])


def test_fitted_users_start_with_their_log_watch_history(fitted):
    from recoworld.envs.recoworld.core import HISTORY_RATE
    from recoworld.fidelity.world import watch_history

    _, log, world = fitted
    env = gym.make("RecoWorld-v0", world=world)
    observation, info = env.reset(seed=2)
    user = info["user_id"]
    # the moving average replayed item by item, in time order
    items = log.chronological().items[log.chronological().users == user]
    features = np.concatenate([world.catalog.embeddings, world.catalog.item_topics], axis=1)
    expected = np.zeros(features.shape[1])
    for item in items:
        expected = (1 - HISTORY_RATE) * expected + HISTORY_RATE * features[item]
    np.testing.assert_allclose(observation["history"], expected, rtol=1e-5, atol=1e-6)
    rows = np.array([user])
    np.testing.assert_allclose(watch_history(log, rows, world.catalog)[0], expected, rtol=1e-5)
    # a world whose population has no history starts users empty, as the prior does
    bare = dataclasses.replace(
        world, population=UserPopulation(world.population.users, world.population.user_ids)
    )
    observation, _ = gym.make("RecoWorld-v0", world=bare).reset(seed=2)
    assert not observation["history"].any()


def test_a_population_history_of_the_wrong_width_is_refused(fitted):
    _, _, world = fitted
    population = world.population
    with pytest.raises(ValueError, match="history has shape"):
        UserPopulation(population.users, population.user_ids, np.zeros((2, 3)))
    narrow = UserPopulation(
        population.users, population.user_ids, np.zeros((population.n_users, 3))
    )
    with pytest.raises(ValueError, match=r"population history has shape \(39, 3\)"):
        gym.make("RecoWorld-v0", world=dataclasses.replace(world, population=narrow))
