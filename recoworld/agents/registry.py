"""Agents by name, per environment id: one registry for every env the library (or you) registers.

An agent name means something only for an env (``random`` ranks slates in ``RecoWorld-v0`` and
asks attributes in ``ConvRec-v0``), so names are registered per env id::

    register_agent("MyEnv-v0", "my-agent", lambda env, seed, options: MyAgent(env, seed=seed))
    agent = make_agent("my-agent", gym.make("MyEnv-v0"), seed=0)

A factory is called with the (possibly wrapped) env it will act in, a seed and the agent's
options (a dict; ``{}`` when none are given). ``options`` names the keyword options the agent
takes (e.g. ``checkpoint``). ``prepare`` is for agents that fix some of the env's settings (a
saved policy needs the action type it was trained with; SCPR recommends with its own scorer):
called with the options, the user's env keyword arguments and the seed *before* the env is made,
it returns the env keyword arguments to add and the options to pass on (a checkpoint loaded once,
say), so :func:`make_env_and_agent` and the evaluation runner build the env the agent needs
instead of patching a live one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from recoworld.agents.base import Agent

__all__ = [
    "AgentEntry",
    "AgentFactory",
    "agent_entry",
    "agent_names",
    "entry_class",
    "env_id_of",
    "family_id",
    "make_agent",
    "make_env_and_agent",
    "register_agent",
    "registered_env_ids",
]

AgentFactory = Callable[[gym.Env, int | None, Mapping[str, Any]], Agent]
"""``(env, seed, options) -> Agent``."""

Prepare = Callable[
    [dict[str, Any], Mapping[str, Any], int | None], tuple[Mapping[str, Any], Mapping[str, Any]]
]
"""``(options, env_kwargs, seed) -> (env keyword arguments to add, options for the factory)``."""


@dataclass(frozen=True)
class AgentEntry:
    """One registered agent: its env id, name, factory and what it accepts."""

    env_id: str
    name: str
    factory: AgentFactory
    description: str = ""
    options: tuple[str, ...] = ()
    """Keyword options the factory reads (any other option is refused by name)."""
    required: tuple[str, ...] = ()
    """Options that must be given."""
    prepare: Prepare | None = None
    """Env keyword arguments this agent needs and the options its factory gets (see above)."""
    extras: tuple[str, ...] = field(default=())
    """Optional dependency groups (pip extras) the agent needs, e.g. ``("train",)``."""

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """``options`` as a dict, or ``ValueError`` naming an unknown or a missing option."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            accepted = f"it takes {list(self.options)}" if self.options else "it takes none"
            raise ValueError(
                f"agent {self.name!r} on {self.env_id} has no option {unknown[0]!r}; {accepted}"
            )
        missing = [name for name in self.required if options.get(name) is None]
        if missing:
            raise ValueError(
                f"agent {self.name!r} on {self.env_id} needs the option {missing[0]!r}"
            )
        return dict(options)

    def prepare_env(
        self, options: Mapping[str, Any], env_kwargs: Mapping[str, Any], seed: int | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The env keyword arguments (the user's plus what this agent needs) and the options for
        the factory; an env setting the user gave differently is an error naming it."""
        checked = self.check_options(options)
        merged = dict(env_kwargs)
        if self.prepare is None:
            return merged, checked
        extra_env, extra_options = self.prepare(checked, env_kwargs, seed)
        for key, value in extra_env.items():
            if key in env_kwargs and not _same(env_kwargs[key], value):
                raise ValueError(
                    f"agent {self.name!r} needs the env setting {key}={value!r}, but "
                    f"{key}={env_kwargs[key]!r} was given"
                )
            merged[key] = value
        return merged, {**checked, **extra_options}

    def build(self, env: gym.Env, seed: int | None, options: Mapping[str, Any]) -> Agent:
        """Call the factory; check that it returned an :class:`~recoworld.agents.Agent`."""
        agent = self.factory(env, seed, self.check_options(options))
        if not isinstance(agent, Agent):
            raise ValueError(
                f"the factory of agent {self.name!r} on {self.env_id} returned {agent!r}, which "
                "lacks the Agent protocol (name, reset(seed=), act(observation, info))"
            )
        return agent


_REGISTRY: dict[str, dict[str, AgentEntry]] = {}


def register_agent(
    env_id: str,
    name: str,
    factory: AgentFactory,
    *,
    description: str = "",
    options: tuple[str, ...] = (),
    required: tuple[str, ...] = (),
    prepare: Prepare | None = None,
    extras: tuple[str, ...] = (),
    overwrite: bool = False,
) -> AgentEntry:
    """Register ``factory`` as the agent ``name`` of env ``env_id``; return the entry.

    Raises:
        ValueError: ``name`` is already registered for ``env_id`` (unless ``overwrite``), a
            required option is not among ``options``, or an argument has the wrong type.
    """
    for label, text in (("env_id", env_id), ("name", name)):
        if not isinstance(text, str) or not text:
            raise ValueError(f"{label}={text!r} must be a non-empty string")
    if not callable(factory):
        raise ValueError(f"factory={factory!r} must be callable (env, seed, options) -> Agent")
    if not set(required) <= set(options):
        raise ValueError(f"required={required!r} must be among options={options!r}")
    agents = _REGISTRY.setdefault(env_id, {})
    if name in agents and not overwrite:
        raise ValueError(f"agent {name!r} is already registered for {env_id}; pass overwrite=True")
    entry = AgentEntry(
        env_id, name, factory, description, tuple(options), tuple(required), prepare, extras
    )
    agents[name] = entry
    return entry


def registered_env_ids() -> list[str]:
    """Env ids that have at least one registered agent."""
    return sorted(_REGISTRY)


def entry_class(env_id: str) -> type | None:
    """The env class a registered Gymnasium id makes (its entry point), or None when the id is
    unknown or its entry point is a function."""
    spec = gym.registry.get(env_id)
    if spec is None:
        return None
    entry_point: Any = spec.entry_point
    if isinstance(entry_point, str):
        try:
            entry_point = gym.envs.registration.load_env_creator(entry_point)
        except (ImportError, AttributeError, ValueError):
            return None
    return entry_point if isinstance(entry_point, type) else None


def family_id(env_id: str, known: Iterable[str]) -> str:
    """``env_id`` if it is among ``known``; else the first of ``known`` whose env class is a base
    class of ``env_id``'s (a subclass of ``RecoWorldEnv`` registered under its own id gets the
    ``RecoWorld-v0`` agents and metrics); else ``env_id``."""
    known = list(known)
    if env_id in known:
        return env_id
    cls = entry_class(env_id)
    if cls is not None:
        for candidate in known:
            base = entry_class(candidate)
            if base is not None and issubclass(cls, base):
                return candidate
    return env_id


def agent_names(env_id: str) -> list[str]:
    """Names of the agents registered for ``env_id`` or its family (in registration order; []
    for none)."""
    return list(_REGISTRY.get(family_id(env_id, _REGISTRY), {}))


def agent_entry(env_id: str, name: str) -> AgentEntry:
    """The entry of agent ``name`` for ``env_id`` (or the family it belongs to, see
    :func:`family_id`); ``ValueError`` listing the names if none."""
    agents = _REGISTRY.get(family_id(env_id, _REGISTRY), {})
    if name not in agents:
        known = ", ".join(agents) if agents else "none are registered"
        raise ValueError(f"unknown agent {name!r} for {env_id}; choose one of: {known}")
    return agents[name]


def env_id_of(env: gym.Env | Any) -> str:
    """The registered id of ``env``: its ``spec.id``, else the id whose entry point is the
    class of ``env.unwrapped`` (for an env constructed directly)."""
    spec = getattr(env, "spec", None)
    if spec is not None and getattr(spec, "id", None):
        return str(spec.id)
    unwrapped = getattr(env, "unwrapped", env)
    cls = type(unwrapped)
    target = f"{cls.__module__}:{cls.__name__}"
    for env_id, registered in gym.registry.items():
        entry_point = registered.entry_point
        if entry_point == target or entry_point is cls:
            return env_id
    raise ValueError(
        f"cannot tell the env id of {env!r}: it has no spec and its class {target} is not a "
        "registered entry point; make it with gym.make or pass env_id"
    )


def make_agent(
    name: str,
    env: gym.Env | Any,
    seed: int | None = None,
    *,
    env_id: str | None = None,
    **options: Any,
) -> Agent:
    """Build the agent registered as ``name`` for ``env``'s id (or ``env_id``).

    ``options`` are the agent's keyword options (e.g. ``checkpoint=``); an option the agent does
    not take is refused by name. The env is used as it is: an agent that needs particular env
    settings (its ``prepare``, see :func:`make_env_and_agent`) checks that ``env`` has them and
    says how to make one if not.
    """
    return agent_entry(env_id or env_id_of(env), name).build(env, seed, options)


def make_env_and_agent(
    env_id: str,
    agent: str,
    seed: int | None = None,
    *,
    agent_options: Mapping[str, Any] | None = None,
    **env_kwargs: Any,
) -> tuple[gym.Env, Agent]:
    """``gym.make(env_id, **env_kwargs)`` with the settings agent ``agent`` needs, and the agent.

    This is the way to build an agent whose registration has ``prepare`` (a saved SB3 policy, a
    SCPR checkpoint): the env is made for it. The caller closes the env.
    """
    entry = agent_entry(env_id, agent)
    kwargs, options = entry.prepare_env(dict(agent_options or {}), env_kwargs, seed)
    env = gym.make(env_id, **kwargs)
    try:
        return env, entry.build(env, seed, options)
    except BaseException:
        env.close()
        raise


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays and other values without a plain truth value
        return a is b
