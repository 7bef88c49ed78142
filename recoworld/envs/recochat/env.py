"""``RecoChat-v0``: natural-language conversational recommendation for LLM agents.

The agent talks to a simulated user in words and may recommend catalog items; the user has a
hidden target item and answers in words. Two users: a rule-based user on the binary-attribute
protocol of ``ConvRec-v0`` (no language model needed) and the ECPO AILO user voiced by a
language model (:class:`~recoworld.simulators.ailo.AILOUser`). See :class:`RecoChatEnv`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recoworld.catalog import Catalog
from recoworld.envs.convrec.world import build_world, episode_pairs, opening_attribute
from recoworld.envs.recochat.config import ENV_KEYWORDS, MOVED_ARGUMENTS, USERS, RecoChatConfig
from recoworld.llm.base import ChatModel, Usage
from recoworld.llm.settings import LLMSettings, LLMSpec
from recoworld.seeding import spawn_rng
from recoworld.simulators.ailo import AILOPersona, AILOUser, UserReply, sample_ailo_user
from recoworld.simulators.rule_chat import RuleChatUser
from recoworld.text import (
    RECOCHAT_CHARSET,
    AttributeMatcher,
    HashingTextEncoder,
    TextEncoder,
    check_text_encoder,
    clean_utterance,
)
from recoworld.validation import check_seed, config_from_arguments

__all__ = [
    "FEATURES",
    "RECOCHAT_CHARSET",
    "USERS",
    "AttributeMatcher",
    "ItemSlotsSpace",
    "RecoChatActionSpace",
    "RecoChatConfig",
    "RecoChatEnv",
    "RuleChatUser",
    "clean_utterance",
    "item_slots",
    "parse_action",
]

ObsType = dict[str, np.ndarray]
ActType = dict[str, Any]

FEATURES: tuple[str, ...] = ("turn", "satisfaction", "mean_satisfaction", "recommended")
"""Columns of the ``features`` observation (see :class:`RecoChatEnv`)."""

NEUTRAL_SATISFACTION = 3
AILO_TEMPERATURE = 0.7
"""The AILO user's sampling temperature when ``llm=`` sets none."""
AILO_MAX_TOKENS = 256
"""The AILO user's completion budget per call when ``llm=`` sets none."""


def item_slots(items: Sequence[int] | np.ndarray, top_k: int, n_items: int) -> np.ndarray:
    """The ``items`` entry of an action: item rows as ``row + 1`` in ``top_k`` slots, 0-padded.

    >>> item_slots([4, 0], top_k=3, n_items=10).tolist()
    [5, 1, 0]
    """
    rows = np.asarray(items)
    if rows.size == 0:
        return np.zeros(top_k, np.int64)
    if rows.ndim != 1 or rows.dtype.kind not in "iu":
        raise ValueError(f"items {items!r} must be a flat list of integer item rows")
    if rows.size > top_k:
        raise ValueError(f"items {rows.tolist()} has {rows.size} rows; at most top_k={top_k}")
    bad = rows[(rows < 0) | (rows >= n_items)]
    if bad.size:
        raise ValueError(f"item row {int(bad[0])} is not an item row in 0..{n_items - 1}")
    slots = np.zeros(top_k, np.int64)
    slots[: rows.size] = rows + 1
    return slots


_CHARSET = frozenset(RECOCHAT_CHARSET)


def parse_action(
    action: Any, top_k: int, n_items: int, utterance_max_length: int
) -> tuple[str, np.ndarray]:
    """``(utterance, distinct recommended item rows)`` of a RecoChat action, or ``ValueError``
    naming what is wrong: the one check behind both ``step`` and ``action_space.contains``.

    >>> parse_action({"utterance": "Jazz?", "items": [3, 0, 3]}, 3, 10, 50)
    ('Jazz?', array([2]))
    >>> parse_action({"utterance": "Jazz?", "items": [True, False, False]}, 3, 10, 50)
    Traceback (most recent call last):
    ...
    ValueError: action['items']=[True, False, False] must hold integers (item row + 1, 0 for \
empty), not bool
    """
    if not isinstance(action, Mapping):
        raise ValueError(
            f"action {action!r} is not a dict with keys 'utterance' and 'items'; build one "
            "with env.unwrapped.make_action(text, item_rows)"
        )
    keys = set(action)
    if keys != {"utterance", "items"}:
        missing = sorted({"utterance", "items"} - keys)
        extra = sorted(keys - {"utterance", "items"}, key=str)
        raise ValueError(
            f"action keys {sorted(keys, key=str)} must be exactly ['items', 'utterance']"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {extra}" if extra else "")
        )
    utterance = action["utterance"]
    if not isinstance(utterance, str):
        raise ValueError(f"action['utterance']={utterance!r} must be a str")
    if len(utterance) > utterance_max_length:
        raise ValueError(
            f"action['utterance'] has {len(utterance)} characters; at most "
            f"utterance_max_length={utterance_max_length}"
        )
    outside = sorted(set(utterance) - _CHARSET)
    if outside:
        raise ValueError(
            f"action['utterance'] has characters outside RECOCHAT_CHARSET: {outside!r}; "
            "map the text with recoworld.envs.recochat.env.clean_utterance"
        )
    return utterance, _item_rows(action["items"], top_k, n_items)


def _item_rows(items: Any, top_k: int, n_items: int) -> np.ndarray:
    """The distinct item rows of an ``items`` entry, in slot order, or ``ValueError``."""
    try:
        array = np.asarray(items)
    except (ValueError, TypeError) as error:
        raise ValueError(f"action['items']={items!r} is not an array: {error}") from None
    if array.shape != (top_k,):
        raise ValueError(
            f"action['items']={items!r} has shape {array.shape}; expected ({top_k},) "
            "slots (item row + 1, 0 for an empty slot)"
        )
    if array.dtype.kind not in "iu":
        kind = ", not bool" if array.dtype.kind == "b" else ""
        raise ValueError(
            f"action['items']={items!r} must hold integers (item row + 1, 0 for empty){kind}"
        )
    bad = array[(array < 0) | (array > n_items)]
    if bad.size:
        raise ValueError(
            f"action['items'] slot value {int(bad[0])} is outside 0..{n_items} "
            "(item row + 1, 0 for an empty slot)"
        )
    slots = array[array > 0].astype(np.int64) - 1
    _, first = np.unique(slots, return_index=True)
    return slots[np.sort(first)]


class ItemSlotsSpace(spaces.MultiDiscrete):
    """The ``items`` entry of RecoChat's action space: ``MultiDiscrete([n_items + 1] * top_k)``
    whose :meth:`contains` is what ``step`` accepts (integers of any width, not bools)."""

    def __init__(self, top_k: int, n_items: int) -> None:
        super().__init__(np.full(top_k, n_items + 1, np.int64))

    def contains(self, x: Any) -> bool:
        try:
            _item_rows(x, int(self.shape[0]), int(self.nvec[0]) - 1)
        except ValueError:
            return False
        return True


class RecoChatActionSpace(spaces.Dict):
    """RecoChat's action space, ``Dict(utterance=Text, items=ItemSlotsSpace)``, whose
    :meth:`contains` is exactly what ``step`` accepts (:func:`parse_action`)."""

    def __init__(self, top_k: int, n_items: int, utterance_max_length: int) -> None:
        super().__init__(
            {
                "utterance": spaces.Text(
                    max_length=utterance_max_length, min_length=0, charset=RECOCHAT_CHARSET
                ),
                "items": ItemSlotsSpace(top_k, n_items),
            }
        )
        self.top_k, self.n_items, self.utterance_max_length = top_k, n_items, utterance_max_length

    def contains(self, x: Any) -> bool:
        try:
            parse_action(x, self.top_k, self.n_items, self.utterance_max_length)
        except ValueError:
            return False
        return True


class RecoChatEnv(gym.Env[ObsType, ActType]):
    """Talk a simulated user to the item it has in mind, in natural language.

    ## Description

    Conversational recommendation as LLM agents play it (ECPO, MACRS): the user has a hidden
    target item from the catalog and opens with a request naming one of its attributes; each
    turn the agent says something and may recommend up to ``top_k`` items; the user answers in
    words, with a satisfaction score (1..5) and its reason. The conversation ends when the user
    accepts a recommendation (the target was among the items), leaves, or the turn budget runs
    out. Two users (``user=``):

    * ``"rule"`` (default, no language model): :class:`RuleChatUser`, the binary-attribute
      protocol of ``ConvRec-v0`` in templated words: it answers yes/no about one attribute it
      recognises by name per turn, accepts when its target is recommended, rejects other
      items, and leaves when its ``patience`` (turns of satisfaction <= 2) runs out.
    * ``"ailo"``: the ECPO AILO user (:class:`~recoworld.simulators.ailo.AILOUser`) voiced by
      ``llm``: a persona sampled from the latent user population (its strongest topics are its
      Interests), a target among the items of highest latent utility, and each turn an
      expectation, a reply, a satisfaction score with its reason and a leave decision from the
      model. Acceptance is structural (target among the recommended items), so success never
      depends on the model's judgement; the model words the reply.

    ## Action Space

    ``Dict({"utterance": Text(0..utterance_max_length, charset=RECOCHAT_CHARSET), "items":
    MultiDiscrete([n_items + 1] * top_k)})``. ``items`` slot value ``v > 0`` recommends item
    row ``v - 1``; ``0`` is an empty slot. All slots 0: the turn recommends nothing. Every
    action in the space is a legal move: a repeated item is a wasted slot (only its first slot
    counts); an empty or meaningless utterance is a turn the user cannot answer (satisfaction
    1 for the rule user). :meth:`make_action` builds an action from a text and item rows;
    :func:`clean_utterance` maps any text into the charset. An action outside the space (not a
    dict of exactly these keys, a non-str utterance, a character outside the charset, a text
    too long, ``items`` of another shape, a non-integer (bools and floats included) or
    out-of-range slot) raises ``ValueError`` naming it, and leaves the env as it was.
    ``action_space.contains`` says exactly what ``step`` accepts (:func:`parse_action`; the
    items may be Python or numpy integers of any width; unlike Gymnasium's ``MultiDiscrete``,
    bools are refused).

    The action space is for LLM agents: Stable-Baselines3 cannot train on a ``Text`` action.

    ## Observation Space

    ``Dict`` of float32 ``Box`` entries:

    * ``reply`` ``(text_encoder.dim,)`` in ``[-1, 1]``: the user's last reply (the opening
      request after reset) encoded by ``text_encoder`` (default
      :class:`~recoworld.text.HashingTextEncoder` with ``dim=64``).
    * ``features`` ``(4,)`` in ``[0, 1]``, columns :data:`FEATURES`: turns played /
      ``max_turns``; the last satisfaction, ``(s - 1) / 4`` (0.5 after reset); the mean
      satisfaction over the turns played, same scale (0.5 after reset); 1 if the agent's last
      move recommended an item.

    The raw text is in ``info`` (``reply``, ``utterance``).

    ## Rewards

    ``reward_success * accepted + reward_satisfaction * (satisfaction - 3) / 2 + reward_turn +
    reward_leave * left`` per turn, defaults ``1.0``, ``0.1``, ``-0.05`` and ``-0.3``: success
    dominates, satisfaction (centred, in ``[-1, 1]``) shapes every turn, each turn costs a
    little, and driving the user away costs more.

    ## Starting State

    Rule user: a ``(user, item)`` pair drawn uniformly from the episode pairs with
    ``self.np_random`` (as in ``ConvRec-v0``; pairs whose item has no attribute are left out).
    AILO user: a persona and its target drawn with a generator spawned from ``self.np_random``
    (:func:`~recoworld.simulators.ailo.sample_ailo_user`; targets are items with an attribute).
    Then the opening attribute is drawn uniformly among the target's attributes.
    ``options={"target": item_row, "opening_attribute": column}`` fix either.

    ## Episode End

    ``terminated`` when the user accepts a recommendation or leaves; ``truncated`` when turn
    ``max_turns`` ends otherwise. Stepping a finished episode raises ``RuntimeError``.

    ## Info

    ``reply`` (the user's words; the opening request after reset), ``utterance`` (the agent's
    words this turn; ``""`` after reset), ``satisfaction`` (1..5; 3 after reset),
    ``satisfaction_reason``, ``expectation`` (AILO's expectation of the turn; ``""`` for the
    rule user), ``accepted`` and ``success`` (the same: the target was recommended and
    accepted), ``left``, ``turn``, ``turns_left``, ``recommended`` (the distinct item rows
    recommended this turn, in order), ``mentioned_attributes`` (attribute columns named in the
    utterance, :class:`AttributeMatcher`), ``user`` (the pair's user id; -1 for AILO),
    ``llm_failed`` (this turn's reply is a template standing in for a failed model call),
    ``failed_turns`` (such turns this episode) and ``usage`` (the language-model ``calls``,
    ``prompt_tokens``, ``completion_tokens``, ``cost_usd``, ``latency_s``, ``cache_hits`` and
    ``failed_calls`` since the previous step or reset: every request sent, failed ones
    included; zeros without a model). The target stays hidden.

    ## Failed model calls

    With ``llm={"on_error": "fallback", ...}`` a failed AILO call gives a templated reply
    (``llm_failed``). With ``"raise"`` (the default) or a spent cost cap, ``step`` raises and
    the env is left as it was, the user's generator included: the same action can be retried
    and gives what it would have given had the call never failed. The failed requests stay
    counted: the next step's ``info["usage"]`` includes them.

    ## Arguments

    The plain settings are the fields of :class:`~recoworld.envs.recochat.RecoChatConfig`,
    given as ``config=`` or as keywords of the same names (not both; an unknown name raises
    ``ValueError`` listing the valid ones):

    * ``user``: ``"rule"`` or ``"ailo"``; ``llm_max_chars`` (160, the longest expectation,
      reason and reply), ``persona_interests`` (2) and ``target_pool`` (10) configure the AILO
      user, ``patience`` (5) the rule user.
    * ``dataset_path`` and ``split_file``: an SCPR data folder as in ``ConvRec-v0``; none
      given: a synthetic catalog of ``n_items`` (1000) items with 48 attributes and ``n_users``
      (100) synthetic users, both from ``catalog_seed`` (0).
    * ``max_turns`` (15), ``top_k`` (10), ``utterance_max_length`` (500).
    * ``reward_success`` (1.0), ``reward_satisfaction`` (0.1), ``reward_turn`` (-0.05),
      ``reward_leave`` (-0.3).

    Keyword arguments that are objects:

    * ``llm`` (AILO only, required there): the AILO user's language model as an
      :class:`~recoworld.llm.LLMSettings` or what it stands for: ``"local"`` (the embedded
      :class:`~recoworld.llm.LocalChatModel`), a litellm model string, a
      :class:`~recoworld.llm.ChatModel`, or a dict of the settings' fields (``model``,
      ``cache``, ``cost_cap_usd``, ``temperature`` (default 0.7), ``max_tokens`` (default
      256), ``on_error`` (``"raise"`` or ``"fallback"``), ``api_base``). The env builds its
      own model from it (:meth:`~recoworld.llm.LLMSettings.build`, so the cache and cost cap
      apply), kept as ``env.unwrapped.llm``.
    * ``catalog`` and ``interactions``: a world of your own (instead of the dataset or the
      synthetic world).
    * ``text_encoder``: a :class:`~recoworld.text.TextEncoder` for the ``reply`` observation.
    * ``render_mode``: None or ``"ansi"``.

    ## Version History

    * v0: initial version.

    >>> import gymnasium as gym, recoworld
    >>> env = gym.make("RecoChat-v0")
    >>> obs, info = env.reset(seed=0)
    >>> info["reply"], obs["reply"].shape, obs["features"].tolist()
    ("Hi! I'm looking for something with dark.", (64,), [0.0, 0.5, 0.5, 0.0])
    >>> obs, reward, terminated, truncated, info = env.step(env.unwrapped.make_action("Upbeat?"))
    >>> info["reply"], info["satisfaction"], round(reward, 3)
    ("No, I don't want upbeat.", 3, -0.05)
    >>> obs, reward, terminated, truncated, info = env.step(
    ...     env.unwrapped.make_action("Do you like punk music?"))
    >>> info["reply"], info["satisfaction"], round(reward, 3), info["turn"]
    ("Yes, I'd like punk.", 4, 0.0, 2)
    >>> action = env.unwrapped.make_action("How about these?", [3, 14])
    >>> env.action_space.contains(action)
    True
    """

    metadata = {"render_modes": ["ansi"]}  # noqa: RUF012

    def __init__(
        self,
        config: RecoChatConfig | None = None,
        *,
        llm: LLMSpec | None = None,
        catalog: Catalog | None = None,
        interactions: Mapping[int, Any] | None = None,
        text_encoder: TextEncoder | None = None,
        render_mode: str | None = None,
        **settings: Any,
    ) -> None:
        config = config_from_arguments(
            RecoChatConfig,
            config,
            settings,
            owner="RecoChat-v0",
            other_arguments=ENV_KEYWORDS,
            moved=MOVED_ARGUMENTS,
        )
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode={render_mode!r} must be None or 'ansi'")
        if config.user == "rule" and llm is not None:
            raise ValueError(
                f"llm={llm!r} voices the AILO user and is used only with user='ailo', not 'rule'"
            )
        if config.user == "ailo" and llm is None:
            raise ValueError(
                "user='ailo' needs llm=: 'local' for the embedded model, a litellm model string, "
                "a ChatModel, or LLMSettings"
            )
        self.llm_settings: LLMSettings | None = None if llm is None else LLMSettings.of(llm)
        self.text_encoder = check_text_encoder(
            HashingTextEncoder(dim=64) if text_encoder is None else text_encoder
        )

        self.config = config
        self.catalog, self.graph, episode_interactions = build_world(
            config.dataset_path,
            config.split_file,
            catalog,
            interactions,
            config.n_items,
            config.n_users,
            config.catalog_seed,
        )
        self.pairs = episode_pairs(episode_interactions, self.graph)
        self.user_kind = config.user
        self.max_turns = config.max_turns
        self.top_k = config.top_k
        self.utterance_max_length = config.utterance_max_length
        self.rewards = {
            name: getattr(config, name)
            for name in ("reward_success", "reward_satisfaction", "reward_turn", "reward_leave")
        }
        self.render_mode = render_mode
        self.matcher = AttributeMatcher(self.catalog.attribute_names)
        self._has_attribute = np.diff(self.graph.item_attr.indptr) > 0
        self._has_attribute.setflags(write=False)
        self.persona_interests = config.persona_interests
        self.target_pool = min(config.target_pool, int(self._has_attribute.sum()))
        self.llm: ChatModel | None = None
        self.rule_user = RuleChatUser(self.catalog, self.matcher, config.patience)
        self.ailo_user: AILOUser | None = None
        if self.llm_settings is not None:
            self.llm = self.llm_settings.build()
            self.ailo_user = AILOUser(
                self.llm,
                self.catalog,
                on_llm_error=self.llm_settings.on_error_or("raise"),
                temperature=self.llm_settings.temperature_or(AILO_TEMPERATURE),
                max_tokens=self.llm_settings.max_tokens_or(AILO_MAX_TOKENS),
                max_chars=config.llm_max_chars,
                max_listed_items=config.top_k,
            )

        self.action_space = RecoChatActionSpace(
            config.top_k, self.graph.n_items, config.utterance_max_length
        )
        # Gymnasium types a Dict space by its sample type (a dict of arrays): same thing.
        self.observation_space = spaces.Dict(  # type: ignore[assignment]
            {
                "reply": spaces.Box(-1.0, 1.0, (self.text_encoder.dim,), np.float32),
                "features": spaces.Box(0.0, 1.0, (len(FEATURES),), np.float32),
            }
        )
        self._started = False
        self._done = False
        self.persona: AILOPersona | None = None
        self._usage_reported = Usage()

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        if seed is not None:  # numpy integers too; a bool or a negative seed is named
            seed = check_seed("seed", seed)
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - {"target", "opening_attribute"})
        if unknown:
            raise ValueError(
                f"reset options {unknown} are unknown; RecoChat-v0 takes 'target' and "
                "'opening_attribute'"
            )
        target = self._check_target(options["target"]) if "target" in options else None
        self._user_rng = spawn_rng(self.np_random)[0]
        self._user_id = -1
        if self.ailo_user is not None:
            profile = sample_ailo_user(
                self.catalog,
                self._user_rng,
                n_interests=min(self.persona_interests, self.catalog.n_topics),
                target_pool=self.target_pool,
                eligible=self._has_attribute,
                target=target,
            )
            target = profile.target
            self.persona = profile.persona
        elif target is None:
            pair = self.pairs[self.np_random.integers(len(self.pairs))]
            self._user_id, target = int(pair[0]), int(pair[1])
        opening = opening_attribute(
            self.graph, target, options.get("opening_attribute"), self.np_random
        )

        self._target = target
        if self.ailo_user is not None:
            request = self.ailo_user.begin(profile, opening)
        else:
            request = self.rule_user.begin(target, opening)
        self._turn = 0
        self._satisfactions: list[int] = []
        self._failed_turns = 0
        self._started, self._done = True, False
        self._transcript = [f"user: {request}"]
        opening_reply = UserReply(
            reply=request,
            satisfaction=NEUTRAL_SATISFACTION,
            reason="the conversation starts",
            accepted=False,
            left=False,
        )
        return self._observation(opening_reply, recommended=False), self._info(
            opening_reply, "", np.empty(0, np.int64), []
        )

    def step(self, action: Any) -> tuple[ObsType, float, bool, bool, dict[str, Any]]:
        utterance, recommended = self._parse_action(action)
        if not self._started:
            raise RuntimeError("RecoChatEnv.step called before reset")
        if self._done:
            raise RuntimeError("the conversation has ended; call reset before stepping again")
        mentioned = self.matcher.find(utterance)
        if self.ailo_user is not None:
            # A call that raises leaves the AILO user as it was; with its generator put back
            # too, the same action can be retried as if the failed call had never been made.
            drawn = self._user_rng.bit_generator.state
            try:
                answer = self.ailo_user.respond(utterance, recommended.tolist(), self._user_rng)
            except BaseException:
                self._user_rng.bit_generator.state = drawn
                raise
        else:
            answer = self.rule_user.respond(utterance, recommended.tolist())
        self._turn += 1
        self._satisfactions.append(answer.satisfaction)
        self._failed_turns += int(answer.failed)
        terminated = answer.accepted or answer.left
        truncated = not terminated and self._turn >= self.max_turns
        self._done = terminated or truncated
        reward = (
            self.rewards["reward_success"] * answer.accepted
            + self.rewards["reward_satisfaction"] * (answer.satisfaction - 3) / 2
            + self.rewards["reward_turn"]
            + self.rewards["reward_leave"] * answer.left
        )
        shown = f" [items {recommended.tolist()}]" if recommended.size else ""
        self._transcript.append(f"turn {self._turn} agent: {utterance}{shown}")
        self._transcript.append(f"turn {self._turn} user ({answer.satisfaction}/5): {answer.reply}")
        observation = self._observation(answer, recommended=recommended.size > 0)
        info = self._info(answer, utterance, recommended, mentioned)
        return observation, float(reward), bool(terminated), bool(truncated), info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return "\n".join(self._transcript) if self._started else ""

    def make_action(self, utterance: str, items: Sequence[int] | np.ndarray = ()) -> ActType:
        """An action saying ``utterance`` and recommending item rows ``items`` (at most
        ``top_k``, in ranked order). The utterance is used as given (see
        :func:`clean_utterance`)."""
        return {
            "utterance": utterance,
            "items": item_slots(items, self.top_k, self.graph.n_items),
        }

    # ------------------------------------------------------------------ views

    def _observation(self, answer: UserReply, *, recommended: bool) -> ObsType:
        reply = self.text_encoder.encode([answer.reply])[0].astype(np.float32)
        scaled = [(s - 1) / 4 for s in self._satisfactions]
        features = np.array(
            [
                self._turn / self.max_turns,
                (answer.satisfaction - 1) / 4,
                float(np.mean(scaled)) if scaled else 0.5,
                float(recommended),
            ],
            dtype=np.float32,
        )
        return {
            "reply": np.clip(reply, -1.0, 1.0),
            "features": np.clip(features, 0.0, 1.0),
        }

    def _info(
        self, answer: UserReply, utterance: str, recommended: np.ndarray, mentioned: list[int]
    ) -> dict[str, Any]:
        return {
            "reply": answer.reply,
            "utterance": utterance,
            "satisfaction": answer.satisfaction,
            "satisfaction_reason": answer.reason,
            "expectation": answer.expectation,
            "accepted": answer.accepted,
            "success": answer.accepted,
            "left": answer.left,
            "turn": self._turn,
            "turns_left": self.max_turns - self._turn,
            "recommended": recommended,
            "mentioned_attributes": np.array(mentioned, dtype=np.int64),
            "user": self._user_id,
            "llm_failed": answer.failed,
            "failed_turns": self._failed_turns,
            "usage": self._usage_since(),
        }

    def _usage_since(self) -> dict[str, int | float]:
        """The AILO user's model usage since the previous step or reset (zeros without it)."""
        if self.ailo_user is None:
            return Usage().as_dict()
        total = self.ailo_user.usage
        since, self._usage_reported = total - self._usage_reported, total
        return since.as_dict()

    # ------------------------------------------------------------------ validation

    def _parse_action(self, action: Any) -> tuple[str, np.ndarray]:
        """``(utterance, distinct recommended item rows)`` of an action, or ``ValueError``."""
        return parse_action(action, self.top_k, self.graph.n_items, self.utterance_max_length)

    def _check_target(self, target: Any) -> int:
        if (
            isinstance(target, bool)
            or not isinstance(target, int | np.integer)
            or not 0 <= target < self.graph.n_items
        ):
            raise ValueError(
                f"options['target']={target!r} is not an item row in 0..{self.graph.n_items - 1}"
            )
        if not self._has_attribute[int(target)]:
            raise ValueError(
                f"options['target'] item {int(target)} has no attributes, so the user cannot "
                "open the conversation"
            )
        return int(target)
