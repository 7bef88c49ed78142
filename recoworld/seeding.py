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

import numpy as np

__all__ = ["spawn_rng"]


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
