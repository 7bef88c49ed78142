"""Public conformance checks for Gymnasium envs and agents, as PettingZoo ships its API tests.

The library's own test suite runs these over every registered env; third parties run them on
their own envs and agents:

* :func:`check_env_conformance`: Gymnasium's and Stable-Baselines3's ``check_env``, spaces built
  once, reproducible seeded resets, every sampled action legal, out-of-space actions refused
  with ``ValueError``, and ``action_space.contains`` agreeing with ``step`` on the same action in
  other types (a bool, a float, a 0-d array, a list).
* :func:`check_determinism`: two seeded rollouts with the same actions are identical.
* :func:`check_vector_equivalence`: a batched twin (``vector_entry_point``) with one user
  reproduces the single env step for step, and a larger batch keeps its spaces and autoreset.
* :func:`check_agent_legality`: an agent's actions are in the action space (and in the
  action mask, if it says it respects masks), its episodes end, and ``reset(seed=...)``
  makes it reproducible.
* :func:`check_registry`: the env checks over every registered id and constructor variant,
  collected into a :class:`RegistryReport`.

Every check raises :class:`ConformanceError` (an ``AssertionError``) whose message names the
env or agent, the check, and the first thing found wrong.

>>> import recoworld
>>> from recoworld.testing import check_determinism
>>> check_determinism("ConvRec-v0", seed=0, steps=5, n_items=200, n_users=10)
"""

from recoworld.testing.agents import check_agent_legality
from recoworld.testing.determinism import check_determinism, check_vector_equivalence
from recoworld.testing.env_checks import (
    DEFAULT_IGNORED_INFO_KEYS,
    action_type_variants,
    check_env_conformance,
    out_of_space_actions,
)
from recoworld.testing.errors import ConformanceError
from recoworld.testing.registry import CHECKS, CheckResult, RegistryReport, check_registry

__all__ = [
    "CHECKS",
    "DEFAULT_IGNORED_INFO_KEYS",
    "CheckResult",
    "ConformanceError",
    "RegistryReport",
    "action_type_variants",
    "check_agent_legality",
    "check_determinism",
    "check_env_conformance",
    "check_registry",
    "check_vector_equivalence",
    "out_of_space_actions",
]
