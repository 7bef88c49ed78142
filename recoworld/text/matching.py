"""Text matching shared by simulated users and agents: the RecoChat character set, utterance
cleaning, and finding a catalog's attribute names in free text."""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Sequence

from recoworld.text.encoders import words

__all__ = ["RECOCHAT_CHARSET", "AttributeMatcher", "clean_utterance"]

RECOCHAT_CHARSET: str = string.ascii_letters + string.digits + string.punctuation + " \n"
"""The characters an utterance may use: printable ASCII letters, digits, punctuation, space and
newline. :func:`clean_utterance` maps other text (curly quotes, accents, tabs) into it."""

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
