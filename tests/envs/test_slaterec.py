"""``SlateRec-v0``: the slate env, its metric set, its baseline agents and the CLI on it."""

from __future__ import annotations

import copy
import dataclasses
import json

import gymnasium as gym
import numpy as np
import pytest
from typer.testing import CliRunner

import recoworld
from recoworld.agents import SlatePopularAgent, SlateRandomAgent, agent_names, make_agent
from recoworld.catalog.slate_world import SLATE_USER_CONFIG, synthetic_slate_world
from recoworld.catalog.slates import generate_slate_logs, write_slate_logs
from recoworld.cli import app
from recoworld.envs import SlateRecConfig, SlateRecEnv
from recoworld.evaluation import evaluate
from recoworld.evaluation.metric_sets import metric_set_for
from recoworld.simulators import item_utilities, step_users
from recoworld.testing import check_agent_legality, check_determinism, check_env_conformance

SMALL = {"n_items": 200, "n_groups": 8, "slate_size": 10}
"""A small synthetic world for the tests that play many steps."""

runner = CliRunner()


def play(env: gym.Env, agent, seed: int):
    """One episode of ``agent``: the observations, rewards, flags and infos, step by step."""
    obs, info = env.reset(seed=seed)
    agent.reset(seed=seed)
    steps = [(obs, 0.0, False, False, info)]
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(agent.act(obs, info))
        steps.append((obs, reward, terminated, truncated, info))
        done = terminated or truncated
    return steps


# ------------------------------------------------------------------------ registration, checks


def test_registered_and_made_with_defaults():
    assert "SlateRec-v0" in recoworld.ENV_IDS
    env = gym.make("SlateRec-v0")
    unwrapped = env.unwrapped
    assert isinstance(unwrapped, SlateRecEnv)
    assert unwrapped.config == SlateRecConfig()
    assert (unwrapped.world.n_items, unwrapped.world.n_groups) == (3000, 24)
    assert env.action_space.shape == (24,) and int(env.action_space.nvec[0]) == 3000
    space = env.observation_space
    assert space["clicks"].shape == (20,) and int(space["clicks"].nvec[0]) == 3001
    assert space["step"].n == 21 and space["n_clicks"].n == 21


@pytest.mark.parametrize("kwargs", [{}, {"slate_size": 3, "horizon": 4, "history_length": 2}])
def test_checkers_pass(kwargs):
    """Gymnasium's and SB3's checkers and the env contracts (contains and step agree both ways)."""
    check_env_conformance("SlateRec-v0", steps=30, strict_contains=True, **kwargs)
    check_determinism("SlateRec-v0", seed=1, steps=30, **kwargs)


def test_same_seed_same_trajectory_and_other_seeds_other_users():
    def trajectory(seed: int) -> list:
        env = SlateRecEnv(**SMALL)
        agent = SlateRandomAgent(200, 10)
        return [
            (obs["clicks"].tolist(), reward, info.get("clicked"))
            for episode in range(3)
            for obs, reward, _, _, info in play(env, agent, seed + episode)
        ]

    assert trajectory(5) == trajectory(5)
    assert trajectory(5) != trajectory(50)


# ---------------------------------------------------------------------------------- actions


@pytest.mark.parametrize(
    ("action", "named"),
    [
        (np.r_[np.arange(4), 200, np.arange(5, 10)], ["200", "slot 4", "[0, 199]"]),
        (np.r_[-1, np.arange(1, 10)], ["-1", "slot 0", "[0, 199]"]),
        (np.arange(9), ["(9,)", "(10,)"]),
        (np.arange(10).reshape(2, 5), ["(2, 5)", "(10,)"]),
        (np.arange(10, dtype=np.float64), ["float64", "[0, 199]"]),
        (np.ones(10, dtype=bool), ["bool"]),
        ([1.5] * 10, ["float64", "1.5"]),
        ("0123456789", ["'0123456789'"]),
    ],
)
def test_action_outside_the_space_names_the_value_and_leaves_the_env(action, named):
    env = SlateRecEnv(**SMALL)
    env.reset(seed=0)
    assert not env.action_space.contains(action)
    with pytest.raises(ValueError) as caught:
        env.step(action)
    for text in named:
        assert text in str(caught.value)
    after_refusal = env.step(np.arange(10))
    fresh = SlateRecEnv(**SMALL)
    fresh.reset(seed=0)
    clean = fresh.step(np.arange(10))
    assert after_refusal[1:4] == clean[1:4]
    assert after_refusal[4]["clicked"] == clean[4]["clicked"]


def test_integer_lists_and_any_integer_width_are_legal():
    for action in (list(range(10)), np.arange(10, dtype=np.int32), np.arange(10, dtype=np.uint8)):
        env = SlateRecEnv(**SMALL)
        env.reset(seed=2)
        assert env.action_space.contains(action)
        _, _, _, _, info = env.step(action)
        assert info["slate"].tolist() == list(range(10))


def test_a_repeated_item_is_a_wasted_slot():
    """A slate of one item repeated 24 times is, for the user, exactly a slate of that one
    item: the same draw as ``step_users`` on ``[item, -1, ...]``. The item is each user's
    favourite, so 24 real copies would often be clicked where one is not."""
    env = SlateRecEnv()
    clicks = 0
    for seed in range(12):
        env.reset(seed=seed)
        state = env.user_state.copy()
        rng = copy.deepcopy(env.np_random)
        every_item = np.arange(env.n_items)[None, :]
        item = int(item_utilities(state, env.catalog, every_item, env.world.user_config).argmax())
        one_item = np.array([[item] + [-1] * 23])
        expected = step_users(state, env.catalog, one_item, env.world.user_config, rng)
        _, reward, terminated, _, info = env.step(np.full(24, item))
        assert info["slate"].tolist() == [item] + [-1] * 23
        assert (info["n_shown"], info["groups_in_slate"]) == (1, 1)
        assert reward == float(expected.clicks[0, 0])
        assert info["clicked"] == (item if expected.clicks[0, 0] else -1)
        assert terminated == bool(expected.left[0])
        clicks += int(reward)
    assert 0 < clicks < 12


def test_repeats_blank_later_slots_only():
    env = SlateRecEnv(slate_size=6, n_items=50)
    env.reset(seed=0)
    _, _, _, _, info = env.step([4, 9, 4, 9, 4, 1])
    assert info["slate"].tolist() == [4, 9, -1, -1, -1, 1]
    assert info["n_shown"] == 3
    groups = env.world.groups
    assert info["groups_in_slate"] == len({int(groups[4]), int(groups[9]), int(groups[1])})


# ------------------------------------------------------------------------------ the episode


def test_reward_is_the_click_and_the_observation_counts_them():
    env = SlateRecEnv(**SMALL)
    agent = SlateRandomAgent(200, 10)
    clicks_seen = 0
    for seed in range(10):
        steps = play(env, agent, seed)
        total = 0
        for t, (obs, reward, _, _, info) in enumerate(steps[1:], start=1):
            assert reward == float(info["clicked"] >= 0)
            if info["clicked"] >= 0:
                assert info["clicked"] in info["slate"]
            total += int(reward)
            assert (int(obs["step"]), int(obs["n_clicks"])) == (t, total)
        clicks_seen += total
    assert clicks_seen > 0


def test_episode_ends_when_the_user_leaves_or_at_the_horizon():
    env = SlateRecEnv(**SMALL, horizon=5)
    agent = SlateRandomAgent(200, 10)
    ends = {"left": 0, "horizon": 0}
    for seed in range(30):
        steps = play(env, agent, seed)
        _, _, terminated, truncated, _ = steps[-1]
        assert terminated != truncated
        assert not any(t or u for _, _, t, u, _ in steps[:-1])
        if truncated:
            assert len(steps) - 1 == 5
            ends["horizon"] += 1
        else:
            assert len(steps) - 1 <= 5
            ends["left"] += 1
        with pytest.raises(RuntimeError, match="call reset"):
            env.step(np.arange(10))
    assert ends["left"] > 0 and ends["horizon"] > 0


def test_leaving_follows_the_latent_user():
    env = SlateRecEnv(**SMALL)
    env.reset(seed=4)
    for _ in range(20):
        state = env.user_state.copy()
        rng = copy.deepcopy(env.np_random)
        slate = np.arange(10)
        expected = step_users(state, env.catalog, slate[None, :], env.world.user_config, rng)
        _, _, terminated, truncated, _ = env.step(slate)
        assert terminated == bool(expected.left[0])
        if terminated or truncated:
            break


def test_click_history_keeps_the_last_clicks_oldest_first():
    env = SlateRecEnv(**SMALL, history_length=3)
    agent = SlatePopularAgent(env.catalog.popularity, 10)
    for seed in range(40):
        steps = play(env, agent, seed)
        clicked = []
        for obs, _, _, _, info in steps[1:]:
            if info["clicked"] >= 0:
                clicked.append(info["clicked"])
            expected = [200, 200, 200, *clicked][-3:]
            assert obs["clicks"].tolist() == expected
        if len(clicked) > 3:
            return
    pytest.fail("no episode of 40 had more than 3 clicks")


def test_reset_starts_a_fresh_user():
    env = SlateRecEnv(**SMALL)
    obs, info = env.reset(seed=0)
    assert info == {}
    assert obs["clicks"].tolist() == [200] * 20
    assert (int(obs["step"]), int(obs["n_clicks"])) == (0, 0)
    with pytest.raises(ValueError, match="no reset options"):
        env.reset(options={"user_id": 1})
    with pytest.raises(RuntimeError, match="before reset"):
        SlateRecEnv(**SMALL).step(np.arange(10))


def test_render_ansi_shows_the_slate_and_the_click():
    env = SlateRecEnv(n_items=50, slate_size=4, render_mode="ansi")
    env.reset(seed=0)
    assert env.render() == "step 0/20, 0 clicks"
    _, _, _, _, info = env.step([3, 3, 8, 11])
    text = env.render()
    assert text is not None
    lines = text.splitlines()
    assert lines[0] == f"step 1/20, {int(info['clicked'] >= 0)} clicks"
    assert env.catalog.titles[3] in lines[1] and "wasted" in lines[2]
    assert env.world.group_names[env.world.groups[8]] in lines[3]
    starred = [line for line in lines if line.startswith("*")]
    if info["clicked"] >= 0:
        assert len(starred) == 1 and env.catalog.titles[info["clicked"]] in starred[0]
    else:
        assert not starred and lines[-1] == "(no click)"
    assert SlateRecEnv(n_items=50).render() is None


# ------------------------------------------------------------------------------ construction


def test_settings_by_keyword_or_config_and_errors_name_them():
    config = SlateRecConfig(slate_size=5, horizon=7, n_items=100, n_groups=6, world_seed=3)
    by_config = gym.make("SlateRec-v0", config=config).unwrapped
    by_keyword = gym.make(
        "SlateRec-v0", slate_size=5, horizon=7, n_items=100, n_groups=6, world_seed=3
    ).unwrapped
    assert by_config.config == by_keyword.config == config
    assert np.array_equal(
        by_config.world.groups, synthetic_slate_world(3, n_items=100, n_groups=6).groups
    )
    with pytest.raises(ValueError, match="unknown SlateRec-v0 argument 'slate_szie'"):
        SlateRecEnv(slate_szie=5)
    with pytest.raises(ValueError, match="slate_size=0"):
        SlateRecConfig(slate_size=0)
    with pytest.raises(ValueError, match="n_groups=30"):
        SlateRecConfig(n_groups=30)
    with pytest.raises(ValueError, match="world_seed=-1"):
        SlateRecConfig(world_seed=-1)
    with pytest.raises(ValueError, match="slate_size=24 exceeds the 20 items"):
        SlateRecEnv(n_items=20)
    with pytest.raises(ValueError, match="render_mode='human'"):
        SlateRecEnv(render_mode="human")


def test_a_ready_world_and_a_user_config():
    world = synthetic_slate_world(7, n_items=120, n_groups=5)
    env = SlateRecEnv(world=world, slate_size=10)
    assert env.world is world and env.n_items == 120
    assert env.observation_space["clicks"].nvec[0] == 121
    with pytest.raises(ValueError, match="world and dataset_path"):
        SlateRecEnv(world=world, dataset_path=".")
    with pytest.raises(ValueError, match="is not a SlateWorld"):
        SlateRecEnv(world=world.catalog)
    patient = SlateRecEnv(world=world, slate_size=10, user_config={"no_click_utility": -20.0})
    assert patient.world.user_config.no_click_utility == -20.0
    assert patient.world.catalog is world.catalog
    patient.reset(seed=0)
    _, reward, _, _, _ = patient.step(np.arange(10))
    assert reward == 1.0  # a no-click utility far below every item's: a click for sure
    with pytest.raises(ValueError, match="choice_model='cascade'"):
        SlateRecConfig(user_config=dataclasses.replace(SLATE_USER_CONFIG, choice_model="cascade"))
    with pytest.raises(ValueError, match="no field 'no_clik_utility'"):
        SlateRecConfig(user_config={"no_clik_utility": 1.0})
    with pytest.raises(ValueError, match="user_config=3"):
        SlateRecConfig(user_config=3)


@pytest.fixture(scope="module")
def log_folder(tmp_path_factory):
    """FINN.no-format logs of 40 users of a small synthetic world, written to a folder."""
    world = synthetic_slate_world(0, n_items=150, n_groups=6)
    logs = generate_slate_logs(world, 40, seed=0)
    return world, write_slate_logs(logs, tmp_path_factory.mktemp("finn") / "logs")


def test_a_world_from_logs_in_dataset_path(log_folder):
    world, folder = log_folder
    env = gym.make("SlateRec-v0", dataset_path=folder, slate_size=10)
    logged = env.unwrapped.world
    assert logged.n_items == world.n_items == env.action_space.nvec[0]
    assert np.array_equal(logged.groups, world.groups)
    assert logged.group_names == world.group_names
    again = gym.make("SlateRec-v0", dataset_path=str(folder), slate_size=10).unwrapped.world
    assert np.array_equal(again.catalog.embeddings, logged.catalog.embeddings)
    check_env_conformance("SlateRec-v0", steps=20, dataset_path=folder, slate_size=10)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        SlateRecEnv(dataset_path=folder.parent / "nowhere")
    with pytest.raises(ValueError, match="dataset_path=3 must be a folder path"):
        SlateRecEnv(dataset_path=3)


def test_cli_evaluate_on_a_dataset_path(log_folder, tmp_path):
    _, folder = log_folder
    out = tmp_path / "finn.json"
    result = runner.invoke(
        app,
        ["evaluate", "--env", "SlateRec-v0", "--agent", "popular", "--episodes", "5",
         "--dataset-path", str(folder), "--env-arg", "slate_size=10", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["config"]["env_kwargs"]["dataset_path"] == str(folder)
    assert report["config"]["n_items"] == 150 and report["config"]["slate_size"] == 10


# ----------------------------------------------------------------------------------- agents


def test_agents_are_registered_legal_and_reproducible():
    assert {"random", "popular"} <= set(agent_names("SlateRec-v0"))
    env = gym.make("SlateRec-v0", **SMALL)
    for name in ("random", "popular"):
        check_agent_legality(
            lambda env, seed, name=name: make_agent(name, env, seed), env, episodes=2
        )
    agent = make_agent("random", env, seed=0)
    slate = agent.act(env.reset(seed=0)[0], {})
    assert len(set(slate.tolist())) == 10


def test_popular_shows_the_most_popular_items_not_yet_clicked():
    env = SlateRecEnv(**SMALL)
    ranking = np.argsort(-env.catalog.popularity, kind="stable")
    agent = make_agent("popular", env)
    for seed in range(10):
        steps = play(env, agent, seed)
        agent.reset(seed=seed)
        clicked: list[int] = []
        for obs, *_, info in steps[:-1]:
            if info.get("clicked", -1) >= 0:
                clicked.append(info["clicked"])
            slate = agent.act(obs, info).tolist()
            assert slate == [row for row in ranking.tolist() if row not in clicked][:10]
        if clicked:
            return
    pytest.fail("the popular agent got no click in 10 episodes")


def test_popular_fills_with_clicked_items_when_few_are_left():
    agent = SlatePopularAgent(np.array([0.4, 0.3, 0.2, 0.1]), 3)
    observation = {"clicks": np.array([4, 0, 2])}
    assert agent.act(observation, {"clicked": 1}).tolist() == [3, 0, 1]


# ---------------------------------------------------------------------------------- metrics


def test_metric_set_on_a_hand_checked_run():
    env = SlateRecEnv(n_items=20, n_groups=4, slate_size=3)
    metric_set = metric_set_for("SlateRec-v0")
    recorder = metric_set.make_recorder(env, 2)

    def infos(slates, clicked, groups):
        return [
            {"slate": np.array(s), "clicked": c, "groups_in_slate": g}
            for s, c, g in zip(slates, clicked, groups, strict=True)
        ]

    recorder.record(
        0, [1.0, 0.0, 1.0], infos([[0, 1, -1], [2, 3, 4], [0, 5, 6]], [1, -1, 5], [2, 3, 3])
    )
    recorder.record(1, [0.0, 1.0], infos([[7, -1, -1], [8, 9, 0]], [-1, 9], [1, 2]))
    summary = recorder.summarize(2, seed=0)
    expected = {
        "clicks": (2 + 1) / 2,
        "ctr": (2 / 3 + 1 / 2) / 2,
        "no_click_rate": (1 / 3 + 1 / 2) / 2,
        "groups_per_slate": (8 / 3 + 3 / 2) / 2,
        "episode_length": (3 + 2) / 2,
        "coverage": 10 / 20,  # items 0..9 shown
    }
    assert summary.metrics == pytest.approx(expected)
    assert set(summary.metrics) == set(metric_set.metrics)
    # Resampling the two episodes: one alone covers 7 or 4 items, both cover 10.
    assert summary.ci95["coverage"] == pytest.approx((4 / 20, 10 / 20))
    assert summary.config["n_items"] == 20 and summary.config["slate_size"] == 3
    finished = metric_set.finish(summary, 2)  # too few episodes for an interval
    assert all(np.isnan(lo) and np.isnan(hi) for lo, hi in finished.ci95.values())


def test_evaluate_measures_what_the_episodes_did():
    report = evaluate("popular", "SlateRec-v0", 8, 3, **SMALL)
    per_episode = report.per_episode
    assert report.metrics["ctr"] + report.metrics["no_click_rate"] == pytest.approx(1.0)
    assert per_episode["clicks"] == pytest.approx(
        per_episode["ctr"] * per_episode["episode_length"]
    )
    assert 1 <= report.metrics["groups_per_slate"] <= 8
    env = SlateRecEnv(**SMALL)
    agent = make_agent("popular", env)
    shown = set()
    for episode in range(8):
        steps = play(env, agent, 3 + episode)
        assert per_episode["episode_length"][episode] == len(steps) - 1
        assert per_episode["clicks"][episode] == sum(reward for _, reward, *_ in steps)
        for *_, info in steps[1:]:
            shown.update(info["slate"][info["slate"] >= 0].tolist())
    assert report.metrics["coverage"] == len(shown) / 200


# -------------------------------------------------------------------------------------- CLI


def test_cli_evaluate_writes_the_report(tmp_path):
    out = tmp_path / "slates.json"
    command = ["evaluate", "--env", "SlateRec-v0", "--agent", "random", "--episodes", "20",
               "--seed", "0", "--json", str(out)]  # fmt: skip
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    for label in ("CTR", "No-click rate", "Groups per slate", "Coverage", "Clicks"):
        assert label in result.output
    report = json.loads(out.read_text())
    assert {"metrics", "ci95", "config"} <= set(report)
    names = {"clicks", "ctr", "no_click_rate", "groups_per_slate", "episode_length", "coverage"}
    assert set(report["metrics"]) == set(report["ci95"]) == names
    assert report["config"]["env_id"] == "SlateRec-v0" and report["config"]["episodes"] == 20
    for name, (lo, hi) in report["ci95"].items():
        assert lo <= hi, name
    again = tmp_path / "again.json"
    assert runner.invoke(app, [*command[:-1], str(again)]).exit_code == 0
    assert json.loads(again.read_text())["metrics"] == report["metrics"]


def test_cli_lists_the_slate_agents():
    result = runner.invoke(app, ["agents", "--env", "SlateRec-v0"])
    assert result.exit_code == 0, result.output
    assert "random" in result.output and "popular" in result.output
