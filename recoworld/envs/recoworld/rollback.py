"""A step that raises leaves the env as it was: the checkpoint, try and restore of the single and
the vector RecoWorld env.

A language-model call may raise (``on_llm_error="raise"``, a spent cost cap) after the latent
step has run. The env is then put back as it was, generators included, so the same action can
be retried as if the failed step had never been taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

if TYPE_CHECKING:
    from recoworld.envs.recoworld.core import RecoWorldCore
    from recoworld.envs.recoworld.llm_users import LLMUserBatch

__all__ = ["RollbackEnv", "step_or_roll_back"]

T = TypeVar("T")


class RollbackEnv(Protocol):
    """What :func:`step_or_roll_back` needs of an env: the engine, the env's generator, the LLM
    users (or None), and a checkpoint and restore of the env's own step state."""

    core: RecoWorldCore
    llm_users: LLMUserBatch | None

    @property
    def np_random(self) -> np.random.Generator: ...

    def _own_checkpoint(self) -> Any:
        """A copy of what the env's step changes beyond the engine, generator and users."""
        ...

    def _restore_own(self, saved: Any) -> None:
        """Put back what :meth:`_own_checkpoint` saved."""
        ...


def step_or_roll_back(env: RollbackEnv, step: Callable[[], T]) -> T:
    """``step()``; when it raises, the engine, ``env.np_random``, the LLM users and the env's
    own state are put back as they were before it, and the error propagates."""
    users = env.llm_users
    saved = (
        env.core.checkpoint(),
        env.np_random.bit_generator.state,
        users.checkpoint() if users is not None else None,
        env._own_checkpoint(),
    )
    try:
        return step()
    except BaseException:
        core, state, users_saved, own = saved
        env.core.restore(core)
        env.np_random.bit_generator.state = state
        if users is not None and users_saved is not None:
            users.restore(users_saved)
        env._restore_own(own)
        raise
