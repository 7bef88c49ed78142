"""The command line as a newcomer meets it (issue 9): inputs and outputs checked before a run,
no file lost, one line per error, training that says what it does, output that reads well."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from typer.testing import CliRunner

from recoworld.cli import EXIT_STOPPED_EARLY, PIPED_WIDTH, app
from recoworld.evaluation import read_trajectories

runner = CliRunner()


WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}
"""A terminal wide enough that help texts are neither cut short nor wrapped mid-phrase."""


def help_text(command: str) -> str:
    """``recoworld COMMAND --help`` on a wide terminal, whitespace collapsed."""
    return " ".join(runner.invoke(app, [command, "--help"], env=WIDE).output.split())


def error_lines(output: str) -> list[str]:
    """The non-empty lines of a command's output (stdout and stderr together)."""
    return [line for line in output.splitlines() if line.strip()]


@pytest.fixture
def no_episode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any episode starts: bad input must be refused before the run."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        pytest.fail("an episode started although the command's input was bad")

    monkeypatch.setattr("recoworld.evaluation.runner._run_episodes", refuse)


# ------------------------------------------------------------------ item 4: no file is lost


def test_an_existing_trajectories_file_survives_a_bad_second_command(tmp_path: Path) -> None:
    keep = tmp_path / "keep.jsonl"
    first = runner.invoke(
        app, ["evaluate", "--agent", "greedy", "--episodes", "2", "--trajectories", str(keep)]
    )
    assert first.exit_code == 0, first.output
    kept = keep.read_bytes()
    assert kept.count(b"\n") > 2
    # The second command has a bad dataset path: refused, and keep.jsonl untouched, with or
    # without --overwrite.
    for extra in ([], ["--overwrite"]):
        result = runner.invoke(
            app,
            ["evaluate", "--env", "ConvRec-v0", "--agent", "random", "--dataset-path",
             str(tmp_path / "nowhere"), "--trajectories", str(keep), *extra],
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        assert keep.read_bytes() == kept
    # A bad env setting is found when the env is made: the file is still untouched.
    result = runner.invoke(
        app,
        ["evaluate", "--env", "ConvRec-v0", "--agent", "random", "--env-arg", "n_items=-5",
         "--trajectories", str(keep), "--overwrite"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "n_items" in result.output
    assert keep.read_bytes() == kept


@pytest.mark.parametrize("option", ["--json", "--plot", "--trajectories"])
def test_an_existing_output_file_is_refused_without_overwrite(
    tmp_path: Path, option: str, no_episode: None
) -> None:
    existing = tmp_path / "earlier.out"
    existing.write_text("earlier results\n")
    result = runner.invoke(
        app, ["evaluate", "--agent", "greedy", "--episodes", "1", option, str(existing)]
    )
    assert result.exit_code == 2
    assert error_lines(result.output) == [
        f"Error: {option} {existing} exists; pass --overwrite to replace it, or name a new file"
    ]
    assert existing.read_text() == "earlier results\n"


def test_overwrite_replaces_existing_outputs(tmp_path: Path) -> None:
    paths = {name: tmp_path / f"out.{name}" for name in ("json", "png", "jsonl")}
    for path in paths.values():
        path.write_text("old")
    result = runner.invoke(
        app,
        ["evaluate", "--agent", "greedy", "--episodes", "2", "--json", str(paths["json"]),
         "--plot", str(paths["png"]), "--trajectories", str(paths["jsonl"]), "--overwrite"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(paths["json"].read_text())["config"]["agent"] == "greedy"
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    assert {r["episode"] for r in read_trajectories(paths["jsonl"])} == {0, 1}


def test_help_says_existing_files_are_refused() -> None:
    for command in ("evaluate", "compare", "demo", "train"):
        assert "--overwrite" in help_text(command), command
    assert "refused" in help_text("evaluate")


def test_train_refuses_an_output_folder_that_holds_a_model(tmp_path: Path) -> None:
    (tmp_path / "model.zip").write_bytes(b"a model trained for hours")
    result = runner.invoke(app, ["train", "--output", str(tmp_path), "--total-timesteps", "8"])
    assert result.exit_code == 2
    assert "already holds model.zip" in result.output and "--overwrite" in result.output
    assert (tmp_path / "model.zip").read_bytes() == b"a model trained for hours"


# ----------------------------------------------- item 8: inputs and outputs checked up front


def garbage_zip(folder: Path) -> Path:
    path = folder / "model.zip"
    path.write_bytes(np.random.default_rng(0).bytes(2048))
    return path


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--agent", "greedy", "--json", "/etc/hostname/out.json"], "--json"),
        (["--agent", "greedy", "--plot", "/proc/x.png"], "--plot"),
        (["--agent", "greedy", "--json", "/proc/missing-folder/out.json"], "--json"),
        (["--agent", "greedy", "--trajectories", "/proc/x.jsonl"], "--trajectories"),
        (["--agent", "ppo", "--checkpoint", "{garbage}"], "--checkpoint"),
        (["--agent", "ppo", "--checkpoint", "{empty}"], "--checkpoint"),
        (["--env", "ConvRec-v0", "--agent", "scpr", "--checkpoint", "{empty}"], "--checkpoint"),
        (["--env", "ConvRec-v0", "--agent", "scpr", "--checkpoint", "{garbage}"], "--checkpoint"),
        (["--env", "CartPole-v1", "--agent", "greedy"], "RecoWorld-v0, ConvRec-v0, RecoChat-v0"),
        (["--env", "Nowhere-v0", "--agent", "greedy"], "RecoWorld-v0, ConvRec-v0, RecoChat-v0"),
        (["--agent", "greedy", "--dataset-path", "{missing}"], "--dataset-path"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_any_episode(
    tmp_path: Path, arguments: list[str], named: str, no_episode: None
) -> None:
    (tmp_path / "empty").mkdir()
    paths = {
        "garbage": str(garbage_zip(tmp_path)),
        "empty": str(tmp_path / "empty"),
        "missing": str(tmp_path / "missing"),
    }
    arguments = [argument.format(**paths) for argument in arguments]
    result = runner.invoke(app, ["evaluate", "--episodes", "2", *arguments])
    assert result.exit_code == 2, result.output
    lines = error_lines(result.output)
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ") and named in lines[0]
    assert "Traceback" not in result.output


def test_compare_and_demo_check_outputs_before_playing(no_episode: None) -> None:
    for command in (
        ["compare", "--agents", "random,greedy", "--json", "/etc/hostname/x.json"],
        ["demo", "--episodes", "1", "--plot", "/proc/x.png"],
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert len(error_lines(result.output)) == 1


def test_a_long_error_stays_on_one_line_when_piped() -> None:
    result = runner.invoke(app, ["evaluate", "--env", "CartPole-v1", "--agent", "greedy"])
    (line,) = error_lines(result.output)
    assert len(line) > 80  # longer than rich's default width for a pipe, and not wrapped


# --------------------------------------------- item 13: the simulated user's model from the CLI


class FakeOpenAI(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint on loopback: every answer costs 1,000 + 1,000
    tokens, and a structured request gets a small JSON object."""

    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        content = json.dumps({"mindset": "curious"}) if body.get("response_format") else "Fine."
        answer = {
            "id": "fake",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000},
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The ``--api-base`` of a fake OpenAI server (and a placeholder key in the environment)."""
    FakeOpenAI.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-placeholder")
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_cost_cap_from_the_command_line_stops_with_exit_code_3(
    tmp_path: Path, fake_openai: str
) -> None:
    out = tmp_path / "capped.json"
    result = runner.invoke(
        app,
        ["evaluate", "--agent", "greedy", "--episodes", "3", "--env-arg", "max_episode_steps=3",
         "--llm", "openai/gpt-4o-mini", "--api-base", fake_openai, "--cost-cap-usd", "0.001",
         "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == EXIT_STOPPED_EARLY == 3, result.output
    assert "LLM cost cap of $0.0010 exceeded" in " ".join(result.output.split())
    assert FakeOpenAI.requests, "the simulated user never called the model"
    payload = json.loads(out.read_text())
    assert payload["run"]["stopped_early"] is True
    assert payload["usage"]["calls"] == len(FakeOpenAI.requests)
    settings = payload["config"]["env_kwargs"]
    assert settings["user_model"] == "llm"
    assert settings["llm"]["model"] == "openai/gpt-4o-mini"
    assert settings["llm"]["api_base"] == fake_openai
    assert settings["llm"]["cost_cap_usd"] == 0.001


def test_llm_options_merge_with_env_arg_and_refuse_contradictions(no_episode: None) -> None:
    result = runner.invoke(
        app,
        ["evaluate", "--agent", "greedy", "--llm", "openai/a", "--env-arg",
         'llm={"model": "openai/b"}'],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--llm openai/a contradicts --env-arg llm" in result.output
    convrec = runner.invoke(app, ["evaluate", "--env", "ConvRec-v0", "--agent", "random",
                                  "--cost-cap-usd", "1"])  # fmt: skip
    assert convrec.exit_code == 2
    assert "--cost-cap-usd: ConvRec-v0's simulated user uses no language model" in convrec.output


def test_evaluate_help_lists_the_llm_options() -> None:
    text = help_text("evaluate")
    for option in (
        "--llm",
        "--llm-cache",
        "--cost-cap-usd",
        "--api-base",
        "--token-cap",
        "--input-cost-per-token",
        "--output-cost-per-token",
    ):
        assert option in text


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--cost-cap-usd", "1"], "--token-cap N, or --input-cost-per-token"),
        (["--input-cost-per-token", "1e-6"], "--output-cost-per-token go together"),
        (["--llm-cache", "{folder}"], "response cache file"),
        (["--llm-cache", "{garbage}"], "response cache file"),
    ],
)
@pytest.mark.parametrize("command", ["evaluate", "compare"])
def test_unusable_llm_settings_are_one_line_and_exit_2_before_any_episode(
    tmp_path: Path, command: str, arguments: list[str], says: str, no_episode: None
) -> None:
    """An unenforceable cost cap (a model litellm cannot price, no token cap or prices), lone
    prices, or a cache path that is a folder or not a cache: refused before the run starts."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "garbage.db").write_bytes(b"not a sqlite database" * 100)
    paths = {"folder": str(tmp_path / "folder"), "garbage": str(tmp_path / "garbage.db")}
    agent = ["--agent", "greedy"] if command == "evaluate" else ["--agents", "random,greedy"]
    result = runner.invoke(
        app,
        [command, *agent, "--episodes", "2", "--llm", "openai/fake",
         *(argument.format(**paths) for argument in arguments)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    (line,) = error_lines(result.output)
    assert line.startswith("Error: ") and says in line
    assert "Traceback" not in result.output


def test_token_cap_and_prices_from_the_command_line_stop_with_exit_code_3(
    tmp_path: Path, fake_openai: str
) -> None:
    """--token-cap makes a cost cap on an unpriced model acceptable and stops the run by tokens;
    --input/--output-cost-per-token price it so the cost cap itself stops the run."""
    common = ["evaluate", "--agent", "greedy", "--episodes", "3", "--env-arg",
              "max_episode_steps=3", "--llm", "openai/fake", "--api-base", fake_openai]  # fmt: skip
    out = tmp_path / "tokens.json"
    result = runner.invoke(
        app, [*common, "--cost-cap-usd", "1", "--token-cap", "3000", "--json", str(out)]
    )
    assert result.exit_code == EXIT_STOPPED_EARLY, result.output
    assert "LLM token cap of 3000 tokens exceeded" in " ".join(result.output.split())
    payload = json.loads(out.read_text())
    assert payload["run"]["stopped_early"] is True
    assert payload["config"]["env_kwargs"]["llm"]["token_cap"] == 3000
    assert payload["usage"]["calls"] == 2  # 2,000 tokens a call: the second crosses 3,000

    FakeOpenAI.requests = []
    out = tmp_path / "priced.json"
    result = runner.invoke(
        app,
        [*common, "--cost-cap-usd", "0.003", "--input-cost-per-token", "1e-6",
         "--output-cost-per-token", "1e-6", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == EXIT_STOPPED_EARLY, result.output
    assert "LLM cost cap of $0.0030 exceeded" in " ".join(result.output.split())
    payload = json.loads(out.read_text())
    settings = payload["config"]["env_kwargs"]["llm"]
    assert (settings["input_cost_per_token"], settings["output_cost_per_token"]) == (1e-6, 1e-6)
    assert payload["usage"]["calls"] == len(FakeOpenAI.requests) == 2  # $0.002 a call


# --------------------------------------- items 15 and 16: training says what it does, or refuses


@pytest.fixture
def quick_scpr(monkeypatch: pytest.MonkeyPatch) -> None:
    """SCPR's FM trained for one epoch at a small size, so a CLI training run takes seconds."""
    from recoworld.agents import scpr
    from recoworld.agents.scpr import agent as scpr_agent
    from recoworld.agents.scpr.fm import FMConfig

    original = scpr_agent.train_scpr

    def train_scpr(env_kwargs: Any, seed: int = 0, **kwargs: Any) -> Any:
        kwargs["fm_config"] = FMConfig(embedding_dim=8, epochs=1)
        return original(env_kwargs, seed, **kwargs)

    monkeypatch.setattr(scpr_agent, "train_scpr", train_scpr)
    monkeypatch.setattr(scpr, "train_scpr", train_scpr)


def test_train_convrec_trains_scpr_and_evaluate_loads_it(tmp_path: Path, quick_scpr: None) -> None:
    folder = tmp_path / "scpr"
    result = runner.invoke(
        app,
        ["train", "--env", "ConvRec-v0", "--total-timesteps", "60", "--output", str(folder)],
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "Training SCPR on ConvRec-v0" in result.output and "60 DQN steps" in result.output
    assert (folder / "scpr.json").is_file()
    evaluated = runner.invoke(
        app,
        ["evaluate", "--env", "ConvRec-v0", "--agent", "scpr", "--checkpoint", str(folder),
         "--episodes", "2"],
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    assert "no --checkpoint" not in evaluated.output


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ("RecoChat-v0", "--env RecoChat-v0: nothing to train there"),
        ("CartPole-v1", "CartPole-v1 is not a recoworld env"),
    ],
)
def test_train_refuses_what_it_cannot_train_in_one_line(env: str, says: str) -> None:
    result = runner.invoke(app, ["train", "--env", env, "--total-timesteps", "8"])
    assert result.exit_code == 2
    (line,) = error_lines(result.output)
    assert says in line


def test_train_convrec_refuses_ppo_settings() -> None:
    result = runner.invoke(app, ["train", "--env", "ConvRec-v0", "--algo", "maskable-ppo"])
    assert result.exit_code == 2
    assert "--algo is a PPO setting" in result.output


def test_ppo_training_shows_a_labelled_progress_bar(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["train", "--total-timesteps", "64", "--n-envs", "1", "--output", str(tmp_path / "ppo"),
         "--env-arg", "num_candidates=20", "--env-arg", "slate_size=5"],
    )  # fmt: skip
    if result.exit_code != 0 and "batch_size" in result.output:
        pytest.fail(result.output)
    assert result.exit_code == 0, result.output
    assert "Training PPO (ranker policy) on RecoWorld-v0 for 64 steps" in result.output
    assert "PPO on RecoWorld-v0" in result.output  # the bar's label
    assert "<lambda>" not in result.output
    assert (tmp_path / "ppo" / "model.zip").is_file()


def test_evaluate_scpr_without_checkpoint_says_it_trains_first(
    tmp_path: Path, quick_scpr: None
) -> None:
    saved = tmp_path / "saved"
    result = runner.invoke(
        app,
        ["evaluate", "--env", "ConvRec-v0", "--agent", "scpr", "--episodes", "2",
         "--train-steps", "40", "--save", str(saved)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert f"no --checkpoint: training SCPR for 40 steps first, saving it to {saved}" in output
    assert (saved / "scpr.json").is_file()
    text = help_text("evaluate")
    assert "--train-steps" in text and "--save" in text
    assert "trains a model first" in text


def test_train_steps_and_save_are_refused_where_they_do_not_apply(
    tmp_path: Path, no_episode: None
) -> None:
    result = runner.invoke(app, ["evaluate", "--agent", "greedy", "--train-steps", "10"])
    assert result.exit_code == 2
    assert "--train-steps is for an agent that takes it" in result.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "scpr.json").write_text("{}")
    result = runner.invoke(
        app,
        ["evaluate", "--env", "ConvRec-v0", "--agent", "scpr", "--save", str(tmp_path / "full")],
    )
    assert result.exit_code == 2
    assert "is a folder that is not empty" in result.output


# ----------------------------------------------------------------------- item 19: the output


def test_a_run_without_a_model_shows_no_llm_usage_rows() -> None:
    result = runner.invoke(app, ["evaluate", "--agent", "greedy", "--episodes", "5"])
    assert result.exit_code == 0, result.output
    assert "Return" in result.output
    assert "LLM" not in result.output


def test_two_episodes_give_no_interval_but_say_why() -> None:
    result = runner.invoke(app, ["evaluate", "--agent", "greedy", "--episodes", "2"])
    assert result.exit_code == 0, result.output
    assert "n too small (n=2)" in result.output
    assert not re.search(r"\[-\d", result.output)  # no interval reaching below zero


def test_demo_and_compare_write_json_and_plot(tmp_path: Path) -> None:
    for command in (
        ["demo", "--episodes", "1"],
        ["compare", "--agents", "random,greedy", "--episodes", "1"],
    ):
        out_json, out_png = tmp_path / f"{command[0]}.json", tmp_path / f"{command[0]}.png"
        result = runner.invoke(app, [*command, "--json", str(out_json), "--plot", str(out_png)])
        assert result.exit_code == 0, result.output
        reports = json.loads(out_json.read_text())["reports"]
        assert "greedy" in reports and reports["greedy"]["run"]["episodes_completed"] == 1
        assert out_png.read_bytes()[:4] == b"\x89PNG"


def test_piped_demo_table_is_not_wrapped() -> None:
    result = runner.invoke(app, ["demo", "--episodes", "5"])
    assert result.exit_code == 0, result.output
    table_lines = [line for line in result.output.splitlines() if line.startswith("│")]
    assert table_lines and all(len(line) <= PIPED_WIDTH for line in table_lines)
    (return_row,) = [line for line in table_lines if re.match(r"│ Return +│", line)]
    assert return_row.count("±") == 5  # one cell per agent, none wrapped onto a second line


# --------------------------------------------------------------- item 20: the README's promises


def test_readme_portable_build_flags_are_the_ci_flags() -> None:
    root = Path(__file__).resolve().parents[1]
    ci = (root / ".ci" / "run").read_text()
    readme = (root / "README.md").read_text()
    (ci_flags,) = re.findall(r'CMAKE_ARGS="\$\{CMAKE_ARGS:-([^}"]+)\}"', ci)
    readme_flags = re.findall(r'CMAKE_ARGS="([^"]+)"', readme)
    assert readme_flags, "the README shows no CMAKE_ARGS"
    assert all(flags == ci_flags for flags in readme_flags), (readme_flags, ci_flags)


def test_readme_shows_the_python_that_llm_serve_prints() -> None:
    """Every line of ``recoworld llm serve``'s snippet but its demo ``print`` is in the README
    (the placeholder key included: litellm's ``openai/`` provider needs one)."""
    from recoworld.llm.server import client_snippet

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    serve = readme[readme.index("`recoworld llm serve --port 8765`") :]
    for line in client_snippet(port=8765).splitlines():
        if not line.startswith("print("):
            assert line in serve, line


def test_readme_says_where_lastfm_star_comes_from() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    data = readme[readme.index("### Data") :]
    assert "LastFM*" in data and "HetRec 2011" in data


def test_lastfm_benchmark_without_data_is_one_clear_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    missing = tmp_path / "no_lastfm_here"
    result = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "convrec_lastfm_star.py"), "--data",
         str(missing)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert str(missing) in line and "Traceback" not in result.stderr


# ------------------------------------------------------- item 18: the LLM demo shows its feature


def test_default_llm_demo_shows_an_instruction_and_the_agent_reading_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At its default seed and turns, `recoworld demo --llm` shows what it is for. The latent
    user decides the clicks, so a scripted model plays the same session as the embedded one."""
    from recoworld import demo
    from recoworld.cli import DEMO_LLM_SEED, DEMO_LLM_TURNS
    from recoworld.llm import ScriptedChatModel

    answer = '{"reasoning": "the user wants metal", "more_of": ["metal"], "less_of": []}'
    monkeypatch.setattr(demo, "check_local_model", lambda: None)
    monkeypatch.setattr(demo, "make_chat_model", lambda llm: ScriptedChatModel(lambda m: answer))
    result = runner.invoke(app, ["demo", "--llm"])
    assert result.exit_code == 0, result.output
    assert f"seed {DEMO_LLM_SEED}" in result.output
    assert "User says:" in result.output
    assert "Agent reads the instruction: the user wants metal" in result.output
    assert f"Totals over {DEMO_LLM_TURNS} turns" in result.output
    assert (DEMO_LLM_SEED, DEMO_LLM_TURNS) == (demo.DEMO_SEED, demo.DEMO_TURNS)


def test_a_mindset_cut_by_the_token_budget_is_shown_to_its_last_sentence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The LLM user keeps mindsets in whole sentences (recoworld.simulators.answers), so the
    demo shows a mindset the token budget cut only up to its last whole sentence."""
    from recoworld import demo
    from recoworld.llm import ScriptedChatModel

    ranking = '{"reasoning": "the user wants metal", "more_of": ["metal"], "less_of": []}'

    def answer(messages: list[dict[str, str]]) -> str:
        if "write your new mindset" in messages[-1]["content"]:
            return "I want calm jazz. This list is of the most iconic"
        return ranking

    monkeypatch.setattr(demo, "check_local_model", lambda: None)
    monkeypatch.setattr(demo, "make_chat_model", lambda llm: ScriptedChatModel(answer))
    result = runner.invoke(app, ["demo", "--llm", "--turns", "2"])
    assert result.exit_code == 0, result.output
    assert "User's mindset: I want calm jazz." in result.output
    assert "most iconic" not in result.output
