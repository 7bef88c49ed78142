"""Training, offline metrics and checkpoints of the Bayesian GRU slate recommender
(:class:`recoworld.agents.slate_gru.SlateGRU`) on FINN.no-format slate logs.

:func:`train_slate_gru` runs SVI over minibatches of users read straight from the logs' arrays
(memory-mapped ones are read one minibatch of user rows at a time); :func:`evaluate_slate_gru`
computes the paper's offline metrics on held-out users; :func:`save_slate_gru` and
:func:`load_slate_gru` write and read a checkpoint folder (``slate_gru.json`` with the sizes,
prior, seed, training history and the logs it was trained on, and ``model.pt``, the tensors,
read back with ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from recoworld.agents.slate_gru import LIKELIHOODS, SlateGRU, SlateGRUConfig
from recoworld.catalog.slate_world import FIRST_ITEM, PAD_ITEM
from recoworld.catalog.slates import SlateLogs
from recoworld.folders import check_replaceable, replace_folder, staging_folder
from recoworld.torch_threads import torch_threads
from recoworld.validation import check_choice, check_int, check_number, check_seed

__all__ = [
    "CHECKPOINT_FILE",
    "CHECKPOINT_FORMAT",
    "EVAL_SCORES",
    "MODEL_FILE",
    "describe_logs",
    "evaluate_slate_gru",
    "fit_slate_gru",
    "load_slate_gru",
    "load_slate_gru_metadata",
    "save_slate_gru",
    "slate_logs_for_training",
    "train_slate_gru",
]

CHECKPOINT_FILE = "slate_gru.json"
"""The metadata file of a checkpoint folder (also the marker that the folder is one)."""
MODEL_FILE = "model.pt"
"""The tensors of a checkpoint folder."""
CHECKPOINT_FORMAT = "recoworld.SlateGRU/1"

EVAL_SCORES = 1 << 25
"""Scores (about 128 MiB of float32) :func:`evaluate_slate_gru` computes at a time by default."""
_COUNT_CHUNK = 65_536
"""Users per chunk when a pass over the logs counts interactions."""


# ----------------------------------------------------------------------------- minibatches


def _batch(logs: SlateLogs, rows: np.ndarray) -> tuple[torch.Tensor, ...]:
    """``click``, ``slate`` and ``slate_lengths`` of user ``rows`` (sorted, so a memory-mapped
    array is read in file order) as int64 tensors."""
    rows = np.sort(rows)
    return (
        torch.as_tensor(np.asarray(logs.click[rows], dtype=np.int64)),
        torch.as_tensor(np.asarray(logs.slate[rows], dtype=np.int64)),
        torch.as_tensor(np.asarray(logs.slate_lengths[rows], dtype=np.int64)),
    )


def _chunks(rows: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _interactions(logs: SlateLogs, rows: np.ndarray) -> int:
    """Non-padded steps of user ``rows``, counted a chunk at a time."""
    total = 0
    for chunk in _chunks(np.sort(rows), _COUNT_CHUNK):
        total += int((np.asarray(logs.click[chunk]) != PAD_ITEM).sum())
    return total


def _check_logs(logs: SlateLogs) -> None:
    for name in ("click", "slate", "slate_lengths", "category"):
        if not hasattr(logs, name):
            raise ValueError(f"logs has no {name!r} array: pass a SlateLogs")
    if logs.n_users < 1:
        raise ValueError("logs holds no users")
    if logs.n_items <= FIRST_ITEM:
        raise ValueError(f"logs has {logs.n_items} item indices: no real item after the specials")


def _check_rows(name: str, rows: Any, n_users: int) -> np.ndarray:
    array = np.asarray(rows)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a 1-d integer array of user rows, got {array.dtype}")
    if len(array) and (array.min() < 0 or array.max() >= n_users):
        bad = array[(array < 0) | (array >= n_users)][0]
        raise ValueError(f"{name} holds user row {int(bad)}; the logs have {n_users} users")
    if len(np.unique(array)) != len(array):
        raise ValueError(f"{name} repeats a user row")
    return array.astype(np.int64)


def _check_metric_options(logs: SlateLogs, hit_step: int, top_k: int) -> tuple[int, int]:
    """``hit_step`` and ``top_k`` checked against the logs' steps and real items."""
    if logs.n_steps < 2:
        raise ValueError(
            f"hit_step={hit_step!r}: the logs have {logs.n_steps} step per user, and the hit rate "
            "needs a step after hit_step"
        )
    hit_step = check_int("hit_step", hit_step, 1, logs.n_steps - 1)
    top_k = check_int("top_k", top_k, 1, logs.n_items - FIRST_ITEM)
    return hit_step, top_k


_NOISE_STREAM = 1
"""Tag of the posterior draws' stream of a training seed (the initial parameters use the seed
itself: the first draw must not repeat them)."""


# -------------------------------------------------------------------------------- training


def train_slate_gru(
    logs: SlateLogs,
    *,
    seed: int = 0,
    epochs: int = 1,
    batch_size: int = 64,
    dim: int = 16,
    likelihood: str = "slate",
    learning_rate: float = 0.01,
    valid_users: np.ndarray | None = None,
    on_progress: Callable[[dict[str, float]], None] | None = None,
    max_minutes: float | None = None,
    progress: bool = False,
    threads: int = 1,
    item_prior_scale: float | None = None,
    group_prior_scale: float | None = None,
    hit_step: int = 5,
    top_k: int = 20,
) -> tuple[SlateGRU, list[dict[str, float]]]:
    """Fit a :class:`SlateGRU` to ``logs`` by SVI (Adam on the negative ELBO).

    Each step draws one reparameterised sample of the item vectors, runs the GRU over a
    minibatch of users and scales its log-likelihood to all training users; the loss is the
    negative ELBO per training interaction.

    Args:
        logs: the slate logs (arrays may be memory-mapped; only minibatches are read).
        seed: seeds the initial parameters, the user order and the posterior draws (a tagged
            stream of it, so the first draw does not repeat the initial parameters).
        epochs: passes over the training users.
        batch_size: users per minibatch.
        dim: length of the item vectors and of the GRU state.
        likelihood: ``"slate"`` (softmax over the shown items and no click) or ``"all"``
            (which scores every item at every step: ``batch_size x steps x items`` numbers, so
            on FINN.no's 1.3 million items it needs a batch of a few users).
        learning_rate: Adam's step size.
        valid_users: user rows held out from training; after every epoch the history gets
            :func:`evaluate_slate_gru`'s metrics on them.
        on_progress: called after every epoch with that epoch's history record.
        max_minutes: stop after the minibatch that passes this much training time (the
            record says ``stopped_early``); a time budget makes the result depend on the
            machine, so leave it None for reproducible runs.
        progress: show a tqdm bar over each epoch's minibatches.
        threads: torch threads while training (one is fastest for this small model).
        item_prior_scale, group_prior_scale: the prior (default :class:`SlateGRUConfig`'s).
        hit_step, top_k: :func:`evaluate_slate_gru`'s hit-rate settings for ``valid_users``
            (checked against the logs before training).

    Returns:
        ``(model, history)``: the trained model (evaluation mode) and one record per epoch
        (``epoch``, ``loss``, ``log_likelihood`` per interaction of the training draws, ``kl``,
        ``seconds``, and with ``valid_users`` ``hit_rate``, ``log_likelihood_slate``,
        ``log_likelihood_all``).

    Raises:
        ValueError: an argument out of range (``hit_step`` and ``top_k`` only with
            ``valid_users``), or logs without training interactions.
    """
    _check_logs(logs)
    seed = check_seed("seed", seed)
    epochs = check_int("epochs", epochs, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    dim = check_int("dim", dim, 1, 1024)
    likelihood = check_choice("likelihood", likelihood, LIKELIHOODS)
    learning_rate = check_number("learning_rate", learning_rate, 0.0, low_open=True)
    threads = check_int("threads", threads, 1)
    if max_minutes is not None:
        max_minutes = check_number("max_minutes", max_minutes, 0.0, low_open=True)
    valid = (
        np.empty(0, dtype=np.int64)
        if valid_users is None
        else _check_rows("valid_users", valid_users, logs.n_users)
    )
    if len(valid):
        hit_step, top_k = _check_metric_options(logs, hit_step, top_k)
    train_rows = np.setdiff1d(np.arange(logs.n_users, dtype=np.int64), valid)
    if len(train_rows) == 0:
        raise ValueError("every user is in valid_users: nothing left to train on")
    n_interactions = _interactions(logs, train_rows)
    if n_interactions == 0:
        raise ValueError("the training users have no interactions (every step is padding)")
    category = np.asarray(logs.category)
    config = SlateGRUConfig(
        n_items=logs.n_items,
        n_groups=int(category.max()) + 1,
        max_slate_length=int(logs.max_slate),
        dim=dim,
        likelihood=likelihood,
        **{
            name: value
            for name, value in (
                ("item_prior_scale", item_prior_scale),
                ("group_prior_scale", group_prior_scale),
            )
            if value is not None
        },
    )
    history: list[dict[str, float]] = []
    with torch_threads(threads):
        model = SlateGRU(config, category, seed=seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        order_rng = np.random.default_rng(seed)
        noise_seed = np.random.SeedSequence([seed, _NOISE_STREAM]).generate_state(1, np.uint32)
        noise = torch.Generator().manual_seed(int(noise_seed[0]))
        scale = len(train_rows)
        started = time.perf_counter()
        stopped = False
        for epoch in range(1, epochs + 1):
            epoch_start = time.perf_counter()
            model.train()
            total_loss = total_ll = total_kl = 0.0
            total_counted = batches = 0
            order = order_rng.permutation(train_rows)
            bar = tqdm(
                list(_chunks(order, batch_size)),
                desc=f"SlateGRU epoch {epoch}/{epochs}",
                unit="batch",
                disable=not progress,
            )
            for rows in bar:
                click, slate, lengths = _batch(logs, rows)
                vectors = model.item_vectors(noise)
                log_prob, counted = model.log_likelihood(click, slate, lengths, vectors, likelihood)
                kl = model.kl()
                data = log_prob.sum() * (scale / len(rows))
                loss = (kl - data) / n_interactions
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total_loss += float(loss.detach())
                total_ll += float(log_prob.detach().sum())
                total_counted += int(counted.sum())
                total_kl += float(kl.detach())
                batches += 1
                bar.set_postfix(loss=f"{total_loss / batches:.4f}")
                if max_minutes is not None and time.perf_counter() - started > 60 * max_minutes:
                    stopped = True
                    break
            bar.close()
            model.eval()
            record: dict[str, float] = {
                "epoch": float(epoch),
                "loss": total_loss / batches,
                "log_likelihood": total_ll / max(total_counted, 1),
                "kl": total_kl / batches,
                "batches": float(batches),
                "seconds": time.perf_counter() - epoch_start,
            }
            if len(valid):
                metrics = evaluate_slate_gru(model, logs, valid, hit_step=hit_step, top_k=top_k)
                record.update({k: float(v) for k, v in metrics.items()})
            if stopped:
                record["stopped_early"] = 1.0
            history.append(record)
            if on_progress is not None:
                on_progress(record)
            if stopped:
                break
    return model.eval(), history


# ------------------------------------------------------------------------ offline metrics


def evaluate_slate_gru(
    model: SlateGRU,
    logs: SlateLogs,
    users: np.ndarray | None = None,
    *,
    hit_step: int = 5,
    top_k: int = 20,
    batch_size: int | None = None,
) -> dict[str, float]:
    """Offline metrics of ``model`` on user rows ``users`` of ``logs`` (default all), under the
    posterior mean of the item vectors.

    * Hit rate (the paper's protocol): for each user, the ``top_k`` real items (log index >= 3)
      of highest score for the state after the user's first ``hit_step`` steps; a hit is a
      later click (step >= ``hit_step``, a real item) among them; ``hit_rate`` = hits / later
      clicks over all users (items clicked before ``hit_step`` are not left out of the top k).
    * Held-out log-likelihood per interaction under both likelihoods: ``log_likelihood_slate``
      (over the steps whose click is no click or an item of the slate) and
      ``log_likelihood_all`` (over every non-padded step).

    ``batch_size`` users are scored at a time; by default as many as keep the all-items
    scores (users x steps x items) near :data:`EVAL_SCORES` numbers (256 users at most).

    Returns:
        ``hit_rate``, ``hits``, ``later_clicks``, ``log_likelihood_slate``,
        ``interactions_slate``, ``log_likelihood_all``, ``interactions_all`` (a rate is NaN
        when it has nothing to count).

    Raises:
        ValueError: ``hit_step`` not inside the logs' steps, ``top_k`` larger than the real
            items, a bad user row, or logs the model was not trained for: another item count,
            other item categories, or slates wider than its ``max_slate_length``.
    """
    _check_logs(logs)
    if model.config.n_items != logs.n_items:
        raise ValueError(
            f"the model has {model.config.n_items} item indices, the logs {logs.n_items}"
        )
    category = np.asarray(logs.category)
    differs = model.category.numpy() != category
    if differs.any():
        index = int(np.flatnonzero(differs)[0])
        raise ValueError(
            f"the model was trained on other items than the logs': log index {index} is in the "
            f"model's category {int(model.category[index])} but in the logs' category "
            f"{category[index]:g}; evaluate it on logs of the items it was trained on"
        )
    if logs.max_slate > model.config.max_slate_length:
        raise ValueError(
            f"the logs' slates have up to {logs.max_slate} entries (max_slate), the model's "
            f"length table covers {model.config.max_slate_length} (max_slate_length): train it "
            "on logs with slates this wide"
        )
    rows = (
        np.arange(logs.n_users, dtype=np.int64)
        if users is None
        else _check_rows("users", users, logs.n_users)
    )
    hit_step, top_k = _check_metric_options(logs, hit_step, top_k)
    if batch_size is None:
        batch_size = max(1, min(256, EVAL_SCORES // (logs.n_steps * logs.n_items)))
    batch_size = check_int("batch_size", batch_size, 1)
    hits = later = 0
    sums = {"slate": 0.0, "all": 0.0}
    counts = {"slate": 0, "all": 0}
    with torch.no_grad():
        vectors = model.item_vectors()
        for chunk in _chunks(rows, batch_size):
            click, slate, lengths = _batch(logs, chunk)
            for likelihood in LIKELIHOODS:
                log_prob, counted = model.log_likelihood(click, slate, lengths, vectors, likelihood)
                sums[likelihood] += float(log_prob.sum())
                counts[likelihood] += int(counted.sum())
            state = model.states(click[:, : hit_step + 1], vectors)[:, hit_step]
            scores = model.scores(state)[:, FIRST_ITEM:]
            top = scores.topk(top_k, dim=-1).indices + FIRST_ITEM
            future = click[:, hit_step:]
            real = future >= FIRST_ITEM
            found = (future[..., None] == top[:, None, :]).any(-1) & real
            hits += int(found.sum())
            later += int(real.sum())

    def rate(total: float, count: int) -> float:
        return total / count if count else math.nan

    return {
        "hit_rate": rate(hits, later),
        "hits": float(hits),
        "later_clicks": float(later),
        "log_likelihood_slate": rate(sums["slate"], counts["slate"]),
        "interactions_slate": float(counts["slate"]),
        "log_likelihood_all": rate(sums["all"], counts["all"]),
        "interactions_all": float(counts["all"]),
    }


# ----------------------------------------------------------------------------- checkpoints


def save_slate_gru(
    model: SlateGRU,
    folder: str | os.PathLike[str],
    *,
    seed: int,
    history: list[dict[str, float]] | None = None,
    world: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``model`` as a checkpoint folder (``slate_gru.json`` and ``model.pt``), staged in a
    hidden folder and renamed into place. Returns the folder.

    Args:
        model: the model.
        folder: the target folder.
        seed: the training seed (recorded).
        history: the training history (recorded).
        world: a JSON-able description of the logs it was trained on (recorded).
        overwrite: replace an existing checkpoint folder (an empty folder is always used).

    Raises:
        FileExistsError: ``folder`` holds files and ``overwrite`` is false, or it holds files
            that are not a checkpoint's (never replaced).
        NotADirectoryError: ``folder`` is a file.
    """
    target = _check_out(folder, "folder", overwrite)
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "config": model.config.to_dict(),
        "seed": check_seed("seed", seed),
        "history": [dict(record) for record in history or []],
        "world": dict(world or {}),
        "tensors": MODEL_FILE,
    }
    text = json.dumps(metadata, indent=2, allow_nan=True) + "\n"
    staging = staging_folder(target)
    try:
        state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
        torch.save(state, staging / MODEL_FILE)
        (staging / CHECKPOINT_FILE).write_text(text, encoding="utf-8")
        replace_folder(staging, target)
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _check_out(folder: str | os.PathLike[str], name: str, overwrite: bool) -> Path:
    """``folder`` when a checkpoint may be written there: new, empty, or (with ``overwrite``)
    a checkpoint folder."""
    target = Path(folder).expanduser()
    empty = target.is_dir() and not any(target.iterdir())
    return check_replaceable(
        target,
        name=name,
        marker=CHECKPOINT_FILE,
        kind="a SlateGRU checkpoint",
        overwrite=overwrite or empty,
    )


def load_slate_gru_metadata(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked metadata of a checkpoint folder (``format``, ``config``, ``seed``,
    ``history``, ``world``).

    Raises:
        FileNotFoundError: the folder or its ``slate_gru.json`` is missing.
        ValueError: the metadata is not a SlateGRU checkpoint's (the file and field named).
    """
    path = Path(folder) / CHECKPOINT_FILE
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"{str(folder)!r} is not a folder (a SlateGRU checkpoint)")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: not a SlateGRU checkpoint folder")
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{path} is not a readable JSON file: {error}") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{path} holds {type(metadata).__name__}, not a JSON object")
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path}: format={metadata.get('format')!r}, expected {CHECKPOINT_FORMAT!r}"
        )
    config = metadata.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{path}: config={config!r} must be an object")
    fields = set(SlateGRUConfig.__dataclass_fields__)
    unknown = sorted(set(config) - fields)
    missing = sorted(fields - set(config))
    if unknown or missing:
        what = f"unknown field {unknown[0]!r}" if unknown else f"missing field {missing[0]!r}"
        raise ValueError(f"{path}: config has {what}")
    try:
        SlateGRUConfig(**config)
        check_seed("seed", metadata.get("seed"))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    history = metadata.get("history")
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise ValueError(f"{path}: history must be a list of objects")
    if not isinstance(metadata.get("world"), dict):
        raise ValueError(f"{path}: world={metadata.get('world')!r} must be an object")
    if metadata.get("tensors") != MODEL_FILE:
        raise ValueError(f"{path}: tensors={metadata.get('tensors')!r}, expected {MODEL_FILE!r}")
    return metadata


def load_slate_gru(folder: str | os.PathLike[str]) -> SlateGRU:
    """The model of a checkpoint folder written by :func:`save_slate_gru` (evaluation mode).

    Raises:
        FileNotFoundError: the folder or one of its files is missing.
        ValueError: a file is corrupt, or a tensor is missing, extra, of the wrong shape or not
            finite (the file and tensor named).
    """
    metadata = load_slate_gru_metadata(folder)
    config = SlateGRUConfig(**metadata["config"])
    path = Path(folder) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: the checkpoint has no tensors")
    try:
        state = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a damaged file
        raise ValueError(f"{path} is not a readable torch file: {error}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a dict of tensors")
    category = state.get("category")
    if category is None:
        raise ValueError(f"{path}: tensor 'category' is missing")
    if category.shape != (config.n_items,) or category.dtype != torch.int64:
        raise ValueError(
            f"{path}: tensor 'category' has {category.dtype} {tuple(category.shape)}, expected "
            f"int64 ({config.n_items},)"
        )
    try:
        model = SlateGRU(config, category.numpy())
    except ValueError as error:
        raise ValueError(f"{path}: tensor 'category': {error}") from None
    expected = model.state_dict()
    for name in sorted(set(expected) | set(state)):
        if name not in state:
            raise ValueError(f"{path}: tensor {name!r} is missing")
        if name not in expected:
            raise ValueError(f"{path}: unexpected tensor {name!r}")
        tensor = state[name]
        if tensor.shape != expected[name].shape or tensor.dtype != expected[name].dtype:
            raise ValueError(
                f"{path}: tensor {name!r} has {tensor.dtype} {tuple(tensor.shape)}, expected "
                f"{expected[name].dtype} {tuple(expected[name].shape)}"
            )
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{path}: tensor {name!r} holds NaN or infinite values")
    model.load_state_dict(state)
    return model.eval()


def describe_logs(logs: SlateLogs) -> dict[str, Any]:
    """A JSON-able description of the logs a model was trained on (for :func:`save_slate_gru`)."""
    return {
        "source": str(logs.source),
        "n_users": int(logs.n_users),
        "n_steps": int(logs.n_steps),
        "max_slate": int(logs.max_slate),
        "n_items": int(logs.n_items),
        "n_categories": int(logs.n_categories),
    }


# -------------------------------------------------------------------------- whole runs


def slate_logs_for_training(
    data: str | os.PathLike[str],
    users: int,
    *,
    seed: int = 0,
    world_seed: int = 0,
    n_items: int = 3000,
    n_groups: int = 24,
) -> tuple[SlateLogs, dict[str, Any]]:
    """The logs a training run reads and a JSON-able description of where they came from.

    Args:
        data: ``"synthetic"`` (logs generated from
            :func:`~recoworld.catalog.slate_world.synthetic_slate_world` with ``world_seed``,
            ``n_items`` and ``n_groups``, the world ``SlateRec-v0`` builds with the same
            settings) or a folder of FINN.no files (read memory-mapped).
        users: synthetic users to generate, or users to keep from the folder's logs (a seeded
            random subset when the logs hold more; all of them when they hold fewer).
        seed: seeds the synthetic users (or the subset).
        world_seed, n_items, n_groups: the synthetic world.

    Raises:
        ValueError: an argument out of range, or bad logs (the file named).
        OSError: the folder cannot be read.
    """
    from recoworld.catalog.slate_world import synthetic_slate_world
    from recoworld.catalog.slates import generate_slate_logs, load_slate_logs

    users = check_int("users", users, 2)
    seed = check_seed("seed", seed)
    if str(data) == "synthetic":
        world = synthetic_slate_world(world_seed, n_items=n_items, n_groups=n_groups)
        logs = generate_slate_logs(world, users, seed=seed)
        description = {
            **describe_logs(logs),
            "world": world.name,
            "world_seed": world_seed,
            "n_groups": world.n_groups,
        }
        return logs, description
    logs = load_slate_logs(data)
    if users < logs.n_users:
        rows = np.sort(np.random.default_rng(seed).choice(logs.n_users, users, replace=False))
        logs = logs.take(rows)
    return logs, {**describe_logs(logs), "source": str(data)}


def fit_slate_gru(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    users: int = 20_000,
    seed: int = 0,
    epochs: int = 1,
    batch_size: int = 64,
    dim: int = 16,
    likelihood: str = "slate",
    learning_rate: float = 0.01,
    valid_fraction: float = 0.1,
    world_seed: int = 0,
    n_items: int = 3000,
    n_groups: int = 24,
    max_minutes: float | None = None,
    overwrite: bool = False,
    progress: bool = False,
    on_progress: Callable[[dict[str, float]], None] | None = None,
) -> tuple[Path, list[dict[str, float]]]:
    """The whole recipe of ``recoworld train-slate-gru`` (and ``examples/train_slate_gru.py``):
    logs (:func:`slate_logs_for_training`), a seeded split of the users
    (:func:`~recoworld.catalog.slates.split_users`, ``valid_fraction`` held out),
    :func:`train_slate_gru` with the held-out metrics after every epoch, and a checkpoint folder
    ``out`` (:func:`save_slate_gru`). Returns the folder and the training history.
    ``progress`` and ``on_progress`` are :func:`train_slate_gru`'s; the other arguments are
    those of :func:`slate_logs_for_training` and :func:`train_slate_gru`.

    Raises:
        FileExistsError: ``out`` exists and is not empty (unless ``overwrite`` and it is a
            checkpoint), checked before any work.
        ValueError: an argument out of range (named).
    """
    from recoworld.catalog.slates import split_users

    _check_out(out, "out", overwrite)
    logs, world = slate_logs_for_training(
        data, users, seed=seed, world_seed=world_seed, n_items=n_items, n_groups=n_groups
    )
    _, valid = split_users(logs.n_users, valid_fraction=valid_fraction, seed=seed)
    model, history = train_slate_gru(
        logs,
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        dim=dim,
        likelihood=likelihood,
        learning_rate=learning_rate,
        valid_users=valid,
        max_minutes=max_minutes,
        progress=progress,
        on_progress=on_progress,
    )
    folder = save_slate_gru(
        model, out, seed=seed, history=history, world=world, overwrite=overwrite
    )
    return folder, history
