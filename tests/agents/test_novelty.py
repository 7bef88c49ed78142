"""The fixed-novelty greedy ranker (issue 12's baselines and goal-conditioned building block)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import recoworld  # noqa: F401  (registers the environments)
from recoworld.agents import ObservationLayout, make_agent
from recoworld.agents.novelty import NoveltyShareAgent


@pytest.fixture(scope="module")
def played():
    """An observation after a few greedy turns, so the user has familiar and new topics."""
    env = gym.make("RecoWorld-v0", multi_session=True)
    obs, info = env.reset(seed=3)
    agent = make_agent("greedy", env, 3)
    for _ in range(6):
        obs, _, terminated, truncated, info = env.step(agent.act(obs, info))
        assert not (terminated or truncated)
    return env, obs, info


def test_a_higher_share_serves_more_new_topics(played):
    env, obs, info = played
    layout = ObservationLayout.of(env)
    counts = []
    for share in np.linspace(0.0, 1.0, 11):
        agent = NoveltyShareAgent(layout, novelty_share=float(share))
        slate = agent.act(obs, info)
        new = agent.new_topics(obs)
        available = layout.candidates(obs)[:, layout.available] > 0.5
        assert len(set(slate.tolist())) == layout.slate_size
        assert available[slate].all()
        counts.append(int(new[slate].sum()))
    assert counts == sorted(counts)
    new = NoveltyShareAgent(layout).new_topics(obs)
    available = layout.candidates(obs)[:, layout.available] > 0.5
    new_on_offer, familiar_on_offer = int((new & available).sum()), int((~new & available).sum())
    assert new_on_offer > 0 and familiar_on_offer > 0  # both kinds are on offer
    size = layout.slate_size
    # Each extreme serves as much of its kind as there is; the other kind fills the rest.
    assert counts[0] == max(0, size - familiar_on_offer)
    assert counts[-1] == min(size, new_on_offer)
    assert counts[-1] > counts[0]


def test_before_anything_is_watched_every_topic_is_new():
    env = gym.make("RecoWorld-v0")
    obs, info = env.reset(seed=0)
    agent = NoveltyShareAgent(ObservationLayout.of(env), novelty_share=0.0)
    assert agent.new_topics(obs).all()
    assert len(set(agent.act(obs, info).tolist())) == ObservationLayout.of(env).slate_size


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("novelty_share", 1.2),
        ("novelty_share", -0.1),
        ("new_topic_mass", 0.0),
        ("quality_weight", "x"),
    ],
)
def test_bad_options_are_refused_naming_them(option, value):
    env = gym.make("RecoWorld-v0")
    with pytest.raises(ValueError, match=option):
        make_agent("novelty-greedy", env, 0, **{option: value})
