"""``SlateRec-v0``: show a slate of items to a simulated user who clicks one of them or none.

The setting of FINN.no's slate logs (Eide, Leslie and Frigessi, 2021, "Dynamic Slate
Recommendation with Gated Recurrent Units and Thompson Sampling"): every step the recommender
shows a slate of up to 24 items, and the user answers with one click or none, by a multinomial
logit over the slate and a no-click option. See :class:`SlateRecEnv`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recoworld.catalog.slate_world import SlateWorld, synthetic_slate_world
from recoworld.envs.recoworld import kernels
from recoworld.envs.slaterec.config import SlateRecConfig
from recoworld.simulators import LatentUserState, sample_users, step_users
from recoworld.validation import check_seed, config_from_arguments

__all__ = ["OBJECT_ARGUMENTS", "SlateRecActionSpace", "SlateRecEnv", "slate_rows"]

ObsType = dict[str, Any]

OBJECT_ARGUMENTS: tuple[str, ...] = ("world", "dataset_path", "render_mode")
"""The constructor's keyword arguments that are objects or Gymnasium's, not
:class:`SlateRecConfig` settings."""


def slate_rows(action: Any, slate_size: int, n_items: int) -> np.ndarray:
    """The slate as the user sees it: ``(1, slate_size)`` int64 catalog rows, every repetition
    of an item replaced by ``-1`` (an empty, wasted slot; the first occurrence keeps its slot).

    ``action`` is ``slate_size`` integers in ``[0, n_items)``: a numpy integer array of any
    width or a list of Python or numpy integers; not bools, not floats (even whole ones).

    Raises:
        ValueError: the action is not such an array; the message names the value (and the slot
            and the bound, for an item out of range).
    """
    try:
        array = np.asarray(action)
    except (ValueError, TypeError) as error:
        raise ValueError(f"slate action {action!r} is not an array: {error}") from None
    if array.shape != (slate_size,):
        raise ValueError(
            f"slate action has shape {array.shape}, expected ({slate_size},) (one catalog row "
            f"per slot): {action!r}"
        )
    if array.dtype.kind not in "iu":
        raise ValueError(
            f"slate action has non-integer dtype {array.dtype}; items are integer catalog rows "
            f"(not bools or floats) in [0, {n_items - 1}]: {action!r}"
        )
    slate = np.ascontiguousarray(array.reshape(1, slate_size), dtype=np.int64)
    rows = np.empty_like(slate)
    bad = kernels.slate_slots(slate, n_items, rows)
    if bad >= 0:
        raise ValueError(
            f"slate action item {array[bad]} (slot {bad}) is outside the catalog rows "
            f"[0, {n_items - 1}]"
        )
    return rows


class SlateRecActionSpace(spaces.MultiDiscrete):
    """``MultiDiscrete([n_items] * slate_size)`` whose :meth:`contains` is exactly what
    ``SlateRec-v0``'s ``step`` accepts (:func:`slate_rows`): integer arrays or lists, not bools
    or floats (Gymnasium's ``MultiDiscrete`` would take a bool array)."""

    def __init__(self, n_items: int, slate_size: int) -> None:
        super().__init__(np.full(slate_size, n_items, np.int64))
        self.n_items = n_items
        self.slate_size = slate_size

    def contains(self, x: Any) -> bool:
        try:
            slate_rows(x, self.slate_size, self.n_items)
        except ValueError:
            return False
        return True


class SlateRecEnv(gym.Env[ObsType, np.ndarray]):
    """Show a slate of items each step; the user clicks one of them or none, or leaves.

    ## Description

    Slate recommendation as in FINN.no's logs: a user of the slate world
    (:class:`~recoworld.catalog.slate_world.SlateWorld`, items in groups) is shown one slate a
    step. The latent user (:mod:`recoworld.simulators.latent` with ``choice_model="mnl"``)
    answers with at most one click: slot ``s`` with probability ``exp(u_s) /
    (exp(no_click_utility) + sum_j exp(u_j))``, no click with the rest
    (:func:`~recoworld.simulators.slate_choice_probabilities`), ``u`` its utility of each item
    (interests, quality, boredom, novelty, items already shown or clicked). Its state moves
    with what it clicked, and it loses patience with slates that bring nothing until it leaves.

    ## Action Space

    ``MultiDiscrete([n_items] * slate_size)``: the catalog rows of the slate's items, in slot
    order (:class:`SlateRecActionSpace`). Every action inside the space is a legal move: an
    item repeated in the slate is shown once, at its first slot, and each repetition is an
    empty, *wasted* slot (so a slate of one item repeated 24 times is a slate of one item).
    ``action_space.contains`` and ``step`` agree: a slate is an integer array or list (numpy or
    Python integers of any width), not bools and not floats. An action outside the space (a
    wrong shape, a float or bool array, an item outside ``[0, n_items)``) raises ``ValueError``
    naming the value (and the slot and the bound), and leaves the env as it was.

    ## Observation Space

    A ``Dict``:

    * ``clicks``: ``MultiDiscrete([n_items + 1] * history_length)``, the catalog rows of the
      last ``history_length`` clicked items, oldest first, left-padded with ``n_items`` (the
      pad value, no item).
    * ``step``: ``Discrete(horizon + 1)``, the slates shown so far this episode.
    * ``n_clicks``: ``Discrete(horizon + 1)``, the clicks so far this episode.

    ## Rewards

    1 per click (so 0 or 1 a step).

    ## Starting State

    A user drawn from the world's population (:func:`~recoworld.simulators.sample_users`
    with ``self.np_random``) at the start of a session, with no click yet.

    ## Episode End

    ``terminated`` when the user leaves (after the step's click, if any); ``truncated`` when
    ``horizon`` slates have been shown and the user is still there. Stepping a finished
    episode raises ``RuntimeError``.

    ## Info

    After each step: ``clicked`` (the catalog row clicked, or -1), ``slate`` (the slate as the
    user saw it: ``(slate_size,)`` catalog rows, -1 for each repeated, wasted slot),
    ``groups_in_slate`` (distinct item groups among the items shown), ``n_shown`` (distinct
    items shown). The reset's info is empty.

    ## Arguments

    The settings are the fields of :class:`~recoworld.envs.slaterec.SlateRecConfig`, given as
    ``config=SlateRecConfig(...)`` (also the one positional argument) or as keywords of the
    same names, not both: ``slate_size`` (24), ``horizon`` (20), ``history_length`` (20),
    ``n_items`` (3000), ``n_groups`` (24), ``world_seed`` (0) and ``user_config`` (None: the
    world's users). An unknown keyword raises ``ValueError`` naming it. The objects are
    keyword arguments of their own (:data:`OBJECT_ARGUMENTS`):

    * ``world``: a ready :class:`~recoworld.catalog.slate_world.SlateWorld`.
    * ``dataset_path``: a folder with FINN.no slate logs (``data.npz``, ``itemattr.npz``,
      ``ind2val.json``, see :func:`recoworld.catalog.slates.load_slate_logs`); the world is
      built over the logs' items by :func:`recoworld.catalog.slates.slate_world_from_logs`
      with ``world_seed``.
    * Neither: the synthetic world :func:`~recoworld.catalog.slate_world.synthetic_slate_world`
      of ``n_items`` items in ``n_groups`` groups from ``world_seed``.
    * ``render_mode``: None or ``"ansi"`` (the last slate, the clicked item starred).

    Not both ``world`` and ``dataset_path``. ``slate_size`` must not exceed the world's items.
    The world is ``env.unwrapped.world``; agents map its catalog rows to the logs' item indices
    with ``world.log_items``.

    ## Version History

    * v0: initial version.

    >>> import gymnasium as gym, recoworld
    >>> env = gym.make("SlateRec-v0", n_items=200, n_groups=8, slate_size=10)
    >>> obs, info = env.reset(seed=0)
    >>> obs["clicks"].shape, int(obs["step"]), env.action_space.shape
    ((20,), 0, (10,))
    >>> obs, reward, terminated, truncated, info = env.step(np.full(10, 7))
    >>> info["n_shown"], info["slate"][:3].tolist(), info["clicked"] in (-1, 7)
    (1, [7, -1, -1], True)
    """

    metadata = {"render_modes": ["ansi"]}  # noqa: RUF012

    def __init__(
        self,
        config: SlateRecConfig | None = None,
        *,
        world: SlateWorld | None = None,
        dataset_path: str | os.PathLike[str] | None = None,
        render_mode: str | None = None,
        **settings: Any,
    ) -> None:
        config = config_from_arguments(
            SlateRecConfig,
            config,
            settings,
            owner="SlateRec-v0",
            other_arguments=OBJECT_ARGUMENTS,
        )
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode={render_mode!r} must be None or 'ansi'")
        if world is not None and dataset_path is not None:
            raise ValueError(
                "world and dataset_path both given: the world is either a ready SlateWorld or "
                "built from the logs in dataset_path, not both"
            )
        if world is not None and not isinstance(world, SlateWorld):
            raise ValueError(f"world={world!r} is not a SlateWorld")
        if dataset_path is not None and not isinstance(dataset_path, str | os.PathLike):
            raise ValueError(f"dataset_path={dataset_path!r} must be a folder path")
        if world is None:
            world = _build_world(config, dataset_path)
        if config.user_config is not None:
            world = dataclasses.replace(world, user_config=config.user_config)
        if config.slate_size > world.n_items:
            raise ValueError(
                f"slate_size={config.slate_size} exceeds the {world.n_items} items of "
                f"{world.name}: a slate shows distinct items"
            )
        self.config = config
        self.world = world
        self.catalog = world.catalog
        self.render_mode = render_mode
        self.slate_size = config.slate_size
        self.horizon = config.horizon
        self.history_length = config.history_length
        self.n_items = world.n_items
        self.pad_item = world.n_items
        """The value that pads the ``clicks`` observation (no item)."""

        self.action_space = SlateRecActionSpace(self.n_items, self.slate_size)
        self.observation_space = spaces.Dict(
            {
                "clicks": spaces.MultiDiscrete(
                    np.full(self.history_length, self.n_items + 1, np.int64)
                ),
                "step": spaces.Discrete(self.horizon + 1),
                "n_clicks": spaces.Discrete(self.horizon + 1),
            }
        )
        self._state: LatentUserState | None = None
        self._history = np.full(self.history_length, self.pad_item, np.int64)
        self._step = 0
        self._n_clicks = 0
        self._done = False
        self._last_slate: np.ndarray | None = None
        self._last_click = -1

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        if seed is not None:  # numpy integers too; a bool or a negative seed is named
            seed = check_seed("seed", seed)
        if options:
            raise ValueError(f"options={options!r}: SlateRec-v0 takes no reset options")
        super().reset(seed=seed)
        self._state = sample_users(1, self.catalog, self.world.user_config, self.np_random)
        self._history = np.full(self.history_length, self.pad_item, np.int64)
        self._step = 0
        self._n_clicks = 0
        self._done = False
        self._last_slate = None
        self._last_click = -1
        return self._observation(), {}

    def step(self, action: Any) -> tuple[ObsType, float, bool, bool, dict[str, Any]]:
        rows = slate_rows(action, self.slate_size, self.n_items)
        if self._state is None:
            raise RuntimeError("SlateRecEnv.step called before reset")
        if self._done:
            raise RuntimeError("the episode has ended; call reset before stepping again")
        outcome = step_users(
            self._state, self.catalog, rows, self.world.user_config, self.np_random
        )
        clicks = outcome.clicks[0]
        slot = int(clicks.argmax())
        clicked = int(rows[0, slot]) if clicks[slot] else -1
        if clicked >= 0:
            self._history[:-1] = self._history[1:]
            self._history[-1] = clicked
            self._n_clicks += 1
        self._step += 1
        terminated = bool(outcome.left[0])
        truncated = not terminated and self._step >= self.horizon
        self._done = terminated or truncated
        slate = rows[0]
        shown = slate[slate >= 0]
        groups = np.bincount(self.world.groups[shown], minlength=self.world.n_groups)
        self._last_slate, self._last_click = slate, clicked
        info = {
            "clicked": clicked,
            "slate": slate,
            "groups_in_slate": int(np.count_nonzero(groups)),
            "n_shown": int(shown.size),
        }
        return self._observation(), float(clicked >= 0), terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        lines = [f"step {self._step}/{self.horizon}, {self._n_clicks} clicks"]
        if self._last_slate is not None:
            titles, names = self.catalog.titles, self.world.group_names
            for position, item in enumerate(self._last_slate):
                if item < 0:
                    lines.append(f"  {position + 1:2d}. (repeat: wasted slot)")
                    continue
                mark = "*" if item == self._last_click else " "
                group = names[self.world.groups[item]]
                lines.append(f"{mark} {position + 1:2d}. {titles[item]} [{group}]")
            if self._last_click < 0:
                lines.append("(no click)")
        return "\n".join(lines)

    @property
    def user_state(self) -> LatentUserState:
        """The current user's hidden latent state (a batch of one user): for tests and agents
        named oracles, since no real recommender sees it.

        Raises:
            RuntimeError: before the first ``reset``.
        """
        if self._state is None:
            raise RuntimeError("SlateRecEnv.user_state is drawn at reset; call reset first")
        return self._state

    # ------------------------------------------------------------------ helpers

    def _observation(self) -> ObsType:
        return {
            "clicks": self._history.copy(),
            "step": np.int64(self._step),
            "n_clicks": np.int64(self._n_clicks),
        }


def _build_world(config: SlateRecConfig, dataset_path: str | os.PathLike[str] | None) -> SlateWorld:
    """The synthetic world of ``config``, or the world over the logs in ``dataset_path``."""
    if dataset_path is None:
        return synthetic_slate_world(
            config.world_seed, n_items=config.n_items, n_groups=config.n_groups
        )
    from recoworld.catalog.slates import load_slate_logs, slate_world_from_logs

    return slate_world_from_logs(load_slate_logs(dataset_path), seed=config.world_seed)
