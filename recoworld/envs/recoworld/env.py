"""``RecoWorld-v0``: a recommender ranks slates for a simulated user who may leave or instruct."""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recoworld.catalog import Catalog
from recoworld.envs.recoworld import kernels
from recoworld.envs.recoworld.config import RecoWorldConfig, recoworld_config
from recoworld.envs.recoworld.core import RecoWorldCore, StepResult, default_catalog, info_for_row
from recoworld.envs.recoworld.llm_users import LLMUserBatch, UsageSince
from recoworld.envs.recoworld.rollback import step_or_roll_back
from recoworld.seeding import spawn_rng
from recoworld.simulators import InstructionVoice, TemplateVoice, UserModelConfig
from recoworld.simulators.llm_user import Decision, LLMUser
from recoworld.simulators.population import World, check_world
from recoworld.text import HashingTextEncoder, TextEncoder, check_text_encoder
from recoworld.validation import check_seed

ObsType = dict[str, np.ndarray]


def slate_action_slots(
    action: Any, shape: tuple[int, ...], num_candidates: int, out: np.ndarray | None = None
) -> np.ndarray:
    """Check slate actions and return their slots ``(n, S)``; raise ``ValueError`` if outside.

    A slate is ``S`` integer candidate indices in ``[0, num_candidates)``; ``shape`` is ``(S,)``
    for one user or ``(n, S)`` for a batch. In the slots, the first occurrence of a candidate
    keeps its position and every repetition is an empty slot (``-1``). ``out``: an int64
    ``(n, S)`` array to write the slots to (default: a new one).
    """
    array = _as_array(action, "slate")
    if array.shape != shape:
        raise ValueError(f"slate action has shape {array.shape}, expected {shape}: {action!r}")
    if array.dtype.kind not in "iu":
        raise ValueError(
            f"slate action has non-integer dtype {array.dtype}; candidate indices must be "
            f"integers (not bools) in [0, {num_candidates - 1}]: {action!r}"
        )
    batch = np.ascontiguousarray(array.reshape(-1, shape[-1]), dtype=np.int64)
    slots = np.empty(batch.shape, np.int64) if out is None else out
    bad = kernels.slate_slots(batch, num_candidates, slots)
    if bad >= 0:
        row, slot = divmod(int(bad), shape[-1])
        where = f"user row {row}, slot {slot}" if len(shape) > 1 else f"slot {slot}"
        raise ValueError(
            f"slate action index {array.reshape(-1)[bad]} ({where}) is outside the candidate "
            f"range [0, {num_candidates - 1}]"
        )
    return slots


def _as_array(action: Any, kind: str) -> np.ndarray:
    """``np.asarray(action)``, with a ``ValueError`` naming the action when numpy refuses it
    (a ragged list, an object it cannot convert)."""
    try:
        return np.asarray(action)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{kind} action {action!r} is not an array: {error}") from None


def _where(position: tuple[int, ...]) -> str:
    """``"index 3"`` for one user's action, ``"user row 1, index 3"`` for a batch's."""
    if len(position) > 1:
        return f"user row {position[0]}, index {position[1]}"
    return f"index {position[0]}"


def validate_scores(action: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Check score actions (a score in ``[-1, 1]`` per candidate); raise ``ValueError``.

    ``shape`` is ``(num_candidates,)`` for one user or ``(n_users, num_candidates)`` for a batch.
    """
    array = _as_array(action, "score")
    if array.shape != shape:
        raise ValueError(f"score action has shape {array.shape}, expected {shape}")
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"score action has non-numeric dtype {array.dtype}; scores are numbers (not bools) "
            "in [-1, 1]"
        )
    nan = np.isnan(array)
    if nan.any():
        position = tuple(map(int, np.unravel_index(int(nan.argmax()), shape)))
        raise ValueError(f"score action has NaN at {_where(position)}")
    outside = (array < -1.0) | (array > 1.0)
    if outside.any():
        position = tuple(map(int, np.unravel_index(int(outside.argmax()), shape)))
        raise ValueError(
            f"score action value {array[position]} at {_where(position)} is outside the action "
            "range [-1, 1]"
        )
    return array


class SlateSpace(spaces.MultiDiscrete):
    """The slate action space: ``MultiDiscrete`` of candidate indices whose :meth:`contains`
    is exactly what ``step`` accepts (:func:`slate_action_slots`).

    Gymnasium's ``MultiDiscrete.contains`` takes any dtype that casts to int64, bools included;
    the envs take integer arrays (Python or numpy ints, any width) and refuse bools, floats and
    anything else, and ``contains`` says the same.
    """

    def __init__(self, num_candidates: int, shape: tuple[int, ...]) -> None:
        super().__init__(np.full(shape, num_candidates, np.int64))

    def contains(self, x: Any) -> bool:
        try:
            slate_action_slots(x, self.shape, int(self.nvec.flat[0]))
        except ValueError:
            return False
        return True


class SlateBatchSpace(spaces.Box):
    """The vector env's slate action space: the integer ``Box`` that Gymnasium's ``batch_space``
    makes of :class:`SlateSpace`, whose :meth:`contains` is exactly what ``step`` accepts
    (integer arrays, not bools; see :class:`SlateSpace`)."""

    def __init__(self, num_candidates: int, shape: tuple[int, ...]) -> None:
        super().__init__(0, num_candidates - 1, shape, np.int64)
        self.num_candidates = num_candidates

    def contains(self, x: Any) -> bool:
        try:
            slate_action_slots(x, self.shape, self.num_candidates)
        except ValueError:
            return False
        return True


class ScoreSpace(spaces.Box):
    """The score action space: ``Box(-1, 1)`` whose :meth:`contains` is exactly what ``step``
    accepts (:func:`validate_scores`): integer or float arrays of any width (not bools) with
    every value in ``[-1, 1]`` and no NaN."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__(-1.0, 1.0, shape, np.float32)

    def contains(self, x: Any) -> bool:
        try:
            validate_scores(x, self.shape)
        except ValueError:
            return False
        return True


def slots_from_scores(scores: np.ndarray, slate_size: int) -> np.ndarray:
    """Slots for score actions ``(n, C)``: the ``slate_size`` highest scores, best first.

    Ties are broken toward the lower candidate index (stable sort), so equal scores are legal
    and deterministic.
    """
    order = np.argsort(-scores, axis=1, kind="stable")
    return order[:, :slate_size]


class RecoWorldEnv(gym.Env[ObsType, np.ndarray]):
    """A recommender ranks a slate for one simulated user, turn after turn, session after session.

    ## Description

    The RecoWorld loop: every turn a retrieval stage puts a fixed-size block of distinct
    candidate items in front of the agent; the agent ranks a slate from them; the simulated user
    (:mod:`recoworld.simulators.latent`) reviews the slate top-down (cascade with a no-click
    option), clicks and watches some items, drifts toward what it consumed, gets bored of
    repeated topics, loses or regains patience, and when its patience runs low it tells the
    recommender what it wants (a *reflective instruction*). When patience is exhausted the user
    leaves; a return gap in days is drawn from a hazard that grows with the session's
    satisfaction. With ``multi_session=True`` an episode spans several sessions over simulated
    days.

    ## Action Space

    ``action_type="slate"`` (default): ``MultiDiscrete([num_candidates] * slate_size)``, candidate
    indices in ranked order. A candidate repeated in the slate is shown only at its first
    position; each later repetition is an empty, *wasted* slot (the user examines it, finds
    nothing, and may go on), counted in ``info["wasted_slots"]``.

    ``action_type="scores"``: ``Box(-1, 1, (num_candidates,))``, a score per candidate; the env
    shows the ``slate_size`` highest, best first, ties going to the lower index.

    ``action_space.contains`` and ``step`` agree: a slate is an integer array (Python or numpy
    integers of any width; not bools, not floats), scores are an integer or float array (not
    bools); lists convert as ``np.asarray`` converts them. An action outside the space (wrong
    shape, a bool, non-integer or out-of-range index, NaN or out-of-range score) raises
    ``ValueError`` naming the value and where it is, and leaves the env as it was; nothing is
    clipped. (Gymnasium's own ``MultiDiscrete`` and ``Box`` would call a bool array in the
    space; these spaces, :class:`SlateSpace` and :class:`ScoreSpace`, do not.)

    ## Observation Space

    A ``Dict`` of ``Box`` entries:

    * ``candidates`` ``(num_candidates, d + T + 4)``: per candidate its embedding (``d``), topic
      mass (``T``), quality, log-popularity and log-duration scaled to ``[0, 1]``, and an
      availability flag (1 if not shown this session and never consumed; the same as
      ``info["action_mask"]``).
    * ``history`` ``(d + T,)``: moving average of the embeddings and topics the user watched.
    * ``instruction`` ``(2T,)``: one-hot topic the standing instruction asks more of, then one-hot
      topic it asks less of (zeros when the user has said nothing this session).
    * ``context`` ``(5,)``: session turn / ``max_session_turns``, session index /
      ``max_sessions``, last turn's clicks / ``slate_size``, last turn's watched items /
      ``slate_size``, ``1 / (1 + turns since the instruction)`` (0 without one).

    With a text encoder (``text_encoder=``, and always with ``user_model="llm"``, default
    :class:`~recoworld.text.HashingTextEncoder` of 64 dimensions) the observation also has
    ``instruction_text`` ``(dim,)``: the encoding of the standing instruction's sentence (zeros
    when none stands). With ``user_model="llm"`` the structured ``instruction`` entry is left out
    unless ``structured_instruction=True``: the agent learns what the user wants from the words.

    With ``observation_mode="ids"`` the ``candidates`` entry is replaced by ``candidate_ids``
    (``MultiDiscrete``, item rows of ``env.catalog``) and ``available`` (``MultiBinary``): the
    lean form for population-scale runs and for agents that keep their own item tables (the
    catalog's features are public: ``env.unwrapped.core.item_features``).

    ## Rewards

    Engagement plus retention: ``click_weight * clicks + watch_weight * minutes watched +
    continue_weight * [the session goes on]``, and when a session ends
    ``return_weight * exp(-return_gap_days / return_horizon_days)`` (0 if the user churned).
    Optional shaping toward diverse and novel recommendations (both weights 0 by default, which
    leaves the reward exactly as above): ``diversity_weight`` times the slate's intra-list
    diversity (:func:`recoworld.evaluation.metrics.intra_list_diversity` of the shown items,
    0 below two items) plus ``novelty_weight`` times the share of the turn's clicks on items
    whose topic was new to the user (familiarity under ``new_topic_familiarity`` before the
    turn; 0 without clicks).

    ## Starting State

    A user drawn from the population (several interests, novelty propensity, patience) at the
    start of its first session, with a fresh candidate block.

    ## Episode End

    Single session: ``terminated`` when the user leaves; ``truncated`` when the session reaches
    ``max_session_turns``. Multi-session: ``terminated`` when the drawn return gap exceeds the
    user's churn horizon (the user does not come back); ``truncated`` when the ``max_sessions``-th
    session ends.

    ## Info

    ``action_mask`` (bool per candidate), ``candidates`` (item ids, rows of ``env.catalog``),
    ``slate`` (item shown per slot, -1 if wasted), ``clicks`` (clicked item ids), ``watch_time``
    (minutes), ``wasted_slots``, ``instruction`` (the sentence the user said this turn, or
    None), ``instruction_topics`` (``{"more_of": [...], "less_of": [...]}`` or None),
    ``session_ended``, ``return_gap_days`` (or None), ``churned``, ``session``, ``turn``, ``day``,
    ``instruction_voiced_by`` (``"template"``, ``"llm"`` or ``"fallback"`` when an instruction was
    voiced this turn, else None) and ``usage`` (the language-model calls, tokens, cost, latency,
    cache hits and failed calls since the previous step or reset: every request sent, failed
    ones included, also those of a step that raised; zeros with the template voice). With
    ``user_model="llm"`` also ``mindset`` (the user's current mindset text), ``llm_decision``
    (``{"clicks": [item ids], "leave": bool}``, what the model chose in ``"hybrid"``/``"llm"``
    mode before the latent bounds, else None) and ``llm_failed`` (this turn's model call failed
    and was recorded as a failed turn, ``llm={"on_error": "fallback", ...}``).

    ``info["clicks"]`` is the clicked item ids; the vector env reports a count per user instead,
    under another name: ``infos["click_counts"]``.

    ## The LLM user

    ``user_model="llm"`` wraps the latent user in a :class:`~recoworld.simulators.LLMUser`:
    each turn a chat model reviews the ranked list item by item (the items' descriptions),
    keeps a mindset, and writes the reflective instruction in its own words when the latent
    state says the user is disengaging (checked: it must name one of the instruction's
    topics, else the template voice says it and ``instruction_voiced_by`` is ``"fallback"``).
    ``decision_mode`` chooses who decides clicks and leaving: ``"latent"`` (default; the
    trajectory is exactly the latent user's), ``"hybrid"`` (the model, within bounds set by
    the latent state) or ``"llm"`` (the model; the latent state follows its decisions).
    ``llm="local"`` is the embedded SmolLM2-135M-Instruct (offline; for plumbing and offline
    runs: it words things poorly and decides worse, so keep ``decision_mode="latent"`` with
    it); any litellm model string (``"openai/gpt-4o-mini"``, ``"ollama/llama3.2"``...) or a
    :class:`~recoworld.llm.ChatModel` works too. ``llm`` is an
    :class:`~recoworld.llm.LLMSettings` (or that shorthand, or a dict of its fields): its
    ``cache`` (True, a path or a :class:`~recoworld.llm.ResponseCache`) replays LLM-backed runs
    exactly, ``cost_cap_usd`` stops a run with :class:`~recoworld.llm.CostCapExceeded` once
    spent, and ``on_error="fallback"`` records a failed call as a failed turn instead of raising.
    A mindset is kept in whole sentences (an answer cut by the token budget loses its last,
    unfinished one), and an answer that repeats its prompt is rejected as malformed (a failed
    turn, the template mindset stands).

    ## Failed model calls

    A step whose model call raises (``on_error="raise"``, the default, or a spent cost cap)
    leaves the env as it was: the latent step and the user's mindset are undone and the
    generators put back, so retrying the same action gives what it would have given had the
    call never failed. The failed requests stay counted: the next step's ``info["usage"]``
    includes them (``calls`` and ``failed_calls``).

    ## Arguments

    The settings are one :class:`~recoworld.envs.recoworld.config.RecoWorldConfig`, passed as
    ``config=`` or as keywords of the same names (not both): ``gym.make("RecoWorld-v0",
    slate_size=5)`` and ``gym.make("RecoWorld-v0", config=RecoWorldConfig(slate_size=5))`` are
    the same env. An unknown keyword raises ``ValueError`` listing the valid ones. Settings
    (defaults in parentheses):

    * ``num_candidates`` (100), ``slate_size`` (10): sizes of the candidate block and the slate.
    * ``n_items`` (1000), ``catalog_seed`` (0): the default synthetic catalog.
    * ``multi_session`` (False), ``max_sessions`` (5), ``max_session_turns`` (50).
    * ``click_weight`` (1.0), ``watch_weight`` (0.1 per minute), ``continue_weight`` (0.1),
      ``return_weight`` (1.0), ``return_horizon_days`` (7.0): reward weights;
      ``diversity_weight`` (0.0), ``novelty_weight`` (0.0), ``new_topic_familiarity`` (0.2):
      the optional diversity and novelty shaping.
    * ``action_type`` ("slate" or "scores"), ``observation_mode`` ("features" or "ids").
    * ``user_model`` ("latent" or "llm"), ``decision_mode`` ("latent", "hybrid" or "llm"),
      ``hybrid_click_bounds`` ((0.1, 0.9)), ``prompt_version`` ("v1"),
      ``instruction_max_tokens`` (40): the LLM user.
    * ``llm`` (``LLMSettings()``: the embedded model; with the latent user anything else, like
      the other LLM-user settings off their defaults, is refused by name): the LLM user's
      model, as :class:`~recoworld.llm.LLMSettings` (``model``, ``cache``, ``cost_cap_usd``,
      ``temperature``, ``max_tokens``, ``on_error``, ``api_base``) or its shorthand: a model
      string, a :class:`~recoworld.llm.ChatModel` or a dict of those fields. Unset
      ``temperature`` / ``max_tokens`` keep the LLM user's defaults (0.7 and 64 tokens).
    * ``structured_instruction`` (None): keep the structured ``instruction`` entry (None: True
      for the latent user, False for the LLM user).

    Objects are keyword arguments of their own:

    * ``catalog``: a :class:`~recoworld.catalog.Catalog` (default: the synthetic catalog above);
      it must hold at least ``num_candidates`` items.
    * ``user_config``: a :class:`~recoworld.simulators.UserModelConfig`.
    * ``voice``: the :class:`~recoworld.simulators.InstructionVoice` (default template voice;
      with the LLM user, the fallback voice).
    * ``text_encoder``: a :class:`~recoworld.text.TextEncoder` for ``instruction_text``.
    * ``render_mode``: None or "ansi".
    * ``world``: a :class:`~recoworld.simulators.population.World` (e.g. users fitted to a real
      log by :func:`recoworld.fidelity.fit_world`): its catalog, its user model and its users,
      one drawn from its population at every reset (``info["user_id"]`` names it), or the one
      ``env.reset(options={"user_id": id})`` names; not with ``catalog`` or ``user_config``.
      Without a world, ``reset`` takes no options.

    ## Version History

    * v0: initial version.

    >>> import gymnasium as gym, recoworld
    >>> env = gym.make("RecoWorld-v0", num_candidates=100, slate_size=10)
    >>> obs, info = env.reset(seed=0)
    >>> obs["candidates"].shape, info["action_mask"].shape
    ((100, 32), (100,))
    >>> obs, reward, terminated, truncated, info = env.step(np.arange(10))
    >>> len(info["slate"]), info["wasted_slots"]
    (10, 0)
    """

    metadata = {"render_modes": ["ansi"]}  # noqa: RUF012

    def __init__(
        self,
        config: RecoWorldConfig | None = None,
        *,
        catalog: Catalog | None = None,
        user_config: UserModelConfig | None = None,
        voice: InstructionVoice | None = None,
        text_encoder: TextEncoder | None = None,
        render_mode: str | None = None,
        world: World | None = None,
        **settings: Any,
    ) -> None:
        parts = build_parts(
            recoworld_config(config, settings),
            1,
            catalog=catalog,
            user_config=user_config,
            voice=voice,
            text_encoder=text_encoder,
            world=world,
        )
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode={render_mode!r} must be None or 'ansi'")
        self.render_mode = render_mode
        self.core = parts.core
        self.catalog = self.core.catalog
        self.config = self.core.config
        self.action_space = parts.action_space
        self.observation_space = parts.observation_space  # type: ignore[assignment]
        self.user_model = self.config.user_model
        self.text_encoder = parts.text_encoder
        self.structured_instruction = self.config.keeps_structured_instruction
        self.llm_users = parts.llm_users
        self._last: StepResult | None = None
        self._usage = UsageSince(self.core.voice, self.llm_users)
        self._standing_text: str | None = None
        self._may_raise = self.llm_users is not None or type(self.core.voice) is not TemplateVoice
        """A step may raise after the latent step (a language model, or a voice of one's own):
        it is taken on a checkpoint and undone when it raises."""

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        if seed is not None:  # numpy integers too; a bool or a negative seed is named
            seed = check_seed("seed", seed)
        picks = self._reset_picks(options)
        super().reset(seed=seed)
        self.core.reset(self.np_random, reseeded=seed is not None, picks=picks)
        # The voice draws from its own generator, so a voice that draws more or fewer numbers
        # (an LLM voice, another template set) never changes the users' trajectories.
        # It is spawned from the env's seed sequence, drawing nothing from the users' stream.
        (self._voice_rng,) = spawn_rng(self.np_random)
        self._last = None
        self._standing_text = None
        if self.llm_users is not None:
            self.llm_users.begin([0])
        batch, mask = self.core.observe()
        return self._observe(None, batch, mask)

    def _reset_picks(self, options: dict[str, Any] | None) -> np.ndarray | None:
        """The population index a reset's ``options={"user_id": id}`` names (a world only)."""
        if not options:
            return None
        population = self.core.population
        if population is None or set(options) != {"user_id"}:
            allowed = "its only option is user_id" if population is not None else "none"
            raise ValueError(
                f"options={options!r}: RecoWorld-v0 takes no other reset options ({allowed}; "
                "user_id needs a world=)"
            )
        return np.array([population.index_of(options["user_id"])])

    @property
    def llm_user(self) -> LLMUser | None:
        """The user's language side (``user_model="llm"``), else None."""
        return self.llm_users.users[0] if self.llm_users is not None else None

    def step(self, action: np.ndarray) -> tuple[ObsType, float, bool, bool, dict[str, Any]]:
        if not self.core.started:
            raise RuntimeError("RecoWorldEnv.step called before reset")
        cfg = self.config
        if cfg.action_type == "slate":
            slots = slate_action_slots(
                action, (cfg.slate_size,), cfg.num_candidates, out=self.core.slots
            )
        else:
            scores = validate_scores(action, (cfg.num_candidates,))
            slots = slots_from_scores(scores[None, :], cfg.slate_size)
        if not self._may_raise:
            return self._step(slots)
        # A language-model call may raise (on_error="raise", a spent cost cap) after the
        # latent step: then the env is put back as it was (see rollback.py).
        return step_or_roll_back(self, lambda: self._step(slots))

    def _own_checkpoint(self) -> tuple[Any, ...]:
        """What a step changes beyond the engine, the generator and the LLM users."""
        # The voice generator is copied with its spawn counter.
        return copy.deepcopy(self._voice_rng), self._last, self._standing_text

    def _restore_own(self, saved: tuple[Any, ...]) -> None:
        self._voice_rng, self._last, self._standing_text = saved

    def _step(self, slots: np.ndarray) -> tuple[ObsType, float, bool, bool, dict[str, Any]]:
        users = self.llm_users
        if users is None:
            result, batch, mask = self.core.step(slots, self.np_random)
        else:
            views, fallbacks, decisions = users.turn(slots, [0], self._voice_rng)
            decision = decisions[0]
            result, batch, mask = self.core.step(
                slots,
                self.np_random,
                click_override=decision.click_override[None, :],
                leave_override=np.array([decision.leave_override], np.int8),
            )
            if users.decision_mode == "latent":
                users.reflect(views, [0], result, self._voice_rng, fallbacks)
        self._last = result
        obs, info = self._observe(result, batch, mask)
        if users is not None:
            user = users.users[0]
            info["llm_failed"] = user.last_failed
            info["llm_decision"] = llm_decision(decision, info["slate"])
            if result.session_ended[0] and not (result.terminated[0] or result.truncated[0]):
                users.begin([0])  # a new session begins (days later), in a fresh mood
            info["mindset"] = user.mindset
        return (
            obs,
            float(result.reward[0]),
            bool(result.terminated[0]),
            bool(result.truncated[0]),
            info,
        )

    def _observe(
        self, result: StepResult | None, batch: dict[str, np.ndarray], mask: np.ndarray
    ) -> tuple[ObsType, dict[str, Any]]:
        obs = {key: value[0] for key, value in batch.items()}
        if not self.structured_instruction:
            del obs["instruction"]
        info = info_for_row(self.core, result, 0)
        info["action_mask"] = mask[0]
        instruction = None
        if result is not None and result.instructed[0]:
            instruction = self.core.instruction(0)
        text = voiced_by = None
        if instruction is not None:
            if self.llm_users is not None:
                text = self.llm_users.instruct([0], self._voice_rng)[0]
                voiced_by = self.llm_users.users[0].last_voiced_by
            else:
                text = self.core.voice.render(instruction, self._voice_rng)
                voiced_by = getattr(self.core.voice, "last_voiced_by", "template")
            self._standing_text = text
        elif self._standing_text is not None and self.core.more_of[0] < 0:
            self._standing_text = None  # no instruction stands (a new session, or a reset)
        info["instruction"] = text
        info["instruction_topics"] = (
            {"more_of": list(instruction.more_of), "less_of": list(instruction.less_of)}
            if instruction
            else None
        )
        info["instruction_voiced_by"] = voiced_by
        if self.llm_users is not None and result is None:
            info["mindset"] = self.llm_users.users[0].mindset
            info["llm_failed"] = False
            info["llm_decision"] = None
        if self.text_encoder is not None:
            obs["instruction_text"] = self.text_encoder.encode([self._standing_text or ""])[0]
        info["usage"] = self._usage.step()
        return obs, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        state = self.core.state
        lines = [
            f"session {int(self.core.counters[0, 1])} turn {int(state.session_turns[0])} "
            f"patience {float(state.patience[0]):.2f}"
        ]
        if self._last is not None:
            for position, item in enumerate(self._last.items[0]):
                mark = "*" if self._last.clicks[0, position] else " "
                title = self.catalog.titles[item] if item >= 0 else "(empty)"
                lines.append(f"{mark} {position + 1:2d}. {title}")
        return "\n".join(lines)


def text_observation_space(
    base: spaces.Dict, text_encoder: TextEncoder | None, structured_instruction: bool
) -> spaces.Dict:
    """The engine's observation space with ``instruction`` dropped (unless structured) and
    ``instruction_text`` added (with a text encoder)."""
    entries = dict(base.spaces)
    if not structured_instruction:
        del entries["instruction"]
    if text_encoder is not None:
        entries["instruction_text"] = spaces.Box(-1.0, 1.0, (text_encoder.dim,), np.float32)
    return spaces.Dict(entries)


def llm_decision(decision: Decision, slate: np.ndarray) -> dict[str, Any] | None:
    """``info["llm_decision"]``: what the model chose (None when the latent model decided)."""
    if decision.failed or ((decision.click_override < 0).all() and decision.leave_override < 0):
        return None
    return {
        "clicks": [int(slate[s]) for s in decision.wanted_clicks],
        "leave": decision.wants_to_leave,
    }


def action_space(config: RecoWorldConfig) -> spaces.Space[np.ndarray]:
    """The single-user action space of a RecoWorld config."""
    return batched_action_space(config, None)


def batched_action_space(config: RecoWorldConfig, n_users: int | None) -> spaces.Space[np.ndarray]:
    """The action space of one user (``n_users=None``) or of a batch of ``n_users``."""
    batch = () if n_users is None else (n_users,)
    if config.action_type == "slate":
        if n_users is None:
            return SlateSpace(config.num_candidates, (config.slate_size,))
        return SlateBatchSpace(config.num_candidates, (n_users, config.slate_size))
    return ScoreSpace((*batch, config.num_candidates))


class RecoWorldParts(NamedTuple):
    """What :func:`build_parts` assembles for the single and the vector env."""

    core: RecoWorldCore
    llm_users: LLMUserBatch | None
    """The users' language side (``user_model="llm"``), else None."""
    text_encoder: TextEncoder | None
    """Encoder of ``instruction_text`` (the default one for the LLM user), or None."""
    observation_space: spaces.Dict
    """The single-user observation space."""
    action_space: spaces.Space[np.ndarray]
    """The single-user action space."""


def build_parts(
    config: RecoWorldConfig,
    n_users: int,
    *,
    catalog: Catalog | None = None,
    user_config: UserModelConfig | None = None,
    voice: InstructionVoice | None = None,
    text_encoder: TextEncoder | None = None,
    concurrent: bool = False,
    world: World | None = None,
) -> RecoWorldParts:
    """The engine, LLM users and spaces of ``n_users`` users: the one place where a
    RecoWorld config meets the objects (catalog, user model, voice, text encoder).

    ``concurrent`` runs the LLM users' calls on the model's async path (the vector env).

    ``world`` (:class:`~recoworld.simulators.population.World`) brings the catalog, the user
    model and the users (a population drawn from at every reset) together; it excludes
    ``catalog`` and ``user_config``.

    Raises:
        ValueError: an object of the wrong type, a catalog smaller than the candidate block, or
            ``world`` given with ``catalog`` or ``user_config``.
    """
    population = None
    if world is not None:
        clashing = [
            name
            for name, value in (("catalog", catalog), ("user_config", user_config))
            if value is not None
        ]
        if clashing:
            raise ValueError(
                f"world= brings its own catalog and user_config; {' and '.join(clashing)}= "
                "cannot be given with it"
            )
        world = check_world(world)
        catalog, user_config, population = world.catalog, world.user_config, world.population
    if catalog is None:
        if config.num_candidates > config.n_items:
            raise ValueError(
                f"num_candidates={config.num_candidates} exceeds n_items={config.n_items}, the "
                "items of the default catalog: the candidates are distinct items"
            )
        catalog = default_catalog(config.n_items, config.catalog_seed)
    elif not isinstance(catalog, Catalog):
        raise ValueError(f"catalog={catalog!r} is not a recoworld Catalog")
    if user_config is not None and not isinstance(user_config, UserModelConfig):
        raise ValueError(f"user_config={user_config!r} is not a UserModelConfig")
    if text_encoder is None and config.user_model == "llm":
        text_encoder = HashingTextEncoder()
    if text_encoder is not None:
        text_encoder = check_text_encoder(text_encoder)
    core = RecoWorldCore(
        catalog,
        user_config or UserModelConfig(),
        config,
        voice or TemplateVoice(),
        n_users,
        population,
    )
    llm_users = None
    if config.user_model == "llm":
        llm_users = LLMUserBatch(core, concurrent=concurrent, fallback_voice=voice)
    observation_space = text_observation_space(
        core.observation_space, text_encoder, config.keeps_structured_instruction
    )
    return RecoWorldParts(core, llm_users, text_encoder, observation_space, action_space(config))
