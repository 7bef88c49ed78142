"""RecoWorld-v0 on users fitted to MovieLens 100K: agents against fitted users, and how those users
compare with the real ones beyond a single choice.

    python benchmarks/fitted_world.py [--data ../shared/data/ml-100k]
        [--agents random,popular,greedy] [--users N] [--episodes 200] [--seed 0] [--json FILE]

What it does (all seeded by ``--seed``):

1. fits the world (:func:`recoworld.fidelity.world.fit_world`) to ``ratings_train.tsv``: the
   latent-fitted simulator's catalog and choice weights, one user per real user (interests,
   boredom and familiarity from their history, their rated movies consumed, patience by their
   activity rank; the no-click utility calibrated to the log's activity);
2. each user held out of the calibration plays one session of ``RecoWorld-v0`` with each agent
   (:func:`~recoworld.fidelity.world.world_fidelity`; ``--users`` of them, default all), and
   their clicks per session are compared with the same users' rating counts (two-sample KS, raw
   and divided by the mean), and the share of clicks on the top 10% movies with theirs;
3. evaluates the agents on the fitted world with the library's runner
   (:func:`recoworld.evaluation.evaluate`, ``--episodes`` multi-session episodes: engagement and
   retention metrics with 95% intervals), the same call a researcher makes with
   ``world=`` to train or test an agent against fitted users;
4. prints the tables and writes everything as JSON.

Exits with code 2 and one line when the data folder is absent.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

from rich.console import Console

from recoworld.agents import agent_names
from recoworld.evaluation import comparison_table, evaluate
from recoworld.evaluation.files import check_output_option
from recoworld.fidelity import fit_world, load_scene_data, world_fidelity

CONFIG_FIELDS = (
    "affinity_scale", "quality_weight", "boredom_weight", "novelty_weight", "no_click_utility",
    "n_interests",
)  # fmt: skip
DATA_FILES = ("ratings_train.tsv", "ratings_valid.tsv", "u.item", "u.user", "u.genre")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/ml-100k")
    parser.add_argument("--agents", default="random,popular,greedy")
    parser.add_argument(
        "--users", type=int, default=None, help="held-out users compared (default: all)"
    )
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    check_output_option(parser, "--json", args.json, overwrite=True)
    folder = Path(args.data)
    missing = [name for name in (*DATA_FILES, "u.occupation") if not (folder / name).is_file()]
    if missing:
        what = "does not exist" if not folder.is_dir() else f"lacks {', '.join(missing)}"
        print(
            f"error: the MovieLens 100K data folder {folder} {what}; it is not shipped with "
            "recoworld: pass --data PATH",
            file=sys.stderr,
        )
        raise SystemExit(2)
    agents = [name.strip() for name in args.agents.split(",") if name.strip()]
    unknown = [name for name in agents if name not in agent_names("RecoWorld-v0")]
    if not agents or unknown:
        print(
            f"error: --agents {args.agents!r}: choose from "
            f"{', '.join(agent_names('RecoWorld-v0'))}",
            file=sys.stderr,
        )
        raise SystemExit(2)

    console = Console()
    start = time.perf_counter()
    data = load_scene_data("movielens", folder, seed=args.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        world = fit_world(data.train, data.catalog, seed=args.seed)
    fit_seconds = time.perf_counter() - start
    for warning in caught:
        console.print(f"[yellow]warning:[/yellow] {warning.message}")
    config = world.user_config
    console.print(
        f"Fitted {world.population.n_users} users on {world.catalog.n_items} items in "
        f"{fit_seconds:.1f} s: affinity_scale {config.affinity_scale:.3g}, quality_weight "
        f"{config.quality_weight:.3g}, boredom_weight {config.boredom_weight:.3g}, "
        f"novelty_weight {config.novelty_weight:.3g}; no_click_utility calibrated to "
        f"{config.no_click_utility:.3g} (activity KS {world.calibration['ks_activity']:.3f} "
        f"on {len(world.calibration['users'])} calibration users' random-slate sessions)"
    )

    start = time.perf_counter()
    fidelity = world_fidelity(world, data.train, agents=agents, users=args.users, seed=args.seed)
    fidelity_seconds = time.perf_counter() - start
    console.print(fidelity.table())
    console.print(f"({fidelity_seconds:.1f} s)")

    start = time.perf_counter()
    reports = {
        name: evaluate(name, "RecoWorld-v0", args.episodes, args.seed, world=world,
                       multi_session=True)
        for name in agents
    }  # fmt: skip
    evaluate_seconds = time.perf_counter() - start
    console.print(comparison_table(reports, title="Agents on the fitted ml-100k world"))
    console.print(f"({evaluate_seconds:.1f} s)")

    if args.json is not None:
        payload = {
            "data": str(folder),
            "seed": args.seed,
            "fit_seconds": fit_seconds,
            "user_config": {name: getattr(config, name) for name in CONFIG_FIELDS},
            "calibration": world.calibration,
            "world_fidelity": fidelity.to_dict(),
            "world_fidelity_seconds": fidelity_seconds,
            "evaluation": {name: report.to_dict() for name, report in reports.items()},
            "evaluation_seconds": evaluate_seconds,
            "python": platform.python_version(),
            "machine": platform.machine(),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        console.print(f"Wrote {args.json}")


if __name__ == "__main__":
    main()
