"""The env checks over a registry of env ids, collected into one report."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from recoworld.testing._compare import short_repr
from recoworld.testing.determinism import check_determinism, check_vector_equivalence
from recoworld.testing.env_checks import check_env_conformance, describe_env
from recoworld.testing.errors import ConformanceError

__all__ = ["CHECKS", "CheckResult", "RegistryReport", "check_registry"]

CHECKS: tuple[str, ...] = ("conformance", "determinism", "vector_equivalence")
"""The checks :func:`check_registry` runs for each env id and constructor variant (the last only
for ids with a ``vector_entry_point``)."""


@dataclass(frozen=True)
class CheckResult:
    """One check of one env variant."""

    env_id: str
    """The registered id."""

    env_kwargs: Mapping[str, Any]
    """The constructor arguments of the variant (empty: the defaults)."""

    check: str
    """One of :data:`CHECKS`."""

    passed: bool
    """Whether the check passed."""

    message: str = ""
    """Why it failed (``"TypeError: ..."`` for an error other than a failed check)."""

    seconds: float = 0.0
    """Wall-clock time of the check."""

    @property
    def variant(self) -> str:
        """``"ConvRec-v0(action_mode='ask_or_recommend')"``."""
        return describe_env(self.env_id, dict(self.env_kwargs))


@dataclass(frozen=True)
class RegistryReport:
    """The results of :func:`check_registry`, one per env variant and check."""

    results: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(result.passed for result in self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        """The failed checks, in the order they ran."""
        return tuple(result for result in self.results if not result.passed)

    @property
    def env_ids(self) -> tuple[str, ...]:
        """The env ids checked, in order, each once."""
        return tuple(dict.fromkeys(result.env_id for result in self.results))

    def raise_if_failed(self) -> None:
        """Raise :class:`ConformanceError` listing every failed check, if any failed."""
        if not self.passed:
            lines = [f"{len(self.failures)} of {len(self.results)} checks failed:"]
            lines += [f"- {r.variant} {r.check}: {r.message}" for r in self.failures]
            raise ConformanceError("\n".join(lines))

    def __str__(self) -> str:
        width = max((len(r.variant) for r in self.results), default=0)
        lines = [
            f"{r.variant:<{width}}  {r.check:<18}  {'ok' if r.passed else 'FAILED'}  "
            f"{r.seconds:6.2f}s" + ("" if r.passed else f"  {short_repr(r.message, 160)}")
            for r in self.results
        ]
        return "\n".join(lines)


def check_registry(
    env_ids: Iterable[str] | None = None,
    *,
    variants: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    seed: int = 0,
    steps: int = 20,
    num_envs: int = 4,
    skip_sb3: bool = False,
    raise_on_failure: bool = True,
    strict_contains: bool | None = None,
) -> RegistryReport:
    """Run the env checks over registered env ids and report every result.

    For each id, and each of its constructor variants (``variants[id]``, default one variant
    with the default arguments), runs :func:`check_env_conformance`,
    :func:`check_determinism` and, when the id's spec has a ``vector_entry_point``,
    :func:`check_vector_equivalence`, each with ``seed`` and ``steps``. A check that fails, or
    that raises any other error (a constructor rejecting the variant, say), is recorded and the
    rest still run.

    Args:
        env_ids: the ids to check (default: every id in :data:`recoworld.ENV_IDS`); works for
            any registered id, a third party's included.
        variants: constructor keyword arguments to check per id.
        seed: the seed of every check.
        steps: the step budget of every check (keep it small in test suites).
        num_envs: the batch size of the vector check.
        skip_sb3: leave out Stable-Baselines3's checker.
        raise_on_failure: raise :class:`ConformanceError` listing every failure at the end
            (default); False returns the report either way.
        strict_contains: passed to :func:`check_env_conformance`: also require that ``step``
            refuses, with ``ValueError`` and no change, what ``action_space.contains``
            refuses. The default, None, asks it of the library's own ids
            (:data:`recoworld.ENV_IDS`), which promise it, and not of others.

    Returns:
        A :class:`RegistryReport` (``print`` it for a table).

    Raises:
        ConformanceError: with ``raise_on_failure``, when a check failed.
        ValueError: ``variants`` names an id that is not checked.
    """
    import recoworld

    if env_ids is None:
        env_ids = recoworld.ENV_IDS
    env_ids = tuple(env_ids)
    variants = dict(variants or {})
    extra = sorted(set(variants) - set(env_ids))
    if extra:
        raise ValueError(f"variants are given for {extra}, which are not among the checked ids")
    results: list[CheckResult] = []
    for env_id in env_ids:
        for kwargs in variants.get(env_id) or ({},):
            kwargs = dict(kwargs)
            strict = env_id in recoworld.ENV_IDS if strict_contains is None else strict_contains
            for check, run in _checks(env_id, kwargs, seed, steps, num_envs, skip_sb3, strict):
                results.append(_run(env_id, kwargs, check, run))
    report = RegistryReport(tuple(results))
    if raise_on_failure:
        report.raise_if_failed()
    return report


def _checks(
    env_id: str,
    kwargs: dict[str, Any],
    seed: int,
    steps: int,
    num_envs: int,
    skip_sb3: bool,
    strict_contains: bool,
) -> list[tuple[str, Callable[[], None]]]:
    if env_id not in gym.registry:

        def missing() -> None:
            raise ConformanceError(f"{env_id} is not registered with Gymnasium")

        return [("conformance", missing)]
    checks: list[tuple[str, Callable[[], None]]] = [
        (
            "conformance",
            lambda: check_env_conformance(
                env_id,
                seed=seed,
                steps=steps,
                skip_sb3=skip_sb3,
                strict_contains=strict_contains,
                **kwargs,
            ),
        ),
        ("determinism", lambda: check_determinism(env_id, seed, steps, **kwargs)),
    ]
    if gym.spec(env_id).vector_entry_point is not None:
        checks.append(
            (
                "vector_equivalence",
                lambda: check_vector_equivalence(env_id, num_envs, seed, steps, **kwargs),
            )
        )
    return checks


def _run(env_id: str, kwargs: dict[str, Any], check: str, run: Callable[[], None]) -> CheckResult:
    start = time.perf_counter()
    try:
        run()
    except AssertionError as error:
        message = str(error) or type(error).__name__
        passed = False
    except Exception as error:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        message = f"{type(error).__name__}: {error} (at {frame.filename}:{frame.lineno})"
        passed = False
    else:
        message, passed = "", True
    return CheckResult(env_id, kwargs, check, passed, message, time.perf_counter() - start)
