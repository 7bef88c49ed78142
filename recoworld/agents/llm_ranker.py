"""An instruction-following LLM recommender for ``RecoWorld-v0``: a language model reads what the
user says, and optionally re-orders the shortlist; a greedy score does the rest.

Why split the work this way: ranking a hundred candidates by their features is cheap and reliable
arithmetic, while reading a free-text request ("could you lay off the metal for a while?") is what
a language model is for. So the model is asked once per instruction, with structured output whose
topic fields are enums of the catalog's topic names (llama.cpp's grammar-constrained decoding then
cannot produce a name outside the catalog), and its reading becomes a bonus and a penalty on the
greedy score. With ``rerank_top=k`` the model also re-orders the top ``k`` by item titles every
turn. Every step is recorded in a reasoning trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recoworld.agents.base import ObservationLayout, top_slate
from recoworld.agents.baselines import GreedyAgent
from recoworld.agents.instruction_text import (
    ParsedInstruction,
    StandingInstruction,
    unwrap_recoworld_env,
)
from recoworld.llm.base import LLMError, MalformedOutputError, Message, Usage, validate
from recoworld.llm.settings import LLMSettings, LLMSpec
from recoworld.validation import check_int, check_number, check_seed

Observation = dict[str, np.ndarray]

PROMPT_VERSION = "v1"
"""Version of the prompts below; they are part of every request, hence of the cache keys."""

READ_SYSTEM_PROMPT = (
    "You help a recommender follow what its user asks for. The user has just said something "
    "about what they want to see. List the topics the user asks to see more of in more_of, and "
    "the topics the user asks to see less of in less_of, using the topic names the JSON schema "
    "allows; leave a list empty when the user names none. In reasoning, say in a few words which "
    "words of the request point to each topic."
)
"""System prompt of the instruction-reading call."""

READ_USER_PROMPT = 'The user said: "{instruction}"'
"""User prompt of the instruction-reading call (slot ``{instruction}``)."""

RERANK_SYSTEM_PROMPT = (
    "You help a recommender order a shortlist of items for its user. Put first the items this "
    "user is most likely to enjoy now, following what the user asked for. In reasoning, say in a "
    "few words why the first items come first."
)
"""System prompt of the shortlist re-ranking call."""

TEMPERATURE = 0.0
"""The ranker's sampling temperature when ``llm=`` sets none (greedy decoding)."""
MAX_TOKENS = 160
"""The ranker's completion budget per call when ``llm=`` sets none."""
ON_ERROR_DEFAULT = "fallback"
"""What the ranker does with a malformed answer when ``llm=`` is not an
:class:`~recoworld.llm.LLMSettings` (whose ``on_error`` is used as it is); one of
:data:`~recoworld.validation.ON_ERROR`."""


def preferences_schema(
    topic_names: tuple[str, ...], *, max_reasoning_chars: int, max_listed_topics: int
) -> dict[str, Any]:
    """JSON schema of the instruction reading: ``{"reasoning", "more_of", "less_of"}``.

    The topic lists are arrays of the enum of ``topic_names`` (one ``$defs`` entry, so the prompt
    lists the names once) with at most ``max_listed_topics`` entries (a small model that loops
    stops there); ``reasoning`` comes first, so a model reasons before it answers, and is capped
    at ``max_reasoning_chars`` characters.
    """
    topics = {"type": "array", "items": {"$ref": "#/$defs/topic"}, "maxItems": max_listed_topics}
    return {
        "$defs": {"topic": {"type": "string", "enum": list(topic_names)}},
        "type": "object",
        "properties": {
            "reasoning": {"type": "string", "maxLength": max_reasoning_chars},
            "more_of": topics,
            "less_of": topics,
        },
        "required": ["reasoning", "more_of", "less_of"],
        "additionalProperties": False,
    }


def rerank_schema(shortlist_size: int, *, max_reasoning_chars: int) -> dict[str, Any]:
    """JSON schema of a shortlist re-ranking: ``{"reasoning", "positions"}``.

    ``positions`` lists shortlist positions best first: distinct, each in
    ``[0, shortlist_size)`` (an enum, so constrained decoding keeps them in range), at least one.
    """
    return {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string", "maxLength": max_reasoning_chars},
            "positions": {
                "type": "array",
                "items": {"type": "integer", "enum": list(range(shortlist_size))},
                "minItems": 1,
                "maxItems": shortlist_size,
                "uniqueItems": True,
            },
        },
        "required": ["reasoning", "positions"],
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class RankerStep:
    """One turn of :class:`LLMRankerAgent`'s reasoning trace.

    Attributes:
        session: ``info["session"]`` when the agent acted.
        turn: ``info["turn"]`` when the agent acted (turns already played this session).
        instruction: The sentence standing this session, or None.
        new_instruction: True when the user said it on the step just before this turn.
        reasoning: The model's reasoning about the standing instruction, or None.
        more_of: Topic names the ranking favours (the model's reading of the instruction).
        less_of: Topic names the ranking penalises.
        slate: The chosen slate, as candidate indices.
        items: The same slate as item ids (rows of the catalog).
        why: How the slate was ranked, in words.
        rerank_reasoning: The model's reasoning for re-ordering the shortlist, or None.
        fallback: What failed this turn and was replaced by the greedy score order, or None.
        usage: What this turn's model calls cost.
    """

    session: int | None
    turn: int | None
    instruction: str | None
    new_instruction: bool
    reasoning: str | None
    more_of: tuple[str, ...]
    less_of: tuple[str, ...]
    slate: tuple[int, ...]
    items: tuple[int, ...]
    why: str
    rerank_reasoning: str | None = None
    fallback: str | None = None
    usage: Usage = field(default_factory=Usage)


class LLMRankerAgent:
    """An instruction-following recommender built on any :class:`~recoworld.llm.ChatModel`.

    Each turn it scores the candidates like :class:`~recoworld.agents.GreedyAgent` (embedding
    affinity to the watch history plus ``quality_weight * quality``) and adds
    ``more_weight * (topic mass on the topics the user asked for) - less_weight * (topic mass on
    the topics asked against)``. The topics come from the model: when ``info["instruction"]``
    holds a new sentence, the model reads it and answers ``{"reasoning", "more_of", "less_of"}``
    (see :func:`preferences_schema`); the reading stands until the user says something else or
    the session ends. It never reads the structured ``observation["instruction"]`` or
    ``info["instruction_topics"]``. A topic the model puts in both lists is dropped from both
    (the trace says so).

    With ``rerank_top=k`` the model then re-orders the ``k`` best available candidates every
    turn from their titles, the standing request and the titles the user clicked this session
    (:func:`rerank_schema`): the positions it lists come first, in its order, then the rest of
    the shortlist in score order.

    Malformed answers: the model re-asks a bounded number of times (the backend's
    ``max_parse_retries``), then raises :class:`~recoworld.llm.MalformedOutputError`. With
    ``on_error="raise"`` that error propagates; with ``"fallback"`` the agent ranks by the greedy
    score (no instruction bonus until the next instruction; the score order when a re-rank
    failed) and counts it in ``fallbacks``. Other LLM errors (provider failures, cost caps)
    always propagate: they are not the model's answer.

    Every call passes a seed drawn from a generator seeded by the agent's reset seed (``seed``
    until the first reset; 0 when neither is given), so a seeded run sends the same requests and
    replays from a :class:`~recoworld.llm.CachedChatModel`.

    Args:
        env: A (possibly wrapped) ``RecoWorld-v0`` env with slate actions.
        llm: The agent's language model as :class:`~recoworld.llm.LLMSettings` or what it
            stands for: ``"local"`` (default, the embedded SmolLM2-135M-Instruct), a litellm
            model string, a :class:`~recoworld.llm.ChatModel` (used as it is), or a dict of the
            settings' fields. The agent builds its own model from it
            (:meth:`~recoworld.llm.LLMSettings.build`: its own cache wrapper and cost meter),
            so it never shares a meter with the env's simulated user unless both are given the
            same ChatModel. Its ``temperature`` (default 0.0, greedy decoding) and
            ``max_tokens`` (default 160) set each call; its ``on_error`` is ``"raise"`` or
            ``"fallback"`` (see above; default ``"fallback"`` unless ``llm`` is an
            ``LLMSettings``, whose own ``on_error`` counts).
        seed: Seed of the call seeds until the first ``reset(seed=...)``.
        more_weight: Bonus per unit of topic mass on the topics asked for (``>= 0``).
        less_weight: Penalty per unit of topic mass on the topics asked against (``>= 0``).
        quality_weight: Weight of item quality in the greedy score.
        rerank_top: Shortlist size the model re-orders each turn (``>= 2`` and at most
            ``num_candidates``), or None for no re-ranking.
        max_reasoning_chars: Cap on the length of the model's reasoning field.
        max_listed_topics: Cap on the length of each topic list.

    Attributes:
        model: The agent's own chat model, built from ``llm``.
        llm: The resolved :class:`~recoworld.llm.LLMSettings`.
        trace: One :class:`RankerStep` per turn since the last ``reset``.
        usage: Total :class:`~recoworld.llm.Usage` of the agent's calls (over its life; re-asks
            and failed calls included).
        fallbacks: Malformed answers replaced by the greedy order (over its life).
        preferences: The standing reading, as topic indices.
    """

    name = "llm-ranker"

    def __init__(
        self,
        env: Any,
        *,
        llm: LLMSpec = "local",
        seed: int | None = None,
        more_weight: float = 1.0,
        less_weight: float = 1.0,
        quality_weight: float = 0.3,
        rerank_top: int | None = None,
        max_reasoning_chars: int = 160,
        max_listed_topics: int = 4,
    ) -> None:
        unwrapped = unwrap_recoworld_env(env)
        self.llm = LLMSettings.of(llm)
        num_candidates = unwrapped.config.num_candidates
        if rerank_top is not None:
            rerank_top = check_int("rerank_top", rerank_top, 2, num_candidates)
        max_reasoning_chars = check_int("max_reasoning_chars", max_reasoning_chars, low=1)
        max_listed_topics = check_int("max_listed_topics", max_listed_topics, low=1)
        if seed is not None:
            seed = check_seed("seed", seed)
        self.more_weight = check_number("more_weight", more_weight, low=0.0)
        self.less_weight = check_number("less_weight", less_weight, low=0.0)
        self.quality_weight = check_number("quality_weight", quality_weight)
        self.model = self.llm.build()
        self.layout = ObservationLayout.of(unwrapped)
        self.topic_names: tuple[str, ...] = tuple(unwrapped.catalog.topic_names)
        self.titles: tuple[str, ...] = tuple(unwrapped.catalog.titles)
        self.rerank_top = rerank_top
        self.on_error = self.llm.on_error_or(ON_ERROR_DEFAULT)
        self.temperature = self.llm.temperature_or(TEMPERATURE)
        self.max_tokens = self.llm.max_tokens_or(MAX_TOKENS)
        self.read_schema = preferences_schema(
            self.topic_names,
            max_reasoning_chars=max_reasoning_chars,
            max_listed_topics=min(max_listed_topics, len(self.topic_names)),
        )
        self.max_reasoning_chars = max_reasoning_chars
        self._scorer = GreedyAgent(
            self.layout, quality_weight=self.quality_weight, use_instruction=True
        )
        self._seeds = np.random.default_rng(0 if seed is None else seed)
        self.usage = Usage()
        self.fallbacks = 0
        self.trace: list[RankerStep] = []
        self.standing = StandingInstruction()
        self.preferences = ParsedInstruction()
        self._reasoning: str | None = None
        self._notes: tuple[str, ...] = ()
        self._read_failure: str | None = None
        self._clicked: list[int] = []
        self._turn_usage = Usage()

    # ----------------------------------------------------------------- protocol
    def reset(self, *, seed: int | None = None) -> None:
        """Start an episode: forget the instruction and the trace; reseed the call seeds."""
        if seed is not None:
            self._seeds = np.random.default_rng(int(seed))
        self.trace = []
        self.standing.clear()
        self._forget_instruction()
        self._clicked = []

    def act(self, observation: Observation, info: dict[str, Any]) -> np.ndarray:
        self._turn_usage = Usage()
        sentence = self.standing.observe(info)
        if self.standing.new_session:
            # The clicks in this info, if any, were the previous session's last.
            self._forget_instruction()
            self._clicked = []
        else:
            self._clicked.extend(int(i) for i in np.asarray(info.get("clicks", ()), np.int64))
        if sentence is not None:
            self._read(sentence)
        steer = self.preferences.steering(
            self.layout.n_topics, more_weight=self.more_weight, less_weight=self.less_weight
        )
        scores = self._scorer.scores({**observation, "instruction": steer})
        available = self.layout.candidates(observation)[:, self.layout.available]
        order = top_slate(scores, available, len(scores))
        why = self._score_explanation()
        rerank_reasoning = None
        failures = [self._read_failure] if sentence is not None and self._read_failure else []
        if self.rerank_top is not None:
            shortlist = order[: min(self.rerank_top, int((available > 0.5).sum()))].copy()
            if len(shortlist) >= 2:
                try:
                    positions, rerank_reasoning = self._rerank(shortlist, info)
                except MalformedOutputError as error:
                    if self.on_error == "raise":
                        raise
                    self.fallbacks += 1
                    failures.append(f"re-rank: {error}")
                    why += f"; the model's re-ranking of the top {len(shortlist)} was malformed"
                else:
                    rest = [p for p in range(len(shortlist)) if p not in positions]
                    order[: len(shortlist)] = shortlist[[*positions, *rest]]
                    why += f"; top {len(shortlist)} re-ordered by the model: {positions}"
        slate = order[: self.layout.slate_size].astype(np.int64)
        more_of, less_of = self.preferences.names(self.topic_names)
        candidates = np.asarray(info.get("candidates", ()), np.int64)
        items = candidates[slate] if len(candidates) else np.full(len(slate), -1)
        self.trace.append(
            RankerStep(
                session=info.get("session"),
                turn=info.get("turn"),
                instruction=self.standing.text,
                new_instruction=sentence is not None,
                reasoning=self._reasoning,
                more_of=more_of,
                less_of=less_of,
                slate=tuple(int(c) for c in slate),
                items=tuple(int(i) for i in items),
                why=why,
                rerank_reasoning=rerank_reasoning,
                fallback="; ".join(failures) or None,
                usage=self._turn_usage,
            )
        )
        return slate

    # ---------------------------------------------------------------- internals
    def _forget_instruction(self) -> None:
        self.preferences = ParsedInstruction()
        self._reasoning = None
        self._notes = ()
        self._read_failure = None

    def _read(self, sentence: str) -> None:
        """Ask the model for the topics of a new sentence; it stands from now on."""
        self.standing.text = sentence
        self._forget_instruction()
        messages: list[Message] = [
            {"role": "system", "content": READ_SYSTEM_PROMPT},
            {"role": "user", "content": READ_USER_PROMPT.format(instruction=sentence)},
        ]
        try:
            answer = self._call(messages, self.read_schema)
        except MalformedOutputError as error:
            if self.on_error == "raise":
                raise
            self.fallbacks += 1
            self._read_failure = f"instruction: {error}"
            return
        index = {name: i for i, name in enumerate(self.topic_names)}
        more = list(dict.fromkeys(index[name] for name in answer["more_of"]))
        less = list(dict.fromkeys(index[name] for name in answer["less_of"]))
        both = [topic for topic in more if topic in less]
        if both:
            self._notes = (
                "the model listed "
                + ", ".join(self.topic_names[t] for t in both)
                + " as both more and less; ignored",
            )
        self.preferences = ParsedInstruction(
            tuple(t for t in more if t not in both), tuple(t for t in less if t not in both)
        )
        self._reasoning = answer["reasoning"]

    def _rerank(self, shortlist: np.ndarray, info: dict[str, Any]) -> tuple[list[int], str]:
        """Ask the model to order the shortlist; its positions (validated) and reasoning."""
        candidates = np.asarray(info["candidates"], np.int64)
        lines = [f"{p}: {self.titles[int(candidates[c])]}" for p, c in enumerate(shortlist)]
        if self.standing.text is None:
            request = "The user has not asked for anything this session."
        else:
            request = f'The user asked: "{self.standing.text}"'
            more_of, less_of = self.preferences.names(self.topic_names)
            if more_of or less_of:
                request += (
                    f"\nRead as: more of {', '.join(more_of) or 'nothing named'}; "
                    f"less of {', '.join(less_of) or 'nothing named'}."
                )
        if self._clicked:
            recent = ", ".join(f'"{self.titles[i]}"' for i in self._clicked[-5:])
            request += f"\nThe user recently clicked: {recent}."
        prompt = (
            f"{request}\nShortlist (position: title):\n"
            + "\n".join(lines)
            + "\nList the shortlist positions from the best item for this user to the worst."
        )
        messages: list[Message] = [
            {"role": "system", "content": RERANK_SYSTEM_PROMPT},
            {"role": "user", "content": prompt},
        ]
        schema = rerank_schema(len(shortlist), max_reasoning_chars=self.max_reasoning_chars)
        answer = self._call(messages, schema)
        return [int(p) for p in answer["positions"]], answer["reasoning"]

    def _call(self, messages: list[Message], schema: dict[str, Any]) -> dict[str, Any]:
        """One structured call with the next call seed; the answer, validated again here (a
        ``ChatModel`` that is not a :class:`~recoworld.llm.BaseChatModel` may not validate)."""
        seed = int(self._seeds.integers(2**31))
        try:
            response = self.model.complete(
                messages,
                schema=schema,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                seed=seed,
            )
        except LLMError as error:  # sent and paid for, though it failed
            self._charge(error.usage)
            raise
        self._charge(response.usage)
        try:
            if response.parsed is None:
                raise ValueError("the model returned no structured value")
            return validate(response.parsed, schema)
        except ValueError as error:
            raise MalformedOutputError(
                response.text, [str(error)], model=self.model.model_name
            ) from error

    def _charge(self, usage: Usage) -> None:
        self.usage = self.usage + usage
        self._turn_usage = self._turn_usage + usage

    def _score_explanation(self) -> str:
        if self.standing.text is None:
            return "greedy score (no standing instruction)"
        if self._read_failure is not None:
            return "greedy score (the model's reading of the instruction was malformed)"
        more_of, less_of = self.preferences.names(self.topic_names)
        parts = ["greedy score"]
        if more_of:
            parts.append(f"+ {self.more_weight:g} x topic mass on {', '.join(more_of)}")
        if less_of:
            parts.append(f"- {self.less_weight:g} x topic mass on {', '.join(less_of)}")
        if len(parts) == 1:
            parts.append("(the model found no topic in the instruction)")
        why = " ".join(parts)
        return "; ".join((why, *self._notes))
