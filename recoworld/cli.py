"""The ``recoworld`` command: demo, evaluate, train and list environments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import gymnasium as gym
import typer
from rich.console import Console
from rich.markup import escape

import recoworld
from recoworld.agents import AGENTS

app = typer.Typer(
    name="recoworld",
    help="Simulated environments for agentic and conversational recommender systems.",
    no_args_is_help=True,
    add_completion=False,
)

DEMO_AGENTS = ("random", "popular", "greedy", "instruction-greedy", "oracle")
SB3_AGENTS = ("ppo", "maskable-ppo")
"""Agent names that load a trained Stable-Baselines3 model from ``--checkpoint``."""

EXIT_STOPPED_EARLY = 3
"""Exit code of ``recoworld evaluate`` when an LLM cost cap stopped the run before its end."""

USER_MODEL_SUMMARY = (
    "Each episode is one simulated user from recoworld's latent-state model: a few interests in "
    "item-embedding space, a top-down review of the slate that clicks by utility (taste + "
    "quality - boredom + novelty appetite), patience that drains on turns without clicks, a "
    "reflective instruction ('more X, less Y') when the user is about to leave, and a return "
    "gap in days that shortens as the session satisfies. The oracle reads this hidden state; "
    "the other agents see only the observation."
)


class Algo(StrEnum):
    """Training algorithms of ``recoworld train``."""

    ppo = "ppo"
    maskable_ppo = "maskable-ppo"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"recoworld {recoworld.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Simulated environments for agentic and conversational recommender systems."""


@app.command()
def demo(
    episodes: Annotated[int, typer.Option(min=1, help="Episodes (users) per agent.")] = 30,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the first episode.")] = 0,
    llm: Annotated[
        bool,
        typer.Option(
            "--llm",
            help="Instead: one short session with the LLM user and the LLM ranker on the "
            "embedded model (or --model).",
        ),
    ] = False,
    model: Annotated[
        str, typer.Option(help="With --llm: 'local' (embedded) or a litellm model string.")
    ] = "local",
    turns: Annotated[int, typer.Option(min=1, help="With --llm: turns to play.")] = 6,
) -> None:
    """Compare the baseline agents on RecoWorld-v0 and print a table with 95% intervals.

    With --llm, play a short RecoWorld session with language on both sides instead: the items
    shown, the clicks, the user's mindset and instructions, and the model usage.
    """
    if llm:
        from recoworld.demo import run_llm_demo
        from recoworld.llm.local import LocalModelUnavailable

        try:
            run_llm_demo(_console(), llm=model, turns=turns, seed=seed)
        except LocalModelUnavailable as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(code=1) from error
        return
    from recoworld.evaluation import compare, comparison_table

    console = _console()
    console.print(
        f"Evaluating {', '.join(DEMO_AGENTS)} on RecoWorld-v0 "
        f"(100 candidates, slates of 10), {episodes} episodes each, seed {seed}."
    )
    reports = compare(
        list(DEMO_AGENTS),
        "RecoWorld-v0",
        episodes,
        seed,
        progress=True,
        num_candidates=100,
        slate_size=10,
    )
    console.print(comparison_table(reports))
    console.print(USER_MODEL_SUMMARY)


@app.command()
def evaluate(
    agent: Annotated[
        str,
        typer.Option(
            help=f"Agent: one of {', '.join(AGENTS)}, or {' / '.join(SB3_AGENTS)} with "
            "--checkpoint."
        ),
    ],
    env: Annotated[str, typer.Option(help="Gymnasium environment id.")] = "RecoWorld-v0",
    episodes: Annotated[int, typer.Option(min=1, help="Episodes to play.")] = 100,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the first episode.")] = 0,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write metrics, intervals and config as JSON.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write a bar chart of the main metrics (PNG).")
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="A model saved by `recoworld train` (--agent ppo/maskable-ppo), or an SCPR "
            "checkpoint folder (--env ConvRec-v0 --agent scpr)."
        ),
    ] = None,
    dataset_path: Annotated[
        Path | None,
        typer.Option(help="ConvRec-v0: folder of data in the SCPR JSON format (e.g. LastFM*)."),
    ] = None,
    split_file: Annotated[
        str | None,
        typer.Option(help="ConvRec-v0: interaction file whose (user, item) pairs are episodes."),
    ] = None,
    trajectories: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE.jsonl",
            help="Write every reset and step (action, reward, info) as JSON Lines, flushed "
            "after each episode.",
        ),
    ] = None,
) -> None:
    """Evaluate one agent and print its metrics with 95% confidence intervals.

    If an LLM cost cap is spent mid-run, the run stops: the report of the episodes completed is
    printed and written (--json, --plot, --trajectories), and the command exits with code 3.
    """
    from recoworld.evaluation import evaluate as run_evaluation

    _check_env_id(env)
    if env == "ConvRec-v0":
        _evaluate_convrec(
            agent,
            episodes,
            seed,
            json_path,
            plot,
            dataset_path,
            split_file,
            checkpoint,
            trajectories,
        )
        return
    if dataset_path is not None or split_file is not None:
        raise typer.BadParameter(
            f"--dataset-path and --split-file are options of ConvRec-v0, not {env}",
            param_hint="'--dataset-path'",
        )
    env_kwargs: dict[str, Any] = {}
    agent_spec: Any = agent
    if agent in SB3_AGENTS:
        if checkpoint is None:
            raise typer.BadParameter(
                f"--agent {agent} needs --checkpoint PATH, a model saved by `recoworld train`",
                param_hint="'--checkpoint'",
            )
        agent_spec, env_kwargs = _sb3_agent(agent, checkpoint)
    elif agent not in AGENTS:
        raise typer.BadParameter(
            f"unknown agent {agent!r}; choose one of {', '.join([*AGENTS, *SB3_AGENTS])}",
            param_hint="'--agent'",
        )
    elif checkpoint is not None:
        raise typer.BadParameter(
            f"--checkpoint is only used with --agent {' or '.join(SB3_AGENTS)}, not {agent!r}",
            param_hint="'--checkpoint'",
        )

    with _trajectory_writer(trajectories) as writer:
        try:
            report = run_evaluation(
                agent_spec, env, episodes, seed, progress=True, trajectories=writer, **env_kwargs
            )
        except ValueError as error:
            _fail(str(error))
    _show_report(report, json_path, plot, trajectories)


def _evaluate_convrec(
    agent: str,
    episodes: int,
    seed: int,
    json_path: Path | None,
    plot: Path | None,
    dataset_path: Path | None,
    split_file: str | None,
    checkpoint: Path | None,
    trajectories: Path | None,
) -> None:
    """``recoworld evaluate --env ConvRec-v0``: SR@k, AT and hDCG with 95% intervals.

    ``--agent scpr`` loads ``--checkpoint`` (a folder written by ``save_scpr``, e.g. by
    ``benchmarks/convrec_lastfm_star.py``) or, without one, trains the FM scorer and the DQN on
    the dataset first (with progress bars).
    """
    from recoworld.agents import CONVREC_AGENTS
    from recoworld.evaluation import evaluate_convrec

    if agent not in CONVREC_AGENTS:
        raise typer.BadParameter(
            f"unknown ConvRec-v0 agent {agent!r}; choose one of {', '.join(CONVREC_AGENTS)}",
            param_hint="'--agent'",
        )
    env_kwargs: dict[str, Any] = {}
    if dataset_path is not None:
        env_kwargs["dataset_path"] = str(dataset_path)
    if split_file is not None:
        if dataset_path is None:
            raise typer.BadParameter(
                "--split-file names a file inside --dataset-path", param_hint="'--split-file'"
            )
        env_kwargs["split_file"] = split_file
    agent_spec: Any = agent
    if checkpoint is not None:
        if agent != "scpr":
            raise typer.BadParameter(
                f"--checkpoint is used with --agent scpr on ConvRec-v0, not {agent!r}",
                param_hint="'--checkpoint'",
            )
        if not checkpoint.exists():
            _fail(f"--checkpoint {checkpoint} does not exist")
        from recoworld.agents.scpr import make_scpr_agent

        def agent_spec(env: Any) -> Any:
            return make_scpr_agent(env, checkpoint=checkpoint, seed=seed)

    with _trajectory_writer(trajectories) as writer:
        try:
            report = evaluate_convrec(agent_spec, episodes, seed, trajectories=writer, **env_kwargs)
        except (ValueError, FileNotFoundError) as error:
            _fail(str(error))
    _show_report(report, json_path, plot, trajectories)


@app.command()
def train(
    env: Annotated[str, typer.Option(help="Gymnasium environment id.")] = "RecoWorld-v0",
    total_timesteps: Annotated[
        int, typer.Option(min=1, help="Environment steps, summed over the parallel envs.")
    ] = 300_000,
    seed: Annotated[int, typer.Option(min=0, help="Training seed.")] = 0,
    output: Annotated[
        Path, typer.Option(help="Folder that receives model.zip and model.json.")
    ] = Path("runs/ppo"),
    algo: Annotated[Algo, typer.Option(help="Training algorithm.")] = Algo.ppo,
    n_envs: Annotated[int, typer.Option(min=1, help="Parallel training envs.")] = 8,
) -> None:
    """Train a PPO agent with Stable-Baselines3 and print the saved model's path."""
    _check_env_id(env)
    try:
        from recoworld.training import TrainConfig, train_ppo
    except ImportError as error:
        _fail(f"training is not available: {error}", code=1)
    try:
        config = TrainConfig(
            env_id=env,
            total_timesteps=total_timesteps,
            seed=seed,
            output_dir=str(output),
            algo=algo.value,
            n_envs=n_envs,
        )
    except ValueError as error:
        _fail(str(error))
    model_path = train_ppo(config)
    typer.echo(str(model_path))


llm_app = typer.Typer(help="Language models: serve the embedded model over HTTP.")
app.add_typer(llm_app, name="llm")


@llm_app.command("serve")
def llm_serve(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = (
        "127.0.0.1"
    ),
    alias: Annotated[str, typer.Option(help="Model name clients ask for.")] = "smollm2",
    model: Annotated[
        Path | None, typer.Option(help="A GGUF file; default the embedded SmolLM2-135M.")
    ] = None,
) -> None:
    """Serve the embedded model with llama-cpp-python's OpenAI-compatible server.

    Reach it from recoworld with llm="openai/ALIAS" and api_base="http://HOST:PORT/v1", or from
    any OpenAI client. Stops with Ctrl-C.
    """
    import subprocess

    from recoworld.llm.local import LocalModelUnavailable
    from recoworld.llm.server import server_command

    try:
        command = server_command(host=host, port=port, alias=alias, model_path=model)
    except (LocalModelUnavailable, FileNotFoundError, ValueError) as error:
        _fail(str(error), code=1)
    typer.echo(
        f"Serving {alias} on http://{host}:{port}/v1 (litellm: model='openai/{alias}', "
        f"api_base='http://{host}:{port}/v1'); Ctrl-C stops it."
    )
    try:
        raise typer.Exit(subprocess.call(command))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@app.command()
def envs() -> None:
    """List the environment ids recoworld registers."""
    for env_id in recoworld.ENV_IDS:
        typer.echo(env_id)


@contextmanager
def _trajectory_writer(path: Path | None) -> Iterator[Any]:
    """The ``--trajectories`` writer (``None`` without the option), closed on the way out.

    It is opened before the run, so a path that cannot be written is reported as bad input
    instead of failing the run later.
    """
    if path is None:
        yield None
        return
    from recoworld.evaluation import TrajectoryWriter

    try:
        writer = TrajectoryWriter(path)
    except OSError as error:
        raise typer.BadParameter(
            f"cannot write {str(path)!r}: {error.strerror or error}",
            param_hint="'--trajectories'",
        ) from None
    with writer:
        yield writer


def _show_report(
    report: Any, json_path: Path | None, plot: Path | None, trajectories: Path | None = None
) -> None:
    """Print an evaluation report's table; write its JSON and plot where asked.

    A run that a cost cap stopped early is shown and written all the same (its report covers the
    episodes completed); then the reason goes to stderr and the command exits with
    :data:`EXIT_STOPPED_EARLY`.
    """
    from recoworld.evaluation import plot_report

    console = _console()
    console.print(report.table())
    if json_path is not None:
        console.print(f"Wrote {report.to_json(json_path)}")
    if plot is not None:
        console.print(f"Wrote {plot_report(report, plot)}")
    if trajectories is not None:
        console.print(f"Wrote {trajectories}")
    if report.stopped_early:
        Console(stderr=True).print(
            f"[bold red]Stopped early[/] after {report.episodes_completed} of "
            f"{report.episodes_requested} episodes (episode {report.incomplete_episode} was cut "
            f"short and left out of the metrics): {escape(str(report.stop_reason))}",
            highlight=False,
        )
        raise typer.Exit(EXIT_STOPPED_EARLY)


def _console() -> Console:
    """Console for results: the terminal's width, or 120 columns when output is not a terminal.

    Piped output has no width to respect, and rich's fallback of 80 columns would wrap the
    comparison table's cells.
    """
    console = Console()
    return console if console.is_terminal else Console(width=120)


def _check_env_id(env_id: str) -> None:
    if env_id not in gym.registry:
        raise typer.BadParameter(
            f"unknown env id {env_id!r}; recoworld registers {', '.join(recoworld.ENV_IDS)}",
            param_hint="'--env'",
        )


def _sb3_agent(agent: str, checkpoint: Path) -> tuple[Any, dict[str, Any]]:
    """A factory ``env -> Agent`` for a saved SB3 model, and the env kwargs it was trained with.

    ``recoworld train`` writes the resolved training config next to the model
    (``model.json``); its ``env_kwargs`` (notably ``action_type``) are what the policy's action
    space needs, so the evaluation env is made with them.
    """
    try:
        from recoworld.training import load_sb3_agent
    except ImportError as error:
        _fail(f"loading a checkpoint needs recoworld.training, which failed to import: {error}", 1)
    candidates = [checkpoint, checkpoint.with_suffix(".zip"), checkpoint / "model.zip"]
    model_path = next((path for path in candidates if path.is_file()), None)
    if model_path is None:
        raise typer.BadParameter(
            f"no saved model at {str(checkpoint)!r}", param_hint="'--checkpoint'"
        )
    env_kwargs: dict[str, Any] = {}
    record_path = model_path.with_suffix(".json")
    if record_path.is_file():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        trained_algo = record.get("algo")
        if trained_algo is not None and trained_algo != agent:
            raise typer.BadParameter(
                f"{str(model_path)!r} was trained with {trained_algo!r}, not {agent!r}",
                param_hint="'--agent'",
            )
        env_kwargs = dict(record.get("env_kwargs") or {})
    return (lambda env: load_sb3_agent(model_path, env)), env_kwargs


def _fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` as an error on stderr and exit with ``code`` (2: bad input)."""
    Console(stderr=True).print(f"[bold red]Error:[/] {message}", highlight=False)
    raise typer.Exit(code)
