"""The SCPR agent: the policy decides ask or recommend, weighted entropy picks the attribute,
the FM ranks the recommendation."""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym
import numpy as np

from recoworld.agents.scpr.checkpoint import load_scpr_checkpoint, save_scpr_checkpoint
from recoworld.agents.scpr.dqn import DQNConfig, train_scpr_dqn
from recoworld.agents.scpr.fm import FMConfig, FMItemScorer, FMScorer, train_fm
from recoworld.agents.scpr.policy import (
    ASK,
    ENV_ID,
    RECOMMEND,
    AskRecommendPolicy,
    DQNPolicy,
    SB3Policy,
    flatten_observation,
)
from recoworld.agents.scpr.scorer import (
    WeightedEntropyScorer,
    check_scorer_fits,
    scpr_env_kwargs,
)
from recoworld.graph import AttributeGraph

if TYPE_CHECKING:
    from recoworld.envs.convrec import ConvRecEnv

__all__ = [
    "DEFAULT_TRAIN_STEPS",
    "SCPRAgent",
    "SCPRModel",
    "check_scpr_env",
    "check_scpr_options",
    "dqn_config_for_budget",
    "make_scpr_agent",
    "prepare_scpr",
    "train_scpr",
]

DEFAULT_TRAIN_STEPS = DQNConfig().total_steps
"""The DQN budget (env turns) of agent ``scpr`` trained without a checkpoint: 20,000."""


class SCPRAgent:
    """SCPR in ``ConvRec-v0``: the policy decides ask or recommend, weighted entropy picks the
    attribute, the FM ranks the recommendation.

    In ``action_mode="ask_or_recommend"`` the agent returns the policy's ``0``/``1`` and the env
    asks by its ``attribute_scorer`` and recommends by its ``item_scorer`` (set both with
    :func:`scpr_env_kwargs`). In ``action_mode="attribute"`` an ask
    returns the attribute column of largest weighted entropy (needs ``chooser``) and a
    recommendation the last action (the env's ``item_scorer`` ranks). With no candidate
    attribute left it always recommends.
    """

    name = "scpr"

    def __init__(
        self, policy: AskRecommendPolicy, chooser: WeightedEntropyScorer | None = None
    ) -> None:
        if not isinstance(policy, AskRecommendPolicy):
            raise ValueError(f"policy={policy!r} has no decide(observation) method")
        self.policy = policy
        self.chooser = chooser

    def reset(self, *, seed: int | None = None) -> None:
        return None

    def act(self, observation: Any, info: dict[str, Any]) -> int:
        recommend = len(info["action_mask"]) - 1
        attributes = info["candidate_attributes"]
        if len(attributes) == 0:
            return recommend
        if self.policy.decide(flatten_observation(observation)) == RECOMMEND:
            return recommend
        if recommend == RECOMMEND:  # ask_or_recommend: the env picks the attribute
            return ASK
        if self.chooser is None:
            raise ValueError(
                "SCPRAgent in action_mode='attribute' needs a chooser (WeightedEntropyScorer) "
                "to pick the attribute it asks"
            )
        return self.chooser.choose(
            int(info["user"]), info["candidates"], attributes, info["accepted_attributes"]
        )


def _graph_interactions(graph: AttributeGraph) -> dict[int, np.ndarray]:
    indptr, indices = graph.user_items.indptr, graph.user_items.indices
    return {
        int(user): indices[indptr[row] : indptr[row + 1]].astype(np.int64)
        for row, user in enumerate(graph.user_ids.tolist())
    }


SCPRModel = tuple[FMScorer, DQNPolicy | SB3Policy]
"""SCPR's learned parts: the FM scorer and the ask-or-recommend policy."""


def train_scpr(
    env_kwargs: Mapping[str, Any],
    seed: int = 0,
    *,
    fm_config: FMConfig | None = None,
    dqn_config: DQNConfig | None = None,
    progress: bool = True,
) -> SCPRModel:
    """Train SCPR on ``gym.make("ConvRec-v0", **env_kwargs)``'s data: the FM on the interactions
    of the env's graph (the training split for a ``dataset_path`` env), then the DQN through the
    env with the FM's scorers (:func:`~recoworld.agents.scpr.scpr_env_kwargs`), both seeded by
    ``seed``, with progress bars."""
    probe = gym.make(ENV_ID, **{**env_kwargs, "render_mode": None})
    try:
        core = cast("ConvRecEnv", probe.unwrapped)
        interactions = _graph_interactions(core.graph)
        catalog = core.catalog
    finally:
        probe.close()
    fm = train_fm((catalog, interactions), fm_config, int(seed), progress=progress)
    policy = train_scpr_dqn(
        scpr_env_kwargs(env_kwargs, fm), dqn_config, int(seed), progress=progress
    )
    return fm, policy


def make_scpr_agent(env: gym.Env, model: SCPRModel) -> SCPRAgent:
    """SCPR (``model`` = FM scorer and policy) for ``env``, a ``ConvRec-v0`` that recommends
    with this FM and, in ``"ask_or_recommend"`` mode, asks by its weighted entropy.

    The env must have been made with SCPR's scorers: build env and agent together with
    ``make_env_and_agent("ConvRec-v0", "scpr", checkpoint=...)``, or make the env with
    ``scpr_env_kwargs(env_kwargs, fm, action_mode=None)``. An env that ranks with another scorer
    is refused (SCPR's recommendations would not be its own).

    Raises:
        ValueError: the env's item scorer is not this FM's, or the FM was trained on a graph
            of other sizes.
    """
    fm, policy = model
    core = cast("ConvRecEnv", env.unwrapped)
    check_scorer_fits(fm, core.graph)
    check_scpr_env(env, fm)
    return SCPRAgent(policy, WeightedEntropyScorer(fm, core.graph))


def check_scpr_env(env: gym.Env, fm: FMScorer | None = None) -> None:
    """``ValueError`` unless ``env`` ranks its recommendations with an FM scorer (``fm`` itself
    when given): SCPR's recommendations must be its own. The message says how to make the env."""
    scorer = getattr(env.unwrapped, "item_scorer", None)
    if not isinstance(scorer, FMItemScorer) or (fm is not None and scorer.fm is not fm):
        raise ValueError(
            "SCPR recommends with its own FM scorer, but this env ranks with "
            f"{type(scorer).__name__}: make the env with scpr_env_kwargs(env_kwargs, fm, "
            "action_mode=None), or build both with make_env_and_agent('ConvRec-v0', 'scpr', "
            "agent_options={'checkpoint': ...})"
        )


def dqn_config_for_budget(train_steps: int) -> DQNConfig:
    """The :class:`DQNConfig` of a ``train_steps``-turn budget: the defaults with the schedule
    scaled to the budget. Learning starts after 5% of it, the target network is copied every
    2.5% (at least every turn) and the replay buffer holds at most the whole budget, so the
    default budget, 20,000 turns, gives ``DQNConfig()`` itself (1,000 and 500 turns)."""
    if (
        isinstance(train_steps, bool | np.bool_)
        or not isinstance(train_steps, int | np.integer)
        or train_steps < 1
    ):
        raise ValueError(f"train_steps={train_steps!r} must be an integer >= 1")
    train_steps = int(train_steps)
    default = DQNConfig()
    scale = train_steps / default.total_steps
    return replace(
        default,
        total_steps=train_steps,
        buffer_size=min(default.buffer_size, train_steps),
        learning_starts=int(default.learning_starts * scale),
        target_update_interval=max(1, int(default.target_update_interval * scale)),
    )


def check_scpr_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options of agent ``scpr`` checked before anything is loaded or trained.

    ``checkpoint`` (a folder written by :func:`save_scpr_checkpoint`) or ``model`` (an
    :data:`SCPRModel`) give a trained SCPR, at most one of them. Without either, SCPR is
    trained on the env's data: ``train_steps`` (an integer >= 1, default
    :data:`DEFAULT_TRAIN_STEPS`) is the DQN's budget in env turns (:func:`dqn_config_for_budget`),
    and ``save`` a folder to write the trained checkpoint to; it must not exist or be empty,
    since a checkpoint is never overwritten (should it fill up during training, the
    checkpoint goes to a new sibling folder, :func:`fresh_save_folder`). ``train_steps`` and
    ``save`` apply only to training, so they are refused beside ``checkpoint`` or ``model``.

    Returns the options with ``save`` as a :class:`~pathlib.Path`; ``ValueError`` naming the
    option otherwise.
    """
    checked = {key: value for key, value in options.items() if value is not None}
    given = [name for name in ("checkpoint", "model") if name in checked]
    if len(given) > 1:
        raise ValueError("agent 'scpr' takes option checkpoint or model, not both")
    if given:
        for name in ("train_steps", "save"):
            if name in checked:
                raise ValueError(
                    f"agent 'scpr' option {name} applies only when SCPR is trained, but "
                    f"{given[0]} gives a trained model; leave out {name} or {given[0]}"
                )
    if "train_steps" in checked:
        dqn_config_for_budget(checked["train_steps"])  # raises naming train_steps
    if "save" in checked:
        save = checked["save"]
        if not isinstance(save, str | os.PathLike) or not str(save):
            raise ValueError(f"save={save!r} must be a folder path")
        folder = Path(save)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            what = "a folder that is not empty" if folder.is_dir() else "a file"
            raise ValueError(
                f"save={str(folder)!r} is {what}; the SCPR checkpoint is written to a new or "
                "empty folder and never overwrites one"
            )
        checked["save"] = folder
    return checked


def fresh_save_folder(folder: Path) -> Path:
    """A new or empty folder to write a just-trained checkpoint to: ``folder`` when it still
    is one, else the first sibling ``<folder>-1``, ``<folder>-2``, ... that does not exist
    (created here, so two runs never share one), with a warning naming it.

    ``folder`` was checked before training (:func:`check_scpr_options`); when something filled
    it in the meantime, the trained model is kept beside it rather than lost or overwriting it.
    """
    try:
        folder.mkdir(parents=True)
        return folder
    except FileExistsError:
        if folder.is_dir() and not any(folder.iterdir()):
            return folder
    for n in itertools.count(1):
        sibling = folder.with_name(f"{folder.name}-{n}")
        try:
            sibling.mkdir()
        except FileExistsError:
            continue
        warnings.warn(
            f"save={str(folder)!r} is no longer a new or empty folder (it was filled while SCPR "
            f"trained); the trained checkpoint is saved to {str(sibling)!r} instead",
            UserWarning,
            stacklevel=2,
        )
        return sibling
    raise AssertionError("unreachable")  # pragma: no cover


def prepare_scpr(
    options: dict[str, Any], env_kwargs: Mapping[str, Any], seed: int | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The registry's ``prepare`` of agent ``scpr``: load ``checkpoint`` (or, without one,
    train on the env's data with ``seed``, default 0, for ``train_steps`` DQN turns with
    progress bars, and write the checkpoint to ``save`` when given), and return the env
    settings that make ``ConvRec-v0`` rank with the FM (and ask by weighted entropy in
    ``"ask_or_recommend"`` mode) and the ``model`` option for :func:`make_scpr_agent`.

    Every option is checked first (:func:`check_scpr_options`), so a bad ``save`` folder is
    refused before a training run, not after it.
    """
    options = check_scpr_options(options)
    model = options.get("model")
    if model is None:
        checkpoint = options.get("checkpoint")
        if checkpoint is not None:
            model = load_scpr_checkpoint(checkpoint)
        else:
            budget = options.get("train_steps", DEFAULT_TRAIN_STEPS)
            model = train_scpr(
                env_kwargs,
                0 if seed is None else int(seed),
                dqn_config=dqn_config_for_budget(budget),
            )
            if "save" in options:
                save_scpr_checkpoint(fresh_save_folder(options["save"]), *model)
    fm = model[0]
    settings = scpr_env_kwargs(env_kwargs, fm, action_mode=None)
    extra: dict[str, Any] = {
        key: settings[key] for key in ("item_scorer", "attribute_scorer") if key in settings
    }
    return extra, {"model": model}
