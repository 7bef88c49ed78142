"""``RecoChat-v0``: natural-language conversational recommendation for LLM agents.

The agent talks to a simulated user in words and may recommend catalog items; the user has a
hidden target item and answers in words. Two users: a rule-based user on the binary-attribute
protocol of ``ConvRec-v0`` (no language model needed) and the ECPO AILO user voiced by a
language model (:class:`~recoworld.simulators.ailo.AILOUser`). See :class:`RecoChatEnv`.
"""

from __future__ import annotations

import math
import os
import string
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recoworld.catalog import Catalog
from recoworld.envs.convrec_env import _build_world, _episode_pairs
from recoworld.llm.base import ChatModel, Usage
from recoworld.simulators.ailo import ON_LLM_ERROR, AILOUser, UserReply, sample_ailo_user
from recoworld.text import HashingTextEncoder, TextEncoder, check_text_encoder, words

__all__ = [
    "FEATURES",
    "RECOCHAT_CHARSET",
    "USERS",
    "AttributeMatcher",
    "RecoChatEnv",
    "RuleChatUser",
    "clean_utterance",
    "item_slots",
]

ObsType = dict[str, np.ndarray]
ActType = dict[str, Any]

USERS: tuple[str, ...] = ("rule", "ailo")
"""The simulated users ``RecoChat-v0`` offers."""

RECOCHAT_CHARSET: str = string.ascii_letters + string.digits + string.punctuation + " \n"
"""The characters an utterance may use: printable ASCII letters, digits, punctuation, space and
newline. :func:`clean_utterance` maps other text (curly quotes, accents, tabs) into it."""

FEATURES: tuple[str, ...] = ("turn", "satisfaction", "mean_satisfaction", "recommended")
"""Columns of the ``features`` observation (see :class:`RecoChatEnv`)."""

DEFAULT_N_ITEMS = 1000
NEUTRAL_SATISFACTION = 3

_PUNCTUATION_MAP = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\t": " ",
        "\r": " ",
        "\u00a0": " ",
    }
)


def clean_utterance(text: str, max_length: int = 500) -> str:
    """``text`` mapped into :data:`RECOCHAT_CHARSET` and cut to ``max_length`` characters.

    Curly quotes and dashes become ASCII ones, accented letters lose their accents, tabs become
    spaces and any other character outside the charset is dropped; runs of spaces collapse.

    >>> clean_utterance("Café \u201cjazz\u201d\u2014maybe?\tYes!")
    'Cafe "jazz"-maybe? Yes!'
    """
    if not isinstance(text, str):
        raise ValueError(f"utterance {text!r} must be a str")
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 0:
        raise ValueError(f"max_length={max_length!r} must be an integer >= 0")
    mapped = unicodedata.normalize("NFKD", text.translate(_PUNCTUATION_MAP))
    allowed = set(RECOCHAT_CHARSET)
    kept = "".join(char for char in mapped if char in allowed)
    lines = [" ".join(line.split()) for line in kept.split("\n")]
    return "\n".join(line for line in lines if line)[:max_length]


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


class AttributeMatcher:
    """Finds a catalog's attribute names in a text, by whole words, case-insensitively.

    Names and texts are split into words with :func:`recoworld.text.words` (so ``"hip-hop"``,
    ``"Hip Hop"`` and ``"hip hop"`` are the same phrase, and ``"tag:73"`` is ``tag 73``). At
    every position the longest name wins (``"acid jazz"`` before ``"jazz"``), and matches do
    not overlap. Names that share their words (``"Hip-Hop"`` and ``"hip hop"``) are found
    together.

    >>> matcher = AttributeMatcher(("jazz", "acid jazz", "hip-hop", "calm"))
    >>> matcher.find("Do you like Acid Jazz, hip hop or jazzy stuff? Calm, or jazz?")
    [1, 2, 3, 0]
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self._phrases: dict[tuple[str, ...], list[int]] = {}
        for column, name in enumerate(self.names):
            tokens = tuple(words(name))
            if tokens:
                self._phrases.setdefault(tokens, []).append(column)
        self.max_words = max((len(tokens) for tokens in self._phrases), default=0)

    def find(self, text: str) -> list[int]:
        """Attribute columns named in ``text``, in order of first mention, without repeats."""
        found: dict[int, None] = {}
        for column, _, _ in self.spans(words(text)):
            found[column] = None
        return list(found)

    def spans(self, tokens: Sequence[str]) -> list[tuple[int, int, int]]:
        """``(column, start, end)`` of every mention in a list of :func:`~recoworld.text.words`
        tokens (``tokens[start:end]`` names attribute ``column``), in order."""
        mentions: list[tuple[int, int, int]] = []
        position = 0
        while position < len(tokens):
            for length in range(min(self.max_words, len(tokens) - position), 0, -1):
                columns = self._phrases.get(tuple(tokens[position : position + length]))
                if columns:
                    mentions.extend((c, position, position + length) for c in columns)
                    position += length
                    break
            else:
                position += 1
        return mentions


class RuleChatUser:
    """The rule-based user of ``RecoChat-v0``: the binary-attribute protocol in templated words.

    It has a target item and opens by naming one of its attributes. Each turn:

    * a turn that recommends items is answered as a recommendation: accepted iff the target is
      among them ("Yes! <title> is exactly what I was looking for."), otherwise rejected ("No,
      none of these is what I'm looking for."); attribute names in such a turn are not taken as
      questions;
    * otherwise the user answers about the first attribute named in the utterance
      (:class:`AttributeMatcher`) that it has not answered yet, one per turn as in
      ``ConvRec-v0``: "Yes, I'd like <name>." if the target has it, "No, I don't want
      <name>." otherwise. When every named attribute was answered before it repeats the first
      answer ("I already told you: ..."); when none is named it says it does not follow.

    Satisfaction (1..5) of the turn: 5 target accepted; 4 a new question answered yes; 3 a new
    question answered no; 2 a rejected recommendation; 1 a question already answered or an
    utterance naming no attribute. Every turn of satisfaction 2 or less costs one unit of
    ``patience``; when it reaches 0 the user leaves ("That's enough for me, bye.").
    """

    def __init__(self, catalog: Catalog, matcher: AttributeMatcher, patience: int = 5) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience={patience!r} must be an integer >= 1")
        self.catalog = catalog
        self.matcher = matcher
        self.patience = patience
        self.target = -1
        self.patience_left = patience
        self.answers: dict[int, bool] = {}
        self._target_attributes: frozenset[int] = frozenset()

    def begin(self, target: int, opening_attribute: int) -> str:
        """Start a conversation about ``target``; return the opening request."""
        self.target = int(target)
        self._target_attributes = frozenset(
            self.catalog.item_attributes[[self.target], :].indices.tolist()
        )
        if opening_attribute not in self._target_attributes:
            raise ValueError(
                f"opening_attribute={opening_attribute!r} is not an attribute of target item "
                f"{self.target}"
            )
        self.patience_left = self.patience
        self.answers = {int(opening_attribute): True}
        name = self.catalog.attribute_names[int(opening_attribute)]
        return f"Hi! I'm looking for something with {name}."

    def respond(self, utterance: str, recommended: Sequence[int]) -> UserReply:
        """Answer one turn (``recommended``: distinct item rows, in ranked order)."""
        names = self.catalog.attribute_names
        if len(recommended):
            if self.target in recommended:
                title = self.catalog.titles[self.target]
                return UserReply(
                    reply=f"Yes! {title} is exactly what I was looking for.",
                    satisfaction=5,
                    reason="the recommendation includes the item I want",
                    accepted=True,
                    left=False,
                )
            reply = "No, none of these is what I'm looking for."
            satisfaction, reason = 2, "the recommended items are not what I want"
        else:
            mentioned = self.matcher.find(utterance)
            new = [a for a in mentioned if a not in self.answers]
            if new:
                attribute = new[0]
                has = attribute in self._target_attributes
                self.answers[attribute] = has
                reply = _answer(names[attribute], has)
                satisfaction = 4 if has else 3
                reason = (
                    f"a useful question: I do want {names[attribute]}"
                    if has
                    else f"a fair question, though I don't want {names[attribute]}"
                )
            elif mentioned:
                attribute = mentioned[0]
                reply = "I already told you: " + _answer(names[attribute], self.answers[attribute])
                satisfaction, reason = 1, f"I had already answered about {names[attribute]}"
            else:
                reply = (
                    "Sorry, I don't follow. Ask me about something I might like, "
                    "or recommend something."
                )
                satisfaction, reason = 1, "the message asked about nothing I know"
        left = False
        if satisfaction <= 2:
            self.patience_left -= 1
            if self.patience_left <= 0:
                left = True
                reply += " That's enough for me, bye."
        return UserReply(reply, satisfaction, reason, accepted=False, left=left)


def _answer(name: str, has: bool) -> str:
    return f"Yes, I'd like {name}." if has else f"No, I don't want {name}."


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
    too long, ``items`` of another shape, a non-integer or out-of-range slot) raises
    ``ValueError`` naming it.

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
    ``failed_turns`` (such turns this episode) and ``usage`` (this turn's language-model
    ``calls``, ``prompt_tokens``, ``completion_tokens``, ``cost_usd``, ``latency_s``,
    ``cache_hits``; zeros without a model and after reset). The target stays hidden.

    ## Arguments

    * ``user``: ``"rule"`` or ``"ailo"``. ``llm`` (AILO only): a
      :class:`~recoworld.llm.ChatModel`, ``"local"`` for the embedded
      :class:`~recoworld.llm.LocalChatModel`, or a litellm model string
      (:class:`~recoworld.llm.LiteLLMChatModel`). ``on_llm_error`` (``"raise"`` or
      ``"fallback"``), ``llm_temperature`` (0.7), ``llm_max_tokens`` (256), ``llm_max_chars``
      (160, the longest expectation, reason and reply), ``persona_interests`` (2) and
      ``target_pool`` (10) configure the AILO user.
    * ``patience`` (5): the rule user's patience.
    * ``dataset_path`` and ``split_file``: an SCPR data folder as in ``ConvRec-v0``;
      ``catalog`` and ``interactions``: a world of your own; none given: a synthetic catalog of
      ``n_items`` (1000) items with 48 attributes and ``n_users`` (100) synthetic users, both
      from ``catalog_seed`` (0).
    * ``max_turns`` (15), ``top_k`` (10), ``utterance_max_length`` (500).
    * ``text_encoder``: a :class:`~recoworld.text.TextEncoder` for the ``reply`` observation.
    * ``reward_success`` (1.0), ``reward_satisfaction`` (0.1), ``reward_turn`` (-0.05),
      ``reward_leave`` (-0.3); ``render_mode`` (None or ``"ansi"``).

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
        *,
        user: str = "rule",
        llm: ChatModel | str | None = None,
        dataset_path: str | os.PathLike[str] | None = None,
        split_file: str | None = None,
        catalog: Catalog | None = None,
        interactions: Mapping[int, Any] | None = None,
        n_items: int = DEFAULT_N_ITEMS,
        n_users: int = 100,
        catalog_seed: int = 0,
        max_turns: int = 15,
        top_k: int = 10,
        patience: int = 5,
        utterance_max_length: int = 500,
        text_encoder: TextEncoder | None = None,
        reward_success: float = 1.0,
        reward_satisfaction: float = 0.1,
        reward_turn: float = -0.05,
        reward_leave: float = -0.3,
        on_llm_error: str = "raise",
        llm_temperature: float = 0.7,
        llm_max_tokens: int = 256,
        llm_max_chars: int = 160,
        persona_interests: int = 2,
        target_pool: int = 10,
        render_mode: str | None = None,
    ) -> None:
        if user not in USERS:
            raise ValueError(f"user={user!r} must be one of {USERS}")
        for name, value, low in (
            ("n_items", n_items, 2),
            ("n_users", n_users, 1),
            ("max_turns", max_turns, 1),
            ("top_k", top_k, 1),
            ("patience", patience, 1),
            ("utterance_max_length", utterance_max_length, 1),
            ("llm_max_tokens", llm_max_tokens, 1),
            ("llm_max_chars", llm_max_chars, 1),
            ("persona_interests", persona_interests, 1),
            ("target_pool", target_pool, 1),
        ):
            _check_int(name, value, low)
        _check_int("catalog_seed", catalog_seed, 0)
        self.rewards = {
            name: _check_reward(name, value)
            for name, value in (
                ("reward_success", reward_success),
                ("reward_satisfaction", reward_satisfaction),
                ("reward_turn", reward_turn),
                ("reward_leave", reward_leave),
            )
        }
        if on_llm_error not in ON_LLM_ERROR:
            raise ValueError(f"on_llm_error={on_llm_error!r} must be one of {ON_LLM_ERROR}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode={render_mode!r} must be None or 'ansi'")
        if user == "rule" and llm is not None:
            raise ValueError(
                f"llm={llm!r} voices the AILO user and is used only with user='ailo', not 'rule'"
            )
        self.text_encoder = check_text_encoder(
            HashingTextEncoder(dim=64) if text_encoder is None else text_encoder
        )

        self.catalog, self.graph, episode_interactions = _build_world(
            dataset_path, split_file, catalog, interactions, n_items, n_users, catalog_seed
        )
        self.pairs = _episode_pairs(episode_interactions, self.graph)
        self.user_kind = user
        self.max_turns = max_turns
        self.top_k = top_k
        self.utterance_max_length = utterance_max_length
        self.render_mode = render_mode
        self.matcher = AttributeMatcher(self.catalog.attribute_names)
        self._has_attribute = np.diff(self.graph.item_attr.indptr) > 0
        self._has_attribute.setflags(write=False)
        self.persona_interests = persona_interests
        self.target_pool = min(target_pool, int(self._has_attribute.sum()))
        self.llm: ChatModel | None = None
        self.rule_user = RuleChatUser(self.catalog, self.matcher, patience)
        self.ailo_user: AILOUser | None = None
        if user == "ailo":
            self.llm = _chat_model(llm)
            self.ailo_user = AILOUser(
                self.llm,
                self.catalog,
                on_llm_error=on_llm_error,
                temperature=llm_temperature,
                max_tokens=llm_max_tokens,
                max_chars=llm_max_chars,
                max_listed_items=top_k,
            )

        self.action_space = spaces.Dict(
            {
                "utterance": spaces.Text(
                    max_length=utterance_max_length, min_length=0, charset=RECOCHAT_CHARSET
                ),
                "items": spaces.MultiDiscrete(np.full(top_k, self.graph.n_items + 1, np.int64)),
            }
        )
        self.observation_space = spaces.Dict(
            {
                "reply": spaces.Box(-1.0, 1.0, (self.text_encoder.dim,), np.float32),
                "features": spaces.Box(0.0, 1.0, (len(FEATURES),), np.float32),
            }
        )
        self._charset = frozenset(RECOCHAT_CHARSET)
        self._started = False
        self._done = False
        self.persona = None

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - {"target", "opening_attribute"})
        if unknown:
            raise ValueError(
                f"reset options {unknown} are unknown; RecoChat-v0 takes 'target' and "
                "'opening_attribute'"
            )
        target = self._check_target(options["target"]) if "target" in options else None
        self._user_rng = self.np_random.spawn(1)[0]
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
        target_attributes = self.graph.attributes_of(target)
        if "opening_attribute" in options:
            opening = options["opening_attribute"]
            if (
                isinstance(opening, bool)
                or not isinstance(opening, int | np.integer)
                or int(opening) not in set(target_attributes.tolist())
            ):
                raise ValueError(
                    f"opening_attribute={opening!r} is not an attribute of target item "
                    f"{target} (its attributes: {target_attributes.tolist()})"
                )
            opening = int(opening)
        else:
            opening = int(target_attributes[self.np_random.integers(len(target_attributes))])

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
            answer = self.ailo_user.respond(utterance, recommended.tolist(), self._user_rng)
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
            "usage": answer.usage.as_dict() if isinstance(answer.usage, Usage) else {},
        }

    # ------------------------------------------------------------------ validation

    def _parse_action(self, action: Any) -> tuple[str, np.ndarray]:
        """``(utterance, distinct recommended item rows)`` of an action, or ``ValueError``."""
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
        if len(utterance) > self.utterance_max_length:
            raise ValueError(
                f"action['utterance'] has {len(utterance)} characters; at most "
                f"utterance_max_length={self.utterance_max_length}"
            )
        outside = sorted(set(utterance) - self._charset)
        if outside:
            raise ValueError(
                f"action['utterance'] has characters outside RECOCHAT_CHARSET: {outside!r}; "
                "map the text with recoworld.envs.recochat_env.clean_utterance"
            )
        items = action["items"]
        array = np.asarray(items)
        if array.shape != (self.top_k,):
            raise ValueError(
                f"action['items']={items!r} has shape {array.shape}; expected ({self.top_k},) "
                "slots (item row + 1, 0 for an empty slot)"
            )
        if array.dtype.kind not in "iub":  # MultiDiscrete.contains accepts bools as 0/1
            raise ValueError(
                f"action['items']={items!r} must hold integers (item row + 1, 0 for empty)"
            )
        array = array.astype(np.int64)
        bad = array[(array < 0) | (array > self.graph.n_items)]
        if bad.size:
            raise ValueError(
                f"action['items'] slot value {int(bad[0])} is outside 0..{self.graph.n_items} "
                "(item row + 1, 0 for an empty slot)"
            )
        slots = array[array > 0].astype(np.int64) - 1
        _, first = np.unique(slots, return_index=True)
        return utterance, slots[np.sort(first)]

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


def _chat_model(llm: ChatModel | str | None) -> ChatModel:
    if llm is None:
        raise ValueError(
            "user='ailo' needs llm=: a ChatModel, 'local' for the embedded model, or a litellm "
            "model string"
        )
    if isinstance(llm, str):
        if not llm:
            raise ValueError("llm='' is empty: use 'local' or a litellm model string")
        if llm == "local":
            from recoworld.llm.local import LocalChatModel

            return LocalChatModel()
        from recoworld.llm.litellm_backend import LiteLLMChatModel

        return LiteLLMChatModel(llm)
    if not isinstance(llm, ChatModel):
        raise ValueError(f"llm={llm!r} must be a ChatModel, 'local' or a litellm model string")
    return llm


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")


def _check_reward(name: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not math.isfinite(value)
    ):
        raise ValueError(f"{name}={value!r} must be a finite number")
    return float(value)
