"""Probes of RecoWorld-v0 (single and vector) and RecoChat-v0 with hostile inputs (issue 9).

Actions: ``action_space.contains`` and ``step`` agree on every input (in-space actions are legal
moves; anything else, bools included, raises ``ValueError`` naming it), and a refused action
leaves the env as it was. Constructor arguments: a bad type or value raises ``ValueError`` or
``TypeError`` naming the argument, never an error from inside; numpy integers count as ints.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recoworld  # noqa: F401
from recoworld.catalog import SyntheticCatalogConfig, generate_catalog
from recoworld.envs import RecoWorldEnv, RecoWorldVectorEnv
from recoworld.envs.recochat import RecoChatConfig
from recoworld.envs.recochat.env import RecoChatEnv
from recoworld.envs.recoworld.config import RecoWorldConfig
from recoworld.llm import ScriptedChatModel

SMALL = {"n_items": 60, "num_candidates": 12, "slate_size": 4}
PROBE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def recoworld_pair(action_type: str):
    make = lambda: gym.make("RecoWorld-v0", action_type=action_type, **SMALL)  # noqa: E731
    return make(), make()


def vector_pair(action_type: str):
    def make():
        return gym.make_vec(
            "RecoWorld-v0",
            num_envs=3,
            vectorization_mode="vector_entry_point",
            action_type=action_type,
            **SMALL,
        )

    return make(), make()


def recochat_pair():
    make = lambda: gym.make("RecoChat-v0", n_items=40, top_k=3, max_turns=50)  # noqa: E731
    return make(), make()


def hostile(shape: tuple[int, ...], high: int):
    """Inputs around an action of ``shape`` with entries in ``[0, high)``: in-space ones and
    every kind of out-of-space one."""
    ints = st.integers(-3, high + 3)
    return st.one_of(
        st.lists(ints, min_size=shape[-1], max_size=shape[-1]).map(
            lambda row: np.array([row] * (shape[0] if len(shape) > 1 else 1)).reshape(shape)
        ),
        st.lists(st.integers(0, high - 1), min_size=shape[-1], max_size=shape[-1]).map(
            lambda row: np.array([row] * (shape[0] if len(shape) > 1 else 1)).reshape(shape)
        ),
        st.just(np.zeros(shape, bool)),
        st.just(np.ones(shape, bool)),
        st.just(np.zeros(shape, np.uint8)),
        st.just(np.full(shape, 0.5)),
        st.just(np.full(shape, np.nan)),
        st.just(np.full(shape, -0.5, np.float32)),
        st.just(np.zeros(shape[-1:], np.int64)),
        st.just(np.zeros((*shape, 1), np.int64)),
        st.just(np.zeros(shape, object)),
        st.just(np.full(shape, 2**40, np.int64)),
        st.just(np.full(shape, np.iinfo(np.uint64).max, np.uint64)),
        st.just(np.zeros(shape).tolist()),
        st.just(np.zeros(shape, np.int64).tolist()),
        st.just([[0, 1], [2]]),
        st.just(None),
        st.just("0 1 2 3"),
        st.just({"slate": [0, 1]}),
        st.floats(allow_nan=True),
    )


def run_probe(pair, action, step_reference):
    """``contains`` and ``step`` agree on ``action``; a refused one changes nothing."""
    probe, reference = pair
    inside = probe.action_space.contains(action)
    try:
        probe.step(action)
    except ValueError as error:
        assert not inside, f"contains() is True but step() raised: {error}"
        assert str(error)
    else:
        assert inside, f"step() took {action!r} but contains() is False"
        step_reference(reference, action)
        return
    # Refused: the env goes on exactly as its twin, which never saw the action.
    move = reference.action_space.sample()
    a, b = probe.step(move), reference.step(move)
    np.testing.assert_equal(a[:4], b[:4])


def _reset(pair, seed):
    for env in pair:
        env.reset(seed=seed)
        env.action_space.seed(seed)


@pytest.mark.parametrize("action_type", ["slate", "scores"])
@PROBE
@given(data=st.data())
def test_recoworld_contains_and_step_agree_and_refusals_change_nothing(action_type, data):
    pair = recoworld_pair(action_type)
    _reset(pair, data.draw(st.integers(0, 5), label="seed"))
    shape = pair[0].action_space.shape
    high = SMALL["num_candidates"] if action_type == "slate" else 1
    action = data.draw(hostile(shape, high), label="action")
    run_probe(pair, action, lambda env, a: env.step(a))


@pytest.mark.parametrize("action_type", ["slate", "scores"])
@PROBE
@given(data=st.data())
def test_vector_contains_and_step_agree_and_refusals_change_nothing(action_type, data):
    pair = vector_pair(action_type)
    _reset(pair, data.draw(st.integers(0, 5), label="seed"))
    shape = pair[0].action_space.shape
    high = SMALL["num_candidates"] if action_type == "slate" else 1
    action = data.draw(hostile(shape, high), label="action")
    run_probe(pair, action, lambda env, a: env.step(a))


@PROBE
@given(seed=st.integers(0, 1000))
def test_in_space_actions_are_legal_moves(seed):
    for action_type in ("slate", "scores"):
        for env in (recoworld_pair(action_type)[0], vector_pair(action_type)[0]):
            env.reset(seed=seed)
            env.action_space.seed(seed)
            for _ in range(3):
                action = env.action_space.sample()
                assert env.action_space.contains(action)
                env.step(action)
    env = recochat_pair()[0]
    env.reset(seed=seed)
    env.action_space.seed(seed)
    for _ in range(3):
        action = env.action_space.sample()
        assert env.action_space.contains(action)
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break


def chat_actions():
    items = hostile((3,), 41)
    texts = st.one_of(st.text(max_size=20), st.just(""), st.integers(), st.none())
    return st.one_of(
        st.builds(lambda u, i: {"utterance": u, "items": i}, texts, items),
        st.builds(lambda i: {"items": i}, items),
        st.builds(lambda u: {"utterance": u, "items": [0, 0, 0], "x": 1}, texts),
        items,
        st.just(None),
    )


@PROBE
@given(data=st.data())
def test_recochat_contains_and_step_agree_and_refusals_change_nothing(data):
    pair = recochat_pair()
    _reset(pair, data.draw(st.integers(0, 5), label="seed"))
    action = data.draw(chat_actions(), label="action")
    run_probe(pair, action, lambda env, a: env.step(a))


def test_bool_actions_are_out_of_the_space_for_every_action_type():
    """Issue 9, item 13: contains() said True for bool arrays that step() refused."""
    for action_type in ("slate", "scores"):
        for env in (recoworld_pair(action_type)[0], vector_pair(action_type)[0]):
            env.reset(seed=0)
            bools = np.zeros(env.action_space.shape, bool)
            assert not env.action_space.contains(bools)
            with pytest.raises(ValueError, match="bool"):
                env.step(bools)
    env = recochat_pair()[0]
    env.reset(seed=0)
    action = {"utterance": "Jazz?", "items": np.array([True, False, False])}
    assert not env.action_space.contains(action)
    assert not env.action_space["items"].contains(action["items"])
    with pytest.raises(ValueError, match="not bool"):
        env.step(action)


def test_vector_out_of_range_messages_name_the_user_row():
    for action_type, bad, message in (
        ("slate", 12, r"index 12 \(user row 2, slot 1\)"),
        ("scores", 1.5, "value 1.5 at user row 2, index 1"),
    ):
        envs = vector_pair(action_type)[0]
        envs.reset(seed=0)
        action = envs.action_space.sample()
        action[2, 1] = bad
        with pytest.raises(ValueError, match=message):
            envs.step(action)


# ------------------------------------------------------------------ constructor arguments

_POOL = st.sampled_from(
    [
        None,
        "x",
        "",
        -1,
        0,
        1.5,
        float("nan"),
        float("inf"),
        True,
        [1],
        (2, 1),
        {},
        {"bogus": 1},
        object(),
        10**30,
        np.int64(-1),
        np.float64(0.5),
    ]
)


def assert_refused_by_name(build, name, value):
    """Built (the value is fine), or refused with ValueError/TypeError naming ``name`` (calls
    the classes, not ``gym.make``, whose own handling of ``render_mode`` comes first)."""
    try:
        build()
    except (ValueError, TypeError) as error:
        assert name in str(error), f"{name}={value!r}: {type(error).__name__}: {error}"


RECOWORLD_ARGUMENTS = sorted(
    {f for f in RecoWorldConfig.__dataclass_fields__}
    | {"catalog", "user_config", "voice"}
    | {"text_encoder", "render_mode"}
)


@settings(max_examples=50, deadline=None)
@given(name=st.sampled_from(RECOWORLD_ARGUMENTS), value=_POOL, llm_user=st.booleans())
def test_recoworld_arguments_are_refused_by_name(name, value, llm_user):
    base = {**SMALL}
    if llm_user:
        base.update(user_model="llm", llm=ScriptedChatModel(lambda m: "Fine."))
    arguments = {**base, name: value}
    assert_refused_by_name(lambda: RecoWorldEnv(**arguments), name, value)


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(["num_envs", "copy"]), value=_POOL)
def test_vector_arguments_are_refused_by_name(name, value):
    arguments = {**SMALL, name: value}
    assert_refused_by_name(lambda: RecoWorldVectorEnv(**arguments), name, value)


RECOCHAT_ARGUMENTS = sorted(
    {f for f in RecoChatConfig.__dataclass_fields__ if f not in ("dataset_path", "split_file")}
    | {"llm", "text_encoder", "render_mode"}
)


@settings(max_examples=50, deadline=None)
@given(name=st.sampled_from(RECOCHAT_ARGUMENTS), value=_POOL)
def test_recochat_arguments_are_refused_by_name(name, value):
    arguments = {"n_items": 40, "n_users": 10, "top_k": 3, name: value}
    assert_refused_by_name(lambda: RecoChatEnv(**arguments), name, value)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from([*sorted(SyntheticCatalogConfig.__dataclass_fields__), "seed"]),
    value=_POOL,
)
def test_synthetic_catalog_arguments_are_refused_by_name(name, value):
    if name == "seed":
        assert_refused_by_name(
            lambda: generate_catalog(SyntheticCatalogConfig(n_items=20), seed=value), name, value
        )
    else:
        assert_refused_by_name(lambda: SyntheticCatalogConfig(**{name: value}), name, value)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"hybrid_click_bounds": 0.5}, "hybrid_click_bounds=0.5 must be (low, high)"),
        ({"catalog_seed": -1}, "catalog_seed=-1 must be an integer >= 0"),
        ({"catalog_seed": "x"}, "catalog_seed='x' must be an integer >= 0"),
    ],
)
def test_issue_examples_name_the_argument(arguments, message):
    """Issue 9, item 11."""
    with pytest.raises(ValueError) as error:
        gym.make("RecoWorld-v0", user_model="llm", llm=ScriptedChatModel([]), **arguments)
    assert message in str(error.value)


def test_numpy_integers_are_taken_wherever_ints_are():
    """Issue 9, item 13: n_items=np.int64(500) was refused where num_candidates was not."""
    env = gym.make(
        "RecoWorld-v0",
        n_items=np.int64(60),
        num_candidates=np.int32(12),
        slate_size=np.uint8(4),
        catalog_seed=np.int64(3),
        max_sessions=np.int16(2),
    ).unwrapped
    assert env.config.n_items == 60 and type(env.config.n_items) is int
    env.reset(seed=np.int64(4))
    envs = gym.make_vec(
        "RecoWorld-v0", num_envs=np.int64(2), vectorization_mode="vector_entry_point", **SMALL
    )
    envs.reset(seed=np.uint32(4))
    chat = gym.make("RecoChat-v0", n_items=np.int64(40), top_k=np.int64(2)).unwrapped
    chat.reset(seed=np.int64(1), options={"target": np.int64(chat.pairs[0][1])})
    catalog = generate_catalog(SyntheticCatalogConfig(n_items=np.int64(30)), seed=np.int64(2))
    assert catalog.n_items == 30
    for bad in (True, -1, 1.0):
        with pytest.raises(ValueError, match="seed="):
            env.reset(seed=bad)


def test_llm_api_base_reaches_the_litellm_model():
    """Issue 9, item 13: ``llm={'model': ..., 'api_base': URL}`` is how an env reaches a
    self-hosted server (``recoworld llm serve``, vLLM, Ollama)."""
    from recoworld.llm import LiteLLMChatModel

    url = "http://127.0.0.1:9/v1"

    def litellm_model(model):
        while not isinstance(model, LiteLLMChatModel):
            model = model.model  # through the cache and cost-meter wrappers
        return model

    llm = {"model": "openai/served", "api_base": url}
    env = gym.make("RecoWorld-v0", user_model="llm", llm=llm, **SMALL).unwrapped
    assert litellm_model(env.llm_users.model).api_base == url
    envs = gym.make_vec(
        "RecoWorld-v0",
        num_envs=2,
        vectorization_mode="vector_entry_point",
        user_model="llm",
        llm={**llm, "cost_cap_usd": 1.0, "token_cap": 10_000},
        **SMALL,
    )
    assert litellm_model(envs.llm_users.model).api_base == url
    chat = gym.make("RecoChat-v0", user="ailo", llm=llm, n_items=40).unwrapped
    assert litellm_model(chat.llm).api_base == url


def test_catalog_item_lookups_name_a_bad_item():
    catalog = generate_catalog(SyntheticCatalogConfig(n_items=20), seed=0)
    assert catalog.attributes_of(np.int64(3)) == catalog.attributes_of(3)
    for bad in ("3", 2.0, True, None):
        with pytest.raises(ValueError, match="item="):
            catalog.attributes_of(bad)
    with pytest.raises(IndexError, match="item row 20 is outside"):
        catalog.attributes_of(20)
