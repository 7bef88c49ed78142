"""The AILO user of ECPO: a persona-driven conversational user that judges every turn.

ECPO (Feng et al., "Expectation Confirmation Preference Optimization for Multi-Turn
Conversational Recommendation Agent", 2025) simulates users with an *AILO* persona
(**A**\\ctivities, **I**\\nterests, **L**\\anguage style, **O**\\rientations) and a hidden target
item. Each turn the user first forms an *expectation* of what a good recommender would say
next, compares the recommender's utterance with it (expectation confirmation), and answers with
a reply, a satisfaction score with its reason, and whether it leaves.

Here the persona is grounded in the latent user model: :func:`sample_ailo_user` draws a latent
user with :func:`~recoworld.simulators.sample_users`, its strongest topics
(:func:`~recoworld.simulators.topic_preferences`) become the persona's Interests, and the target
is drawn among the items of highest latent utility
(:func:`~recoworld.simulators.item_utilities`); Activities, Language style and Orientations come
from the packaged lists :data:`ACTIVITIES`, :data:`LANGUAGE_STYLES` and :data:`ORIENTATIONS`,
drawn with the same generator.

:class:`AILOUser` words the turns with any :class:`~recoworld.llm.ChatModel` through structured
output (:class:`AILOAnswer`) and the versioned packaged prompt
``prompts/ailo_user.<version>.txt``. What must stay grounded is decided by structure, not by the
model: the user *accepts* a recommendation iff its target is among the recommended items (the
model is told and only words the reply), so success is never a language model's guess. A failed
or malformed call raises the typed error of :mod:`recoworld.llm` with the turn it happened in
(``on_llm_error="raise"``, the default), or gives a templated reply counted in ``failed_turns``
(``"fallback"``). A spent cost cap (:class:`~recoworld.llm.CostCapExceeded`) always propagates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, create_model

from recoworld.catalog.base import Catalog
from recoworld.llm.base import (
    ChatModel,
    CostCapExceeded,
    LLMError,
    Usage,
)
from recoworld.llm.prompts import load_prompt
from recoworld.simulators.config import UserModelConfig
from recoworld.simulators.latent import (
    LatentUserState,
    item_utilities,
    sample_users,
    topic_preferences,
)
from recoworld.validation import ON_ERROR, check_choice, check_int, check_number

__all__ = [
    "ACTIVITIES",
    "AILO_PROMPT_VERSION",
    "LANGUAGE_STYLES",
    "ORIENTATIONS",
    "AILOAnswer",
    "AILOPersona",
    "AILOProfile",
    "AILOUser",
    "UserReply",
    "ailo_answer_model",
    "sample_ailo_user",
]

AILO_PROMPT_VERSION = "v1"
"""Version of the packaged prompt (``prompts/ailo_user.<version>.txt``)."""

ACTIVITIES: tuple[str, ...] = (
    "commuting to work by train",
    "cooking dinner for friends",
    "working out at the gym",
    "studying for exams",
    "hosting a house party",
    "going for a long run",
    "reading on a rainy afternoon",
    "driving on a road trip",
    "coding late at night",
    "winding down after work",
    "cleaning the flat on Sunday",
    "gardening at the weekend",
    "walking the dog",
    "painting and sketching",
)
"""The Activities a persona draws two of: what the user does while consuming the items."""

LANGUAGE_STYLES: tuple[str, ...] = (
    "casual and brief, lowercase, a bit of slang",
    "polite and formal",
    "enthusiastic, with exclamation marks",
    "terse and to the point",
    "chatty, with small personal details",
    "dry and a little sarcastic",
    "hesitant, often unsure what to say",
)
"""The Language styles a persona draws one of: how the user writes."""

ORIENTATIONS: tuple[str, ...] = (
    "values discovering something new over the familiar",
    "prefers popular, well-known picks",
    "cares about quality more than quantity",
    "wants quick suggestions without many questions",
    "likes to be asked about preferences before getting suggestions",
    "is skeptical of recommendations and needs convincing",
    "wants suggestions that fit the mood of the moment",
)
"""The Orientations a persona draws one of: what the user expects from a recommender."""


@dataclass(frozen=True)
class AILOPersona:
    """An AILO persona: Activities, Interests, Language style, Orientation.

    Attributes:
        activities: What the user does while consuming items (from :data:`ACTIVITIES`).
        interests: Names of the user's strongest topics, strongest first (from the latent user).
        language_style: How the user writes (from :data:`LANGUAGE_STYLES`).
        orientation: What the user expects from a recommender (from :data:`ORIENTATIONS`).
    """

    activities: tuple[str, ...]
    interests: tuple[str, ...]
    language_style: str
    orientation: str

    def describe(self) -> str:
        """The persona as the four labelled lines the prompt shows.

        >>> print(AILOPersona(("cooking",), ("jazz", "soul"), "polite", "likes novelty").describe())
        Activities: cooking.
        Interests: jazz, soul.
        Language style: polite.
        Orientation: likes novelty.
        """
        return (
            f"Activities: {'; '.join(self.activities)}.\n"
            f"Interests: {', '.join(self.interests)}.\n"
            f"Language style: {self.language_style}.\n"
            f"Orientation: {self.orientation}."
        )


@dataclass(frozen=True, eq=False)
class AILOProfile:
    """A sampled AILO user: the persona, the latent user behind it, and its hidden target.

    Attributes:
        persona: The AILO persona.
        latent: The latent user (a batch of one) whose interests the persona states.
        topic_preferences: ``(n_topics,)`` how much the latent user wants each topic.
        target: Item row the user is looking for.
        target_utility: The latent utility of the target.
    """

    persona: AILOPersona
    latent: LatentUserState
    topic_preferences: np.ndarray
    target: int
    target_utility: float


def sample_ailo_user(
    catalog: Catalog,
    rng: np.random.Generator,
    *,
    config: UserModelConfig | None = None,
    n_interests: int = 2,
    target_pool: int = 10,
    eligible: np.ndarray | None = None,
    target: int | None = None,
) -> AILOProfile:
    """Sample an AILO user from the population, every draw from ``rng``.

    The latent user comes from :func:`~recoworld.simulators.sample_users` (``config``, default
    :class:`~recoworld.simulators.UserModelConfig`); its ``n_interests`` strongest topics by
    :func:`~recoworld.simulators.topic_preferences` are the persona's Interests, strongest first.
    The target is drawn uniformly among the ``target_pool`` items of highest latent utility
    (:func:`~recoworld.simulators.item_utilities`) among the ``eligible`` items (an
    ``(n_items,)`` bool mask; default all). Then two Activities, one Language style and one
    Orientation are drawn from the packaged lists. A given ``target`` (an item row) replaces
    the drawn one (the draws, and so the persona, stay the same).

    >>> from recoworld.catalog import SyntheticCatalogConfig, generate_catalog
    >>> catalog = generate_catalog(SyntheticCatalogConfig(n_items=50), seed=1)
    >>> profile = sample_ailo_user(catalog, np.random.default_rng(0))
    >>> len(profile.persona.interests), 0 <= profile.target < 50
    (2, True)
    """
    if not isinstance(catalog, Catalog):
        raise ValueError(f"catalog={catalog!r} is not a recoworld Catalog")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng={rng!r} must be a numpy Generator")
    config = UserModelConfig() if config is None else config
    for name, value, high in (
        ("n_interests", n_interests, catalog.n_topics),
        ("target_pool", target_pool, catalog.n_items),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 1 <= value:
            raise ValueError(f"{name}={value!r} must be a positive integer")
        if value > high:
            raise ValueError(f"{name}={value} exceeds what the catalog has ({high})")
    if eligible is None:
        candidates = np.arange(catalog.n_items, dtype=np.int64)
    else:
        mask = np.asarray(eligible)
        if mask.shape != (catalog.n_items,) or mask.dtype != np.bool_:
            raise ValueError(
                f"eligible must be a bool mask of shape ({catalog.n_items},), got "
                f"{mask.dtype} {mask.shape}"
            )
        candidates = np.flatnonzero(mask).astype(np.int64)
        if candidates.size == 0:
            raise ValueError("eligible allows no item to be the target")
    if target is not None and (
        isinstance(target, bool)
        or not isinstance(target, int | np.integer)
        or not 0 <= target < catalog.n_items
    ):
        raise ValueError(f"target={target!r} is not an item row in 0..{catalog.n_items - 1}")

    latent = sample_users(1, catalog, config, rng)
    preferences = topic_preferences(latent, catalog, config)[0]
    strongest = np.argsort(-preferences, kind="stable")[:n_interests]
    utilities = item_utilities(latent, catalog, candidates[None, :], config)[0]
    pool = candidates[np.argsort(-utilities, kind="stable")[: min(target_pool, candidates.size)]]
    drawn = int(pool[rng.integers(pool.size)])
    if target is None:
        target = drawn
        target_utility = float(utilities[np.searchsorted(candidates, target)])
    else:
        target = int(target)
        target_utility = float(item_utilities(latent, catalog, np.array([[target]]), config)[0, 0])
    activities = rng.choice(len(ACTIVITIES), size=2, replace=False)
    persona = AILOPersona(
        activities=tuple(ACTIVITIES[int(a)] for a in activities),
        interests=tuple(catalog.topic_names[int(t)] for t in strongest),
        language_style=LANGUAGE_STYLES[int(rng.integers(len(LANGUAGE_STYLES)))],
        orientation=ORIENTATIONS[int(rng.integers(len(ORIENTATIONS)))],
    )
    preferences.setflags(write=False)
    return AILOProfile(
        persona=persona,
        latent=latent,
        topic_preferences=preferences,
        target=target,
        target_utility=target_utility,
    )


def _without_titles(schema: dict[str, Any]) -> None:
    """Drop pydantic's generated titles: the schema is pasted into every prompt, and a small
    local model reads each token of it."""
    schema.pop("title", None)
    for value in schema.get("properties", {}).values():
        value.pop("title", None)


class AILOAnswer(BaseModel):
    """The structured answer of one AILO turn, in the order the model writes it.

    The expectation comes first and the reason before the score, so a model that writes left
    to right reasons before it judges. ``satisfaction`` is an enum (1..5), so grammar-constrained
    decoding can only produce a valid score. :class:`AILOUser` asks for a subclass whose text
    fields are at most ``max_chars`` long (:func:`ailo_answer_model`), which bounds the answer
    for constrained decoding.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_without_titles)

    expectation: str
    reason: str
    satisfaction: Literal[1, 2, 3, 4, 5]
    reply: str = Field(min_length=1)
    leave: bool


@lru_cache(maxsize=16)
def ailo_answer_model(max_chars: int) -> type[AILOAnswer]:
    """:class:`AILOAnswer` with ``expectation``, ``reason`` and ``reply`` of at most
    ``max_chars`` characters (a JSON-schema ``maxLength``, which constrained decoding obeys).

    >>> ailo_answer_model(40).model_json_schema()["properties"]["reply"]["maxLength"]
    40
    """
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
        raise ValueError(f"max_chars={max_chars!r} must be an integer >= 1")
    bounded: dict[str, Any] = {
        name: (str, Field(min_length=low, max_length=max_chars))
        for name, low in (("expectation", 0), ("reason", 0), ("reply", 1))
    }
    return create_model(f"AILOAnswer{max_chars}", __base__=AILOAnswer, **bounded)


@dataclass(frozen=True)
class UserReply:
    """One turn of a conversational user (the AILO user, or the rule user of ``RecoChat-v0``).

    Attributes:
        reply: What the user says.
        satisfaction: 1 (very unhappy) .. 5 (delighted) with the recommender's turn.
        reason: Why, in words.
        accepted: The target was among the recommended items (decided structurally).
        left: The user ends the conversation without accepting.
        expectation: What the user expected this turn (AILO; ``""`` for the rule user).
        failed: The language model's answer could not be used and a template stood in.
        usage: What this turn's language-model calls cost.
    """

    reply: str
    satisfaction: int
    reason: str
    accepted: bool
    left: bool
    expectation: str = ""
    failed: bool = False
    usage: Usage = field(default_factory=Usage)


class AILOUser:
    """An AILO user voiced by a chat model; acceptance is decided by its target.

    It knows nothing of Gymnasium: :meth:`begin` starts a conversation for a sampled
    :class:`AILOProfile` and returns the opening request; :meth:`respond` answers one
    recommender turn with a :class:`UserReply`.

    Args:
        model: Any :class:`~recoworld.llm.ChatModel` (embedded, litellm, cached, scripted...).
        catalog: The items the recommender talks about (titles, descriptions, attributes).
        on_llm_error: ``"raise"`` (default): a failed call (provider error after its retries,
            malformed output after its re-asks) propagates as the :mod:`recoworld.llm` error,
            with a note naming the turn; ``"fallback"``: a templated reply stands in, counted in
            ``failed_turns`` (the turn's ``UserReply.failed`` is true).
        prompt_version: Which packaged prompt to use.
        temperature, max_tokens: Sampling of each call; the call's seed is drawn from the
            ``rng`` given to :meth:`respond`, so a seeded run asks the same questions.
        max_chars: Longest expectation, reason and reply the answer schema allows
            (:func:`ailo_answer_model`). With constrained decoding the whole answer then fits
            in ``3 * max_chars + 40`` tokens at worst (usually a third of that); a
            ``max_tokens`` under what the model writes cuts the JSON off and costs re-asks.
        history_turns: How many past exchanges the prompt shows.
        max_listed_items: How many recommended items the prompt lists.

    The opening request is templated (no call): it names the opening attribute of the target,
    as in the CPR protocol, so every conversation starts from one true fact.

    Counters: ``turns``, ``failed_turns``, ``usage`` (all calls, failed ones included when the
    error carries their usage); ``history`` holds ``(speaker, text)`` pairs of the conversation.
    """

    def __init__(
        self,
        model: ChatModel,
        catalog: Catalog,
        *,
        on_llm_error: str = "raise",
        prompt_version: str = AILO_PROMPT_VERSION,
        temperature: float = 0.7,
        max_tokens: int = 256,
        max_chars: int = 160,
        history_turns: int = 4,
        max_listed_items: int = 10,
    ) -> None:
        if not isinstance(model, ChatModel):
            raise ValueError(f"model={model!r} does not implement the ChatModel protocol")
        if not isinstance(catalog, Catalog):
            raise ValueError(f"catalog={catalog!r} is not a recoworld Catalog")
        check_choice("on_llm_error", on_llm_error, ON_ERROR)
        max_tokens = check_int("max_tokens", max_tokens, low=1)
        max_chars = check_int("max_chars", max_chars, low=1)
        history_turns = check_int("history_turns", history_turns, low=0)
        max_listed_items = check_int("max_listed_items", max_listed_items, low=1)
        self.model = model
        self.catalog = catalog
        self.on_llm_error = on_llm_error
        self.prompt = load_prompt("ailo_user", prompt_version)
        self.temperature = check_number("temperature", temperature, 0.0, 2.0)
        self.max_tokens = max_tokens
        self.answer_model = ailo_answer_model(max_chars)
        self.history_turns = history_turns
        self.max_listed_items = max_listed_items
        self.turns = 0
        self.failed_turns = 0
        self.usage = Usage()
        self.history: list[tuple[str, str]] = []
        self.profile: AILOProfile | None = None
        self.opening_attribute = -1

    def begin(self, profile: AILOProfile, opening_attribute: int) -> str:
        """Start a conversation for ``profile``; return the opening request.

        ``opening_attribute`` is an attribute column of the target that the request names.
        """
        if not isinstance(profile, AILOProfile):
            raise ValueError(f"profile={profile!r} is not an AILOProfile")
        attributes = self.catalog.item_attributes[[profile.target], :].indices
        if opening_attribute not in set(attributes.tolist()):
            raise ValueError(
                f"opening_attribute={opening_attribute!r} is not an attribute of target item "
                f"{profile.target} (its attributes: {sorted(attributes.tolist())})"
            )
        self.profile = profile
        self.opening_attribute = int(opening_attribute)
        self.turns = 0
        self.failed_turns = 0
        name = self.catalog.attribute_names[self.opening_attribute]
        activity = profile.persona.activities[0]
        opening = f"Hi! I'm looking for something with {name}, for when I'm {activity}."
        self.history = [("You", opening)]
        return opening

    def respond(
        self, utterance: str, recommended: Sequence[int], rng: np.random.Generator
    ) -> UserReply:
        """Answer one recommender turn: ``utterance`` and the ``recommended`` item rows.

        A call that raises (``on_llm_error="raise"``, a spent cost cap) leaves the user as it
        was (turns, history; its usage counts the failed request): the turn can be asked
        again. The call's seed is drawn from ``rng`` first, so to retry exactly, restore
        ``rng`` too (``RecoChat-v0`` does).
        """
        if self.profile is None:
            raise RuntimeError("AILOUser.respond called before begin")
        if not isinstance(utterance, str):
            raise ValueError(f"utterance={utterance!r} must be a str")
        items = [int(i) for i in recommended]
        bad = [i for i in items if not 0 <= i < self.catalog.n_items]
        if bad:
            raise ValueError(
                f"recommended item row {bad[0]} is outside 0..{self.catalog.n_items - 1}"
            )
        accepted = self.profile.target in items
        prompt = self.prompt.format(
            persona=self.profile.persona.describe(),
            target=self._target_text(),
            history=self._history_text(),
            utterance=" ".join(utterance.split()) or "(says nothing)",
            recommendations=self._recommendations_text(items, accepted),
        )
        said = ("Recommender", " ".join(utterance.split()) + self._listing(items))
        try:
            response = self.model.complete(
                [{"role": "user", "content": prompt}],
                schema=self.answer_model,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                seed=int(rng.integers(2**31)),
            )
        except LLMError as error:
            self.usage = self.usage + error.usage  # sent and paid for, though it failed
            if isinstance(error, CostCapExceeded) or self.on_llm_error == "raise":
                # The turn is not taken: the user is as it was before (the caller's ``rng``
                # has drawn the call's seed).
                error.add_note(
                    f"while the AILO user answered turn {self.turns + 1} (the recommender "
                    f"said {utterance[:80]!r})"
                )
                raise
            self.turns += 1
            self.history.append(said)
            return self._failed(error, accepted)
        self.turns += 1
        self.history.append(said)
        self.usage = self.usage + response.usage
        answer = response.parsed
        if not isinstance(answer, AILOAnswer):
            answer = self.answer_model.model_validate(answer)
        reply = " ".join(answer.reply.split())
        self.history.append(("You", reply))
        return UserReply(
            reply=reply,
            satisfaction=int(answer.satisfaction),
            reason=" ".join(answer.reason.split()),
            accepted=accepted,
            left=bool(answer.leave) and not accepted,
            expectation=" ".join(answer.expectation.split()),
            usage=response.usage,
        )

    # ----------------------------------------------------------------- prompt parts

    def _target_text(self) -> str:
        assert self.profile is not None
        names = self.catalog.attributes_of(self.profile.target)
        return "an item with " + ", ".join(names) if names else "an item without listed tags"

    def _history_text(self) -> str:
        shown = self.history[-(2 * self.history_turns + 1) :] if self.history_turns else []
        return "\n".join(f"{speaker}: {text}" for speaker, text in shown) or "(nothing yet)"

    def _recommendations_text(self, items: list[int], accepted: bool) -> str:
        if not items:
            return "It recommends no item."
        lines = [
            f"{position}. {self.catalog.descriptions[item]}"
            for position, item in enumerate(items[: self.max_listed_items], start=1)
        ]
        if len(items) > self.max_listed_items:
            lines.append(f"... and {len(items) - self.max_listed_items} more")
        verdict = (
            "Your item IS among them: accept it."
            if accepted
            else "Your item is NOT among them: say so."
        )
        return "It recommends:\n" + "\n".join(lines) + "\n" + verdict

    def _listing(self, items: list[int]) -> str:
        if not items:
            return ""
        titles = [self.catalog.titles[item] for item in items[: self.max_listed_items]]
        more = ", ..." if len(items) > self.max_listed_items else ""
        return f" (recommends: {', '.join(titles)}{more})"

    # ----------------------------------------------------------------- failures

    def _failed(self, error: LLMError, accepted: bool) -> UserReply:
        """The templated reply of a turn whose call failed (``on_llm_error="fallback"``)."""
        self.failed_turns += 1
        assert self.profile is not None
        if accepted:
            reply = f"Yes, {self.catalog.titles[self.profile.target]} is what I was looking for!"
        else:
            name = self.catalog.attribute_names[self.opening_attribute]
            reply = f"Hmm, that's not it. I'm still looking for something with {name}."
        self.history.append(("You", reply))
        return UserReply(
            reply=reply,
            satisfaction=5 if accepted else 3,
            reason=f"templated reply: the language model failed ({type(error).__name__})",
            accepted=accepted,
            left=False,
            failed=True,
            usage=error.usage,
        )
