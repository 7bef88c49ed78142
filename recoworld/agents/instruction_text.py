"""Following reflective instructions from their *text*: a keyword parser and a greedy agent.

A RecoWorld user who is about to disengage says what to change (``info["instruction"]``, e.g.
"Less metal, more jazz."). The structured form of that sentence (``info["instruction_topics"]``,
the one-hot ``observation["instruction"]``) stands for the user's hidden structure and is absent
when the user is an LLM; a recommender that follows instructions must read the sentence.
:func:`parse_instruction` reads it with a small, documented set of keyword rules (no model), and
:class:`TextInstructionGreedyAgent` ranks by it.

The rules of :func:`parse_instruction`
--------------------------------------

1. **Words.** The text is lower-cased; typographic apostrophes become ``'``; a hyphen between
   letters is a space (``hip-hop`` and ``hip hop`` are the same words); ``&`` and ``+`` are
   ``and``. Topic names are normalised the same way.
2. **Topics** are found first, as whole words, longest name first (with topics ``rock`` and
   ``indie rock``, "indie rock" is one mention of ``indie rock``). Words inside a topic mention
   are never cues or clause breaks ("drum and bass" is not split at "and").
3. **Clauses.** The text is cut at ``.``, ``!``, ``?``, ``;`` and ``:`` (sentence ends), at
   commas, brackets, slashes and dashes, and before the connectors of :data:`LIST_CONNECTORS`
   ("and", "or", ...) and :data:`CONTRAST_CONNECTORS` ("but", "instead", "rather", "than", ...).
4. **Cues**, matched longest phrase first (so "no more" is one negative cue, not a negator and
   "more"): positive cues (:data:`POSITIVE_CUES`: "more", "want", "show me", "in the mood
   for", ...), negative cues (:data:`NEGATIVE_CUES`: "less", "tired of", "too much", "enough",
   "instead of", ...) and negators (:data:`NEGATORS`: "not", "no", "never", "stop", any word
   ending in "n't", ...). A negator flips a cue ("not in the mood for metal", "stop showing me
   metal" ask for less metal; "not enough jazz" asks for more).
5. **Polarity inside a clause.** The words between the previous topic of the clause (or the
   clause start) and a topic form its *segment*. The topic takes the polarity of the last cue in
   its segment, flipped once per negator in the segment; without a cue there, the polarity of
   the clause's previous topic, flipped by the segment's negators ("I want jazz not metal"); a
   negator alone means *less* ("no metal"); a first topic with no cue or negator before it takes
   the first cue after it, up to the next topic ("jazz is what I want", "metal, less please").
6. **Polarity across clauses**, for topics of clauses that have no cue at all: a clause joined
   to the previous one by a comma or a list connector inherits the polarity of the last topic
   before it ("tired of metal and rock": both less); one joined by a contrast connector takes the
   opposite ("more jazz than metal", "not metal but jazz"); a connector standing alone
   ("..., instead, jazz") links the clause after it. Then, from the end backwards, a
   clause still unresolved takes the opposite polarity of the next clause when that one starts
   with a contrast connector or a negator ("jazz instead of metal", "jazz, not metal"), and the
   same polarity when it is joined by a list connector ("jazz and soul instead of metal").
   Nothing crosses a sentence end unless the new sentence opens with a connector ("But ...").
7. **Result.** A topic with no polarity is left out (nothing is guessed: "Metal? Jazz." gives
   nothing). A topic mentioned twice keeps its last polarity ("less metal... actually, more
   metal" asks for more). Each list is in order of mention, as topic indices.

Known limits: plurals and other inflections of topic names are not matched ("rocks"), sarcasm and
world knowledge are not understood, and words that double as cues in other senses ("like" in
"bands like ...") count as cues.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from recoworld.agents.base import ObservationLayout, top_slate
from recoworld.agents.baselines import GreedyAgent
from recoworld.validation import check_number

Observation = dict[str, np.ndarray]

POSITIVE_CUES: tuple[str, ...] = (
    "more", "want", "wanna", "need", "love", "like", "prefer", "enjoy", "crave", "craving",
    "in the mood for", "rather", "give me", "show me", "play", "some", "how about", "switch to",
    "bring back", "bring on",
)  # fmt: skip
"""Phrases that ask for more of the topic they point at ("please" is not one: in "no more
metal or rock please" it would turn rock around)."""

NEGATIVE_CUES: tuple[str, ...] = (
    "less", "fewer", "tired of", "sick of", "bored of", "bored with", "fed up with", "done with",
    "enough", "no more", "instead of", "rather than", "other than", "anything but", "too much",
    "too many", "so much", "avoid", "skip", "hate", "dislike", "without", "away from",
    "cut down on", "cut back on", "get rid of",
)  # fmt: skip
"""Phrases that ask for less of the topic they point at."""

NEGATORS: tuple[str, ...] = (
    "not", "no", "never", "neither", "no longer", "stop", "quit", "dont", "cant", "wont",
    "cannot",
)  # fmt: skip
"""Words that flip the cue they go with (or mean *less* alone); so does any word ending in
``n't``."""

LIST_CONNECTORS: tuple[str, ...] = ("and", "or", "nor", "plus", "also", "as well as")
"""Words that start a new clause continuing the previous one (it inherits its polarity)."""

CONTRAST_CONNECTORS: tuple[str, ...] = (
    "but", "instead", "rather", "than", "while", "whereas", "though", "although", "yet",
    "however",
)  # fmt: skip
"""Words that start a new clause opposing the previous one (it takes the opposite polarity)."""

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[.!?;:]|[,()\[\]{}/\u2013\u2014-]")
_SENTENCE_MARKS = frozenset(".!?;:")


class ParsedInstruction(NamedTuple):
    """Topics an instruction asks for more of and less of, as topic indices in order of mention.

    >>> ParsedInstruction((0,), (2,)).steering(4)
    array([1., 0., 0., 0., 0., 0., 1., 0.], dtype=float32)
    """

    more_of: tuple[int, ...] = ()
    less_of: tuple[int, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when the instruction named no topic the parser could place."""
        return not self.more_of and not self.less_of

    def names(self, topic_names: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """``(more_of, less_of)`` as topic names."""
        return (
            tuple(topic_names[i] for i in self.more_of),
            tuple(topic_names[i] for i in self.less_of),
        )

    def steering(
        self, n_topics: int, *, more_weight: float = 1.0, less_weight: float = 1.0
    ) -> np.ndarray:
        """``(2 * n_topics,)`` float32: ``more_weight`` at every more-of topic, then
        ``less_weight`` at every less-of topic; the layout of ``observation["instruction"]``."""
        vector = np.zeros(2 * n_topics, np.float32)
        vector[list(self.more_of)] = more_weight
        vector[[n_topics + i for i in self.less_of]] = less_weight
        return vector


def _normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"(?<=\w)-(?=\w)", " ", text)
    return text.replace("&", " and ").replace("+", " and ")


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(_normalise(text)))


def _lexicon() -> dict[tuple[str, ...], tuple[str | None, str | None]]:
    """Phrase -> (connector kind or None, cue kind or None); cue kinds: "+", "-", "not"."""
    entries: dict[tuple[str, ...], tuple[str | None, str | None]] = {}
    for phrases, cue in ((POSITIVE_CUES, "+"), (NEGATIVE_CUES, "-"), (NEGATORS, "not")):
        for phrase in phrases:
            entries[_phrase(phrase)] = (None, cue)
    for phrases, connector in ((LIST_CONNECTORS, "list"), (CONTRAST_CONNECTORS, "contrast")):
        for phrase in phrases:
            words = _phrase(phrase)
            entries[words] = (connector, entries.get(words, (None, None))[1])
    # A cue phrase that opens with a connector also opens a clause ("instead of", "rather than").
    for words, (kind, phrase_cue) in list(entries.items()):
        if kind is None and len(words) > 1 and (words[0],) in entries:
            entries[words] = (entries[(words[0],)][0], phrase_cue)
    return entries


_LEXICON = _lexicon()
_LONGEST_CUE = max(len(words) for words in _LEXICON)


@dataclass
class _Clause:
    link: str
    """How the clause joins the previous one: "sentence", "comma", "list" or "contrast"."""
    units: list[tuple[str, int]] = field(default_factory=list)
    """("topic", index), ("cue", +1 / -1) or ("not", 0), in order."""
    polarity: dict[int, int] = field(default_factory=dict)
    """Position in ``units`` of each topic -> +1 / -1, once resolved."""

    @property
    def topics(self) -> list[int]:
        return [position for position, (kind, _) in enumerate(self.units) if kind == "topic"]

    @property
    def has_cue(self) -> bool:
        return any(kind in ("cue", "not") for kind, _ in self.units)

    @property
    def opens_with_negator(self) -> bool:
        return bool(self.units) and self.units[0][0] == "not"

    def first_polarity(self) -> int | None:
        resolved = [self.polarity[p] for p in self.topics if p in self.polarity]
        return resolved[0] if resolved else None

    def last_polarity(self) -> int | None:
        resolved = [self.polarity[p] for p in self.topics if p in self.polarity]
        return resolved[-1] if resolved else None


def _topic_phrases(topic_names: Sequence[str]) -> list[tuple[tuple[str, ...], int]]:
    if isinstance(topic_names, str) or not isinstance(topic_names, Sequence) or not topic_names:
        raise ValueError(f"topic_names={topic_names!r} must be a non-empty sequence of names")
    seen: dict[tuple[str, ...], int] = {}
    for index, name in enumerate(topic_names):
        words = _phrase(name) if isinstance(name, str) else ()
        if not words:
            raise ValueError(f"topic name {name!r} (index {index}) has no words to match")
        if words in seen:
            raise ValueError(
                f"topic names {topic_names[seen[words]]!r} and {name!r} read as the same words"
            )
        seen[words] = index
    return sorted(seen.items(), key=lambda entry: -len(entry[0]))


def _clauses(text: str, topics: list[tuple[tuple[str, ...], int]]) -> list[_Clause]:
    tokens = _TOKEN.findall(_normalise(text))
    clauses = [_Clause("sentence")]

    def open_clause(link: str) -> None:
        current = clauses[-1]
        if current.units:
            clauses.append(_Clause(link))
        elif link != "comma" and not (current.link == "contrast" and link == "list"):
            # An empty clause takes the strongest link: "Less metal. But jazz" links the new
            # sentence by contrast, and "..., instead, jazz" carries the contrast to "jazz".
            current.link = link

    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not _WORD.fullmatch(token):
            open_clause("sentence" if token in _SENTENCE_MARKS else "comma")
            i += 1
            continue
        topic = next(
            (
                (len(words), index)
                for words, index in topics
                if tuple(tokens[i : i + len(words)]) == words
            ),
            None,
        )
        if topic is not None:
            clauses[-1].units.append(("topic", topic[1]))
            i += topic[0]
            continue
        for length in range(min(_LONGEST_CUE, len(tokens) - i), 0, -1):
            entry = _LEXICON.get(tuple(tokens[i : i + length]))
            if entry is not None:
                break
        else:
            length, entry = 1, (None, "not") if token.endswith("n't") else (None, None)
        connector, cue = entry
        if connector is not None:
            open_clause(connector)
        if cue == "not":
            clauses[-1].units.append(("not", 0))
        elif cue is not None:
            clauses[-1].units.append(("cue", 1 if cue == "+" else -1))
        i += length
    return [clause for clause in clauses if clause.units]


def _resolve_within(clause: _Clause) -> None:
    previous: int | None = None
    segment_start = 0
    units = clause.units
    for position in clause.topics:
        segment = units[segment_start:position]
        flips = (-1) ** sum(kind == "not" for kind, _ in segment)
        cues = [sign for kind, sign in segment if kind == "cue"]
        polarity: int | None = None
        if cues:
            polarity = cues[-1] * flips
        elif previous is not None:
            polarity = previous * flips
        elif any(kind == "not" for kind, _ in segment):
            polarity = -1
        else:
            after_flips = 1
            for kind, sign in units[position + 1 :]:
                if kind == "topic":
                    break
                if kind == "not":
                    after_flips = -after_flips
                elif kind == "cue":
                    polarity = sign * after_flips
                    break
        if polarity is not None:
            clause.polarity[position] = polarity
        previous = polarity if polarity is not None else previous
        segment_start = position + 1


def parse_instruction(text: str, topic_names: Sequence[str]) -> ParsedInstruction:
    """Read which topics a sentence asks for more of and less of (rules in the module docs).

    Args:
        text: What the user said (``info["instruction"]``).
        topic_names: The catalog's topic names (``env.unwrapped.catalog.topic_names``).

    Returns:
        The topics as indices into ``topic_names``, in order of mention; empty lists when the
        sentence names no topic the rules can place.

    Raises:
        ValueError: ``text`` is not a string, or a topic name is empty or duplicated.

    >>> names = ("jazz", "indie", "metal", "hip-hop")
    >>> parse_instruction("Less metal, more jazz.", names)
    ParsedInstruction(more_of=(0,), less_of=(2,))
    >>> parse_instruction("I'm sick of Hip Hop and metal; jazz instead of indie?", names)
    ParsedInstruction(more_of=(0,), less_of=(3, 2, 1))
    """
    if not isinstance(text, str):
        raise ValueError(f"instruction text={text!r} must be a str")
    topics = _topic_phrases(topic_names)
    clauses = _clauses(text, topics)
    for clause in clauses:
        _resolve_within(clause)
    last: int | None = None
    for clause in clauses:
        if clause.link == "sentence":
            last = None
        if clause.topics and not clause.has_cue and last is not None:
            inherited = -last if clause.link == "contrast" else last
            for position in clause.topics:
                clause.polarity[position] = inherited
        last = clause.last_polarity() if clause.last_polarity() is not None else last
    backfilled: set[int] = set()
    for index in range(len(clauses) - 2, -1, -1):
        clause, following = clauses[index], clauses[index + 1]
        unresolved = [p for p in clause.topics if p not in clause.polarity]
        after = following.first_polarity()
        if not unresolved or after is None or following.link == "sentence":
            continue
        if following.link == "contrast" or following.opens_with_negator:
            polarity = -after
        elif following.link == "list" or (following.link == "comma" and index + 1 in backfilled):
            polarity = after
        else:
            continue
        for position in unresolved:
            clause.polarity[position] = polarity
        backfilled.add(index)
    assigned: dict[int, int] = {}
    for clause in clauses:
        for position in clause.topics:
            if position in clause.polarity:
                topic = clause.units[position][1]
                assigned.pop(topic, None)
                assigned[topic] = clause.polarity[position]
    return ParsedInstruction(
        tuple(topic for topic, sign in assigned.items() if sign > 0),
        tuple(topic for topic, sign in assigned.items() if sign < 0),
    )


def unwrap_recoworld_env(env: Any) -> Any:
    """``env.unwrapped`` when it is a slate-action ``RecoWorld-v0`` env; else ``ValueError``."""
    from recoworld.envs.recoworld.env import RecoWorldEnv

    unwrapped = getattr(env, "unwrapped", None)
    if not isinstance(unwrapped, RecoWorldEnv):
        raise ValueError(f"env={env!r} is not a RecoWorld-v0 env (RecoWorldEnv)")
    if unwrapped.config.action_type != "slate":
        raise ValueError(
            f"action_type={unwrapped.config.action_type!r}: this agent ranks slates, so it needs "
            "a RecoWorld-v0 env with action_type='slate'"
        )
    return unwrapped


class StandingInstruction:
    """The sentence standing for this session, forgotten when the session ends.

    :meth:`observe` reads each step's ``info``: a new session (``info["session"]`` changes, or
    ``info["turn"]`` goes back as after an env reset) forgets the standing sentence and sets
    ``new_session``, and a sentence said this step is returned, for the agent to read and, if it
    can use it, to make the standing one (``standing.text = sentence``).
    """

    def __init__(self) -> None:
        self.text: str | None = None
        self.new_session = False
        self._session: int | None = None
        self._turn: int | None = None

    def clear(self) -> None:
        self.text = None
        self.new_session = False
        self._session = None
        self._turn = None

    def observe(self, info: dict[str, Any]) -> str | None:
        """Track the session; return the sentence the user said this step, if any."""
        session, turn = info.get("session"), info.get("turn")
        restarted = self._turn is not None and turn is not None and turn < self._turn
        self.new_session = session != self._session or restarted
        if self.new_session:
            self.text = None
        self._session, self._turn = session, turn
        sentence = info.get("instruction")
        if isinstance(sentence, str) and sentence.strip():
            return sentence
        return None


class TextInstructionGreedyAgent(GreedyAgent):
    """Greedy on affinity, re-ranked by the instruction it *reads* in ``info["instruction"]``.

    The scoring is :class:`~recoworld.agents.InstructionAwareGreedyAgent`'s (``greedy score +
    instruction_weight * (mass on topics asked for - mass on topics asked against)``), but the
    topics come from :func:`parse_instruction` on the sentence, never from the structured
    ``observation["instruction"]`` or ``info["instruction_topics"]``; so it works with any voice,
    and with users whose observation has no structured instruction. The instruction stands until
    the user says another or the session ends. A sentence the parser cannot place leaves the
    previous instruction standing (counted in ``unparsed``).

    Args:
        env: A (possibly wrapped) ``RecoWorld-v0`` env with slate actions; the agent reads its
            layout and topic names.
        quality_weight: Weight of item quality in the greedy score.
        instruction_weight: Weight of the instruction steer (``>= 0``).

    Counters (over the agent's life): ``heard`` (sentences read) and ``unparsed`` (sentences that
    named no placeable topic).
    """

    name = "text-instruction-greedy"

    def __init__(
        self, env: Any, *, quality_weight: float = 0.3, instruction_weight: float = 1.0
    ) -> None:
        unwrapped = unwrap_recoworld_env(env)
        super().__init__(
            ObservationLayout.of(unwrapped),
            quality_weight=check_number("quality_weight", quality_weight),
            use_instruction=True,
            instruction_weight=check_number("instruction_weight", instruction_weight, low=0.0),
        )
        self.topic_names: tuple[str, ...] = tuple(unwrapped.catalog.topic_names)
        self.standing = StandingInstruction()
        self.parsed = ParsedInstruction()
        self.heard = 0
        self.unparsed = 0

    def reset(self, *, seed: int | None = None) -> None:
        self.standing.clear()
        self.parsed = ParsedInstruction()

    def act(self, observation: Observation, info: dict[str, Any]) -> np.ndarray:
        sentence = self.standing.observe(info)
        if sentence is not None:
            self.heard += 1
            parsed = parse_instruction(sentence, self.topic_names)
            if parsed.is_empty:
                self.unparsed += 1
            else:
                self.standing.text, self.parsed = sentence, parsed
        if self.standing.text is None:
            self.parsed = ParsedInstruction()
        steer = self.parsed.steering(self.layout.n_topics)
        scores = self.scores({**observation, "instruction": steer})
        available = self.layout.candidates(observation)[:, self.layout.available]
        return top_slate(scores, available, self.layout.slate_size)
