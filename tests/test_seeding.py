"""Tagged generators: a component's stream never replays the env's stream of the same seed."""

from __future__ import annotations

import numpy as np
import pytest

from recoworld.agents.slate_baselines import SlateRandomAgent
from recoworld.seeding import tagged_rng


def test_tags_give_their_own_reproducible_streams():
    first = tagged_rng(5, "a").random(4)
    assert np.array_equal(first, tagged_rng(5, "a").random(4))
    assert not np.array_equal(first, tagged_rng(5, "b").random(4))
    assert not np.array_equal(first, tagged_rng(6, "a").random(4))
    assert not np.array_equal(first, np.random.default_rng(5).random(4))


@pytest.mark.parametrize(("seed", "tag"), [(-1, "a"), (True, "a"), (1.5, "a"), (1, ""), (1, 3)])
def test_bad_seeds_and_tags_are_refused(seed, tag):
    with pytest.raises(ValueError, match=r"seed=|tag="):
        tagged_rng(seed, tag)


def test_the_random_slate_agent_does_not_replay_the_users_draws():
    # The env draws its user from default_rng(seed); the agent reset with the same seed must
    # not show the slate those very numbers would pick.
    agent = SlateRandomAgent(100, 10)
    agent.reset(seed=7)
    slate = agent.act({}, {})
    same_stream = np.random.default_rng(7).choice(100, 10, replace=False)
    assert not np.array_equal(slate, same_stream)
    agent.reset(seed=7)
    assert np.array_equal(agent.act({}, {}), slate)
