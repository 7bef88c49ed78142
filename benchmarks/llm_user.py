"""What the LLM user costs and what its words are worth, on the embedded model.

    python benchmarks/llm_user.py [--steps 20] [--users 1 4 8] [--voice-episodes 30]
                                  [--seed 0] [--json FILE] [--no-server]

Four measurements, all offline on SmolLM2-135M-Instruct (the ``llm`` extra):

1. Model calls and tokens per env step of ``RecoWorld-v0`` with ``user_model="llm"``, for the
   decision modes "latent" (the model writes the mindset and the instructions) and "llm" (it
   also decides clicks and leaving through structured output).
2. Env steps per second with the in-process model, with the response cache cold (every call
   generates) and warm (the same seeded run replayed from the cache).
3. Simulated users sustained concurrently on the async path: the batched env with ``N`` LLM
   users whose calls go through litellm to ``recoworld llm serve`` (llama-cpp-python's
   OpenAI-compatible server on 127.0.0.1), against the same users on the in-process model.
   Reported: user-turns per second, mean call latency and failed turns, per ``N``.
4. How much information LLM-voiced instructions carry compared with template ones: the gain in
   return of an agent that reads the instruction *text* (``text-instruction-greedy``) over the
   same agent blind to it (``greedy``), with the template voice and with the embedded model's
   voice (paired seeds, 95% intervals), plus how often the model's sentence passed the check.

Prints a table per part and writes everything as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import gymnasium as gym
import numpy as np

import recoworld  # noqa: F401
from recoworld.evaluation.files import check_output_option
from recoworld.llm import LocalChatModel, ResponseCache


def greedy_rollout(env: gym.Env, seed: int, steps: int) -> list[dict]:
    """``steps`` env steps (resetting as episodes end) with a fixed rotation of slates."""
    infos = []
    env.reset(seed=seed)
    episode = 0
    for step in range(steps):
        _, _, terminated, truncated, info = env.step(np.arange(10) + 10 * (step % 9))
        infos.append(info)
        if terminated or truncated:
            episode += 1
            env.reset(seed=seed + episode)
    return infos


def part_calls_per_step(args: argparse.Namespace) -> dict:
    print("\n1. Model calls and tokens per env step (RecoWorld-v0, user_model='llm', local)")
    print(f"{'decision mode':<14} {'steps':>6} {'calls/step':>11} {'prompt tok/step':>16} "
          f"{'completion tok/step':>20} {'s/step':>8} {'failed turns':>13}")  # fmt: skip
    results = {}
    for mode in ("latent", "llm"):
        env = gym.make(
            "RecoWorld-v0",
            user_model="llm",
            llm={
                "model": LocalChatModel(),
                "on_error": "fallback",  # a malformed answer is a counted failed turn
                "max_tokens": 64 if mode == "latent" else 96,
            },
            decision_mode=mode,
        )
        start = time.perf_counter()
        infos = greedy_rollout(env, args.seed, args.steps)
        wall = time.perf_counter() - start
        usage = {k: sum(i["usage"][k] for i in infos) for k in infos[0]["usage"]}
        failed = sum(bool(i["llm_failed"]) for i in infos)
        row = {
            "steps": len(infos),
            "calls_per_step": usage["calls"] / len(infos),
            "prompt_tokens_per_step": usage["prompt_tokens"] / len(infos),
            "completion_tokens_per_step": usage["completion_tokens"] / len(infos),
            "seconds_per_step": wall / len(infos),
            "failed_turns": failed,
        }
        results[mode] = row
        print(f"{mode:<14} {row['steps']:>6} {row['calls_per_step']:>11.2f} "
              f"{row['prompt_tokens_per_step']:>16.1f} {row['completion_tokens_per_step']:>20.1f} "
              f"{row['seconds_per_step']:>8.2f} {failed:>13}")  # fmt: skip
    return results


def part_cache(args: argparse.Namespace) -> dict:
    print("\n2. Env steps/s with the embedded model, response cache cold and warm")
    with tempfile.TemporaryDirectory() as folder:
        cache = ResponseCache(Path(folder) / "cache.sqlite")
        runs = {}
        for label in ("cold", "warm"):
            env = gym.make(
                "RecoWorld-v0", user_model="llm", llm={"model": LocalChatModel(), "cache": cache}
            )
            start = time.perf_counter()
            infos = greedy_rollout(env, args.seed, args.steps)
            wall = time.perf_counter() - start
            runs[label] = {
                "steps": len(infos),
                "steps_per_s": len(infos) / wall,
                "calls": sum(i["usage"]["calls"] for i in infos),
                "cache_hits": sum(i["usage"]["cache_hits"] for i in infos),
                "mindsets": [i["mindset"] for i in infos],
            }
        cache.close()
    same = runs["cold"]["mindsets"] == runs["warm"]["mindsets"]
    print(f"{'cache':<6} {'steps':>6} {'steps/s':>10} {'model calls':>12} {'cache hits':>11}")
    for label, row in runs.items():
        print(f"{label:<6} {row['steps']:>6} {row['steps_per_s']:>10.2f} {row['calls']:>12} "
              f"{row['cache_hits']:>11}")  # fmt: skip
    print(f"warm replay identical to the cold run: {same}; "
          f"speed-up x{runs['warm']['steps_per_s'] / runs['cold']['steps_per_s']:.0f}")  # fmt: skip
    for row in runs.values():
        del row["mindsets"]
    return {"runs": runs, "replay_identical": same}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the model server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"the model server did not answer at {url} within {timeout_s} s")


def _population_turns(envs, steps: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    envs.reset(seed=seed)
    turns = failed = 0
    calls = 0
    latency = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        actions = np.stack([rng.permutation(100)[:10] for _ in range(envs.num_envs)])
        _, _, _, _, infos = envs.step(actions)
        turns += envs.num_envs
        failed += int(infos["llm_failed"].sum())
        calls += infos["usage"]["calls"]
        latency += infos["usage"]["latency_s"]
    wall = time.perf_counter() - start
    return {
        "user_turns_per_s": turns / wall,
        "mean_call_latency_s": latency / max(calls, 1),
        "calls": calls,
        "failed_turns": failed,
        "wall_s": wall,
    }


def part_concurrency(args: argparse.Namespace) -> dict:
    print("\n3. Simulated users sustained concurrently (batched env, async path)")
    from recoworld.llm import LiteLLMChatModel
    from recoworld.llm.server import server_command

    llm = {"max_tokens": args.population_tokens, "on_error": "fallback"}
    results: dict[str, dict] = {"in_process": {}, "server": {}}
    for n in args.users:
        envs = gym.make_vec(
            "RecoWorld-v0", num_envs=n, vectorization_mode="vector_entry_point",
            user_model="llm", llm={**llm, "model": LocalChatModel()}, instruction_max_tokens=24,
        )  # fmt: skip
        results["in_process"][n] = _population_turns(envs, args.population_steps, args.seed)
        envs.close()
    if not args.no_server:
        # The OpenAI client insists on a key; the local server ignores it. A real key already in
        # the environment is left as it is (and never printed).
        os.environ.setdefault("OPENAI_API_KEY", "sk-local-server-needs-no-key")
        port = _free_port()
        process = subprocess.Popen(
            server_command(port=port, alias="smollm2"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(f"http://127.0.0.1:{port}/v1/models", process)
            for n in args.users:
                model = LiteLLMChatModel(
                    "openai/smollm2",
                    api_base=f"http://127.0.0.1:{port}/v1",
                    max_concurrency=n,
                    timeout=300.0,
                )
                envs = gym.make_vec(
                    "RecoWorld-v0", num_envs=n, vectorization_mode="vector_entry_point",
                    user_model="llm", llm={**llm, "model": model}, instruction_max_tokens=24,
                )  # fmt: skip
                results["server"][n] = _population_turns(envs, args.population_steps, args.seed)
                envs.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"{'backend':<34} {'users':>6} {'user-turns/s':>13} {'mean call latency s':>20} "
          f"{'calls':>6} {'failed turns':>13}")  # fmt: skip
    labels = {
        "in_process": "in process (llama-cpp-python)",
        "server": "litellm -> recoworld llm serve",
    }
    for backend, rows in results.items():
        for n, row in rows.items():
            print(f"{labels[backend]:<34} {n:>6} {row['user_turns_per_s']:>13.2f} "
                  f"{row['mean_call_latency_s']:>20.2f} {row['calls']:>6} "
                  f"{row['failed_turns']:>13}")  # fmt: skip
    return results


def part_voice_information(args: argparse.Namespace) -> dict:
    print("\n4. Information in LLM-voiced vs template instructions (text-reading agent's gain)")
    from recoworld.evaluation import compare, mean_ci95
    from recoworld.simulators import LLMVoice

    results = {}
    voices = {"template": lambda: None, "embedded LLM": lambda: LLMVoice(LocalChatModel())}
    print(f"{'voice':<14} {'text-instruction-greedy':>24} {'greedy':>18} "
          f"{'paired gain [95% CI]':>26} {'LLM sentences used':>19}")  # fmt: skip
    for label, make_voice in voices.items():
        voice = make_voice()
        reports = compare(
            ["text-instruction-greedy", "greedy"],
            "RecoWorld-v0",
            episodes=args.voice_episodes,
            seed=args.seed,
            voice=voice,
        )
        reader, blind = reports.values()
        gain = reader.per_episode["return"] - blind.per_episode["return"]
        mean, low, high = mean_ci95(gain)
        used = None
        if voice is not None and voice.renders:
            used = 1.0 - (voice.fallbacks + voice.failures) / voice.renders
        results[label] = {
            "text_reader_return": float(np.mean(reader.per_episode["return"])),
            "greedy_return": float(np.mean(blind.per_episode["return"])),
            "gain": mean,
            "gain_ci95": [low, high],
            "llm_sentence_pass_rate": used,
            "renders": getattr(voice, "renders", None),
        }
        used_text = "-" if used is None else f"{used:.0%} of {voice.renders}"
        print(f"{label:<14} {results[label]['text_reader_return']:>24.2f} "
              f"{results[label]['greedy_return']:>18.2f} "
              f"{mean:>+9.2f} [{low:+.2f}, {high:+.2f}] {used_text:>19}")  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="env steps for parts 1 and 2")
    parser.add_argument("--users", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--population-steps", type=int, default=2)
    parser.add_argument("--population-tokens", type=int, default=24)
    parser.add_argument("--voice-episodes", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-server", action="store_true", help="skip the HTTP server runs")
    parser.add_argument(
        "--parts", type=int, nargs="+", default=[1, 2, 3, 4], help="which parts to run"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    check_output_option(parser, "--json", args.json, overwrite=True)

    parts = {
        1: ("calls_per_step", part_calls_per_step),
        2: ("cache", part_cache),
        3: ("concurrency", part_concurrency),
        4: ("voice_information", part_voice_information),
    }
    results: dict = {"settings": {k: v for k, v in vars(args).items() if k != "json"}}
    for number in args.parts:
        key, run = parts[number]
        results[key] = run(args)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
