"""One torch thread for SCPR's small networks.

SCPR's tensors are small: a Q-network of two 64-wide layers on batches of 64, an FM scoring a
few thousand items. Torch's intra-op threads cannot speed these up, and on a machine whose
cores are busy with other work they slow them down badly, since the threads wait for each
other: on two busy cores, a 200-turn DQN run took 26 s with torch's default two threads and
2.7 s with one, and an FM epoch on LastFM* 7-22 s against 1.1-2.7 s. Training and scoring
therefore run with one thread, and the caller's setting is restored afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from recoworld.torch_threads import torch_threads

__all__ = ["one_torch_thread"]


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block (or, as ``@one_torch_thread()``, the function) with one torch thread:
    :func:`recoworld.torch_threads.torch_threads` with 1 (a process-wide setting, restored on
    exit; not for use beside other torch work in other threads)."""
    with torch_threads(1):
        yield
