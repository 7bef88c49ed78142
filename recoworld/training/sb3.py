"""A trained Stable-Baselines3 model behind the :class:`~recoworld.agents.Agent` protocol."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm

from recoworld.training.policies import RankerFeaturesExtractor, scores_from_ranker_action
from recoworld.training.ppo import slate_action_masks

if TYPE_CHECKING:
    from sb3_contrib import MaskablePPO


class SB3Agent:
    """Acts with ``model.predict(observation, deterministic=True)``.

    For MaskablePPO (``masked=True``) the candidate mask ``info["action_mask"]`` is tiled over
    the slate's slots and passed as ``action_masks``. For a ranker model (``ranker=True``,
    trained behind :class:`~recoworld.training.policies.RankerActions`) the predicted ranker
    weights are turned into per-candidate scores. With ``slate_size`` set, scores are turned
    into the slate of the ``slate_size`` best candidates (ties to the lower index), exactly the
    slate a scores env would show, so a score model also acts in a slate env.
    """

    def __init__(
        self,
        model: BaseAlgorithm,
        *,
        masked: bool = False,
        ranker: bool = False,
        slate_size: int | None = None,
        name: str = "ppo",
    ) -> None:
        action_space = model.action_space
        if masked and not isinstance(action_space, spaces.MultiDiscrete):
            raise ValueError(f"masked=True needs a MultiDiscrete slate action, got {action_space}")
        if slate_size is not None and (masked or slate_size < 1):
            raise ValueError(
                f"slate_size={slate_size!r} must be a positive integer, and only for score models"
            )
        self.model = model
        self.masked = masked
        self.ranker = ranker
        self.slate_size = slate_size
        self.name = name

    def reset(self, *, seed: int | None = None) -> None:
        return None

    def act(self, observation: Any, info: dict[str, Any]) -> np.ndarray:
        if self.masked:
            # __init__ checked the slate action space; only MaskablePPO's predict takes masks.
            slots = len(cast(spaces.MultiDiscrete, self.model.action_space).nvec)
            masks = slate_action_masks(info["action_mask"], slots)
            model = cast("MaskablePPO", self.model)
            action, _ = model.predict(observation, deterministic=True, action_masks=masks)
            return action
        action, _ = self.model.predict(observation, deterministic=True)
        if self.ranker:
            action = scores_from_ranker_action(observation, action)
        if self.slate_size is not None:
            return np.argsort(-action, kind="stable")[: self.slate_size].astype(np.int64)
        return action


def saved_algo(path: Path) -> str:
    """``"ppo"`` or ``"maskable-ppo"``: from the ``.json`` next to the zip, else the zip itself.

    Without the JSON, the policy class recorded in the zip's ``data`` tells: MaskablePPO
    policies live in ``sb3_contrib.common.maskable``.
    """
    record = path.with_suffix(".json")
    if record.is_file():
        algo = json.loads(record.read_text()).get("algo")
        if algo in ("ppo", "maskable-ppo"):
            return algo
    with zipfile.ZipFile(path) as archive:
        data = archive.read("data").decode("utf-8", errors="replace")
    return "maskable-ppo" if "sb3_contrib.common.maskable" in data else "ppo"


def load_sb3_agent(path: str | Path, env: Any) -> SB3Agent:
    """Load the model saved at ``path`` (a ``.zip``) as an agent for ``env``.

    PPO or MaskablePPO is read from the ``.json`` next to the zip (or from the zip). A model
    that outputs scores (the ranker, the candidate scorer, or a multi-input policy trained with
    ``action_type="scores"``) acts in a scores env as trained, and in a slate env of the same
    candidate count through its top-``slate_size`` candidates.

    Raises ``FileNotFoundError`` naming the path if there is no such file, and ``ValueError``
    if ``env``'s observation space differs from the model's or its action space is one the
    model cannot serve (a slate model given a scores env, other sizes).
    """
    path = Path(path)
    if not path.is_file() and path.suffix != ".zip":
        path = path.with_suffix(path.suffix + ".zip")
    if not path.is_file():
        raise FileNotFoundError(f"no saved Stable-Baselines3 model at {path}")
    algo = saved_algo(path)
    if algo == "maskable-ppo":
        from sb3_contrib import MaskablePPO

        model: BaseAlgorithm = MaskablePPO.load(path, device="cpu")
    else:
        model = PPO.load(path, device="cpu")
    hint = f"make the env with the env_kwargs in {path.with_suffix('.json').name}"
    if model.observation_space != env.observation_space:
        raise ValueError(
            f"the model at {path} was trained with observation_space {model.observation_space}, "
            f"but the env has {env.observation_space}; {hint}"
        )
    ranker = isinstance(model.policy.features_extractor, RankerFeaturesExtractor)
    observation_space = model.observation_space
    candidates_space = (
        observation_space.spaces.get("candidates")
        if isinstance(observation_space, spaces.Dict)
        else None
    )
    if not isinstance(candidates_space, spaces.Box):
        raise ValueError(
            f"the model at {path} was trained with observation_space {observation_space}, "
            "which has no 'candidates' Box: not a RecoWorld model"
        )
    num_candidates = candidates_space.shape[0]
    scores_space = spaces.Box(-1.0, 1.0, (num_candidates,), np.float32)
    produces_scores = ranker or model.action_space == scores_space
    action_space = env.action_space
    if produces_scores and action_space == scores_space:
        return SB3Agent(model, ranker=ranker, name=algo)
    if (
        produces_scores
        and isinstance(action_space, spaces.MultiDiscrete)
        and np.all(action_space.nvec == num_candidates)
    ):
        return SB3Agent(model, ranker=ranker, slate_size=len(action_space.nvec), name=algo)
    if not produces_scores and model.action_space == action_space:
        return SB3Agent(model, masked=algo == "maskable-ppo", name=algo)
    raise ValueError(
        f"the model at {path} acts in action_space {model.action_space}"
        f"{' (ranker weights, shown as scores)' if ranker else ''}, which does not fit the env's "
        f"action_space {action_space}; {hint}"
    )
