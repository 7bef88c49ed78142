"""Trajectories written as JSON Lines while an evaluation runs, and read back."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import recoworld  # noqa: F401  (registers the environments)
from recoworld.agents import make_agent
from recoworld.evaluation import (
    TrajectoryWriter,
    compare,
    evaluate,
    read_trajectories,
)
from recoworld.evaluation.trajectories import OMIT, RECORD_KEYS, jsonable

SMALL = {"num_candidates": 40, "slate_size": 5}


def episodes_of(records: list[dict[str, Any]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault((record["agent"], record["episode"]), []).append(record)
    return grouped


def test_records_match_the_run(tmp_path):
    path = tmp_path / "greedy.jsonl"
    report = evaluate(
        "greedy", episodes=3, seed=10, max_episode_steps=4, trajectories=path, **SMALL
    )
    records = read_trajectories(path)
    assert all(list(record) == list(RECORD_KEYS) for record in records)
    episodes = episodes_of(records)
    assert list(episodes) == [("greedy", 0), ("greedy", 1), ("greedy", 2)]
    for (_, index), steps in episodes.items():
        assert [r["step"] for r in steps] == list(range(len(steps)))
        assert {r["seed"] for r in steps} == {10 + index}
        assert all(r["episode_complete"] for r in steps)
        reset, *played = steps
        assert reset["action"] is None and reset["reward"] is None
        assert "candidates" in reset["info"]
        # Slate actions come back as lists of candidate indices; rewards sum to the return.
        assert all(len(r["action"]) == SMALL["slate_size"] for r in played)
        assert sum(r["reward"] for r in played) == pytest.approx(
            report.per_episode["return"][index]
        )
        assert played[-1]["terminated"] or played[-1]["truncated"]
        assert not any(r["terminated"] or r["truncated"] for r in played[:-1])
        for record in played:
            info = record["info"]
            assert "action_mask" not in info
            assert len(info["slate"]) == SMALL["slate_size"]
            assert set(info["clicks"]) <= set(info["slate"])
            assert "instruction" in info and "usage" in info
    total_steps = sum(len(steps) - 1 for steps in episodes.values())
    assert total_steps == report.usage.steps


def test_same_seed_same_file_different_seed_different_file(tmp_path):
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"]
    for path, seed in zip(paths, (3, 3, 4), strict=True):
        evaluate("random", episodes=2, seed=seed, max_episode_steps=5, trajectories=path, **SMALL)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


class FileWatchingAgent:
    """Greedy, but at each reset it reads the trajectory file, to see what is on disk."""

    def __init__(self, env: Any, path: Any) -> None:
        self.inner = make_agent("greedy", env)
        self.name = "watcher"
        self.path = path
        self.episodes_on_disk: list[list[int]] = []

    def reset(self, seed: int | None = None) -> None:
        records = read_trajectories(self.path)
        self.episodes_on_disk.append(sorted({r["episode"] for r in records}))
        self.inner.reset(seed=seed)

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        return self.inner.act(observation, info)


def test_each_episode_is_on_disk_before_the_next_starts(tmp_path):
    path = tmp_path / "live.jsonl"
    agents: list[FileWatchingAgent] = []

    def factory(env: Any) -> FileWatchingAgent:
        agents.append(FileWatchingAgent(env, path))
        return agents[-1]

    evaluate(factory, episodes=3, seed=0, max_episode_steps=3, trajectories=path, **SMALL)
    assert agents[0].episodes_on_disk == [[], [0], [0, 1]]


def test_compare_writes_every_agent_to_one_file(tmp_path):
    path = tmp_path / "compare.jsonl"
    compare(
        ["random", "greedy"], episodes=2, seed=0, max_episode_steps=3, trajectories=path, **SMALL
    )
    episodes = episodes_of(read_trajectories(path))
    assert list(episodes) == [("random", 0), ("random", 1), ("greedy", 0), ("greedy", 1)]
    # Paired seeds: episode i meets the same user, so the reset records agree.
    assert episodes[("random", 1)][0]["info"] == episodes[("greedy", 1)][0]["info"]


def test_a_writer_is_lent_not_closed_and_can_keep_the_action_mask(tmp_path):
    path = tmp_path / "lent.jsonl"
    with TrajectoryWriter(path, exclude_info=()) as writer:
        evaluate("popular", episodes=1, seed=0, max_episode_steps=2, trajectories=writer, **SMALL)
        assert not writer.closed
        evaluate("random", episodes=1, seed=0, max_episode_steps=2, trajectories=writer, **SMALL)
    assert writer.closed and writer.episodes_written == 2
    records = read_trajectories(path)
    assert [r["agent"] for r in records] == ["popular"] * 3 + ["random"] * 3
    assert len(records[0]["info"]["action_mask"]) == SMALL["num_candidates"]


def test_convrec_trajectories(tmp_path):
    path = tmp_path / "convrec.jsonl"
    report = evaluate("max-entropy", "ConvRec-v0", episodes=2, seed=0, trajectories=path)
    episodes = episodes_of(read_trajectories(path))
    for (_, index), steps in episodes.items():
        assert len(steps) - 1 == report.per_episode["turns"][index]
        assert isinstance(steps[1]["action"], int)  # a Discrete action stays a number
        assert steps[-1]["info"]["success"] == (report.per_episode["success_turn"][index] > 0)


def test_text_is_kept_as_is_and_objects_without_json_form_are_dropped(tmp_path):
    path = tmp_path / "text.jsonl"
    info = {
        "utterance": "Ich hätte gern mehr Jazz — «bitte»",
        "mindset": "bored of pop\nwants something new",
        "reply": "",
        "instruction": None,
        "model": object(),
        "scores": np.array([0.5, np.nan, np.inf]),
        "flags": np.array([True, False]),
        "topics": ("jazz", "folk"),
        "nested": {"gap": np.float32(1.5), "raw": b"bytes"},
    }
    with TrajectoryWriter(path) as writer:
        writer.begin_episode(0, None, "scripted")
        writer.record_step(np.int64(3), np.float32(0.25), True, False, info)
    (record,) = read_trajectories(path)
    assert record["seed"] is None and record["action"] == 3 and record["reward"] == 0.25
    assert record["step"] == 1
    assert record["info"] == {
        "utterance": "Ich hätte gern mehr Jazz — «bitte»",
        "mindset": "bored of pop\nwants something new",
        "reply": "",
        "instruction": None,
        "scores": [0.5, None, None],
        "flags": [True, False],
        "topics": ["jazz", "folk"],
        "nested": {"gap": 1.5},
    }
    # Text is stored as UTF-8, not escaped, and every line is strict JSON.
    line = path.read_text(encoding="utf-8")
    assert "«bitte»" in line
    json.loads(line, parse_constant=lambda name: pytest.fail(f"non-standard JSON {name}"))


def test_an_exception_inside_the_writer_block_writes_the_episode_as_incomplete(tmp_path):
    path = tmp_path / "crash.jsonl"
    with pytest.raises(KeyError), TrajectoryWriter(path) as writer:
        writer.begin_episode(0, 1, "agent")
        writer.record_reset({"turn": 0})
        writer.record_step([1, 2], 1.0, False, False, {"turn": 1})
        raise KeyError("simulator crashed")
    records = read_trajectories(path)
    assert [(r["step"], r["episode_complete"]) for r in records] == [(0, False), (1, False)]


def test_writer_misuse_is_a_clear_error(tmp_path):
    writer = TrajectoryWriter(tmp_path / "misuse.jsonl")
    with pytest.raises(RuntimeError, match="no episode is open"):
        writer.record_step([0], 0.0, False, False, {})
    writer.begin_episode(0, 0, "a")
    with pytest.raises(RuntimeError, match="episode 0 of 'a' has not ended"):
        writer.begin_episode(1, 1, "a")
    writer.record_step([0], 0.0, False, False, {})
    with pytest.raises(RuntimeError, match="before the episode's first record_step"):
        writer.record_reset({})
    writer.close()
    with pytest.raises(RuntimeError, match=r"misuse\.jsonl' is closed"):
        writer.begin_episode(2, 2, "a")
    with pytest.raises(ValueError, match="exclude_info must be a collection"):
        TrajectoryWriter(tmp_path / "x.jsonl", exclude_info="action_mask")


def test_bad_trajectories_argument_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"trajectories=42 must be a \.jsonl path"):
        evaluate("random", episodes=1, trajectories=42, **SMALL)
    # Bad input is refused before the file is touched.
    path = tmp_path / "untouched.jsonl"
    with pytest.raises(ValueError, match="episodes=0"):
        evaluate("random", episodes=0, trajectories=path, **SMALL)
    assert not path.exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"episode": 0, "seed"', r"line 2: malformed JSON"),
        ("[1, 2]", r"line 2: expected a JSON object .* got list"),
        ('{"episode": 0}', r"line 2: the record lacks \['seed'"),
    ],
)
def test_reading_a_broken_file_names_the_file_and_line(tmp_path, line, message):
    path = tmp_path / "broken.jsonl"
    with TrajectoryWriter(path) as writer:
        writer.begin_episode(0, 0, "a")
        writer.record_step([0], 0.0, True, False, {})
        writer.end_episode()
    with path.open("a", encoding="utf-8") as file:
        file.write(line + "\n")
    with pytest.raises(ValueError, match=message) as caught:
        read_trajectories(path)
    assert str(path) in str(caught.value)


def test_reading_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.jsonl"):
        read_trajectories(tmp_path / "nowhere.jsonl")


def test_jsonable_has_no_form_for_objects():
    assert jsonable({"a": [1, object()]}) == {}
    assert jsonable(np.array([1 + 2j])) is OMIT
    assert jsonable(np.arange(4).reshape(2, 2)) == [[0, 1], [2, 3]]
