"""Reading reflective instructions from text: the keyword parser's rules on hand-worked
sentences (every TemplateVoice template among them), and the text-reading greedy agent against
the agents that read the structure."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import recoworld  # noqa: F401  (registers RecoWorld-v0)
from recoworld.agents import GreedyAgent, InstructionAwareGreedyAgent, ObservationLayout
from recoworld.agents.instruction_text import (
    ParsedInstruction,
    TextInstructionGreedyAgent,
    parse_instruction,
)
from recoworld.simulators.instruction import TemplateVoice, join_names

NAMES = ("jazz", "indie", "metal", "hip-hop", "rock", "indie rock", "drum and bass", "soul")
JAZZ, INDIE, METAL, HIP_HOP, ROCK, INDIE_ROCK, DNB, SOUL = range(len(NAMES))


@pytest.mark.parametrize(
    ("text", "more_of", "less_of"),
    [
        # The four TemplateVoice templates, worked by hand.
        ("I'm getting tired of metal. Show me more jazz, please.", (JAZZ,), (METAL,)),
        ("Less metal, more jazz.", (JAZZ,), (METAL,)),
        ("Too much metal lately; I'd rather have some jazz.", (JAZZ,), (METAL,)),
        ("Can you stop pushing metal? I'm in the mood for jazz.", (JAZZ,), (METAL,)),
        # The same with several topics (join_names: "a, b and c").
        (
            "I'm getting tired of metal, rock and soul. Show me more jazz and indie, please.",
            (JAZZ, INDIE),
            (METAL, ROCK, SOUL),
        ),
        ("Less metal and rock, more jazz, soul and indie.", (JAZZ, SOUL, INDIE), (METAL, ROCK)),
    ],
)
def test_template_sentences(text, more_of, less_of):
    assert parse_instruction(text, NAMES) == ParsedInstruction(more_of, less_of)


@pytest.mark.parametrize("template", TemplateVoice().templates)
@pytest.mark.parametrize(
    ("more", "less"),
    [((JAZZ,), (METAL,)), ((HIP_HOP, DNB), (INDIE_ROCK,)), ((SOUL,), (ROCK, INDIE, METAL))],
)
def test_every_template_voice_sentence_is_read_exactly(template, more, less):
    # Whatever the TemplateVoice says must read back as what it was asked to say, for single,
    # hyphenated, multiword and listed topics.
    text = template.format(
        more=join_names(tuple(NAMES[i] for i in more)),
        less=join_names(tuple(NAMES[i] for i in less)),
    )
    assert parse_instruction(text, NAMES) == ParsedInstruction(more, less), text


@pytest.mark.parametrize(
    ("text", "more_of", "less_of"),
    [
        # A negator flips the cue it goes with, or alone means "less".
        ("I'm not in the mood for metal, give me jazz", (JAZZ,), (METAL,)),
        ("Stop showing me metal", (), (METAL,)),
        ("I'd rather not have metal", (), (METAL,)),
        ("Not enough jazz!", (JAZZ,), ()),
        ("No metal more jazz", (JAZZ,), (METAL,)),
        ("I want jazz not metal", (JAZZ,), (METAL,)),
        ("I don't want any soul", (), (SOUL,)),
        # The nearest cue before a topic wins.
        ("I want less metal", (), (METAL,)),
        ("Give me fewer rock songs and more soul", (SOUL,), (ROCK,)),
        # Contrast connectors oppose, list connectors continue, across clauses.
        ("More jazz than metal", (JAZZ,), (METAL,)),
        ("Not metal but jazz", (JAZZ,), (METAL,)),
        ("Jazz instead of metal", (JAZZ,), (METAL,)),
        ("Jazz, not metal", (JAZZ,), (METAL,)),
        ("Jazz and soul instead of metal", (JAZZ, SOUL), (METAL,)),
        ("Jazz, soul, not metal", (JAZZ, SOUL), (METAL,)),
        ("Less metal. But jazz", (JAZZ,), (METAL,)),
        ("Less metal. Instead, jazz!", (JAZZ,), (METAL,)),
        ("Neither metal nor rock", (), (METAL, ROCK)),
        ("No more metal or rock please", (), (METAL, ROCK)),
        # A cue after the topic, when none comes before it.
        ("Jazz is what I want", (JAZZ,), ()),
        ("jazz is not what I want", (), (JAZZ,)),
        ("metal less, jazz more", (JAZZ,), (METAL,)),
        # Longest topic name first; words inside a topic are not cues or breaks.
        ("I love indie rock but I'm done with drum and bass", (INDIE_ROCK,), (DNB,)),
        ("Less rock, more indie", (INDIE,), (ROCK,)),
        # Case, typographic apostrophes, hyphens and spaces in names.
        ("I\u2019M SICK OF HIP HOP", (), (HIP_HOP,)),
        ("Too much hip-hop; more Jazz", (JAZZ,), (HIP_HOP,)),
        # Whole words only.
        ("Less jazzy stuff, more rocky roads", (), ()),
        # Nothing is guessed: a topic without any cue is left out.
        ("Metal? Jazz.", (), ()),
        ("Metal, give me jazz", (JAZZ,), ()),
        ("Something different, please.", (), ()),
        ("", (), ()),
        # The last mention of a topic wins.
        ("Less metal... actually, more metal", (METAL,), ()),
    ],
)
def test_parser_rules(text, more_of, less_of):
    assert parse_instruction(text, NAMES) == ParsedInstruction(more_of, less_of)


def test_parser_rejects_bad_input():
    with pytest.raises(ValueError, match="None"):
        parse_instruction(None, NAMES)
    with pytest.raises(ValueError, match="topic_names"):
        parse_instruction("less jazz", ())
    with pytest.raises(ValueError, match="'Hip Hop'"):
        parse_instruction("less jazz", ("hip-hop", "Hip Hop"))
    with pytest.raises(ValueError, match="'!!'"):
        parse_instruction("less jazz", ("jazz", "!!"))


def test_parsed_instruction_steering_matches_the_observation_layout():
    parsed = ParsedInstruction((0, 2), (1,))
    np.testing.assert_array_equal(
        parsed.steering(3, more_weight=2.0, less_weight=0.5), [2, 0, 2, 0, 0.5, 0]
    )
    assert parsed.names(("a", "b", "c")) == (("a", "c"), ("b",))
    assert ParsedInstruction().is_empty and not parsed.is_empty


# ---------------------------------------------------------------------------------- the agent


def play(env, agent, seed, record=None):
    """One episode; the return. ``record(obs, info, action)`` sees every decision."""
    obs, info = env.reset(seed=seed)
    agent.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        action = agent.act(obs, info)
        if record is not None:
            record(obs, info, action)
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        done = terminated or truncated
    return total


@pytest.mark.parametrize("mode", ["features", "ids"])
def test_reads_the_template_voice_exactly_and_acts_like_instruction_greedy(mode):
    # With the template voice the text carries the whole instruction, so reading it must give
    # the env's structure (instruction_topics, used here only as the answer key) and the same
    # slates as the agent that reads the structured one-hot observation.
    env = gym.make("RecoWorld-v0", observation_mode=mode)
    names = env.unwrapped.catalog.topic_names
    text_agent = TextInstructionGreedyAgent(env)
    structured = InstructionAwareGreedyAgent(ObservationLayout.of(env))
    heard = []
    for seed in range(2, 10):
        obs, info = env.reset(seed=seed)
        text_agent.reset(seed=seed)
        done = False
        while not done:
            action = text_agent.act(obs, info)
            np.testing.assert_array_equal(action, structured.act(obs, info))
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            if info["instruction"] is not None:
                truth = info["instruction_topics"]
                heard.append(
                    parse_instruction(info["instruction"], names).names(names)
                    == (tuple(truth["more_of"]), tuple(truth["less_of"]))
                )
    assert len(heard) >= 5 and all(heard)
    assert text_agent.heard == len(heard) and text_agent.unparsed == 0


def test_text_agent_returns_match_instruction_greedy_and_beat_greedy():
    # 20 seeded episodes of the default env. Measured: greedy 84.2, instruction-greedy 103.2,
    # text-instruction-greedy 103.2 (mean returns).
    env = gym.make("RecoWorld-v0")
    layout = ObservationLayout.of(env)
    agents = {
        "greedy": GreedyAgent(layout),
        "instruction-greedy": InstructionAwareGreedyAgent(layout),
        "text": TextInstructionGreedyAgent(env),
    }
    means = {
        name: np.mean([play(env, agent, seed) for seed in range(20)])
        for name, agent in agents.items()
    }
    assert means["text"] > 1.12 * means["greedy"], means
    assert abs(means["text"] - means["instruction-greedy"]) < 0.03 * means["instruction-greedy"]


def test_follows_a_voice_it_was_never_shown():
    # Other wordings of the same instructions: the agent must still read them all.
    voice = TemplateVoice(
        templates=(
            "Enough {less} for now. Give me {more}!",
            "No more {less}; I want {more}.",
            "I'm bored of {less}, how about some {more}?",
        )
    )
    env = gym.make("RecoWorld-v0", voice=voice)
    agent = TextInstructionGreedyAgent(env)
    structured = InstructionAwareGreedyAgent(ObservationLayout.of(env))
    actions = []
    for seed in range(6):
        play(env, agent, seed, lambda obs, info, action: actions.append((obs, info, action)))
    assert agent.heard >= 3 and agent.unparsed == 0
    for obs, info, action in actions:
        np.testing.assert_array_equal(action, structured.act(obs, info))


def test_the_instruction_stands_for_the_session_and_is_forgotten_after():
    env = gym.make("RecoWorld-v0")
    obs, info = env.reset(seed=0)
    layout = ObservationLayout.of(env)
    agent = TextInstructionGreedyAgent(env)
    greedy = GreedyAgent(layout)
    names = env.unwrapped.catalog.topic_names
    one_hot = np.zeros(2 * len(names), np.float32)
    one_hot[names.index("jazz")] = one_hot[len(names) + names.index("metal")] = 1.0
    following = InstructionAwareGreedyAgent(layout).act({**obs, "instruction": one_hot}, info)
    assert not np.array_equal(following, greedy.act(obs, info))  # the instruction matters here

    def step(session, turn, instruction=None):
        return agent.act(
            obs, {**info, "session": session, "turn": turn, "instruction": instruction}
        )

    np.testing.assert_array_equal(step(0, 3), greedy.act(obs, info))
    np.testing.assert_array_equal(step(0, 4, "Less metal, more jazz."), following)
    np.testing.assert_array_equal(step(0, 5), following)  # it stands
    np.testing.assert_array_equal(step(0, 6, "Hmm, not sure."), following)  # unreadable: stands
    assert agent.unparsed == 1
    np.testing.assert_array_equal(step(1, 0), greedy.act(obs, info))  # a new session forgets
    step(1, 1, "Less metal, more jazz.")
    np.testing.assert_array_equal(step(1, 0), greedy.act(obs, info))  # env reset: turn went back
    step(1, 1, "Less metal, more jazz.")
    agent.reset(seed=0)
    np.testing.assert_array_equal(step(1, 2), greedy.act(obs, info))  # agent reset forgets


def test_never_reads_the_structured_instruction():
    env = gym.make("RecoWorld-v0")
    obs, info = env.reset(seed=0)
    said = {**info, "instruction": "Less metal, more jazz."}
    a, b = TextInstructionGreedyAgent(env), TextInstructionGreedyAgent(env)
    lean_obs = {key: value for key, value in obs.items() if key != "instruction"}
    noisy_obs = {**obs, "instruction": np.ones_like(obs["instruction"])}
    lean_info = {key: value for key, value in said.items() if key != "instruction_topics"}
    np.testing.assert_array_equal(a.act(lean_obs, lean_info), b.act(noisy_obs, said))


def test_agent_rejects_bad_input():
    with pytest.raises(ValueError, match="ConvRec"):
        TextInstructionGreedyAgent(gym.make("ConvRec-v0"))
    with pytest.raises(ValueError, match="object"):
        TextInstructionGreedyAgent(object())
    with pytest.raises(ValueError, match="'scores'"):
        TextInstructionGreedyAgent(gym.make("RecoWorld-v0", action_type="scores"))
    env = gym.make("RecoWorld-v0")
    with pytest.raises(ValueError, match="instruction_weight=-1"):
        TextInstructionGreedyAgent(env, instruction_weight=-1)
    with pytest.raises(ValueError, match="quality_weight=nan"):
        TextInstructionGreedyAgent(env, quality_weight=float("nan"))
    with pytest.raises(ValueError, match="instruction_weight='1'"):
        TextInstructionGreedyAgent(env, instruction_weight="1")
