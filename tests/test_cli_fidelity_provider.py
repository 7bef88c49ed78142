"""``recoworld fidelity --simulator llm`` through litellm to an OpenAI-compatible server on
loopback (``tests/fake_provider.py``): every request is counted, failures fall back to chance."""

from __future__ import annotations

import json
from pathlib import Path

from fake_provider import FAKE_API_KEY, Reply
from test_cli_fidelity import write_movielens
from typer.testing import CliRunner

from recoworld.cli import app

runner = CliRunner()


def test_a_litellm_model_answers_scenes_and_every_request_is_counted(
    tmp_path: Path, fake_provider
) -> None:
    folder = write_movielens(tmp_path / "ml")
    out = tmp_path / "llm.json"
    valid = json.dumps({"rationale": "likes dramas", "choice": "C"})
    fake_provider.default = Reply.answer(valid, prompt_tokens=50, completion_tokens=9)
    fake_provider.script = [
        Reply.answer(valid, prompt_tokens=50, completion_tokens=9),  # scene 0
        Reply.garbage(),  # scene 1: a body that is not JSON: the scene falls back to chance
        Reply.answer("I would pick C", prompt_tokens=50, completion_tokens=5),  # scene 2: re-ask
    ]
    result = runner.invoke(
        app,
        [
            "fidelity", "--simulator", "llm", "--llm", "openai/fake", "--api-base",
            fake_provider.url, "--dataset-path", str(folder), "--scenes", "4",
            "--n-choices", "4", "--negatives", "uniform", "--json", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())["metrics"]
    sent = len(fake_provider.requests)
    assert sent == 5  # scenes 0, 1, 2 (+ its re-ask), 3
    assert metrics["llm_calls"] == sent
    assert metrics["llm_failed_calls"] == 2  # the garbage body and the malformed answer
    assert metrics["failed_scenes"] == 1
    assert metrics["prompt_tokens"] == 4 * 50  # the garbage reply reports no usage
    assert metrics["scenes"] == 4
    # the request is the scene prompt with the letters the schema allows
    prompt = fake_provider.requests[0]["messages"][-1]["content"]
    assert "[A]" in prompt and "[D]" in prompt
    assert FAKE_API_KEY not in result.output
    assert "LLM requests sent" in result.output
