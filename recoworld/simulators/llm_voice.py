"""Reflective instructions voiced by a language model, checked against what they voice.

The latent user decides *what* it wants (a structured "more of X, less of Y"); the model only
words it. A small model often words it wrong, so every sentence is checked: it must name at least
one of the instruction's topics, be whole (an answer cut by the token budget keeps its whole
sentences) and not repeat the prompt. A sentence that fails the check, or a failed model call,
falls back to the template voice; both are counted (and a rejected answer counts as a failed call
in ``usage``), so a run reports how often the model was usable.
A spent cost cap (:class:`~recoworld.llm.CostCapExceeded`) is never papered over: it propagates.
"""

from __future__ import annotations

import re

import numpy as np

from recoworld.llm.base import ChatModel, CostCapExceeded, LLMError, Usage
from recoworld.llm.prompts import load_prompt
from recoworld.simulators.answers import echoes_prompt, prompt_segments, whole_sentences
from recoworld.simulators.instruction import (
    InstructionVoice,
    ReflectiveInstruction,
    TemplateVoice,
    join_names,
)
from recoworld.validation import check_int, check_number

PROMPT_VERSION = "v1"
"""Version of the packaged prompt (``prompts/instruction_voice.<version>.txt``)."""
INSTRUCTION_MAX_CHARS = 300
"""Longest instruction sentence(s) kept from the model, in whole sentences (the LLM voice's and
the RecoWorld LLM user's)."""


def names_a_topic(text: str, instruction: ReflectiveInstruction) -> bool:
    """Whether ``text`` names at least one of the instruction's topics (whole words, any case)."""
    lowered = text.lower()
    for name in instruction.more_of + instruction.less_of:
        if re.search(rf"(?<![a-z0-9]){re.escape(name.lower())}(?![a-z0-9])", lowered):
            return True
    return False


class LLMVoice:
    """An :class:`~recoworld.simulators.InstructionVoice` that asks a chat model for the sentence.

    Args:
        model: Any :class:`~recoworld.llm.ChatModel` (the embedded ``LocalChatModel``, a
            ``LiteLLMChatModel``, a cached or metered one).
        fallback: The voice used when the model's sentence fails the check or the call fails
            (default :class:`~recoworld.simulators.TemplateVoice`).
        prompt_version: Which packaged prompt to use.
        temperature, max_tokens: Sampling settings of each call; the call's seed is drawn from
            the ``rng`` the env passes, so a seeded run asks the same questions.

    Counters: ``renders`` (instructions voiced), ``fallbacks`` (sentences that failed the check),
    ``failures`` (model calls that raised), ``usage`` (total :class:`~recoworld.llm.Usage`), and
    ``last_voiced_by`` (``"llm"`` or ``"fallback"``).
    """

    def __init__(
        self,
        model: ChatModel,
        *,
        fallback: InstructionVoice | None = None,
        prompt_version: str = PROMPT_VERSION,
        temperature: float = 0.7,
        max_tokens: int = 48,
    ) -> None:
        if not isinstance(model, ChatModel):
            raise ValueError(f"model={model!r} does not implement the ChatModel protocol")
        max_tokens = check_int("max_tokens", max_tokens, low=1)
        temperature = check_number("temperature", temperature, 0.0, 2.0)
        if fallback is not None and not isinstance(fallback, InstructionVoice):
            raise ValueError(f"fallback={fallback!r} does not implement InstructionVoice.render")
        self.model = model
        self.fallback = fallback or TemplateVoice()
        self.prompt = load_prompt("instruction_voice", prompt_version)
        self._segments = prompt_segments(self.prompt)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.renders = 0
        self.fallbacks = 0
        self.failures = 0
        self.usage = Usage()
        self.last_voiced_by: str | None = None

    def render(self, instruction: ReflectiveInstruction, rng: np.random.Generator) -> str:
        self.renders += 1
        prompt = self.prompt.format(
            more=join_names(instruction.more_of), less=join_names(instruction.less_of)
        )
        try:
            response = self.model.complete(
                [{"role": "user", "content": prompt}],
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                seed=int(rng.integers(2**31)),
            )
        except CostCapExceeded:
            raise  # a spent budget stops the run; it is not a bad sentence to paper over
        except LLMError as error:
            self.usage = self.usage + error.usage  # sent and paid for, though it failed
            self.failures += 1
            self.last_voiced_by = "fallback"
            return self.fallback.render(instruction, rng)
        self.usage = self.usage + response.usage
        text = whole_sentences(response.text, INSTRUCTION_MAX_CHARS, self.max_tokens // 2)
        if text and not echoes_prompt(text, self._segments) and names_a_topic(text, instruction):
            self.last_voiced_by = "llm"
            return text
        # An answer that cannot be used (cut, an echo of the prompt, no topic): a failed call.
        self.usage = self.usage + Usage(failed_calls=response.usage.calls)
        self.fallbacks += 1
        self.last_voiced_by = "fallback"
        return self.fallback.render(instruction, rng)
