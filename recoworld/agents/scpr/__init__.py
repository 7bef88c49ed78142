"""SCPR (Lei et al., KDD 2020): path reasoning, weighted entropy and a learned ask-or-recommend.

SCPR splits each turn of a multi-round conversation into two decisions:

* **what** to ask or recommend. Path reasoning on the user–item–attribute graph keeps as
  candidate attributes only those adjacent to the candidate items (``ConvRec-v0`` already
  reports them as ``info["candidate_attributes"]``); among them SCPR asks the one of largest
  *weighted entropy* (:func:`weighted_entropy`): the binary entropy of the share of the
  candidates' FM score mass (after a sigmoid) held by the items that have the attribute. A
  recommendation is the ``top_k`` candidates by the FM item score
  (:class:`~recoworld.agents.scpr.fm.FMScorer`).
* **whether** to ask or to recommend: a policy over the conversation state (the history of
  turn outcomes and the candidate count), trained by reinforcement learning through
  ``ConvRec-v0`` with ``action_mode="ask_or_recommend"``, where action ``0`` asks the attribute
  chosen by the env's ``attribute_scorer`` (here :class:`WeightedEntropyScorer`) and ``1``
  recommends by the env's ``item_scorer`` (here the FM).

The decision is a swappable policy object (:class:`AskRecommendPolicy`): :class:`DQNPolicy`, a
DQN written here (a :class:`QNetwork`, a :class:`ReplayBuffer` returning
:class:`ReplaySamples`, a target network and epsilon-greedy exploration; see
:func:`train_scpr_dqn`), or :class:`SB3Policy`, the same decision learned by Stable-Baselines3's
DQN or PPO through the same env (:func:`train_scpr_sb3`). :class:`SCPRAgent` plays either in
``ConvRec-v0``; :func:`train_scpr` trains both parts, :func:`save_scpr_checkpoint` /
:func:`load_scpr_checkpoint` keep them, and the agent registry's ``scpr`` entry builds the env
with SCPR's scorers and the agent together (``make_env_and_agent``, ``evaluate``).
"""

from recoworld.agents.scpr.agent import (
    DEFAULT_TRAIN_STEPS,
    SCPRAgent,
    SCPRModel,
    check_scpr_env,
    check_scpr_options,
    dqn_config_for_budget,
    make_scpr_agent,
    prepare_scpr,
    train_scpr,
)
from recoworld.agents.scpr.checkpoint import load_scpr_checkpoint, save_scpr_checkpoint
from recoworld.agents.scpr.dqn import DQNConfig, ReplayBuffer, ReplaySamples, train_scpr_dqn
from recoworld.agents.scpr.fm import FMConfig, FMScorer, train_fm
from recoworld.agents.scpr.policy import (
    OBSERVATION_KEYS,
    SB3_ALGOS,
    AskRecommendPolicy,
    DQNPolicy,
    QNetwork,
    SB3Policy,
    flatten_observation,
)
from recoworld.agents.scpr.sb3 import SB3Config, train_scpr_sb3
from recoworld.agents.scpr.scorer import WeightedEntropyScorer, scpr_env_kwargs, weighted_entropy

__all__ = [
    "DEFAULT_TRAIN_STEPS",
    "OBSERVATION_KEYS",
    "SB3_ALGOS",
    "AskRecommendPolicy",
    "DQNConfig",
    "DQNPolicy",
    "FMConfig",
    "FMScorer",
    "QNetwork",
    "ReplayBuffer",
    "ReplaySamples",
    "SB3Config",
    "SB3Policy",
    "SCPRAgent",
    "SCPRModel",
    "WeightedEntropyScorer",
    "check_scpr_env",
    "check_scpr_options",
    "dqn_config_for_budget",
    "flatten_observation",
    "load_scpr_checkpoint",
    "make_scpr_agent",
    "prepare_scpr",
    "save_scpr_checkpoint",
    "scpr_env_kwargs",
    "train_fm",
    "train_scpr",
    "train_scpr_dqn",
    "train_scpr_sb3",
    "weighted_entropy",
]
