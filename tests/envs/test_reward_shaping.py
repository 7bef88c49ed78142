"""The optional diversity and novelty terms of the RecoWorld-v0 reward."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import recoworld  # noqa: F401  (registers the environments)
from recoworld.envs import RecoWorldConfig
from recoworld.evaluation.metrics import intra_list_diversity

SMALL = {"n_items": 300, "num_candidates": 30, "slate_size": 6, "multi_session": True}


def lockstep(weights: dict, episodes: int = 3, seed: int = 11):
    """Play the default env and one with ``weights`` side by side (same seeds, same random
    slates); yield both rewards, the shaped env's info and the hidden familiarity before the
    step."""
    base = gym.make("RecoWorld-v0", **SMALL).unwrapped
    shaped = gym.make("RecoWorld-v0", **SMALL, **weights).unwrapped
    rng = np.random.default_rng(seed)
    for episode in range(episodes):
        base.reset(seed=seed + episode)
        shaped.reset(seed=seed + episode)
        done = False
        while not done:
            action = rng.permutation(SMALL["num_candidates"])[: SMALL["slate_size"]]
            familiarity = shaped.core.state.familiarity[0].copy()
            _, r_base, term, trunc, info_base = base.step(action)
            _, r_shaped, term_s, trunc_s, info = shaped.step(action)
            assert (term, trunc) == (term_s, trunc_s)
            assert np.array_equal(info_base["slate"], info["slate"])  # same trajectory
            yield r_base, r_shaped, info, familiarity, shaped
            done = term or trunc


def test_zero_weights_are_exactly_todays_reward():
    for r_base, r_shaped, *_ in lockstep(
        {"diversity_weight": 0.0, "novelty_weight": 0.0, "new_topic_familiarity": 0.9}
    ):
        assert r_shaped == r_base


def test_diversity_adds_its_weight_times_the_slates_intra_list_diversity():
    steps = 0
    for r_base, r_shaped, info, _, env in lockstep({"diversity_weight": 2.5}):
        slate = info["slate"]
        shown = env.catalog.embeddings[slate[slate >= 0]]
        expected = intra_list_diversity(shown) if len(shown) >= 2 else 0.0
        assert r_shaped - r_base == pytest.approx(2.5 * expected, abs=1e-9)
        steps += 1
    assert steps > 10


def test_novelty_rewards_the_share_of_clicks_on_topics_new_to_the_user():
    seen_new = seen_old = False
    for r_base, r_shaped, info, familiarity, env in lockstep(
        {"novelty_weight": 3.0, "new_topic_familiarity": 0.3}, episodes=4
    ):
        clicks = info["clicks"]
        topics = np.argmax(env.catalog.item_topics[clicks], axis=1)
        new = familiarity[topics] < 0.3
        expected = new.mean() if len(clicks) else 0.0
        assert r_shaped - r_base == pytest.approx(3.0 * expected, abs=1e-9)
        seen_new |= bool(new.any())
        seen_old |= bool((~new).any())
    assert seen_new and seen_old  # both kinds of click were met and scored


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("diversity_weight", -0.1),
        ("novelty_weight", float("nan")),
        ("new_topic_familiarity", 0.0),
        ("new_topic_familiarity", 1.5),
    ],
)
def test_bad_shaping_settings_are_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        RecoWorldConfig(**{field: value})
