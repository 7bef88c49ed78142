"""Child random generators: the library's one way to split a seeded stream.

Components that draw on their own (an instruction voice, each LLM user of a batch, a persona
sampler) get a child generator spawned from their owner's generator instead of sharing its
stream, so a component that draws more or fewer numbers never shifts anyone else's draws.
Spawning draws nothing from the parent's stream: it advances only the parent's seed-sequence
spawn counter, so the n-th child of a generator seeded with ``s`` is always the same.

>>> import numpy as np
>>> a, b = spawn_rng(np.random.default_rng(7), 2)
>>> int(a.integers(100)) == int(spawn_rng(np.random.default_rng(7))[0].integers(100))
True
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["spawn_rng", "tagged_rng"]


def spawn_rng(rng: np.random.Generator, n: int = 1) -> list[np.random.Generator]:
    """``n`` independent child generators of ``rng`` (its seed sequence's next ``n`` children).

    Raises:
        ValueError: ``rng`` is not a ``numpy.random.Generator`` or ``n`` is not an integer >= 0.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng={rng!r} must be a numpy.random.Generator")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n={n!r} must be an integer >= 0")
    return rng.spawn(int(n))


def tagged_rng(seed: int, tag: str) -> np.random.Generator:
    """A generator of its own for the component named ``tag`` under ``seed``.

    An agent reset with the episode's seed, or logs generated with a run's seed, must not replay
    the stream the env's users draw from ``default_rng(seed)``: this generator is seeded with the
    entropy ``[seed, crc32(tag)]``, so two tags (and the untagged stream) never coincide.

    >>> a, b = tagged_rng(3, "random-agent"), np.random.default_rng(3)
    >>> bool(a.random() != b.random())
    True

    Raises:
        ValueError: ``seed`` is not an integer >= 0 or ``tag`` is not a non-empty string.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed={seed!r} must be an integer >= 0")
    if not isinstance(tag, str) or not tag:
        raise ValueError(f"tag={tag!r} must be a non-empty string")
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(tag.encode())]))
