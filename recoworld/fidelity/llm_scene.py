"""``llm``: a language model answering each scene's prompt with a rationale and a letter.

The UserMirrorer protocol (arXiv 2508.18142) as a :class:`~recoworld.fidelity.SceneSimulator`:
for every scene the model reads one prompt (packaged prompt ``fidelity_scene``, see
:func:`recoworld.llm.prompts.load_prompt`) with

* the user's history: the last ``max_history`` items of the scene's history, oldest first, each
  as its title and, where the log has one, the rating (``rated 4/5``);
* the exposure list, labelled ``[A]``, ``[B]``, ... in display order, each item's title and
  description (less a leading copy of the title);

and answers with structured output ``{"rationale": str, "choice": letter}``, the letter
constrained by a JSON-schema ``enum`` to the labels listed. The distribution of a scene is
one-hot on the chosen item: a chat model gives one sampled answer, not probabilities, so the
simulator's log-likelihood and calibration are those of a hard choice (an accuracy-only
simulator; the uniform row of a failed scene is the only soft one).

An LLM simulator is not fitted: :meth:`LLMSceneSimulator.fit` keeps the catalog's titles and
descriptions (what the prompt shows) and learns nothing from the interactions. The user's
demographic profile is not part of a scene and is not shown.

A failed call (a provider error, or an answer still malformed after the model's re-asks) with
``on_error="fallback"`` gives that scene the uniform distribution (chance) and counts it in
``failed_scenes``; with ``on_error="raise"`` the error propagates. A spent cost or token cap
(:class:`~recoworld.llm.CostCapExceeded`) always propagates. Every request sent is in ``usage``,
those of failed calls included. Each scene's call gets its own seed, drawn in scene order from
``np.random.default_rng(seed)``, so the same seed sends the same requests.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from recoworld.catalog import Catalog, Interactions
from recoworld.fidelity.scene import Scenes
from recoworld.fidelity.simulators import check_scenes
from recoworld.llm.base import ChatModel, CostCapExceeded, LLMError, Message, Usage
from recoworld.llm.prompts import load_prompt
from recoworld.llm.settings import LLMSettings, LLMSpec
from recoworld.validation import ON_ERROR, check_choice, check_int, check_number, check_seed

__all__ = ["LETTERS", "PROMPT_NAME", "LLMSceneSimulator", "choice_schema", "scene_prompt"]

PROMPT_NAME = "fidelity_scene"
"""The packaged prompt a scene is written with."""

LETTERS = string.ascii_uppercase
"""Labels of the exposure list, in display order (at most 26 choices)."""

RATIONALE_MAX_CHARS = 300
"""Longest rationale the schema allows (keeps a small model from rambling past ``max_tokens``)."""


def choice_schema(n_choices: int) -> dict[str, Any]:
    """The JSON schema of an answer to a scene with ``n_choices`` listed items: a rationale and
    a letter among ``A``.. (the ``n_choices``-th letter), in that order."""
    n_choices = check_int("n_choices", n_choices, 1, len(LETTERS))
    return {
        "type": "object",
        "properties": {
            "rationale": {"type": "string", "maxLength": RATIONALE_MAX_CHARS},
            "choice": {"type": "string", "enum": list(LETTERS[:n_choices])},
        },
        "required": ["rationale", "choice"],
        "additionalProperties": False,
    }


def _rating_text(rating: float) -> str:
    if not np.isfinite(rating):
        return ""
    value = int(rating) if float(rating).is_integer() else round(float(rating), 1)
    return f" (rated {value}/5)"


def scene_prompt(
    template: str,
    scenes: Scenes,
    scene: int,
    titles: tuple[str, ...],
    descriptions: tuple[str, ...],
    max_history: int,
) -> str:
    """The prompt of scene ``scene``: its last ``max_history`` history items (oldest first, with
    their ratings where known) and its lettered exposure list."""
    start, stop = int(scenes.history_offsets[scene]), int(scenes.history_offsets[scene + 1])
    start = max(start, stop - max_history)
    history = [
        f"- {titles[int(item)]}{_rating_text(float(rating))}"
        for item, rating in zip(
            scenes.history_items[start:stop], scenes.history_ratings[start:stop], strict=True
        )
    ]
    choices = []
    for letter, item in zip(LETTERS, scenes.choices[scene], strict=False):
        title = titles[int(item)]
        description = descriptions[int(item)].strip()
        if description.startswith(title):  # a description that repeats the title drops it
            description = description[len(title) :].lstrip(" :-,.")
        text = f"[{letter}] {title}"
        choices.append(f"{text}: {description}" if description else text)
    n = scenes.n_choices
    return template.format(
        history="\n".join(history) if history else "- (nothing yet)",
        choices="\n".join(choices),
        letters=", ".join(LETTERS[:n]),
    )


class LLMSceneSimulator:
    """A chat model choosing one item of each scene's lettered list (see the module docstring).

    Args:
        llm: ``"local"`` (the embedded SmolLM2-135M-Instruct), a litellm model string, a
            :class:`~recoworld.llm.ChatModel`, an :class:`~recoworld.llm.LLMSettings` or a dict
            of its fields. The settings' ``temperature``/``max_tokens``/``on_error``, when set,
            are used where the arguments below are left ``None``.
        seed: seeds the per-scene request seeds.
        max_history: how many of the latest history items the prompt shows (>= 0).
        temperature: sampling temperature in ``[0, 2]`` (default 0.0: the model's likeliest
            answer).
        max_tokens: completion budget of one answer (default 128).
        on_error: ``"fallback"`` (default: uniform row, counted in ``failed_scenes``) or
            ``"raise"``.
        prompt_version: which packaged version of the ``fidelity_scene`` prompt.

    After :meth:`predict`: ``usage`` (total :class:`~recoworld.llm.Usage` of every request, failed
    ones included), ``failed_scenes`` (scenes answered by the uniform fallback), ``rationales``
    (one per scene of the last call, ``None`` where it failed) and ``choices`` (letter index per
    scene of the last call, ``-1`` where it failed).
    """

    name = "llm"

    def __init__(
        self,
        llm: LLMSpec = "local",
        *,
        seed: int = 0,
        max_history: int = 20,
        temperature: float | None = None,
        max_tokens: int | None = None,
        on_error: str | None = None,
        prompt_version: str = "v1",
    ) -> None:
        settings = LLMSettings.of(llm)
        self.seed = check_seed("seed", seed)
        self.max_history = check_int("max_history", max_history, 0)
        if temperature is None:
            temperature = settings.temperature_or(0.0)
        self.temperature = check_number("temperature", temperature, 0.0, 2.0)
        if max_tokens is None:
            max_tokens = settings.max_tokens_or(128)
        self.max_tokens = check_int("max_tokens", max_tokens, 1)
        if on_error is None:
            on_error = settings.on_error_or("fallback")
        self.on_error = check_choice("on_error", on_error, ON_ERROR)
        self.template = load_prompt(PROMPT_NAME, prompt_version)
        self.settings = settings
        self._model: ChatModel | None = None
        self.titles: tuple[str, ...] | None = None
        self.descriptions: tuple[str, ...] | None = None
        self.usage = Usage()
        self.failed_scenes = 0
        self.rationales: list[str | None] = []
        self.choices: np.ndarray = np.empty(0, dtype=np.int64)

    @property
    def model(self) -> ChatModel:
        """The chat model, built from the settings on first use (the embedded model loads then)."""
        if self._model is None:
            self._model = self.settings.build()
        return self._model

    def fit(self, history: Interactions, catalog: Catalog) -> LLMSceneSimulator:
        """Keep the catalog's titles and descriptions; nothing is learned (not a fitted model)."""
        self.titles = tuple(catalog.titles)
        self.descriptions = tuple(catalog.descriptions)
        return self

    def messages(self, scenes: Scenes, scene: int) -> list[Message]:
        """The chat messages sent for scene ``scene``."""
        if self.titles is None or self.descriptions is None:
            raise ValueError("LLMSceneSimulator: call fit(history, catalog) first")
        prompt = scene_prompt(
            self.template, scenes, scene, self.titles, self.descriptions, self.max_history
        )
        return [{"role": "user", "content": prompt}]

    def predict(self, scenes: Scenes) -> np.ndarray:
        """``(n_scenes, n_choices)``: one-hot on each scene's chosen item, uniform where the call
        failed (``on_error="fallback"``)."""
        if self.titles is None or self.descriptions is None:
            raise ValueError("LLMSceneSimulator.predict: call fit(history, catalog) first")
        check_scenes(scenes, len(self.titles), max_choices=len(LETTERS))
        n, n_choices = len(scenes), scenes.n_choices
        schema = choice_schema(n_choices)
        seeds = np.random.default_rng(self.seed).integers(0, 2**31, size=n)
        out = np.full((n, n_choices), 1.0 / n_choices)
        self.rationales = [None] * n
        self.choices = np.full(n, -1, dtype=np.int64)
        model = self.model
        for s in range(n):
            try:
                response = model.complete(
                    self.messages(scenes, s),
                    schema=schema,
                    temperature=self.temperature,
                    max_tokens=self.max_tokens,
                    seed=int(seeds[s]),
                )
            except CostCapExceeded as error:
                self.usage = self.usage + error.usage
                raise
            except LLMError as error:
                self.usage = self.usage + error.usage  # sent, though it failed
                if self.on_error == "raise":
                    error.add_note(f"while the llm scene simulator answered scene {s}")
                    raise
                self.failed_scenes += 1
                continue
            self.usage = self.usage + response.usage
            letter = _letter(response.parsed)
            if letter is None or letter not in LETTERS[:n_choices]:
                self.usage = self.usage + Usage(failed_calls=response.usage.calls)
                if self.on_error == "raise":
                    raise LLMError(
                        f"scene {s}: the answer names no listed letter: {response.text!r}"
                    )
                self.failed_scenes += 1
                continue
            position = LETTERS.index(letter)
            out[s] = 0.0
            out[s, position] = 1.0
            self.choices[s] = position
            rationale = (
                response.parsed.get("rationale") if isinstance(response.parsed, dict) else None
            )
            self.rationales[s] = rationale if isinstance(rationale, str) else None
        return out


def _letter(parsed: object) -> str | None:
    if isinstance(parsed, dict):
        choice = parsed.get("choice")
        if isinstance(choice, str):
            return choice.strip().strip("[]").upper() or None
    return None
