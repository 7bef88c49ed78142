"""``recoworld demo --llm``: one short RecoWorld session with language on both sides.

The simulated user is RecoWorld-v0's LLM user (``user_model="llm"``, latent decisions, mindset
and instructions from the model); the recommender is the instruction-following LLM ranker. By
default both run on the embedded SmolLM2-135M-Instruct, offline; ``--llm`` with a litellm model
string runs them on any provider instead.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import gymnasium as gym
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from recoworld.llm.base import ChatModel, Usage
from recoworld.llm.factory import LOCAL, make_chat_model
from recoworld.llm.local import INSTALL_HINT, LocalModelUnavailable, embedded_model_path

DEMO_SEED = 28
"""Default seed of the session: its user gives a reflective instruction at turn 2, so by turn 3
the session has shown the instruction and the agent reading it (the latent user decides the
clicks, so this holds for any model). Chosen by playing seeds 0-39."""
DEMO_TURNS = 3
"""Default turns of the session: enough to show the instruction and the agent's reading of it,
few enough for the embedded model on a laptop CPU."""


def check_local_model() -> None:
    """Raise :class:`~recoworld.llm.LocalModelUnavailable` naming the install command when the
    embedded model's packages (``llm`` extra) are missing."""
    embedded_model_path()
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalModelUnavailable(
            f"llama-cpp-python is not installed; install the embedded model with: {INSTALL_HINT}"
        )


def run_llm_demo(
    console: Console,
    *,
    llm: str | ChatModel = LOCAL,
    turns: int = DEMO_TURNS,
    seed: int = DEMO_SEED,
    max_tokens: int = 40,
) -> dict[str, Any]:
    """Play up to ``turns`` turns and print them; returns the usage totals per side.

    A mindset the model's token budget (``max_tokens``) cut mid-sentence is shown up to its
    last whole sentence: the LLM user keeps only whole sentences
    (:func:`recoworld.simulators.answers.whole_sentences`).

    Raises :class:`~recoworld.llm.LocalModelUnavailable` (with the install command) when
    ``llm="local"`` and the ``llm`` extra is missing.
    """
    from recoworld.agents.llm_ranker import LLMRankerAgent

    if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
        raise ValueError(f"turns={turns!r} must be a positive integer")
    if llm == LOCAL:
        check_local_model()
    model = make_chat_model(llm)
    env = gym.make(
        "RecoWorld-v0",
        user_model="llm",
        llm={"model": model, "max_tokens": max_tokens},
    )
    agent = LLMRankerAgent(env, llm=model, seed=seed)  # one model for both sides, on purpose
    catalog = env.unwrapped.catalog  # type: ignore[attr-defined]
    obs, info = env.reset(seed=seed)
    agent.reset(seed=seed)
    name = getattr(model, "model_name", type(model).__name__)
    console.print(f"[bold]RecoWorld-v0, LLM user and LLM ranker on {name}[/], seed {seed}")
    console.print(f"User's mindset: [italic]{escape(info['mindset'])}[/]")
    user_usage = Usage()
    total_return = 0.0
    for turn in range(1, turns + 1):
        slate = agent.act(obs, info)
        step = agent.trace[-1]
        obs, reward, terminated, truncated, info = env.step(slate)
        total_return += float(reward)
        step_usage = Usage(**info["usage"])
        user_usage = user_usage + step_usage
        if step.new_instruction and step.reasoning:
            console.print(
                f"Agent reads the instruction: {escape(step.reasoning)} -> more of "
                f"{', '.join(step.more_of) or '-'}, less of {', '.join(step.less_of) or '-'}"
            )
        table = Table(title=f"Turn {turn}", show_edge=False, pad_edge=False)
        table.add_column("#", justify="right")
        table.add_column("item shown")
        table.add_column("clicked", justify="center")
        clicked = set(info["clicks"].tolist())
        for position, item in enumerate(info["slate"], start=1):
            title = catalog.descriptions[item] if item >= 0 else "(empty slot)"
            table.add_row(str(position), title, "yes" if item in clicked else "")
        console.print(table)
        console.print(
            f"clicks {len(clicked)}, watched {info['watch_time']:.1f} min, reward {reward:.2f}"
        )
        console.print(f"User's mindset: [italic]{escape(info['mindset'])}[/]")
        if info["instruction"]:
            console.print(
                f"[bold yellow]User says:[/] {escape(str(info['instruction']))} "
                f"(voiced by {info['instruction_voiced_by']})"
            )
        console.print(
            f"usage this turn: user {_usage_text(step_usage)}; agent {_usage_text(step.usage)}"
        )
        if terminated or truncated:
            console.print("The user left." if terminated else "The session hit its turn cap.")
            break
    console.print(
        f"[bold]Totals[/] over {turn} turns: return {total_return:.2f}; "
        f"user {_usage_text(user_usage)}; agent {_usage_text(agent.usage)}"
    )
    env.close()
    return {"turns": turn, "return": total_return, "user": user_usage, "agent": agent.usage}


def _usage_text(usage: Usage) -> str:
    text = (
        f"{usage.calls} calls, {usage.prompt_tokens}+{usage.completion_tokens} tokens, "
        f"{usage.latency_s:.1f} s"
    )
    if usage.cache_hits:
        text += f", {usage.cache_hits} cache hits"
    if usage.cost_usd:
        text += f", ${usage.cost_usd:.4f}"
    return text
