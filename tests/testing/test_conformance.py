"""recoworld.testing on a tiny third-party-style env and agent: each check passes on the good
ones and fails, with a message that says where, on a deliberately broken one."""

from __future__ import annotations

import itertools
import random
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import SyncVectorEnv

from recoworld.testing import (
    CheckResult,
    ConformanceError,
    RegistryReport,
    action_type_variants,
    check_agent_legality,
    check_determinism,
    check_env_conformance,
    check_registry,
    check_vector_equivalence,
    out_of_space_actions,
)

# ------------------------------------------------------------------------------ a third party


class Countdown(gym.Env[np.ndarray, int]):
    """Count a seeded number down to zero: action ``a`` takes ``a`` off (0 waits).

    Taking off more than is left is a legal move that only wastes it (the counter stops at 0).
    ``info["action_mask"]`` marks the moves that do not overshoot.
    """

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(self, max_steps: int = 20) -> None:
        self.max_steps = max_steps
        self.observation_space = spaces.Box(0.0, 10.0, (2,), np.float32)
        self.action_space = spaces.Discrete(3)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.left = int(self.np_random.integers(3, 8))
        self.steps = 0
        return self._obs(), self._info()

    def step(self, action: Any):
        self._check(action)
        self.left = max(0, self.left - int(action))
        self.steps += 1
        reward = float(action > 0) + float(self.np_random.normal(scale=0.1))
        terminated = self.left == 0
        truncated = not terminated and self.steps >= self.max_steps
        return self._obs(), reward, terminated, truncated, self._info()

    def _check(self, action: Any) -> None:
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is outside Discrete(3)")

    def _obs(self) -> np.ndarray:
        return np.array([self.left, self.steps / 2], np.float32)

    def _info(self) -> dict[str, Any]:
        return {"left": self.left, "action_mask": np.arange(3) <= self.left}


class CountdownVector(SyncVectorEnv):
    """A batched twin: a sync vector env of ``Countdown`` (user ``i`` gets ``seed + i``)."""

    def __init__(self, num_envs: int = 1, reward_scale: float = 1.0, **kwargs: Any) -> None:
        super().__init__([lambda: Countdown(**kwargs) for _ in range(num_envs)])
        self.reward_scale = reward_scale

    def step(self, actions):
        obs, rewards, terminations, truncations, infos = super().step(actions)
        return obs, rewards * self.reward_scale, terminations, truncations, infos


GOOD_ID = "recoworld-testing/Countdown-v0"
SCALED_VECTOR_ID = "recoworld-testing/CountdownScaledVector-v0"


@pytest.fixture(scope="module", autouse=True)
def _third_party_ids():
    gym.register(GOOD_ID, entry_point=Countdown, vector_entry_point=CountdownVector)
    gym.register(
        SCALED_VECTOR_ID,
        entry_point=Countdown,
        vector_entry_point=lambda num_envs, **kw: CountdownVector(num_envs, 2.0, **kw),
    )
    yield
    for env_id in (GOOD_ID, SCALED_VECTOR_ID):
        gym.registry.pop(env_id, None)


# ------------------------------------------------------------------------------ broken envs


class FreshSpaces(Countdown):
    """Builds a new action space on every access."""

    @property
    def action_space(self):
        return spaces.Discrete(3)

    @action_space.setter
    def action_space(self, value):
        pass


class AcceptsAnything(Countdown):
    """Clips out-of-space actions instead of refusing them."""

    def _check(self, action: Any) -> None:
        pass

    def step(self, action: Any):
        return super().step(int(np.clip(np.asarray(action).ravel()[0], 0, 2)))


class WrongErrorType(Countdown):
    """Refuses out-of-space actions with the wrong exception type."""

    def _check(self, action: Any) -> None:
        if not self.action_space.contains(action):
            raise TypeError(f"bad action {action!r}")


class IllegalLateMove(Countdown):
    """An in-space action that raises after a few steps (past the other checkers' probes)."""

    def step(self, action: Any):
        if self.steps >= 3 and action == 2:
            raise ValueError("2 is not allowed after step 3")
        return super().step(action)


class RefusesBools(Countdown):
    """Its step refuses Python bools, which its ``Discrete`` space contains (issue 9, item 13:
    ``ConvRec-v0`` did this)."""

    def _check(self, action: Any) -> None:
        if isinstance(action, bool):
            raise ValueError(f"action {action!r} is a bool, not an integer")
        super()._check(action)


class AcceptsFloats(Countdown):
    """Its step takes whole floats, which its space does not contain (refused only with
    ``strict_contains``)."""

    def step(self, action: Any):
        if isinstance(action, float) and action in (0.0, 1.0, 2.0):
            action = int(action)
        return super().step(action)


class CountsRefusedSteps(Countdown):
    """Refuses what its space does not contain, but counts the refused step first."""

    def step(self, action: Any):
        if not self.action_space.contains(action):
            self.steps += 1
        return super().step(action)


class CastsInts(gym.Env[np.ndarray, np.ndarray]):
    """A float ``Box`` action that ``step`` casts, as Gymnasium's own envs do: an ``int64``
    array, which the ``float32`` box does not contain, is a legal move. Wrong shapes, NaN and
    values past the bounds are refused."""

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(self) -> None:
        self.observation_space = spaces.Box(-5.0, 5.0, (2,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.position = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        self.steps = 0
        return self.position.copy(), {}

    def step(self, action: Any):
        action = np.asarray(action, dtype=np.float32)
        if action.shape != (2,) or not np.isfinite(action).all() or np.abs(action).max() > 1:
            raise ValueError(f"action {action!r} is outside [-1, 1]^2")
        self.position = np.clip(self.position + action, -5, 5).astype(np.float32)
        self.steps += 1
        reward = -float(np.abs(self.position).sum())
        return self.position.copy(), reward, False, self.steps >= 10, {}


_episode_ids = itertools.count()


class UnseededInfo(Countdown):
    """Its reset info numbers episodes globally, so two seeded resets differ."""

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        return obs, {**info, "episode_id": next(_episode_ids)}


_global_random = random.Random()


class GlobalNoise(Countdown):
    """Its step info holds a draw from an unseeded global generator."""

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated, truncated, {**info, "noise": _global_random.random()}


# ------------------------------------------------------------------------------ agents


class MaskedRandomAgent:
    """Picks a random move that the mask marks useful, seeded by ``reset``."""

    name = "masked-random"
    respects_action_mask = True

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def reset(self, *, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, observation: Any, info: dict[str, Any]) -> int:
        return int(self.rng.choice(np.flatnonzero(info["action_mask"])))


class OutOfSpaceAgent(MaskedRandomAgent):
    name = "out-of-space"

    def act(self, observation, info):
        return 3


class MaskIgnoringAgent(MaskedRandomAgent):
    name = "mask-ignoring"

    def act(self, observation, info):
        return 2


class UnseededAgent(MaskedRandomAgent):
    name = "unseeded"

    def reset(self, *, seed=None):
        self.rng = np.random.default_rng()


class WaitingAgent(MaskedRandomAgent):
    name = "waiting"

    def act(self, observation, info):
        return 0


class NamelessAgent:
    def reset(self, *, seed=None):
        pass

    def act(self, observation, info):
        return 0


# ------------------------------------------------------------------------------ env conformance


def test_a_conforming_third_party_env_passes_every_env_check():
    check_env_conformance(GOOD_ID, seed=3, steps=40)
    check_env_conformance(Countdown(), skip_sb3=True)
    check_env_conformance(lambda: Countdown(max_steps=5), steps=10)
    check_determinism(GOOD_ID, seed=1, steps=40)
    check_determinism(Countdown, seed=1, actions=[1, 2, 0, 1] * 5)
    check_vector_equivalence(GOOD_ID, num_envs=3, seed=2, steps=40)


@pytest.mark.parametrize(
    ("env_class", "message"),
    [
        (FreshSpaces, "action_space is not the same object on every access"),
        (AcceptsAnything, r"out-of-space action array\(\[0, 0\]\) \(wrong shape\) was accepted"),
        (WrongErrorType, "raised TypeError .* must raise ValueError"),
        (IllegalLateMove, "raised ValueError for the in-space action 2"),
        (UnseededInfo, r"reset\(seed=0\) is not reproducible: .* info at \['episode_id'\]"),
        (RefusesBools, r"contains accepts the action True \(Python bool\), but step raised Val"),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
def test_each_env_contract_catches_its_broken_env(env_class, message):
    with pytest.raises(ConformanceError, match=message):
        check_env_conformance(env_class(), skip_sb3=True, steps=40)


@pytest.mark.parametrize(
    ("env_class", "message"),
    [
        (AcceptsFloats, r"step accepted the action [0-9.]+ \(Python float\), which action_space"),
        (CountsRefusedSteps, r"step refused the action .* but changed the env: .*\[0\]"),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
def test_strict_contains_catches_a_step_that_accepts_or_changes_on_what_contains_refuses(
    env_class, message
):
    """The converse of check 7 (contains refuses => step raises, env unchanged) is asked for
    only with ``strict_contains``: by default these envs pass."""
    check_env_conformance(env_class(), skip_sb3=True, steps=40)
    with pytest.raises(ConformanceError, match=message):
        check_env_conformance(env_class(), skip_sb3=True, steps=40, strict_contains=True)


def test_an_env_that_casts_what_its_box_does_not_contain_passes_by_default():
    """Like ``Pendulum-v1``, which steps an ``int64`` array its ``float32`` box does not
    contain: ordinary Gymnasium behaviour, refused only with ``strict_contains``."""
    env = CastsInts()
    env.action_space.seed(0)
    assert not env.action_space.contains(np.zeros(2, np.int64))
    check_env_conformance(CastsInts(), skip_sb3=True, steps=20)
    with pytest.raises(ConformanceError, match=r"step accepted .* \(int64 array\), which"):
        check_env_conformance(CastsInts(), skip_sb3=True, steps=20, strict_contains=True)


def test_registry_asks_strict_contains_of_the_library_envs_only(monkeypatch):
    from recoworld.testing import registry

    seen: dict[str, bool] = {}

    def record(env_id, *, strict_contains, **kwargs):
        seen[env_id] = strict_contains

    monkeypatch.setattr(registry, "check_env_conformance", record)
    monkeypatch.setattr(registry, "check_determinism", lambda *args, **kwargs: None)
    monkeypatch.setattr(registry, "check_vector_equivalence", lambda *args, **kwargs: None)
    check_registry([GOOD_ID, "ConvRec-v0"])
    assert seen == {GOOD_ID: False, "ConvRec-v0": True}
    check_registry([GOOD_ID, "ConvRec-v0"], strict_contains=True)
    assert seen == {GOOD_ID: True, "ConvRec-v0": True}
    check_registry([GOOD_ID, "ConvRec-v0"], strict_contains=False)
    assert seen == {GOOD_ID: False, "ConvRec-v0": False}


def test_gymnasium_checker_failures_are_conformance_errors():
    class NoSuperReset(Countdown):
        def reset(self, *, seed=None, options=None):
            self.left, self.steps = 5, 0
            return self._obs(), self._info()

    with pytest.raises(ConformanceError, match="Gymnasium's check_env failed"):
        check_env_conformance(NoSuperReset(), skip_sb3=True)
    assert issubclass(ConformanceError, AssertionError)


def test_env_kwargs_go_with_an_id_only():
    with pytest.raises(ValueError, match="with an env id only"):
        check_env_conformance(Countdown(), max_steps=3)


# ------------------------------------------------------------------------------ determinism


def test_determinism_names_the_first_step_and_key_that_differ():
    with pytest.raises(ConformanceError, match=r"first differ at step 0, in info\['noise'\]"):
        check_determinism(GlobalNoise, seed=0, steps=5)


def test_determinism_takes_a_policy_or_an_agent():
    check_determinism(
        GOOD_ID, 4, 30, lambda obs, info: int(np.flatnonzero(info["action_mask"])[-1])
    )
    check_determinism(GOOD_ID, 4, 30, MaskedRandomAgent())
    with pytest.raises(ConformanceError, match="info"):
        check_determinism(UnseededInfo, 4, 30, MaskedRandomAgent())
    with pytest.raises(ValueError, match="only 2 actions"):
        check_determinism(GOOD_ID, 0, 5, [0, 1])


# ------------------------------------------------------------------------------ vector equivalence


def test_vector_equivalence_catches_a_vector_env_that_differs():
    with pytest.raises(
        ConformanceError, match=r"one-user vector env differs .* step 0 .*in the reward"
    ):
        check_vector_equivalence(SCALED_VECTOR_ID, num_envs=1, steps=10)
    with pytest.raises(ValueError, match="no vector_entry_point"):
        check_vector_equivalence("ConvRec-v0")


# ------------------------------------------------------------------------------ agents


def test_a_legal_seeded_agent_passes_as_instance_and_factory():
    check_agent_legality(MaskedRandomAgent(), Countdown(), episodes=4, seed=2)
    check_agent_legality(lambda env, seed: MaskedRandomAgent(seed), GOOD_ID, episodes=2)


@pytest.mark.parametrize(
    ("agent", "kwargs", "message"),
    [
        (OutOfSpaceAgent(), {}, r"episode 0 \(seed 0\), step 0: the action 3 is outside"),
        (MaskIgnoringAgent(), {}, "respects action masks, but its action 2 is not marked useful"),
        (UnseededAgent(), {}, "not reproducible: with the same agent, reset again, episode 0"),
        (WaitingAgent(), {"max_episode_steps": 10}, "episode 0 .* did not end within 10 steps"),
        (NamelessAgent(), {}, "does not follow the Agent protocol: it has no name"),
    ],
    ids=["out-of-space", "mask", "unseeded", "endless", "protocol"],
)
def test_each_agent_contract_catches_its_broken_agent(agent, kwargs, message):
    with pytest.raises(ConformanceError, match=message):
        check_agent_legality(agent, Countdown(), episodes=2, seed=0, **kwargs)


def test_the_mask_is_checked_only_for_agents_that_respect_it():
    check_agent_legality(MaskIgnoringAgent(), Countdown(), respects_action_mask=False)


# ------------------------------------------------------------------------------ the registry


def test_registry_report_collects_every_check_and_failure():
    report = check_registry(
        [GOOD_ID, SCALED_VECTOR_ID, "recoworld-testing/Missing-v0"],
        variants={GOOD_ID: [{}, {"max_steps": 5}]},
        steps=10,
        num_envs=2,
        skip_sb3=True,
        raise_on_failure=False,
    )
    assert isinstance(report, RegistryReport) and not report.passed
    assert [(r.env_id, r.check) for r in report.failures] == [
        (SCALED_VECTOR_ID, "vector_equivalence"),
        ("recoworld-testing/Missing-v0", "conformance"),
    ]
    assert "not registered" in report.failures[1].message
    assert len([r for r in report.results if r.env_id == GOOD_ID]) == 6
    assert all(isinstance(r, CheckResult) for r in report.results)
    assert "max_steps=5" in str(report) and "FAILED" in str(report)
    with pytest.raises(ConformanceError, match="2 of 10 checks failed"):
        report.raise_if_failed()


def test_registry_raises_by_default_and_refuses_stray_variants():
    with pytest.raises(ConformanceError, match="CountdownScaledVector-v0 vector_equivalence"):
        check_registry([SCALED_VECTOR_ID], steps=5, skip_sb3=True)
    with pytest.raises(ValueError, match="not among the checked ids"):
        check_registry([GOOD_ID], variants={"ConvRec-v0": [{}]})


# ------------------------------------------------------------------------------ building blocks


SPACES = [
    spaces.Discrete(4, start=1),
    spaces.MultiDiscrete([3, 5]),
    spaces.MultiBinary(4),
    spaces.Box(-1.0, 1.0, (3,), np.float32),
    spaces.Box(0, 5, (2, 2), np.int64),
    spaces.Text(5, min_length=1),
    spaces.Dict({"items": spaces.MultiDiscrete([3, 3]), "utterance": spaces.Text(4)}),
    spaces.Tuple((spaces.Discrete(2), spaces.Box(0.0, 1.0, (1,)))),
]


@pytest.mark.parametrize("space", SPACES, ids=lambda space: type(space).__name__)
def test_action_type_variants_keep_the_value_in_other_types(space):
    space.seed(0)
    action = space.sample()
    variants = dict(action_type_variants(space, action))
    if isinstance(space, spaces.Discrete):
        assert variants["Python bool"] is bool(action) and variants["Python float"] == action
        assert variants["0-d integer array"].shape == () and variants["None"] is None
    elif isinstance(space, spaces.MultiDiscrete | spaces.MultiBinary | spaces.Box):
        assert variants["bool array"].dtype == np.bool_
        np.testing.assert_array_equal(variants["float64 array"], np.asarray(action, np.float64))
        assert variants["nested list"] == np.asarray(action).tolist()
    else:
        assert variants == {}


@pytest.mark.parametrize("space", SPACES, ids=lambda space: type(space).__name__)
def test_out_of_space_actions_are_outside_and_include_a_wrong_shape(space):
    actions = out_of_space_actions(space)
    assert actions
    for _, action in actions:
        assert not space.contains(action)
    kinds = [kind for kind, _ in actions]
    if not isinstance(space, spaces.Text):
        assert any("shape" in kind or "key" in kind or "length" in kind for kind in kinds)
