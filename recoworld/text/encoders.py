"""Text encoders: how words said in an environment (instructions, replies) enter an observation.

Raw text goes in ``info``; the observation carries a fixed-size numeric encoding of it, made by a
:class:`TextEncoder`. The default, :class:`HashingTextEncoder`, needs no model and no network: it
hashes words and word pairs into a signed bag of features (the "hashing trick"), so two sentences
that share words share features, and the same text always gives the same vector on every machine.
Any object with ``dim`` and ``encode`` can replace it (for instance sentence embeddings from a
local model), passed as ``text_encoder=`` to the environments that say things.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@runtime_checkable
class TextEncoder(Protocol):
    """Turns texts into fixed-size vectors for observations.

    ``dim`` is the vector size; ``encode(texts)`` returns a ``(len(texts), dim)`` float32 array
    with values in ``[-1, 1]`` (the observation space is built from that), and must be a pure
    function of the texts (same text, same vector), so seeded runs repeat.
    """

    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits and an inner apostrophe).

    >>> words("Less Metal, more jazz! Don't stop.")
    ['less', 'metal', 'more', 'jazz', "don't", 'stop']
    """
    return _WORD.findall(text.lower())


class HashingTextEncoder:
    """Signed feature hashing of words and word pairs, L2-normalised (the default encoder).

    Each word (and, with ``ngrams=2``, each pair of neighbouring words) is hashed with BLAKE2b,
    which is stable across processes (Python's ``hash`` is salted), to a column in ``[0, dim)``
    and a sign; the vector sums the signed counts and is scaled to unit length, so every entry
    lies in ``[-1, 1]``. The empty text (or one with no words) encodes as zeros.

    Args:
        dim: Vector size (>= 2).
        ngrams: 1 for words only, 2 to add neighbouring word pairs (default).
        salt: Mixed into the hash: two encoders with different salts spread words differently.

    >>> encoder = HashingTextEncoder(dim=16)
    >>> vectors = encoder.encode(["more jazz please", "More jazz, please!", ""])
    >>> vectors.shape, bool((vectors[0] == vectors[1]).all()), float(abs(vectors[2]).sum())
    ((3, 16), True, 0.0)
    """

    def __init__(self, dim: int = 64, *, ngrams: int = 2, salt: str = "recoworld") -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
            raise ValueError(f"dim={dim!r} must be an integer >= 2")
        if ngrams not in (1, 2):
            raise ValueError(f"ngrams={ngrams!r} must be 1 or 2")
        if not isinstance(salt, str):
            raise ValueError(f"salt={salt!r} must be a str")
        self.dim = dim
        self.ngrams = ngrams
        self.salt = salt.encode()
        self._columns: dict[str, tuple[int, float]] = {}

    def _column(self, token: str) -> tuple[int, float]:
        found = self._columns.get(token)
        if found is None:
            digest = hashlib.blake2b(token.encode(), digest_size=8, key=self.salt[:64]).digest()
            value = int.from_bytes(digest, "little")
            found = (value % self.dim, 1.0 if (value >> 63) & 1 else -1.0)
            if len(self._columns) < 100_000:
                self._columns[token] = found
        return found

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise ValueError(
                "encode takes a sequence of texts, got a single str; wrap it in a list"
            )
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            if text is None:
                continue
            if not isinstance(text, str):
                raise ValueError(f"texts[{row}] must be a str, got {type(text).__name__}")
            tokens = words(text)
            if self.ngrams == 2:
                tokens = tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
            for token in tokens:
                column, sign = self._column(token)
                out[row, column] += sign
            norm = float(np.linalg.norm(out[row]))
            if norm > 0.0:
                out[row] /= norm
        # Guard the space bound against float32 rounding of a unit vector's entries.
        return np.clip(out, -1.0, 1.0, out=out)

    def __repr__(self) -> str:
        return f"HashingTextEncoder(dim={self.dim}, ngrams={self.ngrams})"


def check_text_encoder(encoder: object, name: str = "text_encoder") -> TextEncoder:
    """``encoder`` if it implements :class:`TextEncoder` with a positive ``dim``; else
    ``ValueError`` naming it."""
    if not isinstance(encoder, TextEncoder):
        raise ValueError(f"{name}={encoder!r} does not implement TextEncoder (dim, encode)")
    dim = encoder.dim
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"{name}.dim={dim!r} must be a positive integer")
    return encoder
