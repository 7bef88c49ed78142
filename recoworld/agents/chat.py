"""Agents for ``RecoChat-v0``: an LLM recommender and two baselines that need no model.

Every agent sees only what the env returns (the observation and ``info``: the user's reply, its
own utterance, the items it recommended and whether one was accepted) plus the public catalog
(titles, attributes, popularity). They share a :class:`ChatMemory` that reads the user's replies
into confirmed and denied attributes and rejected items, and a shortlist of the catalog's items
consistent with them (:meth:`ChatMemory.candidates`), most popular first.

* :class:`AttributeChatAgent`: asks about the most informative attribute among the candidates
  (largest binary entropy) and recommends the ``top_k`` most popular candidates once few
  remain.
* :class:`RandomChatAgent`: asks about a random attribute or recommends random items.
* :class:`LLMChatRecommender`: a chat model decides each turn, through structured output,
  whether to ask about an attribute (an enum of attribute names, so constrained decoding gives
  a valid one) or to recommend from the shortlist, and writes the utterance.

Reading a free-form reply is heuristic (:func:`read_reply`); the rule user's templated answers
are read exactly.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from recoworld.catalog import Catalog
from recoworld.envs.recochat.env import item_slots
from recoworld.graph import AttributeGraph, attribute_entropy
from recoworld.llm.base import CostCapExceeded, LLMError, Usage
from recoworld.llm.factory import LOCAL
from recoworld.llm.prompts import load_prompt
from recoworld.llm.settings import LLMSettings, LLMSpec
from recoworld.text import AttributeMatcher, clean_utterance, words
from recoworld.validation import check_int, check_probability

__all__ = [
    "CHAT_PROMPT_VERSION",
    "NEGATIONS",
    "AttributeChatAgent",
    "ChatMemory",
    "LLMChatRecommender",
    "RandomChatAgent",
    "agent_llm_settings",
    "chat_agent_settings",
    "read_reply",
]

CHAT_PROMPT_VERSION = "v1"
"""Version of the packaged recommender prompt (``prompts/chat_recommender.<version>.txt``)."""

TEMPERATURE = 0.0
""":class:`LLMChatRecommender`'s sampling temperature when ``llm=`` sets none."""
MAX_TOKENS = 128
""":class:`LLMChatRecommender`'s completion budget per call when ``llm=`` sets none."""

NEGATIONS: frozenset[str] = frozenset(
    (
        "no", "not", "nope", "never", "none", "nothing", "nor", "neither", "without", "less",
        "hate", "dislike", "avoid", "cannot", "dont", "isnt", "doesnt", "wont", "cant",
    )
)  # fmt: skip
"""Words that make a mention of an attribute a denial (besides any word ending in ``n't``)."""

_YES = frozenset(("yes", "yeah", "yep", "sure", "definitely", "absolutely", "ok", "okay"))
_CLAUSE = re.compile(r"[.!?;\n]+|\b(?:but|however|although|though)\b", re.IGNORECASE)
_NEGATION_WINDOW = 4


def _is_negation(token: str) -> bool:
    return token in NEGATIONS or token.endswith("n't")


def read_reply(reply: str, matcher: AttributeMatcher, asked: int | None = None) -> dict[int, bool]:
    """What a reply says about attributes: ``{column: True (wanted) / False (not wanted)}``.

    The reply is cut into clauses (at ``. ! ? ;``, new lines and ``but``/``however``...). Each
    attribute named in a clause is a denial when a negation (:data:`NEGATIONS`, ``...n't``)
    stands within the four words before it (and after the previous mention), else wanted. A
    reply that names no attribute but opens with yes/no answers the ``asked`` attribute. A
    later statement about the same attribute overrides an earlier one.

    >>> matcher = AttributeMatcher(("jazz", "metal", "calm"))
    >>> read_reply("I'd like jazz, not metal. But nothing calm!", matcher)
    {0: True, 1: False, 2: False}
    >>> read_reply("Yes, please.", matcher, asked=2), read_reply("Nope.", matcher, asked=2)
    ({2: True}, {2: False})
    """
    stated: dict[int, bool] = {}
    for clause in _CLAUSE.split(reply):
        tokens = words(clause)
        previous_end = 0
        for column, start, end in matcher.spans(tokens):
            window = tokens[max(previous_end, start - _NEGATION_WINDOW) : start]
            stated[column] = not any(_is_negation(token) for token in window)
            previous_end = end
    if not stated and asked is not None:
        tokens = words(reply)[:2]
        if any(token in _YES for token in tokens):
            stated[asked] = True
        elif any(_is_negation(token) for token in tokens):
            stated[asked] = False
    return stated


class ChatMemory:
    """What a chat agent knows of one conversation, from ``info`` only.

    ``exchanges`` holds ``(utterance, reply)`` pairs (the opening request with utterance
    ``""``); ``confirmed``/``denied`` the attribute columns the user said it wants or not (in
    order); ``asked`` every attribute named so far by either side; ``rejected`` a bool mask of
    the items recommended and not accepted. Call :meth:`observe` with every ``info`` (the reset
    one starts a new conversation) and :meth:`will_ask` when the agent asks about an attribute,
    so a bare "yes" is understood.
    """

    def __init__(self, catalog: Catalog, matcher: AttributeMatcher | None = None) -> None:
        self.catalog = catalog
        self.matcher = matcher or AttributeMatcher(catalog.attribute_names)
        self.graph = AttributeGraph.from_catalog(catalog)
        self._popularity_order = np.argsort(-catalog.popularity, kind="stable")
        self.start("")

    def start(self, opening: str) -> None:
        """Begin a conversation whose opening request is ``opening``."""
        self.exchanges: list[tuple[str, str]] = [("", opening)]
        self.confirmed: dict[int, None] = {}
        self.denied: dict[int, None] = {}
        self.asked: set[int] = set()
        self.rejected = np.zeros(self.catalog.n_items, dtype=bool)
        self.pending: int | None = None
        self._record(read_reply(opening, self.matcher))

    def will_ask(self, attribute: int) -> None:
        """The agent asks about ``attribute`` this turn."""
        self.pending = int(attribute)
        self.asked.add(int(attribute))

    def observe(self, info: dict[str, Any]) -> None:
        """Read one ``info`` (from reset: a new conversation; from a step: the turn's answer)."""
        if int(info["turn"]) == 0:
            self.start(str(info["reply"]))
            return
        utterance, reply = str(info["utterance"]), str(info["reply"])
        self.exchanges.append((utterance, reply))
        recommended = np.asarray(info["recommended"], dtype=np.int64)
        if recommended.size and not info["accepted"]:
            self.rejected[recommended] = True
        self.asked.update(int(a) for a in info.get("mentioned_attributes", ()))
        asked = self.pending if recommended.size == 0 else None
        self._record(read_reply(reply, self.matcher, asked))
        self.pending = None

    def _record(self, stated: dict[int, bool]) -> None:
        for column, wanted in stated.items():
            self.asked.add(column)
            self.confirmed.pop(column, None)
            self.denied.pop(column, None)
            (self.confirmed if wanted else self.denied)[column] = None

    def candidates(self) -> np.ndarray:
        """``(n_items,)`` bool: the items not rejected that have every confirmed attribute and
        no denied one. When the statements contradict every item, the denials are dropped,
        then the confirmations (misread replies must not leave nothing to recommend)."""
        base = ~self.rejected if not self.rejected.all() else np.ones_like(self.rejected)
        for use_denied in (True, False):
            mask = base.copy()
            for column in self.confirmed:
                mask = self.graph.restrict(mask, column)
            if use_denied:
                for column in self.denied:
                    mask[self.graph.items_with(column)] = False
            if mask.any():
                return mask
        return base

    def ranked(self, mask: np.ndarray, count: int) -> np.ndarray:
        """The ``count`` most popular items of ``mask`` (ties to the lower row), int64."""
        order = self._popularity_order
        return order[mask[order]][:count].astype(np.int64)

    def informative_attributes(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Attribute columns not asked yet that split the candidates ``mask``, most informative
        first (binary entropy over the candidates; ties to the lower column), and their
        entropies."""
        n = int(mask.sum())
        counts = self.graph.attribute_counts(mask)
        useful = (counts > 0) & (counts < n)
        if self.asked:
            useful[list(self.asked)] = False
        columns = np.flatnonzero(useful)
        entropy = attribute_entropy(counts[columns], n)
        order = np.argsort(-entropy, kind="stable")
        return columns[order], entropy[order]


class _ChatAgentBase:
    """Shared plumbing: the memory, the rule decision, and building actions."""

    name = "chat"

    def __init__(
        self,
        catalog: Catalog,
        *,
        top_k: int = 10,
        utterance_max_length: int = 500,
        seed: int | None = None,
    ) -> None:
        if not isinstance(catalog, Catalog):
            raise ValueError(f"catalog={catalog!r} is not a recoworld Catalog")
        self.catalog = catalog
        self.top_k = check_int("top_k", top_k, low=1)
        self.utterance_max_length = check_int("utterance_max_length", utterance_max_length, low=1)
        self.memory = ChatMemory(catalog)
        self._rng = np.random.default_rng(seed)

    def reset(self, *, seed: int | None = None) -> None:
        if seed is not None:
            self._rng = np.random.default_rng(seed)

    def _action(self, utterance: str, items: Sequence[int] | np.ndarray = ()) -> dict[str, Any]:
        return {
            "utterance": clean_utterance(utterance, self.utterance_max_length),
            "items": item_slots(np.asarray(items, np.int64), self.top_k, self.catalog.n_items),
        }

    def _ask(self, attribute: int) -> dict[str, Any]:
        self.memory.will_ask(attribute)
        return self._action(f"Do you like {self.catalog.attribute_names[attribute]}?")

    def _recommend(self, items: np.ndarray) -> dict[str, Any]:
        titles = ", ".join(self.catalog.titles[int(i)] for i in items[:3])
        more = ", ..." if len(items) > 3 else ""
        return self._action(f"How about one of these: {titles}{more}?", items)

    def _rule_decision(self, info: dict[str, Any]) -> dict[str, Any]:
        mask = self.memory.candidates()
        attributes, _ = self.memory.informative_attributes(mask)
        if mask.sum() <= self.top_k or int(info["turns_left"]) <= 1 or attributes.size == 0:
            return self._recommend(self.memory.ranked(mask, self.top_k))
        return self._ask(int(attributes[0]))


class AttributeChatAgent(_ChatAgentBase):
    """The rule-based RecoChat baseline: narrow the candidates with questions, then recommend.

    Each turn it reads the reply into its :class:`ChatMemory`; when at most ``top_k`` candidate
    items remain, on the last turn, or when no attribute left splits the candidates, it
    recommends the ``top_k`` most popular candidates ("How about one of these: ...?"); otherwise
    it asks "Do you like <attribute>?" about the unasked attribute of largest binary entropy
    over the candidates (ties to the lower column). It needs no language model and draws
    nothing at random.

    Args:
        catalog: The env's public catalog (``env.unwrapped.catalog``).
        top_k: Slots of a recommendation (the env's ``top_k``).
        utterance_max_length: The env's limit on utterances.
        seed: Unused (the agent is deterministic); accepted for the registry's signature.
    """

    name = "attribute"

    def act(self, observation: Any, info: dict[str, Any]) -> dict[str, Any]:
        self.memory.observe(info)
        return self._rule_decision(info)


class RandomChatAgent(_ChatAgentBase):
    """The random RecoChat baseline: each turn, with probability ``recommend_prob``, recommend
    ``top_k`` distinct items drawn uniformly from the catalog; otherwise ask about an attribute
    drawn uniformly from the catalog's attributes. Draws come from a generator seeded by
    ``reset(seed=)`` (or the constructor's ``seed``)."""

    name = "random"

    def __init__(
        self,
        catalog: Catalog,
        *,
        top_k: int = 10,
        utterance_max_length: int = 500,
        recommend_prob: float = 0.5,
        seed: int | None = None,
    ) -> None:
        super().__init__(catalog, top_k=top_k, utterance_max_length=utterance_max_length, seed=seed)
        self.recommend_prob = check_probability("recommend_prob", recommend_prob)

    def act(self, observation: Any, info: dict[str, Any]) -> dict[str, Any]:
        self.memory.observe(info)
        if self._rng.random() < self.recommend_prob:
            count = min(self.top_k, self.catalog.n_items)
            items = self._rng.choice(self.catalog.n_items, size=count, replace=False)
            return self._recommend(items.astype(np.int64))
        return self._ask(int(self._rng.integers(self.catalog.n_attributes)))


class LLMChatRecommender(_ChatAgentBase):
    """A plain LLM recommender for ``RecoChat-v0``: any chat model decides and words each turn.

    Each turn it reads the reply into its :class:`ChatMemory`, shortlists the
    ``shortlist_size`` most popular candidates (items consistent with what the user confirmed
    and denied, not yet rejected) and the ``max_attribute_options`` most informative attributes
    not yet asked, and asks the model, with the conversation so far (its memory of utterances
    and replies, the last ``history_turns`` exchanges), for a structured decision::

        {"action": "ask" | "recommend",
         "attribute": <one of the offered attribute names>,
         "items": [<shortlist numbers, best first>],
         "utterance": <the message to the user>}

    The names and numbers are JSON-schema enums, so grammar-constrained decoding (the embedded
    model) can only produce valid ones. To ask, the utterance must name the chosen attribute
    before any other attribute not yet asked (what the user will answer); otherwise the
    template "Do you like <attribute>?" is said instead, counted in ``utterance_fallbacks``. To
    recommend, the chosen items come first and the rest of the shortlist fills the ``top_k``
    slots. With no attribute left to ask, only ``"recommend"`` is offered.

    A failed call (provider error, malformed output after the re-asks) raises with a note
    naming the turn (``llm``'s ``on_error="raise"``, default) or is replaced by the
    :class:`AttributeChatAgent` decision for that turn, counted in ``failed_turns``
    (``"fallback"``). A spent cost cap always propagates.

    Args:
        catalog, top_k, utterance_max_length: As the env (``env.unwrapped``) has them.
        llm: The agent's language model as :class:`~recoworld.llm.LLMSettings` or what it
            stands for: ``"local"`` (default, the embedded SmolLM2-135M-Instruct), a litellm
            model string, a :class:`~recoworld.llm.ChatModel` (used as it is), or a dict of the
            settings' fields. The agent builds its own model from it
            (:meth:`~recoworld.llm.LLMSettings.build`: its own cache wrapper and cost meter),
            so it shares nothing with the env's simulated user unless both are given the same
            ChatModel. ``temperature`` (default 0.0) and ``max_tokens`` (default 128) set each
            call (seeds come from the agent's generator, ``reset(seed=)``); ``on_error`` is
            ``"raise"`` (default) or ``"fallback"``.
        shortlist_size: Candidate items shown to the model (default ``2 * top_k``).
        max_attribute_options: Attribute names offered in the enum.
        history_turns: Past exchanges shown in the prompt.
        prompt_version: Which packaged prompt (``prompts/chat_recommender.<v>.txt``).
        max_utterance_chars: Longest utterance the schema allows (bounds constrained decoding).
        seed: Seed of the generator before the first ``reset``.

    Counters: ``turns``, ``failed_turns``, ``utterance_fallbacks``, ``usage`` (the agent's own
    calls). ``model`` is the agent's own chat model, ``llm`` its resolved settings.
    """

    name = "llm"

    def __init__(
        self,
        catalog: Catalog,
        *,
        llm: LLMSpec = LOCAL,
        top_k: int = 10,
        utterance_max_length: int = 500,
        shortlist_size: int | None = None,
        max_attribute_options: int = 48,
        history_turns: int = 6,
        prompt_version: str = CHAT_PROMPT_VERSION,
        max_utterance_chars: int = 200,
        seed: int | None = None,
    ) -> None:
        super().__init__(catalog, top_k=top_k, utterance_max_length=utterance_max_length, seed=seed)
        self.llm = LLMSettings.of(llm)
        shortlist_size = 2 * self.top_k if shortlist_size is None else shortlist_size
        self.shortlist_size = check_int("shortlist_size", shortlist_size, low=1)
        self.max_attribute_options = check_int(
            "max_attribute_options", max_attribute_options, low=1
        )
        self.history_turns = check_int("history_turns", history_turns, low=0)
        max_utterance_chars = check_int("max_utterance_chars", max_utterance_chars, low=1)
        self.prompt = load_prompt("chat_recommender", prompt_version)
        self.temperature = self.llm.temperature_or(TEMPERATURE)
        self.max_tokens = self.llm.max_tokens_or(MAX_TOKENS)
        self.max_utterance_chars = min(max_utterance_chars, self.utterance_max_length)
        self.on_error = self.llm.on_error_or("raise")
        self.model = self.llm.build()
        self.turns = 0
        self.failed_turns = 0
        self.utterance_fallbacks = 0
        self.usage = Usage()

    def act(self, observation: Any, info: dict[str, Any]) -> dict[str, Any]:
        self.memory.observe(info)
        self.turns += 1
        mask = self.memory.candidates()
        shortlist = self.memory.ranked(mask, self.shortlist_size)
        attributes, _ = self.memory.informative_attributes(mask)
        attributes = attributes[: self.max_attribute_options]
        names = self.catalog.attribute_names
        options = list(dict.fromkeys(names[int(a)] for a in attributes))
        column_of = {names[int(a)]: int(a) for a in reversed(attributes)}
        prompt = self.prompt.format(
            turns_left=int(info["turns_left"]),
            top_k=self.top_k,
            wanted=_join([names[a] for a in self.memory.confirmed]) or "(none yet)",
            unwanted=_join([names[a] for a in self.memory.denied]) or "(none yet)",
            n_candidates=int(mask.sum()),
            shortlist="\n".join(
                f"{number}. {self.catalog.descriptions[int(item)]}"
                for number, item in enumerate(shortlist, start=1)
            ),
            attributes=", ".join(options) if options else "(none left: recommend)",
            history=self._history(),
        )
        schema = self._schema(options, len(shortlist))
        try:
            response = self.model.complete(
                [{"role": "user", "content": prompt}],
                schema=schema,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                seed=int(self._rng.integers(2**31)),
            )
        except CostCapExceeded:
            raise
        except LLMError as error:
            if self.on_error == "raise":
                error.add_note(f"while the LLM chat recommender decided turn {info['turn'] + 1}")
                raise
            self.failed_turns += 1
            self.usage = self.usage + error.usage  # sent and paid for, though it failed
            return self._rule_decision(info)
        self.usage = self.usage + response.usage
        decision = response.parsed
        utterance = clean_utterance(str(decision["utterance"]), self.utterance_max_length)
        if decision["action"] == "ask" and options:
            attribute = column_of[decision["attribute"]]
            unasked = [a for a in self.memory.matcher.find(utterance) if a not in self.memory.asked]
            if not unasked or unasked[0] != attribute:
                self.utterance_fallbacks += 1
                return self._ask(attribute)
            self.memory.will_ask(attribute)
            return self._action(utterance)
        picks = [shortlist[int(n) - 1] for n in decision.get("items", [])]
        items = np.array(list(dict.fromkeys([*picks, *shortlist.tolist()]))[: self.top_k])
        if not utterance:
            self.utterance_fallbacks += 1
            return self._recommend(items)
        return self._action(utterance, items)

    def _history(self) -> str:
        exchanges = self.memory.exchanges
        shown = exchanges[-(self.history_turns + 1) :] if self.history_turns else exchanges[:1]
        lines = []
        for utterance, reply in shown:
            if utterance:
                lines.append(f"You: {utterance}")
            lines.append(f"User: {reply}")
        return "\n".join(lines)

    def _schema(self, options: list[str], shortlist_length: int) -> dict[str, Any]:
        utterance = {"type": "string", "minLength": 1, "maxLength": self.max_utterance_chars}
        items = {
            "type": "array",
            "items": {"type": "integer", "enum": list(range(1, shortlist_length + 1))},
            "maxItems": self.top_k,
        }
        if not options:
            properties = {
                "action": {"type": "string", "enum": ["recommend"]},
                "items": items,
                "utterance": utterance,
            }
        else:
            properties = {
                "action": {"type": "string", "enum": ["ask", "recommend"]},
                "attribute": {"type": "string", "enum": options},
                "items": items,
                "utterance": utterance,
            }
        return {
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        }


def _join(names: list[str]) -> str:
    return ", ".join(names)


def chat_agent_settings(env: Any) -> dict[str, Any]:
    """The RecoChat env settings a chat agent needs: ``catalog``, ``top_k`` and
    ``utterance_max_length``."""
    core = env.unwrapped
    return {
        "catalog": core.catalog,
        "top_k": int(core.top_k),
        "utterance_max_length": int(core.utterance_max_length),
    }


def agent_llm_settings(env: Any) -> LLMSettings:
    """Settings for an LLM agent's *own* model in ``env``: the env's model string, cache, API
    base, cost and token caps and per-token prices when its user has a language model named
    by a string, else the embedded model. Temperature, completion budget and ``on_error`` are
    left to the agent's defaults, and the agent builds a separate model (its own meter and
    caps), so the simulated user's usage and caps are never shared. A user model given as a
    :class:`~recoworld.llm.ChatModel` object is not reused: pass it to the agent yourself
    (``llm=env.unwrapped.llm``) to share it on purpose."""
    user = getattr(env.unwrapped, "llm_settings", None)
    if not isinstance(user, LLMSettings) or not isinstance(user.model, str):
        return LLMSettings(model=LOCAL)
    # Copy every field but the three the agent decides itself, so that a new LLMSettings
    # field (a cap, a price) is carried over without another edit here.
    return dataclasses.replace(user, temperature=None, max_tokens=None, on_error=None)
