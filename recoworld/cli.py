"""The ``recoworld`` command: demo, evaluate, train and list environments."""

from __future__ import annotations

import json
import os
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

app = typer.Typer(
    name="recoworld",
    help="Simulated environments for agentic and conversational recommender systems.",
    no_args_is_help=True,
    add_completion=False,
)

DEMO_AGENTS = ("random", "popular", "greedy", "instruction-greedy", "oracle")

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


EnvArgs = Annotated[
    list[str] | None,
    typer.Option(
        "--env-arg",
        metavar="KEY=VALUE",
        help="An env setting (repeatable); VALUE is read as JSON when it parses (5, 0.1, true, "
        '"text"), else as a string. E.g. --env-arg slate_size=5.',
    ),
]
DatasetPath = Annotated[
    Path | None,
    typer.Option(help="ConvRec-v0 / RecoChat-v0: a data folder in the SCPR JSON format (LastFM*)."),
]
SplitFile = Annotated[
    str | None,
    typer.Option(help="With --dataset-path: the interaction file whose pairs are the episodes."),
]
Trajectories = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE.jsonl",
        help="Write every reset and step (action, reward, info) as JSON Lines, flushed after "
        "each episode.",
    ),
]
Episodes = Annotated[int, typer.Option(min=1, help="Episodes to play.")]
Seed = Annotated[int, typer.Option(min=0, help="Seed of the first episode.")]


@app.command()
def evaluate(
    agent: Annotated[
        str,
        typer.Option(help="A registered agent of --env (see `recoworld agents --env ENV`)."),
    ],
    env: Annotated[str, typer.Option(help="Gymnasium environment id.")] = "RecoWorld-v0",
    episodes: Episodes = 100,
    seed: Seed = 0,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Write metrics, intervals, config and usage as JSON."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write a bar chart of the main metrics (PNG).")
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="The agent's saved model: a `recoworld train` output (--agent ppo / "
            "maskable-ppo) or an SCPR checkpoint folder (--env ConvRec-v0 --agent scpr)."
        ),
    ] = None,
    dataset_path: DatasetPath = None,
    split_file: SplitFile = None,
    env_arg: EnvArgs = None,
    trajectories: Trajectories = None,
) -> None:
    """Evaluate one agent on any registered env and print its metrics with 95% intervals.

    The metrics are the env's (RecoWorld-v0: engagement and retention; ConvRec-v0: SR@k, AT,
    hDCG; RecoChat-v0: success rate, turns, satisfaction). If an LLM cost cap is spent mid-run,
    the run stops: the report of the episodes completed is printed and written (--json, --plot,
    --trajectories), and the command exits with code 3.
    """
    from recoworld.evaluation import evaluate as run_evaluation

    env_kwargs = _env_kwargs(env, env_arg, dataset_path, split_file)
    options = _agent_options(env, [agent], checkpoint)
    _check_outputs(json_path=json_path, plot=plot)
    with _trajectory_writer(trajectories) as writer:
        try:
            report = run_evaluation(
                agent,
                env,
                episodes,
                seed,
                progress=True,
                trajectories=writer,
                agent_options=options.get(agent),
                **env_kwargs,
            )
        except (ValueError, TypeError, FileNotFoundError, ImportError) as error:
            _fail(str(error))
    _show_report(report, json_path, plot, trajectories)


@app.command()
def compare(
    agents: Annotated[
        str,
        typer.Option(help="Comma-separated registered agents of --env, e.g. random,greedy."),
    ],
    env: Annotated[str, typer.Option(help="Gymnasium environment id.")] = "RecoWorld-v0",
    episodes: Episodes = 100,
    seed: Seed = 0,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Write every agent's report as JSON ({agent: report})."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write bar charts of the main metrics (PNG).")
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="The saved model of the one agent in --agents that takes one."),
    ] = None,
    dataset_path: DatasetPath = None,
    split_file: SplitFile = None,
    env_arg: EnvArgs = None,
    trajectories: Trajectories = None,
) -> None:
    """Evaluate several agents on the same seeds (paired) and print one table.

    Exits with code 3 when an LLM cost cap stops the comparison (the agents played so far are
    shown and written).
    """
    from recoworld.evaluation import compare as run_comparison
    from recoworld.evaluation import comparison_table, plot_report

    names = [name.strip() for name in agents.split(",") if name.strip()]
    if not names:
        raise typer.BadParameter("name at least one agent", param_hint="'--agents'")
    env_kwargs = _env_kwargs(env, env_arg, dataset_path, split_file)
    options = _agent_options(env, names, checkpoint, "--agents")
    _check_outputs(json_path=json_path, plot=plot)
    with _trajectory_writer(trajectories) as writer:
        try:
            reports = run_comparison(
                names,
                env,
                episodes,
                seed,
                progress=True,
                trajectories=writer,
                agent_options=options,
                **env_kwargs,
            )
        except (ValueError, TypeError, FileNotFoundError, ImportError) as error:
            _fail(str(error))
    console = _console()
    console.print(comparison_table(reports))
    if json_path is not None:
        payload = {name: report.to_dict() for name, report in reports.items()}
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"reports": payload}, indent=2) + "\n", encoding="utf-8")
        console.print(f"Wrote {json_path}")
    if plot is not None:
        console.print(f"Wrote {plot_report(reports, plot)}")
    if trajectories is not None:
        console.print(f"Wrote {trajectories}")
    stopped = [report for report in reports.values() if report.stopped_early]
    if stopped:
        _stopped_early(stopped[-1])


@app.command("agents")
def list_agents(
    env: Annotated[
        str | None, typer.Option(help="Only this env id (default: every registered env).")
    ] = None,
) -> None:
    """List the registered agents per env, with their options and what they do."""
    from recoworld.agents import agent_entry, agent_names, registered_env_ids

    env_ids = registered_env_ids() if env is None else [env]
    if env is not None:
        _check_env_id(env)
    for env_id in env_ids:
        typer.echo(env_id)
        for name in agent_names(env_id):
            entry = agent_entry(env_id, name)
            options = f" [options: {', '.join(entry.options)}]" if entry.options else ""
            typer.echo(f"  {name:<24} {entry.description}{options}")


def _check_outputs(**paths: Path | None) -> None:
    """Refuse an output path that cannot be written before the run spends its time: its folder
    is created if missing, and must then be a writable folder."""
    for option, path in paths.items():
        if path is None:
            continue
        hint = f"'--{option.replace('_path', '').replace('_', '-')}'"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise typer.BadParameter(
                f"cannot write {str(path)!r}: {error.strerror or error}", param_hint=hint
            ) from None
        if path.is_dir() or not os.access(path.parent, os.W_OK):
            raise typer.BadParameter(f"cannot write {str(path)!r}", param_hint=hint)


def _env_kwargs(
    env: str, env_arg: list[str] | None, dataset_path: Path | None, split_file: str | None
) -> dict[str, Any]:
    """The env keyword arguments of --env-arg, --dataset-path and --split-file."""
    _check_env_id(env)
    kwargs: dict[str, Any] = {}
    for item in env_arg or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="'--env-arg'")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        kwargs[key.strip()] = value
    if dataset_path is not None:
        kwargs["dataset_path"] = str(dataset_path)
    if split_file is not None:
        if dataset_path is None:
            raise typer.BadParameter(
                "--split-file names a file inside --dataset-path", param_hint="'--split-file'"
            )
        kwargs["split_file"] = split_file
    return kwargs


def _agent_options(
    env: str, names: list[str], checkpoint: Path | None, option: str = "--agent"
) -> dict[str, dict[str, Any]]:
    """Per-agent options: ``--checkpoint`` goes to the one agent that takes it."""
    from recoworld.agents import agent_entry

    entries = {}
    for name in names:
        try:
            entries[name] = agent_entry(env, name)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint=f"'{option}'") from None
    options: dict[str, dict[str, Any]] = {}
    takers = [name for name, entry in entries.items() if "checkpoint" in entry.options]
    if checkpoint is not None:
        if not takers:
            raise typer.BadParameter(
                f"--checkpoint is used by an agent that loads a saved model; "
                f"{', '.join(names)} on {env} take none",
                param_hint="'--checkpoint'",
            )
        if len(takers) > 1:
            raise typer.BadParameter(
                f"--checkpoint is ambiguous: {', '.join(takers)} all take one",
                param_hint="'--checkpoint'",
            )
        if not checkpoint.exists():
            _fail(f"--checkpoint {checkpoint} does not exist")
        options[takers[0]] = {"checkpoint": checkpoint}
    for name, entry in entries.items():
        if "checkpoint" in entry.required and name not in options:
            raise typer.BadParameter(
                f"--agent {name} needs --checkpoint PATH, a model saved by `recoworld train`",
                param_hint="'--checkpoint'",
            )
    return options


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
        _stopped_early(report)


def _stopped_early(report: Any) -> NoReturn:
    """Say on stderr why the run stopped early and exit with :data:`EXIT_STOPPED_EARLY`."""
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


def _fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` as an error on stderr and exit with ``code`` (2: bad input)."""
    Console(stderr=True).print(f"[bold red]Error:[/] {message}", highlight=False)
    raise typer.Exit(code)
