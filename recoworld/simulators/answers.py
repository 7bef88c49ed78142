"""Checks on a language model's free-text answers: whole sentences, and no echo of the prompt.

A model's answer ends mid-sentence when its token budget runs out, and a small model sometimes
repeats its prompt instead of answering it. The simulated users keep a mindset or an instruction
only in whole sentences (:func:`whole_sentences`) and reject an answer that repeats its prompt
(:func:`echoes_prompt`), which they count as a failed (malformed) answer.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

__all__ = ["ECHO_WORDS", "echoes_prompt", "prompt_segments", "whole_sentences"]

ECHO_WORDS = 8
"""An answer that repeats this many consecutive words of its prompt's own text (the packaged
prompt's wording, or a line of the item listing) is an echo of the prompt, not an answer."""

_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s|$)")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_LABEL = re.compile(r"((?:[A-Za-z]+ ){0,2}[A-Za-z]+):")
_LINE_START = r"(?:^|(?<=\n)|(?<=[.!?\u2026])[\"'\u201d\u2019)\]]*\s+)[\s\"'\u201c\u2018*#>-]*"
"""Where a sentence or line of an answer starts (after any quotes, bullets or markdown)."""


def whole_sentences(text: str, max_chars: int, max_fragment_words: int) -> str | None:
    """``text`` cut after its last whole sentence within ``max_chars`` characters, or None.

    A language model's answer ends mid-sentence when its token budget runs out; a mindset or an
    instruction is kept in whole sentences only (ending in ``.``, ``!``, ``?`` or an
    ellipsis), so a trailing fragment is dropped. An answer that is one unterminated fragment is
    kept (with a full stop) only when it is clearly shorter than what the budget allows (at
    most ``max_fragment_words`` words and under ``max_chars``); otherwise, or when even the
    first sentence is longer than ``max_chars``, there is nothing whole to keep: None.

    >>> whole_sentences("I liked the jazz. The metal was too", 400, 32)
    'I liked the jazz.'
    >>> whole_sentences("Loved it", 400, 32)
    'Loved it.'
    >>> whole_sentences("I liked the jazz but the metal was a bit", 400, 4) is None
    True
    """
    text = " ".join(text.split())
    cut = 0
    for end in _SENTENCE_END.finditer(text):
        if end.end() > max_chars:
            break
        cut = end.end()
    if cut:
        return text[:cut]
    if (
        text
        and _SENTENCE_END.search(text) is None
        and len(text) < max_chars
        and len(text.split()) <= max_fragment_words
    ):
        return text.rstrip(",;:-") + "."
    return None


def prompt_segments(template: str) -> tuple[str, ...]:
    """The fixed wording of a prompt template (its text between the ``{placeholders}``)."""
    return tuple(literal for literal, *_ in string.Formatter().parse(template) if literal.strip())


def echoes_prompt(
    answer: str,
    segments: Sequence[str],
    listing: Sequence[str] = (),
    n_words: int = ECHO_WORDS,
) -> bool:
    """Whether ``answer`` repeats its prompt: ``n_words`` consecutive words of one of the
    prompt's fixed ``segments`` (:func:`prompt_segments`) or of one ``listing`` line (the
    items it was shown), or one of the segments' labels with its colon (``"Your mindset so
    far:"``, ``"What you want:"``) at the start of the answer or of one of its sentences or
    lines. A label inside a sentence (``"I know what you want: jazz."``) is ordinary speech.

    >>> segments = prompt_segments('You are a person using a music app. Your mindset: "{m}"')
    >>> echoes_prompt("You are a person using a music app and I like it.", segments)
    True
    >>> echoes_prompt('Your mindset: "bored"', segments)
    True
    >>> echoes_prompt("I am a person who likes jazz.", segments)
    False
    >>> echoes_prompt("I know my mindset: bored.", segments)
    False
    """
    lowered = answer.lower()
    words = _WORD.findall(lowered)
    grams: set[tuple[str, ...]] = set()
    for segment in segments:
        for found in _LABEL.finditer(segment):
            # The label, or the label with the word before it ("your" of "Your mindset so far").
            before = re.search(r"([A-Za-z]+) $", segment[: found.start()])
            labels = [found.group(1)] + ([f"{before.group(1)} {found.group(1)}"] if before else [])
            for label in labels:
                pattern = r"\s+".join(re.escape(word) for word in label.lower().split())
                if re.search(rf"{_LINE_START}{pattern}\s*:", lowered):
                    return True
    for text in (*segments, *listing):
        seen = _WORD.findall(text.lower())
        grams.update(tuple(seen[i : i + n_words]) for i in range(len(seen) - n_words + 1))
    return any(tuple(words[i : i + n_words]) in grams for i in range(len(words) - n_words + 1))
