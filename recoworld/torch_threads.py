"""Run torch work with a given number of intra-op threads, restoring the caller's setting.

The library's torch models are small (SCPR's Q-network and FM, the sequential scene model):
torch's intra-op threads cannot speed them up, and on busy cores they slow them down badly
because the threads wait for each other (on two busy cores a 200-turn SCPR DQN run took 26 s
with two threads and 2.7 s with one). Their training and scoring therefore run with one thread
by default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["torch_threads"]


@contextmanager
def torch_threads(threads: int = 1) -> Iterator[None]:
    """Run the block (or, as ``@torch_threads()``, the function) with
    ``torch.set_num_threads(threads)``, restoring the previous thread count afterwards.

    Torch's thread count is a setting of the whole process, not of the calling thread, and
    this is not thread-safe: while the block runs, torch work in every other thread of the
    process runs with this count too, and a count that another thread sets in between is
    overwritten with the one read on entry when the block exits. Use it where the model has
    the process to itself (training, evaluation), not beside other torch work in other threads.
    """
    import torch

    previous = torch.get_num_threads()
    if previous == threads:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
