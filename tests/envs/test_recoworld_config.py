"""RecoWorldConfig: the one place RecoWorld-v0's settings are written, checked and passed."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recoworld  # noqa: F401
from recoworld.envs import RecoWorldConfig, RecoWorldEnv, RecoWorldVectorEnv
from recoworld.llm import LLMSettings, ScriptedChatModel

FIELDS = [f.name for f in dataclasses.fields(RecoWorldConfig)]


def make_vec(**kwargs):
    return gym.make_vec("RecoWorld-v0", vectorization_mode="vector_entry_point", **kwargs)


def test_keywords_and_a_config_make_the_same_env():
    settings_ = {"num_candidates": 40, "slate_size": 5, "multi_session": True, "n_items": 300}
    by_keywords = gym.make("RecoWorld-v0", **settings_)
    by_config = gym.make("RecoWorld-v0", config=RecoWorldConfig(**settings_))
    assert by_keywords.unwrapped.config == by_config.unwrapped.config
    assert by_keywords.action_space == by_config.action_space
    assert by_keywords.observation_space == by_config.observation_space
    obs_a, _ = by_keywords.reset(seed=3)
    obs_b, _ = by_config.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(30):
        for key in obs_a:
            np.testing.assert_array_equal(obs_a[key], obs_b[key])
        action = rng.permutation(40)[:5]
        obs_a, reward_a, *done_a, _ = by_keywords.step(action)
        obs_b, reward_b, *done_b, _ = by_config.step(action)
        assert (reward_a, done_a) == (reward_b, done_b)
        if any(done_a):
            break


def test_the_vector_env_takes_the_same_config():
    config = RecoWorldConfig(num_candidates=30, slate_size=4, action_type="scores")
    by_config = make_vec(num_envs=3, config=config)
    by_keywords = make_vec(num_envs=3, num_candidates=30, slate_size=4, action_type="scores")
    direct = RecoWorldVectorEnv(3, config)
    for envs in (by_config, by_keywords, direct):
        assert envs.config == config
        assert envs.single_action_space.shape == (30,)
    assert RecoWorldEnv(config).config is config


def test_no_settings_means_the_defaults():
    assert RecoWorldEnv().config == RecoWorldConfig()
    assert RecoWorldConfig().llm == LLMSettings()


@pytest.mark.parametrize("make", [RecoWorldEnv, RecoWorldVectorEnv], ids=["single", "vector"])
def test_an_unknown_keyword_is_named_with_the_valid_ones(make):
    with pytest.raises(ValueError, match="unknown RecoWorld-v0 argument 'slate_szie'") as error:
        make(slate_szie=5)
    message = str(error.value)
    assert "did you mean 'slate_size'?" in message
    assert all(name in message for name in FIELDS)


@pytest.mark.parametrize(
    ("former", "now"),
    [
        ("llm_cache", "'cache'"),
        ("cost_cap_usd", "'cost_cap_usd'"),
        ("on_llm_error", "'on_error'"),
        ("llm_options", "instruction_max_tokens"),
    ],
)
def test_former_llm_arguments_point_to_their_new_place(former, now):
    with pytest.raises(
        ValueError, match=f"unknown RecoWorld-v0 argument '{former}' \\(now llm="
    ) as e:
        gym.make("RecoWorld-v0", **{former: None})
    assert now in str(e.value)


@pytest.mark.parametrize("make", [RecoWorldEnv, RecoWorldVectorEnv], ids=["single", "vector"])
def test_a_config_and_keywords_together_are_refused(make):
    config = RecoWorldConfig(slate_size=5)
    with pytest.raises(ValueError, match="slate_size=5 given both as keyword") as error:
        make(config=config, slate_size=5)
    assert "dataclasses.replace(config, slate_size=5)" in str(error.value)
    with pytest.raises(ValueError, match=r"config=.* must be a RecoWorldConfig"):
        make(config={"slate_size": 5})


def test_replace_validates_again():
    config = RecoWorldConfig()
    assert dataclasses.replace(config, slate_size=3).slate_size == 3
    with pytest.raises(ValueError, match="slate_size=0"):
        dataclasses.replace(config, slate_size=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.slate_size = 3  # type: ignore[misc]


def test_values_are_normalized():
    config = RecoWorldConfig(
        num_candidates=np.int64(20),
        slate_size=np.int32(4),
        click_weight=2,
        hybrid_click_bounds=[0, 1],
        user_model="llm",
        llm="openai/gpt-4o-mini",
    )
    assert type(config.num_candidates) is int and type(config.slate_size) is int
    assert type(config.click_weight) is float
    assert config.hybrid_click_bounds == (0.0, 1.0)
    assert config.llm == LLMSettings(model="openai/gpt-4o-mini")
    model = ScriptedChatModel([])
    assert RecoWorldConfig(user_model="llm", llm=model).llm.model is model
    with_temperature = RecoWorldConfig(user_model="llm", llm={"model": model, "temperature": 0.2})
    assert with_temperature.llm.temperature == 0.2


@pytest.mark.parametrize(
    ("settings_", "named"),
    [
        ({"llm": "openai/gpt-4o-mini"}, "llm={'model': 'openai/gpt-4o-mini'}"),
        ({"llm": {"cost_cap_usd": 1.0}}, "llm={'cost_cap_usd': 1.0}"),
        ({"llm": {"on_error": "fallback"}}, "llm={'on_error': 'fallback'}"),
        ({"hybrid_click_bounds": (0.2, 0.8)}, "hybrid_click_bounds=(0.2, 0.8)"),
        ({"instruction_max_tokens": 12}, "instruction_max_tokens=12"),
    ],
)
def test_llm_user_settings_given_to_the_latent_user_are_refused_by_name(settings_, named):
    """Issue 9, item 12: they were silently ignored."""
    with pytest.raises(ValueError, match="set with user_model='latent'") as error:
        RecoWorldEnv(**settings_)
    assert str(error.value).startswith(named)
    assert RecoWorldConfig(user_model="llm", **settings_).user_model == "llm"


@pytest.mark.parametrize(
    ("llm", "message"),
    [
        ({"model": 12345}, "llm.model=12345"),
        ({"cost_cap_usd": -1}, "llm.cost_cap_usd=-1"),
        ({"on_error": "ignore"}, "llm.on_error='ignore'"),
        ({"cache": 3.5}, "llm.cache=3.5"),
        ({"bogus": 1}, "llm has unknown keys ['bogus']"),
    ],
)
@pytest.mark.parametrize("user_model", ["latent", "llm"])
def test_llm_settings_are_validated_whatever_the_user_model(llm, message, user_model):
    with pytest.raises(ValueError) as error:
        RecoWorldConfig(user_model=user_model, llm=llm)
    assert message in str(error.value)
    with pytest.raises(ValueError, match=r"hybrid_click_bounds=\(2, 1\)"):
        RecoWorldConfig(user_model=user_model, hybrid_click_bounds=(2, 1))


def test_structured_instruction_defaults_by_user_model():
    assert RecoWorldConfig().keeps_structured_instruction
    assert not RecoWorldConfig(user_model="llm").keeps_structured_instruction
    kept = RecoWorldConfig(user_model="llm", structured_instruction=True)
    assert kept.keeps_structured_instruction


def test_the_catalog_bound_is_checked_where_the_catalog_is_known(small_catalog):
    config = RecoWorldConfig(num_candidates=500)  # fine for the default 1000-item catalog
    with pytest.raises(ValueError, match="num_candidates=500 exceeds the catalog's 200 items"):
        RecoWorldEnv(config, catalog=small_catalog)
    with pytest.raises(ValueError, match="num_candidates=2000 exceeds n_items=1000, the items of"):
        RecoWorldEnv(num_candidates=2000)
    # n_items only sizes the default catalog: a larger given catalog is what counts.
    env = RecoWorldEnv(num_candidates=150, n_items=100, catalog=small_catalog)
    assert env.catalog is small_catalog


def test_llm_settings_reach_the_llm_user():
    env = RecoWorldEnv(
        user_model="llm",
        llm={"model": ScriptedChatModel([]), "temperature": 0.3, "on_error": "fallback"},
        instruction_max_tokens=12,
        hybrid_click_bounds=(0.2, 0.8),
        decision_mode="hybrid",
    )
    user = env.llm_user
    assert user is not None
    assert (user.temperature, user.on_llm_error, user.instruction_max_tokens) == (
        0.3,
        "fallback",
        12,
    )
    assert user.hybrid_click_bounds == (0.2, 0.8) and user.decision_mode == "hybrid"
    # Unset sampling settings keep the LLM user's own defaults.
    default = RecoWorldEnv(user_model="llm", llm=ScriptedChatModel([])).llm_user
    assert default is not None and (default.temperature, default.max_tokens) == (0.7, 64)


def _not_in(choices):
    return st.text(max_size=8).filter(lambda text: text not in choices)


_NOT_A_NUMBER = st.one_of(
    st.sampled_from([float("nan"), float("inf"), -float("inf"), True, None, "1", [1.0]])
)
_BAD = {
    "num_candidates": st.one_of(st.integers(max_value=0), st.floats(), st.booleans()),
    "slate_size": st.one_of(st.integers(max_value=0), st.integers(101, 10**9), st.floats()),
    "n_items": st.one_of(st.integers(max_value=1), st.floats(), st.text(max_size=3)),
    "catalog_seed": st.one_of(st.integers(max_value=-1), st.floats(), st.none()),
    "multi_session": st.one_of(st.integers(), st.text(max_size=3), st.none()),
    "max_sessions": st.one_of(st.integers(max_value=0), st.floats()),
    "max_session_turns": st.one_of(st.integers(max_value=0), st.floats()),
    "click_weight": _NOT_A_NUMBER,
    "watch_weight": _NOT_A_NUMBER,
    "continue_weight": _NOT_A_NUMBER,
    "return_weight": _NOT_A_NUMBER,
    "return_horizon_days": st.one_of(st.floats(max_value=0.0), _NOT_A_NUMBER),
    "diversity_weight": st.one_of(st.floats(max_value=-1e-9), _NOT_A_NUMBER),
    "novelty_weight": st.one_of(st.floats(max_value=-1e-9), _NOT_A_NUMBER),
    "new_topic_familiarity": st.one_of(
        st.floats(max_value=0.0), st.floats(min_value=1.0, exclude_min=True), _NOT_A_NUMBER
    ),
    "action_type": _not_in(("slate", "scores")),
    "observation_mode": _not_in(("features", "ids")),
    "user_model": _not_in(("latent", "llm")),
    # With the default latent user, an LLM decision mode is refused too.
    "decision_mode": st.one_of(_not_in(("latent",)), st.none()),
    "structured_instruction": st.one_of(st.integers(), st.text(max_size=3)),
    "hybrid_click_bounds": st.one_of(
        st.tuples(st.floats(0.51, 1.0), st.floats(0.0, 0.49)),
        st.tuples(st.floats(1.01, 9.0), st.floats(1.01, 9.0)),
        st.tuples(st.floats(-9.0, -0.01), st.floats(0.0, 1.0)),
        st.lists(st.floats(0.0, 1.0), max_size=4).filter(lambda xs: len(xs) != 2),
        st.none(),
    ),
    "prompt_version": _not_in(("v1",)),
    "instruction_max_tokens": st.one_of(st.integers(max_value=0), st.floats()),
    "llm": st.one_of(
        st.integers(),
        st.just(""),
        st.fixed_dictionaries({"temperature": st.floats(2.01, 100.0)}),
        st.fixed_dictionaries({"max_tokens": st.integers(max_value=0)}),
        st.fixed_dictionaries({"on_error": _not_in(("raise", "fallback"))}),
        st.fixed_dictionaries({"temprature": st.floats(0.0, 1.0)}),
    ),
}


def test_every_field_has_bad_values_under_test():
    assert sorted(_BAD) == sorted(FIELDS)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_bad_value_is_refused_naming_its_field(data):
    field = data.draw(st.sampled_from(FIELDS), label="field")
    value = data.draw(_BAD[field], label="value")
    with pytest.raises(ValueError) as error:
        RecoWorldConfig(**{field: value})
    assert str(error.value).startswith(field), str(error.value)


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        ({"slate_size": 0}, "slate_size=0 must be an integer in [1, 2147483647]"),
        ({"num_candidates": 5}, "slate_size=10 exceeds num_candidates=5"),
        ({"return_horizon_days": 0}, "return_horizon_days=0 must be a finite number > 0.0"),
        ({"action_type": "rank"}, "action_type='rank' must be one of ('slate', 'scores')"),
        ({"decision_mode": "llm"}, "decision_mode='llm' needs user_model='llm'"),
        ({"hybrid_click_bounds": (0.9, 0.1)}, "0 <= low <= high <= 1"),
        ({"prompt_version": "v9"}, "prompt_version='v9' must be one of ('v1',)"),
        ({"llm": {"temperature": 3.0}}, "llm.temperature=3.0 must be a finite number in"),
    ],
)
def test_messages_say_why(settings_, message):
    with pytest.raises(ValueError) as error:
        RecoWorldEnv(**settings_)
    assert message in str(error.value)


def test_the_env_documentation_lists_every_setting():
    doc = RecoWorldEnv.__doc__ or ""
    arguments = doc[doc.index("## Arguments") : doc.index("## Version History")]
    missing = [name for name in FIELDS if f"``{name}``" not in arguments]
    assert not missing, f"RecoWorldEnv's Arguments section does not describe {missing}"
