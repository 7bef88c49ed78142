"""The library's own agents, registered per env id (imported by :mod:`recoworld.agents`).

Agents that need an extra (torch for SCPR and the SB3 policies, a language model for the LLM
agents) import it inside their factory, so listing or building the others stays light.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym

from recoworld.agents.base import Agent, ObservationLayout
from recoworld.agents.baselines import (
    GreedyAgent,
    InstructionAwareGreedyAgent,
    MostPopularAgent,
    OracleAgent,
    RandomAgent,
)
from recoworld.agents.convrec import AbsGreedyAgent, ConvRandomAgent, MaxEntropyAgent
from recoworld.agents.registry import AgentFactory, register_agent
from recoworld.agents.slate_baselines import SlatePopularAgent, SlateRandomAgent

__all__ = ["SB3_ALGOS", "resolve_sb3_checkpoint"]

RECOWORLD = "RecoWorld-v0"
CONVREC = "ConvRec-v0"
RECOCHAT = "RecoChat-v0"
SLATEREC = "SlateRec-v0"

BAYESIAN_RANKER_OPTIONS: tuple[str, ...] = (
    "prior_variance",
    "noise_variance",
    "features",
    "prior_mean",
    "examine_decay",
    "discount",
)
"""Options of ``ts`` and ``bayes-greedy`` (see :class:`~recoworld.agents.ThompsonSamplingAgent`)."""

SB3_ALGOS: tuple[str, ...] = ("ppo", "maskable-ppo")
"""Agents that play a Stable-Baselines3 model saved by ``recoworld train``."""


# ---------------------------------------------------------------------------- RecoWorld-v0


def _text_instruction_greedy(env: gym.Env, seed: int | None, options: Mapping[str, Any]) -> Agent:
    from recoworld.agents.instruction_text import TextInstructionGreedyAgent

    return TextInstructionGreedyAgent(env)


def _llm_ranker(env: gym.Env, seed: int | None, options: Mapping[str, Any]) -> Agent:
    from recoworld.agents.llm_ranker import LLMRankerAgent

    return LLMRankerAgent(env, seed=seed, **options)


def _novelty_greedy(env: gym.Env, seed: int | None, options: Mapping[str, Any]) -> Agent:
    from recoworld.agents.novelty import NoveltyShareAgent

    return NoveltyShareAgent(ObservationLayout.of(env), **options)


def _bayesian_ranker(sample: bool) -> Any:
    def build(env: gym.Env, seed: int | None, options: Mapping[str, Any]) -> Agent:
        from recoworld.agents.thompson import BayesGreedyAgent, ThompsonSamplingAgent

        cls = ThompsonSamplingAgent if sample else BayesGreedyAgent
        return cls.for_env(env, seed=seed, **options)

    return build


def resolve_sb3_checkpoint(checkpoint: str | os.PathLike[str]) -> Path:
    """The model file of a ``recoworld train`` output: the path itself, ``PATH.zip`` or
    ``PATH/model.zip``; ``FileNotFoundError`` naming the path if none exists."""
    path = Path(checkpoint)
    for candidate in (path, path.with_suffix(".zip"), path / "model.zip"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no saved Stable-Baselines3 model at {str(path)!r}")


def check_sb3_archive(path: Path) -> None:
    """``ValueError`` naming ``path`` unless it is a Stable-Baselines3 save: a zip archive that
    holds the ``data`` entry ``model.save`` writes."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(
            f"{str(path)!r} is not a Stable-Baselines3 model (not a readable zip archive: "
            f"{error}); give the folder or model.zip that `recoworld train` wrote"
        ) from None
    if "data" not in names:
        raise ValueError(
            f"{str(path)!r} is a zip archive but not a Stable-Baselines3 model (no 'data' "
            "entry); give the folder or model.zip that `recoworld train` wrote"
        )


def _sb3_prepare(algo: str) -> Any:
    def prepare(
        options: dict[str, Any], env_kwargs: Mapping[str, Any], seed: int | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The env settings the model was trained with (``model.json`` beside the zip:
        notably ``action_type``, which the policy's action space needs)."""
        model_path = resolve_sb3_checkpoint(options["checkpoint"])
        check_sb3_archive(model_path)
        record_path = model_path.with_suffix(".json")
        trained: dict[str, Any] = {}
        if record_path.is_file():
            try:
                record = json.loads(record_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise ValueError(f"{record_path} is not a readable JSON file: {error}") from None
            trained_algo = record.get("algo")
            if trained_algo is not None and trained_algo != algo:
                raise ValueError(
                    f"{str(model_path)!r} was trained with {trained_algo!r}, not {algo!r}"
                )
            trained = dict(record.get("env_kwargs") or {})
        return trained, {"checkpoint": model_path}

    return prepare


def _sb3_agent(env: gym.Env, seed: int | None, options: Mapping[str, Any]) -> Agent:
    from recoworld.training import load_sb3_agent

    model_path = resolve_sb3_checkpoint(options["checkpoint"])
    check_sb3_archive(model_path)
    return load_sb3_agent(model_path, env)


def _register_recoworld() -> None:
    def layout(env: gym.Env) -> ObservationLayout:
        return ObservationLayout.of(env)

    register_agent(
        RECOWORLD,
        "random",
        lambda env, seed, options: RandomAgent(layout(env), seed=seed),
        description="a uniformly random slate of available candidates",
    )
    register_agent(
        RECOWORLD,
        "popular",
        lambda env, seed, options: MostPopularAgent(layout(env)),
        description="the most popular available candidates",
    )
    register_agent(
        RECOWORLD,
        "greedy",
        lambda env, seed, options: GreedyAgent(layout(env)),
        description="embedding affinity to the watch history",
    )
    register_agent(
        RECOWORLD,
        "instruction-greedy",
        lambda env, seed, options: InstructionAwareGreedyAgent(layout(env)),
        description="greedy re-ranked by the structured reflective instruction",
    )
    register_agent(
        RECOWORLD,
        "oracle",
        lambda env, seed, options: OracleAgent(env),
        description="reads the hidden user state (no real system can)",
    )
    register_agent(
        RECOWORLD,
        "text-instruction-greedy",
        _text_instruction_greedy,
        description="greedy re-ranked by the instruction's words",
    )
    register_agent(
        RECOWORLD,
        "llm-ranker",
        _llm_ranker,
        description="a language model reads the instruction and re-ranks",
        options=("llm",),
        extras=("llm",),
    )
    register_agent(
        RECOWORLD,
        "novelty-greedy",
        _novelty_greedy,
        description="greedy with a fixed share of the slate (option novelty_share, default 0.3) "
        "from topics new to the user",
        options=("novelty_share", "new_topic_mass", "quality_weight"),
    )
    for name, sample in (("ts", True), ("bayes-greedy", False)):
        register_agent(
            RECOWORLD,
            name,
            _bayesian_ranker(sample),
            description="a Bayesian click model learned online, ranked by a posterior "
            + ("sample (Thompson sampling)" if sample else "mean (the greedy twin of ts)"),
            options=BAYESIAN_RANKER_OPTIONS,
        )
    for algo in SB3_ALGOS:
        register_agent(
            RECOWORLD,
            algo,
            _sb3_agent,
            description=f"a {algo.upper()} policy saved by `recoworld train`",
            options=("checkpoint",),
            required=("checkpoint",),
            prepare=_sb3_prepare(algo),
            extras=("train",),
        )


# ------------------------------------------------------------------------------ ConvRec-v0


def _mode(env: gym.Env) -> str:
    return str(env.unwrapped.action_mode)  # type: ignore[attr-defined]


def _scpr_agent(env: gym.Env, seed: int | None, options: Mapping[str, Any]) -> Agent:
    """SCPR on an env made for it (``make_env_and_agent`` / ``evaluate`` train or load the model
    in ``prepare`` and build the env with its scorers); :func:`make_scpr_agent` refuses any
    other env, checked before a checkpoint is loaded."""
    from recoworld.agents.scpr import (
        check_scpr_env,
        check_scpr_options,
        load_scpr_checkpoint,
        make_scpr_agent,
    )

    model = options.get("model")
    if model is None:
        check_scpr_env(env)
        if options.get("checkpoint") is None:
            raise ValueError(
                "agent 'scpr' on an existing env needs option model= or checkpoint=; to train one, "
                "use make_env_and_agent('ConvRec-v0', 'scpr') or evaluate('scpr', 'ConvRec-v0')"
            )
        check_scpr_options(options)
        model = load_scpr_checkpoint(options["checkpoint"])
    return make_scpr_agent(env, model)


def _scpr_prepare(
    options: dict[str, Any], env_kwargs: Mapping[str, Any], seed: int | None
) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    from recoworld.agents.scpr import prepare_scpr

    return prepare_scpr(options, env_kwargs, seed)


def _register_convrec() -> None:
    register_agent(
        CONVREC,
        "random",
        lambda env, seed, options: ConvRandomAgent(_mode(env), seed=seed),
        description="asks a random candidate attribute or recommends, at random",
    )
    register_agent(
        CONVREC,
        "abs-greedy",
        lambda env, seed, options: AbsGreedyAgent(),
        description="always recommends",
    )
    register_agent(
        CONVREC,
        "max-entropy",
        lambda env, seed, options: MaxEntropyAgent(
            _mode(env),
            recommend_size=env.unwrapped.top_k,  # type: ignore[attr-defined]
            seed=seed,
        ),
        description="asks the attribute of largest entropy over the candidates",
    )
    register_agent(
        CONVREC,
        "scpr",
        _scpr_agent,
        description="SCPR: FM scorer, weighted entropy and a learned ask-or-recommend policy "
        "(from checkpoint, else first trained on the env's data for train_steps DQN turns, "
        "default 20,000; save keeps the result in a new folder)",
        options=("checkpoint", "model", "train_steps", "save"),
        prepare=_scpr_prepare,
        extras=("train",),
    )


# ----------------------------------------------------------------------------- RecoChat-v0


def _chat_llm(env: gym.Env, seed: int | None, options: Mapping[str, Any]) -> Agent:
    from recoworld.agents.chat import LLMChatRecommender, agent_llm_settings, chat_agent_settings

    llm = options.get("llm")
    return LLMChatRecommender(
        llm=agent_llm_settings(env) if llm is None else llm, seed=seed, **chat_agent_settings(env)
    )


def _register_recochat() -> None:
    from recoworld.agents.chat import AttributeChatAgent, RandomChatAgent, chat_agent_settings

    register_agent(
        RECOCHAT,
        "random",
        lambda env, seed, options: RandomChatAgent(seed=seed, **chat_agent_settings(env)),
        description="random questions and recommendations",
    )
    register_agent(
        RECOCHAT,
        "attribute",
        lambda env, seed, options: AttributeChatAgent(seed=seed, **chat_agent_settings(env)),
        description="asks the most informative attribute, recommends when few candidates remain",
    )
    register_agent(
        RECOCHAT,
        "llm",
        _chat_llm,
        description="a language model writes each turn (its own model: option llm, default the "
        "user's model string or the embedded model)",
        options=("llm",),
        extras=("llm",),
    )


# ----------------------------------------------------------------------------- SlateRec-v0


def _register_slaterec() -> None:
    def sizes(env: gym.Env) -> tuple[int, int]:
        unwrapped: Any = env.unwrapped
        return int(unwrapped.n_items), int(unwrapped.slate_size)

    register_agent(
        SLATEREC,
        "random",
        lambda env, seed, options: SlateRandomAgent(*sizes(env), seed=seed),
        description="a uniformly random slate of distinct items",
    )
    register_agent(
        SLATEREC,
        "popular",
        lambda env, seed, options: SlatePopularAgent(
            env.unwrapped.catalog.popularity,  # type: ignore[attr-defined]
            sizes(env)[1],
        ),
        description="the most popular items the user has not clicked this episode",
    )
    for policy, text in (
        ("greedy", "top items under the posterior mean of a Bayesian GRU"),
        ("ts", "in-slate Thompson sampling from a Bayesian GRU's posterior"),
    ):
        register_agent(
            SLATEREC,
            f"gru-{policy}",
            _slate_gru_agent(policy),
            description=f"{text} (Eide et al. 2021; from checkpoint, else first trained on "
            "2,000 users of logs generated from the env's world)",
            options=("checkpoint", "model", "samples", "train_users", "epochs"),
            extras=("train",),
        )


def _slate_gru_agent(policy: str) -> AgentFactory:
    """The ``gru-<policy>`` factory (torch is imported when an agent is built)."""

    def factory(env: gym.Env, seed: int | None, options: Mapping[str, Any]) -> Agent:
        from recoworld.agents.slate_gru import make_slate_gru_agent

        return make_slate_gru_agent(env, seed, options, policy=policy)

    return factory


_register_recoworld()
_register_convrec()
_register_recochat()
_register_slaterec()
