"""The RecoWorld LLM user: a latent user with a mindset and a voice from a language model.

The latent user model (:mod:`recoworld.simulators.latent`) keeps the dynamics: interests, drift,
boredom, patience, return. On top of it a chat model reads the ranked list item by item (the
items' text), keeps a *mindset* (a short first-person memory of how the session is going, beside
the latent state), and when the latent state says the user is about to disengage it writes the
reflective instruction in its own words.

Who decides is set by ``decision_mode``:

* ``"latent"`` (default): the latent model decides clicks and leaving; after each turn the model
  rewrites the mindset from what was shown and what the user did, and voices instructions.
  Trajectories are exactly those of the latent user (the model draws from its own generator).
* ``"hybrid"``: the model decides, within bounds set by the latent state. An item whose latent
  click probability is below ``hybrid_click_bounds[0]`` is skipped and one above
  ``hybrid_click_bounds[1]`` is clicked whatever the model says; in between the model's choice
  stands. The user leaves when the latent model says so, or when the model wants to leave while
  the latent patience is already under the instruction threshold (the user was disengaging).
* ``"llm"``: the model decides every click and whether to leave, through structured output; the
  latent state is updated from its decisions (watch time, drift, boredom and patience follow
  the latent utilities of what it chose).

In every mode the instruction's *content* (more of / less of which topic) comes from the latent
state, and the model's sentence is checked against it: it must name at least one of its topics,
or the template voice says it instead (counted in ``instruction_fallbacks``).

A failed model call (provider error after its retries, malformed output after its re-asks) is
raised with the turn it happened in (``on_llm_error="raise"``, the default), or recorded as a
failed turn (``"fallback"``: the latent model decides that turn and a template mindset stands;
counted in ``failed_turns``). A spent cost cap always propagates. An answer that came back but
cannot be used (a mindset with no whole sentence, an answer that repeats its prompt: see
:mod:`recoworld.simulators.answers`) is a failed turn whatever ``on_llm_error`` says, and its
requests count in ``usage.failed_calls``; a mindset is kept in whole sentences, at most
:data:`MINDSET_MAX_CHARS` characters.

The embedded 135M model decides poorly; use ``decision_mode="latent"`` with it, and a stronger
model through litellm to study LLM-decided behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recoworld.llm.base import (
    ChatModel,
    ChatResponse,
    CostCapExceeded,
    LLMError,
    Message,
    Usage,
)
from recoworld.llm.prompts import load_prompt
from recoworld.simulators.answers import echoes_prompt, prompt_segments, whole_sentences
from recoworld.simulators.instruction import (
    InstructionVoice,
    ReflectiveInstruction,
    TemplateVoice,
    join_names,
)
from recoworld.simulators.llm_voice import INSTRUCTION_MAX_CHARS, names_a_topic
from recoworld.validation import ON_ERROR, check_choice, check_int, check_number

DECISION_MODES = ("latent", "hybrid", "llm")
PROMPT_VERSION = "v1"
"""Version of the packaged prompts (``prompts/llm_user_<part>.<version>.txt``)."""
PROMPT_PARTS = ("reflect", "decide", "instruct")
MINDSET_MAX_CHARS = 400
"""Longest mindset kept, in whole sentences (the decision schema's ``maxLength`` too)."""


def check_click_bounds(name: str, bounds: Any) -> tuple[float, float]:
    """``(low, high)`` click-probability bounds as floats with ``0 <= low <= high <= 1``, else
    ``ValueError`` naming ``name`` and the value.

    >>> check_click_bounds("hybrid_click_bounds", [0, 1])
    (0.0, 1.0)
    >>> check_click_bounds("hybrid_click_bounds", 0.5)
    Traceback (most recent call last):
    ...
    ValueError: hybrid_click_bounds=0.5 must be (low, high) with 0 <= low <= high <= 1
    """
    message = f"{name}={bounds!r} must be (low, high) with 0 <= low <= high <= 1"
    if not isinstance(bounds, tuple | list) or len(bounds) != 2:
        raise ValueError(message)
    try:
        low = check_number(name, bounds[0], 0.0, 1.0)
        high = check_number(name, bounds[1], 0.0, 1.0)
    except ValueError:
        raise ValueError(message) from None
    if low > high:
        raise ValueError(message)
    return (low, high)


@dataclass(frozen=True)
class TurnView:
    """What the LLM user is shown in one turn, and the latent quantities that bound it.

    Attributes:
        items: One line of text per slot, in ranked order (``""`` for an empty slot).
        click_probability: ``(S,)`` the latent model's click probability of each slot if
            examined (0 for an empty slot).
        patience: The latent patience before the turn.
        instruction_threshold: Patience under which the latent user is disengaging.
    """

    items: tuple[str, ...]
    click_probability: np.ndarray
    patience: float
    instruction_threshold: float


@dataclass(frozen=True)
class Decision:
    """The LLM user's decisions for one turn, as overrides for the latent model.

    ``click_override`` ``(S,)`` and ``leave_override`` hold -1 (the latent model decides), 0 or
    1 (see :func:`recoworld.simulators.step_users`). ``wanted_clicks`` are the 0-based slots the
    model chose (before bounds), ``wants_to_leave`` its leave choice; ``failed`` marks a turn
    recorded as failed (``on_llm_error="fallback"``).
    """

    click_override: np.ndarray
    leave_override: int
    wanted_clicks: tuple[int, ...] = ()
    wants_to_leave: bool = False
    failed: bool = False


def template_mindset(
    preferences: np.ndarray, topic_names: Sequence[str], patience: float, threshold: float
) -> str:
    """A mindset sentence from the latent state alone (initial mindset and failed turns).

    >>> template_mindset(np.array([0.1, 0.9, -0.5]), ("jazz", "indie", "metal"), 1.0, 0.3)
    "I'm in the mood for indie and jazz, not metal; happy to keep browsing."
    """
    order = np.argsort(-np.asarray(preferences), kind="stable")
    liked = tuple(topic_names[int(t)] for t in order[:2])
    disliked = topic_names[int(order[-1])]
    if patience <= 0.0:
        mood = "I've had enough for now"
    elif patience < threshold:
        mood = "I'm losing patience"
    elif patience < 2.0 * threshold:
        mood = "getting a little restless"
    else:
        mood = "happy to keep browsing"
    return f"I'm in the mood for {join_names(liked)}, not {disliked}; {mood}."


def _outcome_line(position: int, text: str, examined: bool, clicked: bool, watched: float) -> str:
    if not text:
        return f"{position}. (empty slot)"
    if clicked:
        return f"{position}. {text} -> you played it and stayed for {round(100 * watched)}%"
    if examined:
        return f"{position}. {text} -> you skipped it"
    return f"{position}. {text} -> you stopped before reaching it"


class LLMUser:
    """The language side of a RecoWorld user: mindset, decisions (by mode) and instructions.

    It knows nothing of Gymnasium: the env gives it a :class:`TurnView` and the latent outcome,
    and applies its :class:`Decision`. One object serves one user at a time; :meth:`begin` starts
    a user (or a session) with a mindset.

    Args:
        model: Any :class:`~recoworld.llm.ChatModel` (embedded, litellm, cached, metered...).
        decision_mode: ``"latent"``, ``"hybrid"`` or ``"llm"`` (see the module docstring).
        hybrid_click_bounds: ``(low, high)`` latent click probabilities outside which the latent
            model's choice is forced in hybrid mode.
        on_llm_error: ``"raise"`` or ``"fallback"`` for a failed model call.
        fallback_voice: Voice for instructions whose sentence fails the check (template voice).
        prompt_version: Which packaged prompts to use.
        temperature, max_tokens: Sampling of each call (``max_tokens`` bounds the mindset and the
            decision answer; instructions use ``instruction_max_tokens``).
        instruction_max_tokens: Completion budget of an instruction sentence.

    Counters: ``usage`` (total :class:`~recoworld.llm.Usage`), ``turns``, ``failed_turns``,
    ``instructions``, ``instruction_fallbacks``; ``mindset`` is the current mindset text.
    """

    def __init__(
        self,
        model: ChatModel,
        *,
        decision_mode: str = "latent",
        hybrid_click_bounds: tuple[float, float] = (0.1, 0.9),
        on_llm_error: str = "raise",
        fallback_voice: InstructionVoice | None = None,
        prompt_version: str = PROMPT_VERSION,
        temperature: float = 0.7,
        max_tokens: int = 64,
        instruction_max_tokens: int = 40,
    ) -> None:
        if not isinstance(model, ChatModel):
            raise ValueError(f"model={model!r} does not implement the ChatModel protocol")
        if decision_mode not in DECISION_MODES:
            raise ValueError(f"decision_mode={decision_mode!r} must be one of {DECISION_MODES}")
        check_choice("on_llm_error", on_llm_error, ON_ERROR)
        low, high = check_click_bounds("hybrid_click_bounds", hybrid_click_bounds)
        max_tokens = check_int("max_tokens", max_tokens, low=1)
        instruction_max_tokens = check_int("instruction_max_tokens", instruction_max_tokens, low=1)
        check_number("temperature", temperature, 0.0, 2.0)
        if fallback_voice is not None and not isinstance(fallback_voice, InstructionVoice):
            raise ValueError(f"fallback_voice={fallback_voice!r} does not implement render")
        self.model = model
        self.decision_mode = decision_mode
        self.hybrid_click_bounds = (float(low), float(high))
        self.on_llm_error = on_llm_error
        self.fallback_voice = fallback_voice or TemplateVoice()
        self.prompts = {
            part: load_prompt(f"llm_user_{part}", prompt_version) for part in PROMPT_PARTS
        }
        self._segments = {part: prompt_segments(self.prompts[part]) for part in PROMPT_PARTS}
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.instruction_max_tokens = instruction_max_tokens
        self.usage = Usage()
        self.turns = 0
        self.failed_turns = 0
        self.instructions = 0
        self.instruction_fallbacks = 0
        self.mindset = ""
        self.last_voiced_by: str | None = None
        self.last_failed = False

    # ----------------------------------------------------------------- calls
    def _params(self, rng: np.random.Generator, max_tokens: int) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "max_tokens": max_tokens,
            "seed": int(rng.integers(2**31)),
        }

    def _run(self, request: _Request) -> ChatResponse | LLMError:
        """One call; a failed call is returned (not raised) for the ``_finish_*`` step."""
        try:
            response = self.model.complete(
                request.messages, schema=request.schema, **request.params
            )
        except LLMError as error:
            self.usage = self.usage + error.usage  # sent and paid for, though it failed
            return error
        self.usage = self.usage + response.usage
        return response

    async def _arun(self, request: _Request) -> ChatResponse | LLMError:
        try:
            response = await self.model.acomplete(
                request.messages, schema=request.schema, **request.params
            )
        except LLMError as error:
            self.usage = self.usage + error.usage  # sent and paid for, though it failed
            return error
        self.usage = self.usage + response.usage
        return response

    def _failed(self, error: LLMError, what: str, fallback_mindset: str) -> None:
        if isinstance(error, CostCapExceeded) or self.on_llm_error == "raise":
            error.add_note(f"while the RecoWorld LLM user {what} (turn {self.turns})")
            raise error
        self.failed_turns += 1
        self.last_failed = True
        self.mindset = fallback_mindset

    # ------------------------------------------------------------ checkpoint
    _STATE = (
        "mindset",
        "turns",
        "failed_turns",
        "instructions",
        "instruction_fallbacks",
        "last_voiced_by",
        "last_failed",
    )

    def checkpoint(self) -> tuple[Any, ...]:
        """The user's state (mindset and counters), for :meth:`restore`.

        ``usage`` is not part of it: a call that was sent stays counted, even when the env
        undoes the step it failed in.
        """
        return tuple(getattr(self, name) for name in self._STATE)

    def restore(self, checkpoint: tuple[Any, ...]) -> None:
        """Put the mindset and counters back as they were at :meth:`checkpoint`."""
        for name, value in zip(self._STATE, checkpoint, strict=True):
            setattr(self, name, value)

    # ----------------------------------------------------------------- turns
    def begin(self, mindset: str) -> None:
        """Start a user or a session with ``mindset`` (e.g. :func:`template_mindset`)."""
        self.mindset = " ".join(mindset.split())
        self.last_failed = False

    def decide(self, view: TurnView, rng: np.random.Generator, fallback_mindset: str) -> Decision:
        """The model's clicks and leaving for ``view`` (modes ``"hybrid"`` and ``"llm"``).

        In ``"latent"`` mode nothing is asked and the latent model decides. The answer is
        structured: ``{"clicks": [positions], "leave": bool, "mindset": str}`` where positions
        are 1-based and limited (by the schema, so constrained decoding can only give legal
        ones) to non-empty slots; the new mindset replaces the old one.
        """
        request = self._decide_request(view, rng)
        if request is None:
            return _latent_decision(len(view.items))
        return self._finish_decide(view, request, self._run(request), fallback_mindset)

    async def adecide(
        self, view: TurnView, rng: np.random.Generator, fallback_mindset: str
    ) -> Decision:
        """:meth:`decide` on the model's async path (many users wait on the model at once)."""
        request = self._decide_request(view, rng)
        if request is None:
            return _latent_decision(len(view.items))
        return self._finish_decide(view, request, await self._arun(request), fallback_mindset)

    def _decide_request(self, view: TurnView, rng: np.random.Generator) -> _Request | None:
        self.last_failed = False
        if self.decision_mode == "latent":
            return None
        self.turns += 1
        positions = [s + 1 for s, text in enumerate(view.items) if text]
        listing = "\n".join(
            f"{s + 1}. {text}" if text else f"{s + 1}. (empty slot)"
            for s, text in enumerate(view.items)
        )
        prompt = self.prompts["decide"].format(
            mindset=self.mindset, items=listing, mood=_mood(view)
        )
        schema = {
            "type": "object",
            "properties": {
                "clicks": {
                    "type": "array",
                    "items": {"type": "integer", "enum": positions or [1]},
                    "uniqueItems": True,
                    "maxItems": max(len(positions), 1),
                },
                "leave": {"type": "boolean"},
                "mindset": {"type": "string", "minLength": 1, "maxLength": 400},
            },
            "required": ["clicks", "leave", "mindset"],
            "additionalProperties": False,
        }
        return _Request(
            _user_message(prompt),
            schema,
            self._params(rng, self.max_tokens),
            "decide",
            tuple(listing.splitlines()),
        )

    def _finish_decide(
        self,
        view: TurnView,
        request: _Request,
        response: ChatResponse | LLMError,
        fallback_mindset: str,
    ) -> Decision:
        slots = len(view.items)
        if isinstance(response, LLMError):
            self._failed(response, "decided its clicks", fallback_mindset)
            return _latent_decision(slots, failed=True)
        answer = response.parsed
        mindset = self._usable(answer["mindset"], request, MINDSET_MAX_CHARS, MINDSET_MAX_CHARS)
        if mindset is None:  # an echo of the prompt, or no whole sentence: a malformed answer
            self._unusable(response, fallback_mindset)
            return _latent_decision(slots, failed=True)
        positions = {s + 1 for s, text in enumerate(view.items) if text}
        wanted = tuple(sorted(int(p) - 1 for p in answer["clicks"] if int(p) in positions))
        wants_to_leave = bool(answer["leave"])
        self.mindset = mindset
        clicks = np.zeros(slots, np.int8)
        clicks[list(wanted)] = 1
        if self.decision_mode == "hybrid":
            low, high = self.hybrid_click_bounds
            clicks[view.click_probability < low] = 0
            clicks[view.click_probability > high] = 1
            leave = 1 if wants_to_leave and view.patience < view.instruction_threshold else -1
        else:
            leave = int(wants_to_leave)
        for s, text in enumerate(view.items):
            if not text:
                clicks[s] = 0
        return Decision(clicks, leave, wanted, wants_to_leave)

    def reflect(
        self,
        view: TurnView,
        examined: np.ndarray,
        clicks: np.ndarray,
        watch_fraction: np.ndarray,
        rng: np.random.Generator,
        fallback_mindset: str,
    ) -> None:
        """Rewrite the mindset after a turn the latent model decided (``"latent"`` mode)."""
        request = self._reflect_request(view, examined, clicks, watch_fraction, rng)
        self._finish_reflect(request, self._run(request), fallback_mindset)

    async def areflect(
        self,
        view: TurnView,
        examined: np.ndarray,
        clicks: np.ndarray,
        watch_fraction: np.ndarray,
        rng: np.random.Generator,
        fallback_mindset: str,
    ) -> None:
        """:meth:`reflect` on the model's async path."""
        request = self._reflect_request(view, examined, clicks, watch_fraction, rng)
        self._finish_reflect(request, await self._arun(request), fallback_mindset)

    def _reflect_request(
        self,
        view: TurnView,
        examined: np.ndarray,
        clicks: np.ndarray,
        watch_fraction: np.ndarray,
        rng: np.random.Generator,
    ) -> _Request:
        self.turns += 1
        self.last_failed = False
        listing = "\n".join(
            _outcome_line(s + 1, text, bool(examined[s]), bool(clicks[s]), float(watch_fraction[s]))
            for s, text in enumerate(view.items)
        )
        prompt = self.prompts["reflect"].format(
            mindset=self.mindset, items=listing, mood=_mood(view)
        )
        return _Request(
            _user_message(prompt),
            None,
            self._params(rng, self.max_tokens),
            "reflect",
            tuple(listing.splitlines()),
        )

    def _finish_reflect(
        self, request: _Request, response: ChatResponse | LLMError, fallback_mindset: str
    ) -> None:
        if isinstance(response, LLMError):
            self._failed(response, "updated its mindset", fallback_mindset)
            return
        mindset = self._usable(
            response.text, request, MINDSET_MAX_CHARS, request.params["max_tokens"] // 2
        )
        if mindset is None:
            self._unusable(response, fallback_mindset)
            return
        self.mindset = mindset

    def _usable(
        self, text: str, request: _Request, max_chars: int, max_fragment_words: int
    ) -> str | None:
        """The model's text in whole sentences (:func:`whole_sentences`), or None when there
        is no whole sentence or it echoes the prompt (:func:`echoes_prompt`)."""
        text = " ".join(text.split()).strip("\"'")
        if echoes_prompt(text, self._segments[request.part], request.listing):
            return None
        return whole_sentences(text, max_chars, max_fragment_words)

    def _unusable(self, response: ChatResponse, fallback_mindset: str) -> None:
        """A turn whose answer came back but cannot be used (empty, no whole sentence, an echo
        of the prompt): a failed turn, its requests counted as failed calls."""
        self.usage = self.usage + Usage(failed_calls=response.usage.calls)
        self.failed_turns += 1
        self.last_failed = True
        self.mindset = fallback_mindset

    def instruct(self, instruction: ReflectiveInstruction, rng: np.random.Generator) -> str:
        """The instruction sentence, in the model's words when they name one of its topics.

        Otherwise (or when the call fails and ``on_llm_error="fallback"``) the fallback voice
        says it; ``last_voiced_by`` is ``"llm"`` or ``"fallback"``.
        """
        request = self._instruct_request(instruction, rng)
        return self._finish_instruct(instruction, request, self._run(request), rng)

    async def ainstruct(self, instruction: ReflectiveInstruction, rng: np.random.Generator) -> str:
        """:meth:`instruct` on the model's async path."""
        request = self._instruct_request(instruction, rng)
        return self._finish_instruct(instruction, request, await self._arun(request), rng)

    def _instruct_request(
        self, instruction: ReflectiveInstruction, rng: np.random.Generator
    ) -> _Request:
        self.instructions += 1
        prompt = self.prompts["instruct"].format(
            mindset=self.mindset,
            more=join_names(instruction.more_of),
            less=join_names(instruction.less_of),
        )
        return _Request(
            _user_message(prompt),
            None,
            self._params(rng, self.instruction_max_tokens),
            "instruct",
        )

    def _finish_instruct(
        self,
        instruction: ReflectiveInstruction,
        request: _Request,
        response: ChatResponse | LLMError,
        rng: np.random.Generator,
    ) -> str:
        text: str | None = None
        if isinstance(response, LLMError):
            if isinstance(response, CostCapExceeded) or self.on_llm_error == "raise":
                response.add_note(
                    f"while the RecoWorld LLM user voiced an instruction ({instruction})"
                )
                raise response
        else:
            text = self._usable(
                response.text,
                request,
                INSTRUCTION_MAX_CHARS,
                request.params["max_tokens"] // 2,
            )
            if text and names_a_topic(text, instruction):
                self.last_voiced_by = "llm"
                return text
            # An answer that cannot be used: counted as a failed call.
            self.usage = self.usage + Usage(failed_calls=response.usage.calls)
        self.instruction_fallbacks += 1
        self.last_voiced_by = "fallback"
        return self.fallback_voice.render(instruction, rng)


@dataclass(frozen=True)
class _Request:
    messages: list[Message]
    schema: Any
    params: dict[str, Any]
    part: str = ""
    """Which prompt (``"reflect"``, ``"decide"``, ``"instruct"``): its wording is what an echo
    would repeat."""
    listing: tuple[str, ...] = ()
    """The lines of the item listing the prompt showed."""


def _user_message(prompt: str) -> list[Message]:
    return [{"role": "user", "content": prompt}]


def _latent_decision(slots: int, *, failed: bool = False) -> Decision:
    return Decision(np.full(slots, -1, np.int8), -1, failed=failed)


def _mood(view: TurnView) -> str:
    if view.patience < view.instruction_threshold:
        return "You are close to giving up on the app."
    if view.patience < 2.0 * view.instruction_threshold:
        return "You are getting a little restless."
    return "You are enjoying the app."
