"""Reflective instructions: what a disengaging user tells the recommender, and how it is voiced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class ReflectiveInstruction:
    """A structured instruction: topics the user wants more of and less of.

    Attributes:
        more_of: topic names to see more of.
        less_of: topic names to see less of.
        more_of_topics: the same as topic indices of the catalog.
        less_of_topics: the same as topic indices of the catalog.
    """

    more_of: tuple[str, ...]
    less_of: tuple[str, ...]
    more_of_topics: tuple[int, ...]
    less_of_topics: tuple[int, ...]


@runtime_checkable
class InstructionVoice(Protocol):
    """Turns a structured instruction into the sentence the user says.

    The template voice below works offline with no model; an LLM-backed voice can implement the
    same protocol. ``rng`` is the env's generator, so a seeded run voices identically.
    """

    def render(self, instruction: ReflectiveInstruction, rng: np.random.Generator) -> str: ...


def join_names(names: tuple[str, ...]) -> str:
    """``("a", "b", "c")`` -> ``"a, b and c"``."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True)
class TemplateVoice:
    """Voices instructions with fixed sentence templates (``{more}`` and ``{less}`` slots).

    >>> voice = TemplateVoice()
    >>> instruction = ReflectiveInstruction(("jazz",), ("metal",), (0,), (2,))
    >>> text = voice.render(instruction, np.random.default_rng(0))
    >>> "jazz" in text and "metal" in text
    True
    """

    templates: tuple[str, ...] = (
        "I'm getting tired of {less}. Show me more {more}, please.",
        "Less {less}, more {more}.",
        "Too much {less} lately; I'd rather have some {more}.",
        "Can you stop pushing {less}? I'm in the mood for {more}.",
    )

    def __post_init__(self) -> None:
        if not self.templates:
            raise ValueError("TemplateVoice.templates is empty")
        for template in self.templates:
            if "{more}" not in template or "{less}" not in template:
                raise ValueError(
                    f"TemplateVoice.templates entry {template!r} lacks a {{more}} or {{less}} slot"
                )

    def render(self, instruction: ReflectiveInstruction, rng: np.random.Generator) -> str:
        template = self.templates[int(rng.integers(len(self.templates)))]
        return template.format(
            more=join_names(instruction.more_of), less=join_names(instruction.less_of)
        )
