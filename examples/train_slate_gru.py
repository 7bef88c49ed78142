"""Train the Bayesian GRU slate recommender on FINN.no-format slate logs (CleanRL-style script).

    python examples/train_slate_gru.py --data synthetic --users 20000 --seed 0 --out runs/slate_gru
    python examples/train_slate_gru.py --data path/to/finn --users 100000 --out runs/finn_gru

Reads (or generates) the logs, holds out a seeded tenth of the users, trains
:class:`recoworld.agents.slate_gru.SlateGRU` by SVI with a progress bar per epoch, prints the
held-out hit rate and log-likelihoods after every epoch, and writes a checkpoint folder that the
``gru-greedy`` and ``gru-ts`` agents load::

    recoworld evaluate --env SlateRec-v0 --agent gru-ts --checkpoint runs/slate_gru

``recoworld train-slate-gru`` runs the same recipe
(:func:`recoworld.training.slate_gru.fit_slate_gru`).
"""

from __future__ import annotations

import argparse
import ast
import itertools
import time
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from recoworld.catalog.slates import split_users
from recoworld.training.slate_gru import (
    evaluate_slate_gru,
    save_slate_gru,
    slate_logs_for_training,
    train_slate_gru,
)


@dataclass
class Args:
    data: str = "synthetic"
    """``synthetic`` (logs generated from the synthetic slate world) or a FINN.no data folder."""
    users: int = 20_000
    """Synthetic users to generate, or users to keep from the folder's logs."""
    seed: int = 0
    """Seed of the synthetic users (or the subset), the split, the model and its training."""
    out: str = "runs/slate_gru"
    """Checkpoint folder to write (refused when it holds files, unless --overwrite)."""
    overwrite: bool = False
    """Replace an existing checkpoint folder at --out."""
    epochs: int = 1
    """Passes over the training users."""
    batch_size: int = 64
    """Users per minibatch."""
    dim: int = 16
    """Length of the item vectors and of the GRU state."""
    likelihood: str = "slate"
    """``slate`` (softmax over the shown items and no click) or ``all`` (over every item)."""
    learning_rate: float = 0.01
    """Adam's step size."""
    valid_fraction: float = 0.1
    """Share of the users held out for the hit rate and the log-likelihoods."""
    world_seed: int = 0
    """Seed of the synthetic world (SlateRec-v0's ``world_seed``)."""
    items: int = 3000
    """Items of the synthetic world (SlateRec-v0's ``n_items``)."""
    groups: int = 24
    """Item groups of the synthetic world (SlateRec-v0's ``n_groups``)."""


def field_docs(cls: type) -> dict[str, str]:
    """The one-line docstring under each field of the dataclass ``cls`` in this file."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    body = next(
        node.body
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__
    )
    docs = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
        ):
            docs[node.target.id] = str(following.value.value)
    return docs


def parse_args(argv: list[str] | None = None) -> Args:
    """``--kebab-case`` flags built from the fields of :class:`Args` (``--overwrite`` a
    switch)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    docs = field_docs(Args)
    for f in fields(Args):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        if str(f.type) == "bool":
            parser.add_argument(flag, action="store_true", help=docs.get(f.name, ""))
            continue
        kind: Any = {"int": int, "float": float, "str": str}[str(f.type)]
        parser.add_argument(
            flag, type=kind, default=default, help=f"{docs.get(f.name, '')} (default {default})"
        )
    return Args(**vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train, report, save; return the last epoch's history record."""
    args = parse_args(argv)

    # Every draw below comes from a generator seeded with args.seed (the library's functions
    # take the seed explicitly and leave the global random state alone).
    started = time.perf_counter()
    logs, world = slate_logs_for_training(
        args.data,
        args.users,
        seed=args.seed,
        world_seed=args.world_seed,
        n_items=args.items,
        n_groups=args.groups,
    )
    print(
        f"logs: {logs.n_users} users x {logs.n_steps} steps, slates of up to "
        f"{logs.max_slate - 1} items, {logs.n_items - 3} items ({logs.source}) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    train_users, valid_users = split_users(
        logs.n_users, valid_fraction=args.valid_fraction, seed=args.seed
    )

    def report(record: dict[str, float]) -> None:
        print(
            f"epoch {int(record['epoch'])}: loss {record['loss']:.4f}, held-out hit rate "
            f"{record['hit_rate']:.3f}, log-likelihood per interaction "
            f"{record['log_likelihood_slate']:.3f} (slate) / {record['log_likelihood_all']:.3f} "
            f"(all items), {record['seconds']:.0f} s"
        )

    model, history = train_slate_gru(
        logs,
        seed=args.seed,
        epochs=args.epochs,
        batch_size=args.batch_size,
        dim=args.dim,
        likelihood=args.likelihood,
        learning_rate=args.learning_rate,
        valid_users=valid_users,
        on_progress=report,
        progress=True,
    )
    final = evaluate_slate_gru(model, logs, valid_users)
    print(f"held-out users: {len(valid_users)}, trained on {len(train_users)}; {final}")

    folder = save_slate_gru(
        model, args.out, seed=args.seed, history=history, world=world, overwrite=args.overwrite
    )
    print(f"saved {folder} in {time.perf_counter() - started:.0f} s in all")
    return history[-1]


if __name__ == "__main__":
    main()
