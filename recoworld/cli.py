"""The ``recoworld`` command: demo, evaluate, train and list environments."""

from __future__ import annotations

import importlib.util
import json
import os
import zipfile
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

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
    rich_markup_mode="markdown",  # help paragraphs reflow to the terminal's width
)

DEMO_AGENTS = ("random", "popular", "greedy", "instruction-greedy", "oracle")

DEMO_LLM_SEED = 28
"""Default seed of ``recoworld demo --llm`` (``recoworld.demo.DEMO_SEED``): its user gives an
instruction at turn 2, so the session shows the agent reading it at turn 3."""
DEMO_LLM_TURNS = 3
"""Default turns of ``recoworld demo --llm`` (``recoworld.demo.DEMO_TURNS``)."""

_T = TypeVar("_T")

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
        "each episode. An existing file is refused unless --overwrite.",
    ),
]
Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Replace existing output files (--json, --plot, --trajectories, train's "
        "--output); without it an existing file is refused before anything runs.",
    ),
]
Episodes = Annotated[int, typer.Option(min=1, help="Episodes to play.")]
Seed = Annotated[int, typer.Option(min=0, help="Seed of the first episode.")]
LLMModel = Annotated[
    str | None,
    typer.Option(
        "--llm",
        metavar="MODEL",
        help="The simulated user's language model: 'local' (the embedded model) or a litellm "
        "model string. RecoWorld-v0 then runs the LLM user (user_model=llm), RecoChat-v0 the "
        "AILO user (user=ailo), unless --env-arg says otherwise.",
    ),
]
LLMCache = Annotated[
    Path | None,
    typer.Option(
        "--llm-cache",
        metavar="PATH",
        help="Response cache file of the simulated user's model (replays answers exactly).",
    ),
]
CostCap = Annotated[
    float | None,
    typer.Option(
        "--cost-cap-usd",
        min=0.0,
        help="Stop the run once the simulated user's model has cost this many USD (exit "
        "code 3, the episodes completed are reported and written). A model litellm cannot "
        "price also needs --token-cap or --input-cost-per-token/--output-cost-per-token.",
    ),
]
TokenCap = Annotated[
    int | None,
    typer.Option(
        "--token-cap",
        min=0,
        metavar="N",
        help="Stop the run once the simulated user's model has used this many tokens (prompt "
        "+ completion; exit code 3 like --cost-cap-usd). Works on any model, priced or not.",
    ),
]
InputCost = Annotated[
    float | None,
    typer.Option(
        "--input-cost-per-token",
        min=0.0,
        metavar="USD",
        help="US dollars per prompt token of the --llm model, instead of litellm's price list "
        "(with --output-cost-per-token).",
    ),
]
OutputCost = Annotated[
    float | None,
    typer.Option(
        "--output-cost-per-token",
        min=0.0,
        metavar="USD",
        help="US dollars per completion token of the --llm model (with --input-cost-per-token).",
    ),
]
APIBase = Annotated[
    str | None,
    typer.Option(
        "--api-base",
        metavar="URL",
        help="Server of the litellm model (e.g. `recoworld llm serve`: http://127.0.0.1:8765/v1).",
    ),
]
TrainSteps = Annotated[
    int | None,
    typer.Option(
        "--train-steps",
        min=1,
        help="An agent that trains when given no --checkpoint (scpr on ConvRec-v0 trains "
        "20,000 DQN steps by default, minutes of CPU): its training budget.",
    ),
]
SaveDir = Annotated[
    Path | None,
    typer.Option(
        "--save",
        metavar="DIR",
        help="Keep the model such an agent trains in DIR (load it next time with "
        "--checkpoint DIR).",
    ),
]


@app.command()
def demo(
    episodes: Annotated[int, typer.Option(min=1, help="Episodes (users) per agent.")] = 30,
    seed: Annotated[
        int | None,
        typer.Option(
            min=0,
            help=f"Seed of the first episode (default 0; with --llm {DEMO_LLM_SEED}, a session "
            "in which the user gives an instruction and the agent reads it).",
        ),
    ] = None,
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
    turns: Annotated[int, typer.Option(min=1, help="With --llm: turns to play.")] = DEMO_LLM_TURNS,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Write every agent's report as JSON ({agent: report})."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write bar charts of the main metrics (PNG).")
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Compare the baseline agents on RecoWorld-v0 and print a table with 95% intervals.

    With --llm, play a short RecoWorld session with language on both sides instead: the items
    shown, the clicks, the user's mindset and instructions, and the model usage.
    """
    if llm:
        from recoworld.demo import run_llm_demo
        from recoworld.llm.local import LocalModelUnavailable

        if json_path is not None or plot is not None:
            _fail("--json and --plot write the comparison of the agents; --llm plays one session")
        try:
            run_llm_demo(
                _console(), llm=model, turns=turns, seed=DEMO_LLM_SEED if seed is None else seed
            )
        except LocalModelUnavailable as error:
            _fail(str(error), code=1)
        return
    from recoworld.evaluation import compare, comparison_table

    seed = 0 if seed is None else seed
    _check_outputs(overwrite, json_path=json_path, plot=plot)
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
    _write_reports(console, reports, json_path, plot)


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
            "maskable-ppo) or an SCPR checkpoint folder (--env ConvRec-v0 --agent scpr). "
            "Without it, --agent scpr trains a model first (see --train-steps)."
        ),
    ] = None,
    train_steps: TrainSteps = None,
    save: SaveDir = None,
    dataset_path: DatasetPath = None,
    split_file: SplitFile = None,
    env_arg: EnvArgs = None,
    llm: LLMModel = None,
    llm_cache: LLMCache = None,
    cost_cap_usd: CostCap = None,
    token_cap: TokenCap = None,
    input_cost_per_token: InputCost = None,
    output_cost_per_token: OutputCost = None,
    api_base: APIBase = None,
    trajectories: Trajectories = None,
    overwrite: Overwrite = False,
) -> None:
    """Evaluate one agent on any registered env and print its metrics with 95% intervals.

    The metrics are the env's (RecoWorld-v0: engagement and retention; ConvRec-v0: SR@k, AT,
    hDCG; RecoChat-v0: success rate, turns, satisfaction); a metric with fewer than 5 values
    gets no interval ("n too small"). Every input and output path is checked before the run.
    If an LLM cost cap is spent mid-run, the run stops: the report of the episodes completed
    is printed and written (--json, --plot, --trajectories), and the command exits with code 3.
    """
    from recoworld.evaluation import evaluate as run_evaluation

    env_kwargs = _env_kwargs(env, env_arg, dataset_path, split_file)
    _add_llm_settings(
        env,
        env_kwargs,
        llm,
        llm_cache,
        cost_cap_usd,
        api_base,
        token_cap=token_cap,
        input_cost_per_token=input_cost_per_token,
        output_cost_per_token=output_cost_per_token,
    )
    options = _agent_options(env, [agent], checkpoint, train_steps, save, overwrite)
    _check_outputs(overwrite, json_path=json_path, plot=plot, trajectories=trajectories)
    _check_llm_settings(env_kwargs)
    _announce_training(env, [agent], options)
    report = _run(
        lambda: run_evaluation(
            agent,
            env,
            episodes,
            seed,
            progress=True,
            trajectories=trajectories,
            overwrite=overwrite,
            agent_options=options.get(agent),
            **env_kwargs,
        )
    )
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
    train_steps: TrainSteps = None,
    save: SaveDir = None,
    dataset_path: DatasetPath = None,
    split_file: SplitFile = None,
    env_arg: EnvArgs = None,
    llm: LLMModel = None,
    llm_cache: LLMCache = None,
    cost_cap_usd: CostCap = None,
    token_cap: TokenCap = None,
    input_cost_per_token: InputCost = None,
    output_cost_per_token: OutputCost = None,
    api_base: APIBase = None,
    trajectories: Trajectories = None,
    overwrite: Overwrite = False,
) -> None:
    """Evaluate several agents on the same seeds (paired) and print one table.

    Exits with code 3 when an LLM cost cap stops the comparison (the agents played so far are
    shown and written).
    """
    from recoworld.evaluation import compare as run_comparison
    from recoworld.evaluation import comparison_table

    names = [name.strip() for name in agents.split(",") if name.strip()]
    if not names:
        _fail("--agents: name at least one agent")
    env_kwargs = _env_kwargs(env, env_arg, dataset_path, split_file)
    _add_llm_settings(
        env,
        env_kwargs,
        llm,
        llm_cache,
        cost_cap_usd,
        api_base,
        token_cap=token_cap,
        input_cost_per_token=input_cost_per_token,
        output_cost_per_token=output_cost_per_token,
    )
    options = _agent_options(env, names, checkpoint, train_steps, save, overwrite, "--agents")
    _check_outputs(overwrite, json_path=json_path, plot=plot, trajectories=trajectories)
    _check_llm_settings(env_kwargs)
    _announce_training(env, names, options)
    reports = _run(
        lambda: run_comparison(
            names,
            env,
            episodes,
            seed,
            progress=True,
            trajectories=trajectories,
            overwrite=overwrite,
            agent_options=options,
            **env_kwargs,
        )
    )
    console = _console()
    console.print(comparison_table(reports))
    _write_reports(console, reports, json_path, plot)
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


FidelityLLM = Annotated[
    str | None,
    typer.Option(
        "--llm",
        metavar="MODEL",
        help="--simulator llm: the model that answers the scenes; llm-aligned: the model that "
        "writes the rationales it learns from. 'local' (the embedded model, the default) or a "
        "litellm model string (e.g. openai/gpt-4o-mini; a server with --api-base).",
    ),
]
FidelityCostCap = Annotated[
    float | None,
    typer.Option(
        "--cost-cap-usd",
        min=0.0,
        help="Stop once the --llm model has cost this many USD: the run ends with exit code 3 "
        "and no report (every scene is needed to score). A model litellm cannot price also "
        "needs --token-cap or --input-cost-per-token/--output-cost-per-token.",
    ),
]
FidelityTokenCap = Annotated[
    int | None,
    typer.Option(
        "--token-cap",
        min=0,
        metavar="N",
        help="Stop once the --llm model has used this many tokens (prompt + completion; exit "
        "code 3 like --cost-cap-usd). Works on any model, priced or not.",
    ),
]
FidelityCheckpoint = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint",
        metavar="DIR",
        help="Load the simulator saved in DIR (by --save) instead of fitting it: latent-fitted, "
        "sequential or llm-aligned. It keeps the options and seed it was saved with, and must "
        "be scored on the catalog it was fitted on.",
    ),
]
FidelitySave = Annotated[
    Path | None,
    typer.Option(
        "--save",
        metavar="DIR",
        help="Write the fitted simulator (latent-fitted, sequential or llm-aligned) to the "
        "folder DIR before scoring it, to score it again with --checkpoint DIR. An existing DIR "
        "is refused unless --overwrite (and a folder that is not a saved simulator is never "
        "replaced).",
    ),
]

_FIDELITY_LLM_FLAGS = {
    "model": "--llm",
    "cache": "--llm-cache",
    "cost_cap_usd": "--cost-cap-usd",
    "api_base": "--api-base",
    "token_cap": "--token-cap",
    "input_cost_per_token": "--input-cost-per-token",
    "output_cost_per_token": "--output-cost-per-token",
}
"""The LLM settings of ``recoworld fidelity`` and their flags."""


@app.command()
def fidelity(
    simulator: Annotated[
        str,
        typer.Option(
            help="The simulator to measure: random, popularity, latent-fitted (the latent "
            "user model fitted to the log), llm (a language model answers each scene: the "
            "embedded one, about 5 s a scene on 2 cores, or --llm MODEL), sequential (a learned "
            "sequential choice model; needs the train extra, fits in about a minute on "
            "ml-100k) or llm-aligned (a small language model fine-tuned on the train log; "
            'needs the align extra: pip install -e ".[align]").'
        ),
    ] = "popularity",
    dataset: Annotated[
        str,
        typer.Option(
            help="Format of --dataset-path: movielens (ml-100k files) or scpr (LastFM*: no time, "
            "so a scene's history is the user's train interactions)."
        ),
    ] = "movielens",
    dataset_path: Annotated[
        Path | None, typer.Option(help="The data folder (e.g. ml-100k).", show_default=False)
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            metavar="FILE_OR_NAME",
            help="The held-out interactions, one scene each: a ratings file (path or name; "
            "default the folder's valid file). scpr: 'valid' or a review file in the folder.",
        ),
    ] = None,
    scenes: Annotated[
        int | None,
        typer.Option(min=1, help="Score this many scenes, drawn with --seed (default: all)."),
    ] = None,
    n_choices: Annotated[
        int, typer.Option(min=2, help="Items in each scene's exposure list (real + others).")
    ] = 5,
    negatives: Annotated[
        str,
        typer.Option(help="How the other listed items are drawn: popularity, uniform or similar."),
    ] = "popularity",
    seed: Annotated[
        int,
        typer.Option(
            min=0,
            help="Seed of the scenes and the simulator (a --checkpoint simulator keeps the seed "
            "it was saved with).",
        ),
    ] = 0,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Write metrics, intervals, config and reliability bins."),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Write a reliability diagram and accuracy against chance (PNG)."),
    ] = None,
    llm: FidelityLLM = None,
    llm_cache: LLMCache = None,
    cost_cap_usd: FidelityCostCap = None,
    token_cap: FidelityTokenCap = None,
    input_cost_per_token: InputCost = None,
    output_cost_per_token: OutputCost = None,
    api_base: APIBase = None,
    checkpoint: FidelityCheckpoint = None,
    save: FidelitySave = None,
    overwrite: Overwrite = False,
) -> None:
    """Measure how often a user simulator picks the item real users chose (UserMirrorer scenes).

    Each held-out interaction becomes a scene: the user's earlier interactions and a list of
    --n-choices items holding the real one; the simulator's distribution over the list is scored
    by accuracy (95% Wilson interval) against chance, log-likelihood of the real choice,
    calibration (ECE) and accuracy by user-activity tercile. Simulators are fitted on the
    folder's train file (or loaded with --checkpoint); a scene's history is every interaction in
    the folder before it. A simulator that asks a language model (llm, llm-aligned) also reports
    its requests, tokens, cost and the scenes it failed to answer.
    """
    from recoworld import fidelity as fid

    if simulator not in fid.simulator_names():
        _fail(f"--simulator {simulator!r}: choose one of {', '.join(fid.simulator_names())}")
    llm_settings = _fidelity_llm_settings(
        simulator,
        {
            "model": llm,
            "cache": None if llm_cache is None else str(llm_cache),
            "cost_cap_usd": cost_cap_usd,
            "api_base": api_base,
            "token_cap": token_cap,
            "input_cost_per_token": input_cost_per_token,
            "output_cost_per_token": output_cost_per_token,
        },
    )
    _check_fidelity_folders(simulator, checkpoint, save, overwrite, llm=llm_settings)
    if dataset not in fid.DATASETS:
        _fail(f"--dataset {dataset!r}: choose one of {', '.join(fid.DATASETS)}")
    if negatives not in fid.NEGATIVE_SAMPLERS:
        _fail(f"--negatives {negatives!r}: choose one of {', '.join(fid.NEGATIVE_SAMPLERS)}")
    if dataset_path is None:
        _fail("--dataset-path: name the data folder (e.g. ml-100k)")
    if not dataset_path.is_dir():
        _fail(f"--dataset-path {dataset_path} is not a folder")
    _check_outputs(overwrite, json_path=json_path, plot=plot)
    if llm_settings is not None:
        _check_llm_settings({"llm": llm_settings})
    report = _run(
        lambda: _fidelity_run(
            simulator,
            dataset,
            dataset_path,
            split,
            scenes,
            n_choices,
            negatives,
            seed,
            llm=llm_settings,
            checkpoint=checkpoint,
            save=save,
            overwrite=overwrite,
        )
    )
    console = _console()
    console.print(report.table())
    if save is not None:
        console.print(f"Saved the fitted {simulator} simulator to {save}")
    elif "trained_checkpoint" in report.config:
        trained = report.config["trained_checkpoint"]
        console.print(
            f"The trained {simulator} checkpoint is in {trained} (score it again with "
            f"--checkpoint {trained}; delete the folder to free its space)"
        )
    if json_path is not None:
        console.print(f"Wrote {report.to_json(json_path)}")
    if plot is not None:
        console.print(f"Wrote {_run(lambda: fid.plot_fidelity(report, plot))}")


def _fidelity_llm_settings(simulator: str, given: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``llm`` settings of ``recoworld fidelity`` from its LLM flags (``None`` when none is
    given); exit 2 naming the flag when the simulator asks no language model."""
    from recoworld import fidelity as fid

    given = {key: value for key, value in given.items() if value is not None}
    if not given:
        return None
    if "llm" not in fid.simulator_options(simulator):
        takers = [name for name in fid.simulator_names() if "llm" in fid.simulator_options(name)]
        used = ", ".join(_FIDELITY_LLM_FLAGS[key] for key in given)
        _fail(
            f"{used}: --simulator {simulator} uses no language model (the LLM options are for "
            f"{', '.join(takers)})"
        )
    if ("input_cost_per_token" in given) != ("output_cost_per_token" in given):
        _fail("--input-cost-per-token and --output-cost-per-token go together: give both")
    return dict(given)


_FIDELITY_SAVED_AS = {
    "latent-fitted": ("simulator.json", "recoworld.fidelity.LatentFittedSimulator"),
    "sequential": ("simulator.json", "recoworld.fidelity.SequentialSimulator"),
    "llm-aligned": ("recoworld_aligned.json", "recoworld-aligned"),
}
"""The marker file of a folder each fitted simulator saves, and the ``format`` in it."""


def _fidelity_saved_kind(folder: Path) -> str | None:
    """The simulator that saved ``folder`` (by its marker file and format), ``""`` for a
    marker file whose format cannot be read, ``None`` when no marker file is there."""
    for name, (marker, format_name) in _FIDELITY_SAVED_AS.items():
        file = folder / marker
        if not file.is_file():
            continue
        try:
            found = json.loads(file.read_text(encoding="utf-8")).get("format")
        except (OSError, ValueError, AttributeError):
            return ""
        if found == format_name:
            return name
    markers = {marker for marker, _ in _FIDELITY_SAVED_AS.values()}
    return "" if any((folder / marker).is_file() for marker in markers) else None


def _check_fidelity_folders(
    simulator: str,
    checkpoint: Path | None,
    save: Path | None,
    overwrite: bool,
    *,
    llm: Mapping[str, Any] | None = None,
) -> None:
    """Exit 2 with one line, before anything runs, on a --checkpoint or --save the simulator
    cannot take, a --checkpoint that is not a folder, LLM flags beside an llm-aligned
    --checkpoint (nothing is trained), or a --save that is a file, an existing folder without
    --overwrite, or (even with it) a folder holding files that is not a simulator of this kind
    saved (its marker file: simulator.json of the right format, recoworld_aligned.json for
    llm-aligned)."""
    from recoworld import fidelity as fid

    fitted = [name for name in fid.simulator_names() if "checkpoint" in fid.simulator_options(name)]
    for flag, value in (("--checkpoint", checkpoint), ("--save", save)):
        if value is not None and "checkpoint" not in fid.simulator_options(simulator):
            _fail(
                f"{flag}: --simulator {simulator} is not fitted, so there is nothing to "
                f"{'load' if flag == '--checkpoint' else 'save'} (it is for {', '.join(fitted)})"
            )
    if checkpoint is not None and save is not None:
        _fail("--save writes a simulator fitted now, --checkpoint loads a saved one: give one")
    if checkpoint is not None and not checkpoint.is_dir():
        what = "is a file, not a folder" if checkpoint.exists() else "does not exist"
        _fail(f"--checkpoint {checkpoint} {what}; name a folder written by --save")
    if checkpoint is not None and llm and simulator == "llm-aligned":
        used = ", ".join(_FIDELITY_LLM_FLAGS[key] for key in llm)
        _fail(
            f"{used}: the llm-aligned --checkpoint {checkpoint} is scored as it is and nothing "
            "is trained, so no rationale model is asked; give the LLM options or --checkpoint"
        )
    if save is not None and (save.exists() or save.is_symlink()):
        if not save.is_dir():
            _fail(f"--save {save} is a file; name a folder")
        if not overwrite:
            _fail(f"--save {save} exists; pass --overwrite to replace it, or name a new folder")
        kind = _fidelity_saved_kind(save)
        if any(save.iterdir()) and kind not in (simulator, ""):
            marker = _FIDELITY_SAVED_AS.get(simulator, ("simulator.json", ""))[0]
            what = f"a saved {kind} simulator" if kind else f"files but no {marker}"
            _fail(
                f"--save {save} holds {what}: it is not a saved simulator of this kind "
                f"({simulator}) and is not replaced, even with --overwrite"
            )


def _fidelity_run(
    simulator: str,
    dataset: Any,
    dataset_path: Path,
    split: str | None,
    limit: int | None,
    n_choices: int,
    negatives: Any,
    seed: int,
    *,
    llm: Mapping[str, Any] | None = None,
    checkpoint: Path | None = None,
    save: Path | None = None,
    overwrite: bool = False,
) -> Any:
    """Load the folder, build the scenes, fit (or load) the simulator, score it and save it
    where asked, with a progress bar. llm-aligned trains straight into ``save`` (or a new
    folder under the cache dir, named in the report's config as ``trained_checkpoint``), its
    stages and training steps shown on the bar. A spent LLM cost or token cap ends the command
    with exit code 3."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from recoworld import fidelity as fid
    from recoworld.llm import CostCapExceeded

    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task(f"Loading {dataset_path.name or dataset_path}", total=4)
        data = fid.load_scene_data(dataset, dataset_path, split, seed=seed)
        if limit is not None and limit > len(data.targets):
            raise ValueError(
                f"--scenes {limit} exceeds the {len(data.targets)} interactions of split "
                f"{data.split!r}"
            )
        bar.update(task, advance=1, description=f"Building {limit or len(data.targets)} scenes")
        built = fid.scenes(
            data.history,
            data.targets,
            data.catalog,
            n_choices=n_choices,
            negatives=negatives,
            seed=seed,
            limit=limit,
        )
        verb = "Loading" if checkpoint is not None else "Fitting"
        bar.update(task, advance=1, description=f"{verb} {simulator}")

        def show(line: str) -> None:
            bar.update(task, description=f"{verb} {simulator}: {line}")
            if not line.startswith(("rationales:", "SFT step", "DPO step", "checkpoint written")):
                bar.console.print(f"{simulator}: {line}", highlight=False)

        trains_into_save = simulator == "llm-aligned" and checkpoint is None
        try:
            if trains_into_save:
                model = _fidelity_aligned(seed, llm, save, overwrite, show)
            else:
                model = fid.make_simulator(simulator, seed=seed, llm=llm, checkpoint=checkpoint)
        except ImportError as error:
            _fail(f"--simulator {simulator}: {error}", code=1)
        if save is not None and not callable(getattr(model, "save", None)):
            _fail(f"--save: the {simulator} simulator has no save method")
        config: dict[str, Any] = {
            "dataset": dataset,
            "dataset_path": str(dataset_path),
            "split": data.split,
        }
        if checkpoint is not None:
            config["checkpoint"] = str(checkpoint)
        if llm is not None:
            config["llm"] = dict(llm)
        try:
            model = model.fit(data.train, data.catalog)
            if save is not None and not trains_into_save:  # before scoring: a fit is kept
                bar.update(task, description=f"Saving {simulator}")
                model.save(save, overwrite=overwrite)
            trained = getattr(model, "checkpoint_dir", None) if trains_into_save else None
            if trained is not None:
                config["trained_checkpoint"] = str(trained)
                bar.console.print(f"{simulator}: checkpoint folder {trained}", highlight=False)
            bar.update(task, advance=1, description=f"Scoring {simulator}")
            report = fid.fidelity_report(model, built, config)
        except CostCapExceeded as error:
            bar.stop()
            _stderr().print(
                f"[bold red]Stopped[/]: {escape(str(error))}; no report (a fidelity run needs "
                "every scene answered)",
                highlight=False,
            )
            raise typer.Exit(EXIT_STOPPED_EARLY) from None
        bar.update(task, advance=1, description="Done")
    return report


def _fidelity_aligned(
    seed: int,
    llm: Mapping[str, Any] | None,
    save: Path | None,
    overwrite: bool,
    on_progress: Callable[[str], None],
) -> Any:
    """A new llm-aligned simulator that trains into ``save`` (``None``: a new folder under the
    cache dir) and reports its stages and steps to ``on_progress``.

    Raises:
        ImportError: the align extra is not installed (the message says how to install it).
    """
    from recoworld.fidelity.simulators import ALIGN_EXTRA_HINT

    try:
        from recoworld.fidelity.aligned import AlignedSceneSimulator
    except ImportError as error:
        raise ImportError(
            f"the llm-aligned simulator needs the align extra ({error}); install it with: "
            f"{ALIGN_EXTRA_HINT}"
        ) from error
    return AlignedSceneSimulator(
        seed=seed,
        rationale_llm=None if llm is None else dict(llm),
        out=save,
        overwrite=overwrite,
        on_progress=on_progress,
    )


@app.command("world-fidelity")
def world_fidelity(
    dataset: Annotated[
        str,
        typer.Option(help="Format of --dataset-path: movielens (ml-100k files) or scpr (LastFM*)."),
    ] = "movielens",
    dataset_path: Annotated[
        Path | None, typer.Option(help="The data folder (e.g. ml-100k).", show_default=False)
    ] = None,
    agents: Annotated[
        str,
        typer.Option(help="Comma-separated RecoWorld-v0 agents whose sessions are compared."),
    ] = "random,popular",
    users: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Held-out fitted users each agent plays one session with (default: all of "
            "them, every user not used by the calibration).",
        ),
    ] = None,
    calibration_users: Annotated[
        int,
        typer.Option(
            min=0,
            help="Fitted users (at most half of them, drawn with --seed) whose random-slate "
            "sessions calibrate the no-click utility to their real activity; the comparison "
            "plays the others (0: no calibration, every user compared).",
        ),
    ] = 300,
    num_candidates: Annotated[
        int, typer.Option(min=1, help="RecoWorld-v0 candidates per turn (at most the items).")
    ] = 100,
    slate_size: Annotated[
        int, typer.Option(min=1, help="RecoWorld-v0 slate size (at most --num-candidates).")
    ] = 10,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the fit and of the episodes.")] = 0,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the metrics, config and calibration.")
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Fit a world of users to a folder's train log and compare them with the real users in
    RecoWorld-v0: each held-out fitted user plays one session per agent; their clicks per
    session against the same users' real interactions (Kolmogorov-Smirnov), and the share of
    clicks on the top 10% items (popularity bias).

    The world is what gym.make("RecoWorld-v0", world=recoworld.fidelity.fit_world(...)) runs:
    one latent user per real user, fitted from their history. Its no-click utility is
    calibrated on --calibration-users other users, so the comparison is out of sample.
    """
    from recoworld import fidelity as fid
    from recoworld.agents import agent_names

    if dataset not in fid.DATASETS:
        _fail(f"--dataset {dataset!r}: choose one of {', '.join(fid.DATASETS)}")
    if dataset_path is None:
        _fail("--dataset-path: name the data folder (e.g. ml-100k)")
    if not dataset_path.is_dir():
        _fail(f"--dataset-path {dataset_path} is not a folder")
    names = [name.strip() for name in agents.split(",") if name.strip()]
    known = agent_names("RecoWorld-v0")
    unknown = [name for name in names if name not in known]
    if not names or unknown:
        _fail(f"--agents {agents!r}: choose from {', '.join(known)}")
    _check_outputs(overwrite, json_path=json_path)

    settings = {"num_candidates": num_candidates, "slate_size": slate_size}

    def play() -> tuple[Any, Any]:
        data = fid.load_scene_data(dataset, dataset_path, seed=seed)
        with Console(stderr=True).status("Fitting the world"):
            world = fid.fit_world(
                data.train,
                data.catalog,
                seed=seed,
                calibration_users=calibration_users or None,
                env_settings=settings,
            )
        with Console(stderr=True).status(f"Playing {', '.join(names)}"):
            report = fid.world_fidelity(
                world, data.train, agents=names, users=users, seed=seed, **settings
            )
        return world, report

    world, report = _run(play)
    console = _console()
    config = world.user_config
    calibrated = (
        f"calibrated to {config.no_click_utility:.3g}"
        if world.calibration is not None
        else f"{config.no_click_utility:.3g} (not calibrated)"
    )
    console.print(
        f"{world.population.n_users} fitted users, {world.catalog.n_items} items; no-click "
        f"utility {calibrated}"
    )
    console.print(report.table())
    if json_path is not None:
        payload = {
            **report.to_dict(),
            "calibration": world.calibration,
            "dataset": dataset,
            "dataset_path": str(dataset_path),
        }
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        console.print(f"Wrote {json_path}")


def _run(play: Callable[[], _T]) -> _T:
    """Run ``play`` (an evaluation); bad input found while making the env or the agent ends the
    command with one line on stderr (exit 2), a language-model failure with exit code 1."""
    from recoworld.llm import LLMError

    try:
        return play()
    except LLMError as error:
        _fail(f"{type(error).__name__}: {error}", code=1)
    except (ValueError, TypeError, ImportError, OSError, zipfile.BadZipFile) as error:
        _fail(str(error))


def _write_reports(
    console: Console, reports: Mapping[str, Any], json_path: Path | None, plot: Path | None
) -> None:
    """Write ``{agent: report}`` as JSON (``{"reports": ...}``) and as bar charts, where asked."""
    from recoworld.evaluation import plot_report

    if json_path is not None:
        payload = {name: report.to_dict() for name, report in reports.items()}
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"reports": payload}, indent=2) + "\n", encoding="utf-8")
        console.print(f"Wrote {json_path}")
    if plot is not None:
        console.print(f"Wrote {plot_report(reports, plot)}")


def _check_outputs(overwrite: bool, **paths: Path | None) -> None:
    """Refuse an output path before the run spends its time: an existing file (unless
    ``overwrite``), a folder, or a place where no file can be created."""
    from recoworld.evaluation import check_new_file

    if paths.get("plot") is not None and importlib.util.find_spec("matplotlib") is None:
        _fail('--plot needs matplotlib: pip install -e ".[plots]"')
    for option, path in paths.items():
        if path is None:
            continue
        flag = f"--{option.replace('_path', '').replace('_', '-')}"
        try:
            check_new_file(path, overwrite=overwrite, what="file")
        except FileExistsError:
            _fail(f"{flag} {path} exists; pass --overwrite to replace it, or name a new file")
        except OSError as error:
            _fail(f"{flag} {path}: cannot write it ({_reason(error)})")


def _check_new_folder(option: str, folder: Path, files: Sequence[str], overwrite: bool) -> None:
    """Refuse ``folder`` when it is a file, cannot be created, or already holds one of
    ``files`` (unless ``overwrite``)."""
    from recoworld.evaluation import check_new_file

    if folder.exists() and not folder.is_dir():
        _fail(f"{option} {folder} is a file; name a folder")
    existing = [name for name in files if (folder / name).exists()]
    if existing and not overwrite:
        _fail(
            f"{option} {folder} already holds {', '.join(existing)}; pass --overwrite to "
            "replace it, or name another folder"
        )
    try:
        check_new_file(folder / files[0], overwrite=True, what="file")
    except OSError as error:
        _fail(f"{option} {folder}: cannot write there ({_reason(error)})")


def _reason(error: OSError) -> str:
    return str(error) if error.args and not error.strerror else str(error.strerror or error)


def _env_kwargs(
    env: str, env_arg: list[str] | None, dataset_path: Path | None, split_file: str | None
) -> dict[str, Any]:
    """The env keyword arguments of --env-arg, --dataset-path and --split-file."""
    _check_env_id(env)
    kwargs: dict[str, Any] = {}
    for item in env_arg or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            _fail(f"--env-arg {item!r} is not KEY=VALUE")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        kwargs[key.strip()] = value
    if dataset_path is not None:
        if not dataset_path.is_dir():
            _fail(f"--dataset-path {dataset_path} is not a folder")
        kwargs["dataset_path"] = str(dataset_path)
    if split_file is not None:
        if dataset_path is None:
            _fail("--split-file names a file inside --dataset-path; give --dataset-path too")
        kwargs["split_file"] = split_file
    return kwargs


def _add_llm_settings(
    env: str,
    kwargs: dict[str, Any],
    model: str | None,
    cache: Path | None,
    cost_cap_usd: float | None,
    api_base: str | None,
    *,
    token_cap: int | None = None,
    input_cost_per_token: float | None = None,
    output_cost_per_token: float | None = None,
) -> None:
    """Put --llm, --llm-cache, --cost-cap-usd, --api-base, --token-cap and the per-token prices
    into the env's ``llm`` setting (merged with an ``--env-arg llm=...``), and switch the env
    to its LLM user."""
    if (input_cost_per_token is None) != (output_cost_per_token is None):
        _fail("--input-cost-per-token and --output-cost-per-token go together: give both")
    given = {
        "model": model,
        "cache": None if cache is None else str(cache),
        "cost_cap_usd": cost_cap_usd,
        "api_base": api_base,
        "token_cap": token_cap,
        "input_cost_per_token": input_cost_per_token,
        "output_cost_per_token": output_cost_per_token,
    }
    flags = {"model": "--llm", "cache": "--llm-cache", "cost_cap_usd": "--cost-cap-usd"}
    flags["api_base"] = "--api-base"
    flags["token_cap"] = "--token-cap"
    flags["input_cost_per_token"] = "--input-cost-per-token"
    flags["output_cost_per_token"] = "--output-cost-per-token"
    given = {key: value for key, value in given.items() if value is not None}
    if not given:
        return
    family = _family(env)
    if family == "ConvRec-v0":
        used = ", ".join(flags[key] for key in given)
        _fail(f"{used}: ConvRec-v0's simulated user uses no language model")
    base = kwargs.get("llm")
    settings: dict[str, Any]
    if base is None:
        settings = {}
    elif isinstance(base, str):
        settings = {"model": base}
    elif isinstance(base, dict):
        settings = dict(base)
    else:
        _fail(f"--env-arg llm={base!r} must be a model string or a JSON object of settings")
    for key, value in given.items():
        if key in settings and settings[key] != value:
            _fail(f"{flags[key]} {value} contradicts --env-arg llm (which says {settings[key]!r})")
        settings[key] = value
    kwargs["llm"] = settings
    if family == "RecoWorld-v0":
        kwargs.setdefault("user_model", "llm")
    elif family == "RecoChat-v0":
        kwargs.setdefault("user", "ailo")


def _check_llm_settings(kwargs: Mapping[str, Any]) -> None:
    """Refuse the env's ``llm`` setting before any episode when it cannot work: a bad value, a
    cost cap that a model litellm cannot price would never trigger, or an unusable
    ``--llm-cache`` file (:class:`~recoworld.llm.CacheFileError`). One ``Error:`` line, exit 2.

    A litellm model is built here once (no request is sent) and the cache file opened; the
    embedded model is not loaded."""
    if "llm" not in kwargs:
        return
    import dataclasses

    from recoworld.llm import LLMSettings, ResponseCache
    from recoworld.llm.factory import LOCAL

    try:
        settings = LLMSettings.of(kwargs["llm"])
        if isinstance(settings.model, str) and settings.model != LOCAL:
            dataclasses.replace(settings, cache=None).build()  # checks caps and prices
        if settings.cache is True or isinstance(settings.cache, str | os.PathLike):
            path = None if settings.cache is True else Path(settings.cache)
            ResponseCache(path).close()
    except (ValueError, OSError) as error:
        message = str(error)
        if "cannot be enforced" in message:
            message += (
                " — on the command line: --token-cap N, or --input-cost-per-token USD "
                "--output-cost-per-token USD"
            )
        _fail(message)


def _agent_options(
    env: str,
    names: list[str],
    checkpoint: Path | None,
    train_steps: int | None = None,
    save: Path | None = None,
    overwrite: bool = False,
    option: str = "--agent",
) -> dict[str, dict[str, Any]]:
    """Per-agent options: ``--checkpoint`` goes to the one agent that takes it (checked here,
    before anything runs), ``--train-steps`` and ``--save`` to the one that trains."""
    from recoworld.agents import agent_entry

    entries = {}
    for name in names:
        try:
            entries[name] = agent_entry(env, name)
        except ValueError as error:
            _fail(f"{option}: {error}")
    options: dict[str, dict[str, Any]] = {}
    takers = _the_one_taker(entries, "checkpoint", "--checkpoint", checkpoint is not None, env)
    if checkpoint is not None and takers:
        _check_checkpoint(env, takers, checkpoint)
        options[takers] = {"checkpoint": checkpoint}
    for flag, key, value in (
        ("--train-steps", "train_steps", train_steps),
        ("--save", "save", save),
    ):
        taker = _the_one_taker(entries, key, flag, value is not None, env)
        if value is None or not taker:
            continue
        if taker in options and "checkpoint" in options[taker]:
            _fail(
                f"{flag} trains a new model, --checkpoint loads a saved one: give one or the other"
            )
        if key == "save":
            assert isinstance(value, Path)
            if value.exists() and (not value.is_dir() or any(value.iterdir())):
                what = "a folder that is not empty" if value.is_dir() else "a file"
                _fail(
                    f"--save {value} is {what}; a trained model is saved to a new or empty "
                    "folder, never over another (--overwrite does not apply)"
                )
            _check_new_folder("--save", value, ("scpr.json",), True)
        options.setdefault(taker, {})[key] = value
    for name, entry in entries.items():
        if "checkpoint" in entry.required and name not in options:
            _fail(f"--agent {name} needs --checkpoint PATH, a model saved by `recoworld train`")
    return options


_SAVED_FILES: dict[str, tuple[str, ...]] = {"scpr": ("scpr.json", "fm.pt", "dqn.pt")}
"""Files an agent's ``save`` option writes into its folder (refused when present)."""


def _the_one_taker(entries: Mapping[str, Any], key: str, flag: str, given: bool, env: str) -> str:
    """The name of the one agent whose options include ``key`` ("" when the flag is not
    given); exit 2 when the flag is given and no agent, or several, take it."""
    if not given:
        return ""
    takers = [name for name, entry in entries.items() if key in entry.options]
    if not takers:
        _fail(f"{flag} is for an agent that takes it; {', '.join(entries)} on {env} take none")
    if len(takers) > 1:
        _fail(f"{flag} is ambiguous: {', '.join(takers)} all take it")
    return takers[0]


def _check_checkpoint(env: str, agent: str, checkpoint: Path) -> None:
    """Exit 2 with one line unless ``checkpoint`` is a model the agent can load."""
    if not checkpoint.exists():
        _fail(f"--checkpoint {checkpoint} does not exist")
    family = _family(env)
    if family == "ConvRec-v0" and agent == "scpr":
        if not (checkpoint / "scpr.json").is_file():
            _fail(
                f"--checkpoint {checkpoint} is not an SCPR checkpoint folder (it has no "
                "scpr.json); make one with `recoworld train --env ConvRec-v0 --output DIR`"
            )
        try:
            from recoworld.agents.scpr import load_scpr_checkpoint

            load_scpr_checkpoint(checkpoint)
        except ImportError as error:
            _fail(f'SCPR needs the train extra ({error}): pip install -e ".[train]"', code=1)
        except Exception as error:
            _fail(f"--checkpoint {checkpoint} cannot be loaded: {type(error).__name__}: {error}")
        return
    from recoworld.agents.builtin import SB3_ALGOS, resolve_sb3_checkpoint

    if family == "RecoWorld-v0" and agent in SB3_ALGOS:
        try:
            model_file = resolve_sb3_checkpoint(checkpoint)
        except FileNotFoundError:
            _fail(f"--checkpoint {checkpoint} holds no model.zip saved by `recoworld train`")
        try:
            with zipfile.ZipFile(model_file) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError) as error:
            _fail(
                f"--checkpoint {model_file} is not a model saved by `recoworld train` "
                f"({_reason(error) if isinstance(error, OSError) else error})"
            )
        if "data" not in names:
            _fail(
                f"--checkpoint {model_file} is a zip archive but not a Stable-Baselines3 model "
                "(it has no 'data' entry)"
            )


def _announce_training(
    env: str, names: Sequence[str], options: Mapping[str, Mapping[str, Any]]
) -> None:
    """Say on stderr, before it starts, that an agent will train first (no --checkpoint)."""
    for name in names:
        if name not in _TRAINING_AGENTS.get(_family(env), ()):
            continue
        given = options.get(name, {})
        if {"checkpoint", "model"} & set(given):
            continue
        steps = given.get("train_steps") or _default_train_steps(name)
        save = given.get("save")
        kept = f", saving it to {save}" if save else " (--save DIR keeps it)"
        _note(
            f"no --checkpoint: training {name.upper()} for {steps:,} steps first{kept}; use "
            "--checkpoint DIR to load a trained model, --train-steps N to change the budget"
        )


_TRAINING_AGENTS: dict[str, tuple[str, ...]] = {"ConvRec-v0": ("scpr",)}
"""Agents per env family that train a model when given no checkpoint."""


def _default_train_steps(name: str) -> int:
    """The training budget an agent uses without ``--train-steps``."""
    try:
        from recoworld.agents.scpr import DEFAULT_TRAIN_STEPS
    except ImportError:
        return 20_000
    return int(DEFAULT_TRAIN_STEPS)


@app.command()
def train(
    env: Annotated[
        str,
        typer.Option(
            help="Gymnasium environment id: RecoWorld-v0 trains PPO, ConvRec-v0 trains SCPR "
            "(FM scorer and DQN policy); RecoChat-v0 has nothing to train."
        ),
    ] = "RecoWorld-v0",
    total_timesteps: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Environment steps: PPO's summed over the parallel envs (default 300,000), "
            "SCPR's DQN steps (default 20,000).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Training seed.")] = 0,
    output: Annotated[
        Path | None,
        typer.Option(
            help="Folder that receives the model: model.zip and model.json (PPO, default "
            "runs/ppo) or an SCPR checkpoint (default runs/scpr). A folder that already holds "
            "them is refused unless --overwrite."
        ),
    ] = None,
    algo: Annotated[
        Algo | None, typer.Option(help="RecoWorld-v0: training algorithm (default ppo).")
    ] = None,
    n_envs: Annotated[
        int | None, typer.Option(min=1, help="RecoWorld-v0: parallel training envs (default 8).")
    ] = None,
    dataset_path: DatasetPath = None,
    split_file: SplitFile = None,
    env_arg: EnvArgs = None,
    overwrite: Overwrite = False,
) -> None:
    """Train an agent with a progress bar and print the saved model's path.

    RecoWorld-v0 (and envs derived from it): PPO with Stable-Baselines3, evaluated with
    `recoworld evaluate --agent ppo --checkpoint OUTPUT`. ConvRec-v0: SCPR's FM scorer and its
    ask-or-recommend DQN, evaluated with `recoworld evaluate --env ConvRec-v0 --agent scpr
    --checkpoint OUTPUT`.
    """
    env_kwargs = _env_kwargs(env, env_arg, dataset_path, split_file)
    family = _family(env)
    if family == "ConvRec-v0":
        for flag, value in (("--algo", algo), ("--n-envs", n_envs)):
            if value is not None:
                _fail(f"{flag} is a PPO setting; ConvRec-v0 trains SCPR (FM and DQN)")
        _train_scpr(env_kwargs, total_timesteps or _default_train_steps("scpr"), seed, output,
                    overwrite)  # fmt: skip
        return
    if family != "RecoWorld-v0":
        trainable = "RecoWorld-v0 (PPO) and ConvRec-v0 (SCPR)"
        _fail(
            f"--env {env}: nothing to train there (its agents need no training); recoworld "
            f"train supports {trainable}"
        )
    folder = Path("runs/ppo") if output is None else output
    _check_new_folder("--output", folder, ("model.zip", "model.json"), overwrite)
    try:
        from recoworld.training import TrainConfig, train_ppo
    except ImportError as error:
        _fail(f'training needs the train extra ({error}): pip install -e ".[train]"', code=1)
    try:
        config = TrainConfig(
            env_id=env,
            total_timesteps=total_timesteps or 300_000,
            seed=seed,
            output_dir=str(folder),
            algo=(algo or Algo.ppo).value,
            n_envs=n_envs or 8,
            env_kwargs=env_kwargs,
        )
    except ValueError as error:
        _fail(str(error))
    _note(
        f"Training {config.algo.upper()} ({config.resolved_policy} policy) on {env} for "
        f"{config.total_timesteps:,} steps, {config.n_envs} envs, seed {seed}; saving to {folder}"
    )
    model_path = _run(lambda: train_ppo(config, progress=True))
    typer.echo(str(model_path))


def _train_scpr(
    env_kwargs: dict[str, Any], steps: int, seed: int, output: Path | None, overwrite: bool
) -> None:
    """``recoworld train --env ConvRec-v0``: SCPR's FM, then its DQN; save the checkpoint."""
    folder = Path("runs/scpr") if output is None else output
    _check_new_folder("--output", folder, _SAVED_FILES["scpr"], overwrite)
    try:
        from recoworld.agents.scpr import dqn_config_for_budget, save_scpr_checkpoint, train_scpr
    except ImportError as error:
        _fail(f'SCPR needs the train extra ({error}): pip install -e ".[train]"', code=1)
    config = dqn_config_for_budget(steps)  # the default schedule, scaled to the budget
    _note(
        f"Training SCPR on ConvRec-v0: the FM scorer, then {steps:,} DQN steps, seed {seed}; "
        f"saving to {folder}"
    )
    fm, policy = _run(lambda: train_scpr(env_kwargs, seed, dqn_config=config, progress=True))
    saved = save_scpr_checkpoint(folder, fm, policy)
    typer.echo(str(saved))
    _note(f"Evaluate it: recoworld evaluate --env ConvRec-v0 --agent scpr --checkpoint {saved}")


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
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Also print llama.cpp's model-loading log.")
    ] = False,
) -> None:
    """Serve the embedded model with llama-cpp-python's OpenAI-compatible server.

    Reach it from recoworld with llm="openai/ALIAS" and api_base="http://HOST:PORT/v1" (litellm
    wants OPENAI_API_KEY set: any value, the server checks none), or from any OpenAI client.
    Prints the Python to use it. Stops with Ctrl-C or SIGTERM (passed on to the server).
    """
    import signal

    from recoworld.llm.local import LocalModelUnavailable
    from recoworld.llm.server import client_snippet, run_server, server_command

    try:
        command = server_command(
            host=host, port=port, alias=alias, model_path=model, verbose=verbose
        )
    except (LocalModelUnavailable, FileNotFoundError, ValueError) as error:
        _fail(str(error), code=1)  # escaped: the install hint's ".[llm]" shows as it is
    typer.echo(
        f"Serving {alias} on http://{host}:{port}/v1; Ctrl-C (or SIGTERM) stops it. "
        "Use it from Python with:\n"
    )
    typer.echo(client_snippet(host=host, port=port, alias=alias) + "\n", nl=True)
    code = run_server(command)
    stopped = code in (-signal.SIGTERM, -signal.SIGINT)  # stopped on request: not a failure
    raise typer.Exit(0 if stopped else (128 - code if code < 0 else code))


@app.command()
def envs() -> None:
    """List the environment ids recoworld registers."""
    for env_id in recoworld.ENV_IDS:
        typer.echo(env_id)


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
    _stderr().print(
        f"[bold red]Stopped early[/] after {report.episodes_completed} of "
        f"{report.episodes_requested} episodes (episode {report.incomplete_episode} was cut "
        f"short and left out of the metrics): {escape(str(report.stop_reason))}",
        highlight=False,
    )
    raise typer.Exit(EXIT_STOPPED_EARLY)


PIPED_WIDTH = 120
"""Columns of the results console when output is not a terminal."""


def _console() -> Console:
    """Console for results: the terminal's width, or :data:`PIPED_WIDTH` columns when output is
    not a terminal.

    Piped output has no width to respect, and rich's fallback of 80 columns would wrap the
    comparison table's cells.
    """
    console = Console()
    return console if console.is_terminal else Console(width=PIPED_WIDTH)


def _stderr() -> Console:
    """Console for messages on stderr: each message stays on one line (no wrapping)."""
    return Console(stderr=True, soft_wrap=True)


def _family(env_id: str) -> str:
    """The built-in env family ``env_id`` belongs to (itself when none)."""
    from recoworld.agents.registry import family_id

    return family_id(env_id, recoworld.ENV_IDS)


def _check_env_id(env_id: str) -> None:
    """Exit 2 unless ``env_id`` is registered and has agents (an env of recoworld's, one derived
    from it, or one with agents registered for it)."""
    from recoworld.agents import agent_names

    supported = ", ".join(recoworld.ENV_IDS)
    if env_id not in gym.registry:
        _fail(f"--env: unknown env id {env_id!r}; recoworld registers {supported}")
    if not agent_names(env_id):
        _fail(
            f"--env: {env_id} is not a recoworld env and has no registered agents; recoworld "
            f"supports {supported} (and envs you register agents for with "
            "recoworld.agents.register_agent)"
        )


def _note(message: str) -> None:
    """One line of progress information on stderr."""
    _stderr().print(message, highlight=False, markup=False)


def _fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` as one error line on stderr and exit with ``code`` (2: bad input)."""
    line = " ".join(message.split("\n"))
    _stderr().print(f"[bold red]Error:[/] {escape(line)}", highlight=False)
    raise typer.Exit(code)


class SlateLikelihood(StrEnum):
    """Likelihoods of ``recoworld train-slate-gru``."""

    slate = "slate"
    all = "all"


@app.command("train-slate-gru")
def train_slate_gru_command(
    data: Annotated[
        str,
        typer.Option(
            help="`synthetic` (logs generated from the synthetic slate world of --world-seed, "
            "--items, --groups: SlateRec-v0's world with the same settings) or a folder of "
            "FINN.no files (data.npz, itemattr.npz, ind2val.json)."
        ),
    ] = "synthetic",
    users: Annotated[
        int,
        typer.Option(
            min=2, help="Synthetic users to generate, or users to keep from the folder's logs."
        ),
    ] = 20_000,
    seed: Annotated[
        int, typer.Option(min=0, help="Seed of the users, the split, the model and training.")
    ] = 0,
    out: Annotated[
        Path,
        typer.Option(
            help="Checkpoint folder to write; one that holds files is refused unless "
            "--overwrite (and never replaced when it is not a checkpoint)."
        ),
    ] = Path("runs/slate_gru"),
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training users.")] = 1,
    batch_size: Annotated[int, typer.Option(min=1, help="Users per minibatch.")] = 64,
    dim: Annotated[
        int, typer.Option(min=1, max=1024, help="Length of the item vectors and GRU state.")
    ] = 16,
    likelihood: Annotated[
        SlateLikelihood,
        typer.Option(
            help="`slate`: softmax over the shown items and no click; `all`: over every item."
        ),
    ] = SlateLikelihood.slate,
    learning_rate: Annotated[float, typer.Option(min=0.0, help="Adam's step size.")] = 0.01,
    valid_fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of the users held out for metrics.")
    ] = 0.1,
    world_seed: Annotated[
        int, typer.Option(min=0, help="--data synthetic: seed of the world (SlateRec-v0's).")
    ] = 0,
    items: Annotated[
        int, typer.Option(min=2, help="--data synthetic: items of the world (n_items).")
    ] = 3000,
    groups: Annotated[
        int, typer.Option(min=2, max=24, help="--data synthetic: item groups (n_groups).")
    ] = 24,
    max_minutes: Annotated[
        float | None,
        typer.Option(min=0.0, help="Stop training after this many minutes (default: no limit)."),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Train the Bayesian GRU slate recommender (Eide et al. 2021) from slate logs, with a
    progress bar, and print the checkpoint folder.

    The recipe of `examples/train_slate_gru.py`: logs, a seeded split of the users, SVI with
    the held-out hit rate and log-likelihoods after every epoch, a checkpoint folder. Evaluate
    it with `recoworld evaluate --env SlateRec-v0 --agent gru-ts --checkpoint OUT` (with the
    same --env-arg world settings, or --dataset-path, as the logs).
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        what = "a file" if not out.is_dir() else "a folder that holds files"
        _fail(f"--out {out} is {what}; pass --overwrite to replace a checkpoint, or name another")
    from recoworld.evaluation import check_new_file

    try:
        # A folder that cannot be written fails now, not after the training.
        check_new_file(out / "slate_gru.json", overwrite=True, what="--out")
    except OSError as error:
        _fail(str(error))
    try:
        from recoworld.training.slate_gru import fit_slate_gru
    except ImportError as error:
        _fail(f'the slate GRU needs the train extra ({error}): pip install -e ".[train]"', code=1)

    def report(record: dict[str, float]) -> None:
        _note(
            f"epoch {int(record['epoch'])}: loss {record['loss']:.4f}, held-out hit rate "
            f"{record['hit_rate']:.3f}, log-likelihood per interaction "
            f"{record['log_likelihood_slate']:.3f} (slate) / "
            f"{record['log_likelihood_all']:.3f} (all items)"
        )

    _note(
        f"Training the slate GRU on {data} logs ({users:,} users, {epochs} epoch(s), "
        f"{likelihood.value} likelihood, seed {seed}); saving to {out}"
    )
    folder, _ = _run(
        lambda: fit_slate_gru(
            data,
            out,
            users=users,
            seed=seed,
            epochs=epochs,
            batch_size=batch_size,
            dim=dim,
            likelihood=likelihood.value,
            learning_rate=learning_rate,
            valid_fraction=valid_fraction,
            world_seed=world_seed,
            n_items=items,
            n_groups=groups,
            max_minutes=max_minutes,
            overwrite=overwrite,
            progress=True,
            on_progress=report,
        )
    )
    typer.echo(str(folder))
    if str(data) != "synthetic":
        world = f" --dataset-path {data}"
    else:
        world = "".join(
            f" --env-arg {name}={value}"
            for name, value, default in (
                ("world_seed", world_seed, 0),
                ("n_items", items, 3000),
                ("n_groups", groups, 24),
            )
            if value != default
        )
    _note(
        f"Evaluate it: recoworld evaluate --env SlateRec-v0 --agent gru-ts --checkpoint {folder}"
        + world
    )
