"""PPO training: a tiny run saves and reloads, same seed gives same weights, configs validate."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

import recoworld  # noqa: F401
from recoworld.agents import GreedyAgent, ObservationLayout
from recoworld.training import (
    CandidateScorerPolicy,
    RankerActions,
    SB3Agent,
    TrainConfig,
    load_sb3_agent,
    train_ppo,
)
from recoworld.training.policies import scores_from_ranker_action

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_ppo.py"


def tiny_config(output_dir: Path, **overrides: object) -> TrainConfig:
    settings: dict = dict(
        total_timesteps=256,
        n_envs=2,
        n_steps=64,
        batch_size=64,
        n_epochs=2,
        seed=3,
        output_dir=str(output_dir),
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def play(agent: SB3Agent, env: gym.Env, steps: int, seed: int = 11) -> None:
    obs, info = env.reset(seed=seed)
    agent.reset(seed=seed)
    for _ in range(steps):
        action = agent.act(obs, info)
        assert env.action_space.contains(action), action
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            obs, info = env.reset()


@pytest.mark.parametrize(
    ("algo", "policy"), [("ppo", "ranker"), ("ppo", "scorer"), ("maskable-ppo", "multi-input")]
)
def test_train_saves_and_reloads(tmp_path: Path, algo: str, policy: str) -> None:
    config = tiny_config(tmp_path, algo=algo, policy=policy)
    model_path = train_ppo(config)
    assert model_path == tmp_path / "model.zip" and model_path.is_file()
    record = json.loads(model_path.with_suffix(".json").read_text())
    assert (record["algo"], record["policy"]) == (algo, policy)
    assert record["timesteps_trained"] >= config.total_timesteps
    env = gym.make("RecoWorld-v0", **record["env_kwargs"])
    agent = load_sb3_agent(model_path, env)
    assert agent.name == algo
    assert (agent.masked, agent.ranker) == (algo == "maskable-ppo", policy == "ranker")
    play(agent, env, steps=20)


def test_algo_inferred_without_json(tmp_path: Path) -> None:
    model_path = train_ppo(tiny_config(tmp_path, algo="maskable-ppo"))
    model_path.with_suffix(".json").unlink()
    agent = load_sb3_agent(model_path, gym.make("RecoWorld-v0"))
    assert agent.masked


def test_same_seed_same_parameters(tmp_path: Path) -> None:
    params = []
    for run in ("a", "b"):
        model = PPO.load(train_ppo(tiny_config(tmp_path / run)), device="cpu")
        params.append(model.policy.state_dict())
    assert params[0].keys() == params[1].keys()
    for key in params[0]:
        torch.testing.assert_close(params[0][key], params[1][key], rtol=0, atol=0)
    other = PPO.load(train_ppo(tiny_config(tmp_path / "c", seed=4)), device="cpu")
    assert any(
        not torch.equal(params[0][key], value) for key, value in other.policy.state_dict().items()
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("total_timesteps", 0),
        ("n_envs", -1),
        ("seed", -2),
        ("algo", "dqn"),
        ("policy", "cnn"),
        ("learning_rate", 0.0),
        ("gamma", 1.5),
        ("batch_size", 10_000),
        ("target_kl", -0.1),
        ("log_std_init", float("nan")),
        ("env_kwargs", {"action_type": "slate"}),
    ],
)
def test_invalid_config_names_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("policy", ["ranker", "scorer"])
def test_maskable_ppo_rejects_score_policies(policy: str) -> None:
    with pytest.raises(ValueError, match="policy"):
        TrainConfig(algo="maskable-ppo", policy=policy)


def test_load_missing_model_names_path(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.zip"
    with pytest.raises(FileNotFoundError, match=r"nothing\.zip"):
        load_sb3_agent(missing, gym.make("RecoWorld-v0"))


def test_score_model_acts_in_slate_env_like_in_scores_env(tmp_path: Path) -> None:
    model_path = train_ppo(tiny_config(tmp_path))
    scores_env = gym.make("RecoWorld-v0", action_type="scores")
    slate_env = gym.make("RecoWorld-v0")
    scorer, slater = load_sb3_agent(model_path, scores_env), load_sb3_agent(model_path, slate_env)
    assert slater.slate_size == 10
    play(slater, slate_env, steps=20)
    obs, info = scores_env.reset(seed=5)
    slate_obs, slate_info = slate_env.reset(seed=5)
    for _ in range(10):
        scores, slate = scorer.act(obs, info), slater.act(slate_obs, slate_info)
        obs, reward, terminated, _, info = scores_env.step(scores)
        slate_obs, slate_reward, *_, slate_info = slate_env.step(slate)
        np.testing.assert_array_equal(info["slate"], slate_info["slate"])
        assert reward == slate_reward
        if terminated:
            break


@pytest.mark.parametrize(
    ("policy", "env_kwargs", "space"),
    [
        ("ranker", {"num_candidates": 50}, "observation_space"),
        ("multi-input", {"action_type": "scores"}, "action_space"),
    ],
)
def test_load_into_wrong_env_is_refused(
    tmp_path: Path, policy: str, env_kwargs: dict, space: str
) -> None:
    model_path = train_ppo(tiny_config(tmp_path, policy=policy))
    with pytest.raises(ValueError, match=space):
        load_sb3_agent(model_path, gym.make("RecoWorld-v0", **env_kwargs))


def test_scorer_policy_is_permutation_equivariant() -> None:
    env = gym.make("RecoWorld-v0", action_type="scores")
    policy = CandidateScorerPolicy(env.observation_space, env.action_space, lambda _: 3e-4)
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(env.action_space.sample())
    permutation = np.random.default_rng(0).permutation(obs["candidates"].shape[0])
    shuffled = {**obs, "candidates": obs["candidates"][permutation]}
    scores, _ = policy.predict(obs, deterministic=True)
    shuffled_scores, _ = policy.predict(shuffled, deterministic=True)
    np.testing.assert_allclose(shuffled_scores, scores[permutation], atol=1e-6)


def test_untrained_scorer_ranks_available_candidates_first() -> None:
    env = gym.make("RecoWorld-v0", action_type="scores")
    policy = CandidateScorerPolicy(env.observation_space, env.action_space, lambda _: 3e-4)
    obs, info = env.reset(seed=1)
    for _ in range(3):
        scores, _ = policy.predict(obs, deterministic=True)
        top = np.argsort(-scores, kind="stable")[:10]
        assert info["action_mask"][top].all()
        obs, _, _, _, info = env.step(scores)


def test_zero_ranker_action_ranks_like_greedy() -> None:
    env = RankerActions(gym.make("RecoWorld-v0", action_type="scores"))
    greedy = GreedyAgent(ObservationLayout.of(env))
    obs, info = env.reset(seed=2)
    for _ in range(5):
        scores = scores_from_ranker_action(obs, np.zeros(env.action_space.shape, np.float32))
        top = np.argsort(-scores, kind="stable")[:10]
        np.testing.assert_array_equal(top, greedy.act(obs, info))
        obs, _, terminated, truncated, info = env.step(np.zeros(env.action_space.shape))
        assert not (terminated or truncated)


def test_example_script_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = runpy.run_path(str(EXAMPLE))
    means = namespace["main"](
        [
            "--total-timesteps", "128",
            "--n-envs", "1",
            "--n-steps", "64",
            "--batch-size", "64",
            "--n-epochs", "1",
            "--eval-episodes", "2",
            "--output-dir", str(tmp_path / "example"),
        ]
    )  # fmt: skip
    assert set(means) == {"ppo", "greedy"}
    assert all(np.isfinite(value) for value in means.values())
    assert "greedy" in capsys.readouterr().out
