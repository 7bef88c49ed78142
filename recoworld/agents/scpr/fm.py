"""SCPR's factorization-machine scorer of items and attributes, trained with a pairwise loss.

The scorer of SCPR (Lei et al., KDD 2020) and EAR (WSDM 2020): users ``u``, items ``v`` and
attributes ``p`` share one embedding space, and given the attributes ``P`` the user accepted so
far in the conversation it predicts

* an item's score ``b_v + u·v + Σ_{p∈P} v·p`` (the FM's pairwise interactions among the user,
  the item and the accepted attributes that involve the item), and
* an attribute's score ``u·a + Σ_{p∈P} a·p``.

``b_v`` is the FM's item bias; the published model drops it, here it keeps the item popularity
that the training data shows (a popularity ranking is already a strong baseline on LastFM*).

Training (:func:`train_fm`) follows the published recipe on the training interactions: every
positive ``(u, v)`` gets a "preferred" set ``P`` of 1 to ``max_accepted`` of ``v``'s own
attributes (standing for what the user said in a conversation), and three Bayesian personalized
ranking (BPR) terms ``-log σ(s⁺ - s⁻)``:

1. the item against a uniformly drawn item,
2. the item against a *hard* negative, an item that has ``P``'s first attribute (a candidate
   that the conversation could not yet rule out: the ranking the env asks for), and
3. one more attribute of ``v`` outside ``P`` against a uniformly drawn attribute.

Everything is drawn from a ``torch.Generator`` seeded by ``seed``, so the same seed gives the
same parameters. :meth:`FMScorer.item_scorer` and :meth:`FMScorer.attribute_scorer` adapt the
scorer to the ``ConvRec-v0`` callables (:data:`~recoworld.envs.convrec.env.ItemScorer`,
:data:`~recoworld.envs.convrec.env.AttributeScorer`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from recoworld.agents.scpr.threads import one_torch_thread
from recoworld.catalog import Catalog
from recoworld.catalog.scpr import ScprDataset
from recoworld.graph import AttributeGraph

__all__ = [
    "FMAttributeScorer",
    "FMConfig",
    "FMItemScorer",
    "FMScorer",
    "accepted_attributes_of",
    "train_fm",
]


@dataclass(frozen=True)
class FMConfig:
    """Hyperparameters of the FM scorer and of its pairwise training (validated on creation)."""

    embedding_dim: int = 64
    """Dimension of the user, item and attribute embeddings (SCPR: 64)."""
    epochs: int = 40
    """Passes over the training interactions."""
    batch_size: int = 1024
    """Positive ``(user, item)`` pairs per gradient step."""
    learning_rate: float = 0.01
    """Adam step size."""
    l2: float = 1e-5
    """L2 penalty on the embeddings and biases that a batch touches (per pair)."""
    max_accepted: int = 3
    """Largest preferred-attribute set ``P`` drawn from the positive item's attributes."""
    hard_negative_weight: float = 1.0
    """Weight of the BPR term against items that share ``P``'s first attribute."""
    attribute_loss_weight: float = 1.0
    """Weight of the attribute-prediction BPR term."""
    init_std: float = 0.01
    """Standard deviation of the normal initial embeddings."""

    def __post_init__(self) -> None:
        for name in ("embedding_dim", "epochs", "batch_size", "max_accepted"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"FMConfig.{name}={value!r} must be a positive integer")
        for name, positive in (
            ("learning_rate", True),
            ("init_std", True),
            ("l2", False),
            ("hard_negative_weight", False),
            ("attribute_loss_weight", False),
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
                or (positive and value == 0)
            ):
                bound = "> 0" if positive else ">= 0"
                raise ValueError(f"FMConfig.{name}={value!r} must be a finite number {bound}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FMConfig:
        """The config of a checkpoint's dict; unknown keys raise ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown FMConfig fields {unknown}; known: {sorted(known)}")
        return cls(**values)


class FMScorer(nn.Module):
    """User, item and attribute embeddings scoring items and attributes (see the module).

    Args:
        user_ids: ``(n_users,)`` sorted distinct user ids; row ``r`` of the user embedding is
            user ``user_ids[r]``. An unknown user scores with a zero embedding.
        n_items: item rows ``0..n_items-1`` (catalog rows).
        n_attributes: attribute columns ``0..n_attributes-1``.
        config: the embedding size and initial scale are read from it.
        generator: draws the initial embeddings (seeded training passes its own).
    """

    def __init__(
        self,
        user_ids: np.ndarray,
        n_items: int,
        n_attributes: int,
        config: FMConfig | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.config = config or FMConfig()
        users = np.asarray(user_ids, dtype=np.int64)
        if users.ndim != 1 or (users.size > 1 and not np.all(np.diff(users) > 0)):
            raise ValueError("user_ids must be a 1-D array of sorted, distinct user ids")
        for name, value in (("n_items", n_items), ("n_attributes", n_attributes)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive integer")
        self.user_ids = users.copy()
        self.n_items, self.n_attributes = int(n_items), int(n_attributes)
        dim = self.config.embedding_dim
        self.user_embedding = nn.Embedding(len(users) + 1, dim)  # last row: unknown users
        self.item_embedding = nn.Embedding(self.n_items, dim)
        self.attribute_embedding = nn.Embedding(self.n_attributes + 1, dim)  # last row: padding
        self.item_bias = nn.Embedding(self.n_items, 1)
        with torch.no_grad():
            for table in (self.user_embedding, self.item_embedding, self.attribute_embedding):
                nn.init.normal_(table.weight, 0.0, self.config.init_std, generator=generator)
            self.item_bias.weight.zero_()
            self.user_embedding.weight[-1].zero_()
            self.attribute_embedding.weight[-1].zero_()
        self.training_loss: list[float] = []
        """Mean training loss per epoch, filled by :func:`train_fm`."""

    # ---------------------------------------------------------------- torch side

    @property
    def padding_attribute(self) -> int:
        """The attribute index that pads preferred-attribute sets (its embedding stays 0)."""
        return self.n_attributes

    def user_rows(self, user_ids: np.ndarray) -> np.ndarray:
        """Embedding rows of ``user_ids``; unknown users get the zero row."""
        ids = np.asarray(user_ids, dtype=np.int64)
        rows = np.searchsorted(self.user_ids, ids)
        rows = np.minimum(rows, max(len(self.user_ids) - 1, 0))
        known = len(self.user_ids) > 0 and (self.user_ids[rows] == ids)
        return np.where(known, rows, len(self.user_ids)).astype(np.int64)

    def context(self, user_rows: torch.Tensor, preferred: torch.Tensor) -> torch.Tensor:
        """``(B, d)`` ``u + Σ_{p∈P} p``: what an item or attribute embedding is dotted with.

        ``preferred`` is ``(B, m)`` attribute columns padded with :attr:`padding_attribute`.
        """
        return self.user_embedding(user_rows) + self.attribute_embedding(preferred).sum(dim=1)

    def item_logits(self, context: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``(B,)`` item scores ``b_v + v·(u + Σ p)`` of one item per context row."""
        return (self.item_embedding(items) * context).sum(-1) + self.item_bias(items).squeeze(-1)

    def attribute_logits(self, context: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
        """``(B,)`` attribute scores ``a·(u + Σ p)`` of one attribute per context row."""
        return (self.attribute_embedding(attributes) * context).sum(-1)

    # ---------------------------------------------------------------- numpy side

    def _context_vector(self, user: int, accepted_attributes: np.ndarray) -> torch.Tensor:
        row = torch.as_tensor(self.user_rows(np.array([user]))[0])
        vector = self.user_embedding.weight[row]
        accepted = np.asarray(accepted_attributes, dtype=np.int64).ravel()
        if accepted.size:
            rows = torch.from_numpy(accepted.copy())
            vector = vector + self.attribute_embedding.weight[rows].sum(0)
        return vector

    @torch.no_grad()
    @one_torch_thread()
    def score_items(
        self, user: int, items: np.ndarray, accepted_attributes: np.ndarray
    ) -> np.ndarray:
        """``(len(items),)`` float64 scores ``b_v + u·v + Σ_{p∈accepted} v·p``."""
        context = self._context_vector(int(user), accepted_attributes)
        rows = torch.from_numpy(np.array(items, dtype=np.int64))
        scores = self.item_embedding.weight[rows] @ context + self.item_bias.weight[rows, 0]
        return scores.double().numpy()

    @torch.no_grad()
    @one_torch_thread()
    def score_attributes(
        self, user: int, candidate_attributes: np.ndarray, accepted_attributes: np.ndarray
    ) -> np.ndarray:
        """``(len(candidate_attributes),)`` float64 scores ``u·a + Σ_{p∈accepted} a·p``."""
        context = self._context_vector(int(user), accepted_attributes)
        rows = torch.from_numpy(np.array(candidate_attributes, dtype=np.int64))
        return (self.attribute_embedding.weight[rows] @ context).double().numpy()

    # ---------------------------------------------------------------- env adapters

    def item_scorer(self) -> FMItemScorer:
        """This scorer as ``ConvRec-v0``'s ``item_scorer``."""
        return FMItemScorer(self)

    def attribute_scorer(self, graph: AttributeGraph | None = None) -> FMAttributeScorer:
        """This scorer's attribute prediction as ``ConvRec-v0``'s ``attribute_scorer``.

        The env's attribute scorer is not told the accepted attributes; with ``graph`` they are
        recovered exactly from the candidates (:func:`accepted_attributes_of`), without it the
        score is ``u·a`` alone.
        """
        return FMAttributeScorer(self, graph)

    # ---------------------------------------------------------------- checkpoints

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the parameters, the user ids, the sizes and the config to ``path``."""
        torch.save(
            {
                "format": "recoworld.FMScorer/1",
                "config": asdict(self.config),
                "user_ids": torch.as_tensor(self.user_ids),
                "n_items": self.n_items,
                "n_attributes": self.n_attributes,
                "state_dict": self.state_dict(),
                "training_loss": list(self.training_loss),
            },
            os.fspath(path),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FMScorer:
        """The scorer :meth:`save` wrote to ``path`` (in evaluation mode)."""
        payload = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != "recoworld.FMScorer/1":
            raise ValueError(f"{path} is not an FMScorer checkpoint written by FMScorer.save")
        scorer = cls(
            payload["user_ids"].numpy(),
            int(payload["n_items"]),
            int(payload["n_attributes"]),
            FMConfig.from_dict(payload["config"]),
        )
        scorer.load_state_dict(payload["state_dict"])
        scorer.training_loss = [float(v) for v in payload.get("training_loss", [])]
        return scorer.eval()


class FMItemScorer:
    """``ConvRec-v0`` item scorer ``(user, candidate_items, accepted_attributes) -> scores``."""

    def __init__(self, fm: FMScorer) -> None:
        self.fm = fm

    def __call__(
        self, user: int, candidate_items: np.ndarray, accepted_attributes: np.ndarray
    ) -> np.ndarray:
        return self.fm.score_items(user, candidate_items, accepted_attributes)


class FMAttributeScorer:
    """``ConvRec-v0`` attribute scorer ``(user, candidate_items, candidate_attributes) ->
    scores``: the FM's attribute prediction (EAR's attribute choice)."""

    def __init__(self, fm: FMScorer, graph: AttributeGraph | None = None) -> None:
        self.fm = fm
        self.graph = graph

    def __call__(
        self, user: int, candidate_items: np.ndarray, candidate_attributes: np.ndarray
    ) -> np.ndarray:
        accepted = (
            np.empty(0, np.int64)
            if self.graph is None
            else accepted_attributes_of(self.graph, candidate_items, candidate_attributes)
        )
        return self.fm.score_attributes(user, candidate_attributes, accepted)


def accepted_attributes_of(
    graph: AttributeGraph, candidate_items: np.ndarray, candidate_attributes: np.ndarray
) -> np.ndarray:
    """The accepted attributes of a ``ConvRec-v0`` state, recovered from what scorers see.

    Every candidate has every accepted attribute (accepting filters the candidates), and an
    attribute that every candidate has but that is not a candidate attribute was asked (or
    stated) and, since the target is a candidate, accepted. Conversely a rejected attribute is
    one the target lacks, so not every candidate has it. Hence the accepted attributes are
    exactly the attributes shared by all candidates minus the candidate attributes.
    """
    items = np.asarray(candidate_items, dtype=np.int64)
    if items.size == 0:
        return np.empty(0, np.int64)
    mask = np.zeros(graph.n_items, dtype=bool)
    mask[items] = True
    counts = graph.attribute_counts(mask)
    shared = counts == items.size
    shared[np.asarray(candidate_attributes, dtype=np.int64)] = False
    return np.flatnonzero(shared).astype(np.int64)


# -------------------------------------------------------------------------------- training


def _training_data(
    data: ScprDataset | tuple[Catalog, Mapping[int, Any]],
) -> tuple[sp.csr_array, dict[int, np.ndarray], np.ndarray]:
    """``(item_attributes CSR, train interactions, user ids)`` of either kind of input."""
    interactions: Mapping[int, Any]
    if isinstance(data, ScprDataset):
        catalog, interactions = data.catalog, data.train
        extra_users = list(data.user_likes)
    elif isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], Catalog):
        catalog, interactions = data
        extra_users = []
        if not isinstance(interactions, Mapping):
            raise ValueError("interactions must map user ids to item rows")
    else:
        raise ValueError(
            f"data={type(data).__name__} must be a ScprDataset or a (Catalog, interactions) tuple"
        )
    train = {int(u): np.asarray(rows, dtype=np.int64).ravel() for u, rows in interactions.items()}
    if sum(rows.size for rows in train.values()) == 0:
        raise ValueError("the training interactions hold no (user, item) pair")
    n_items = catalog.n_items
    for user, rows in train.items():
        if rows.size and (rows.min() < 0 or rows.max() >= n_items):
            raise ValueError(f"interactions[{user}] has an item row outside 0..{n_items - 1}")
    item_attr = sp.csr_array(catalog.item_attributes)
    item_attr.sum_duplicates()
    item_attr.sort_indices()
    user_ids = np.array(sorted({*train, *(int(u) for u in extra_users)}), dtype=np.int64)
    return item_attr, train, user_ids


def _random_below(upper: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Uniform integers in ``[0, upper)`` per entry (``upper >= 1``)."""
    draws = torch.rand(upper.shape, generator=generator, dtype=torch.float64)
    return torch.minimum((draws * upper).long(), upper - 1)


@one_torch_thread()
def train_fm(
    data: ScprDataset | tuple[Catalog, Mapping[int, Any]],
    config: FMConfig | None = None,
    seed: int = 0,
    progress: bool = True,
) -> FMScorer:
    """Train an :class:`FMScorer` on the training interactions of ``data`` (see the module).

    Args:
        data: a :class:`~recoworld.catalog.scpr.ScprDataset` (its ``train`` split; users of
            ``user_likes`` get embeddings too) or ``(catalog, interactions)`` with
            ``interactions`` mapping user ids to item rows.
        config: hyperparameters (default :class:`FMConfig`).
        seed: seeds the initial embeddings and every draw (shuffles, preferred sets,
            negatives); the same seed gives the same parameters.
        progress: show a tqdm bar over the epochs with the running loss.

    Returns:
        The trained scorer in evaluation mode; ``training_loss`` holds the mean loss per epoch.
    """
    config = config or FMConfig()
    if not isinstance(config, FMConfig):
        raise ValueError(f"config={config!r} must be an FMConfig")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    item_attr, train, user_ids = _training_data(data)
    n_items, n_attributes = item_attr.shape
    generator = torch.Generator().manual_seed(int(seed))
    model = FMScorer(user_ids, n_items, n_attributes, config, generator=generator)
    model.train()

    users = np.concatenate([np.full(rows.size, u, np.int64) for u, rows in train.items()])
    user_rows = torch.as_tensor(model.user_rows(users))
    items = torch.as_tensor(np.concatenate(list(train.values())))
    indptr = torch.as_tensor(item_attr.indptr.astype(np.int64))
    indices = torch.as_tensor(item_attr.indices.astype(np.int64))
    attr_items = sp.csr_array(item_attr.T)
    attr_items.sort_indices()
    attr_indptr = torch.as_tensor(attr_items.indptr.astype(np.int64))
    attr_indices = torch.as_tensor(attr_items.indices.astype(np.int64))
    pad = model.padding_attribute
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)

    n_pairs = len(items)
    bar = tqdm(range(config.epochs), desc="FM scorer", unit="epoch", disable=not progress)
    for _ in bar:
        order = torch.randperm(n_pairs, generator=generator)
        total, batches = 0.0, 0
        for start in range(0, n_pairs, config.batch_size):
            batch = order[start : start + config.batch_size]
            loss = _batch_loss(
                model,
                user_rows[batch],
                items[batch],
                (indptr, indices, attr_indptr, attr_indices),
                pad,
                generator,
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            batches += 1
        model.training_loss.append(total / batches)
        bar.set_postfix(loss=f"{model.training_loss[-1]:.4f}")
    return model.eval()


def _batch_loss(
    model: FMScorer,
    user_rows: torch.Tensor,
    items: torch.Tensor,
    graph: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    pad: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """The three BPR terms plus the L2 penalty of one batch of positive pairs."""
    config = model.config
    indptr, indices, attr_indptr, attr_indices = graph
    size = len(items)
    n_items, n_attributes = model.n_items, model.n_attributes
    start = indptr[items]
    count = indptr[items + 1] - start
    has_attributes = count > 0
    safe_count = count.clamp(min=1)

    # Preferred set P: k ~ U{1..min(max_accepted, count)} distinct positions of v's attributes.
    k = _random_below(torch.clamp(count, min=1, max=config.max_accepted), generator) + 1
    positions = torch.stack(
        [_random_below(safe_count, generator) for _ in range(config.max_accepted + 1)], dim=1
    )
    distinct = torch.ones_like(positions, dtype=torch.bool)
    for j in range(1, positions.shape[1]):
        distinct[:, j] = (positions[:, j : j + 1] != positions[:, :j]).all(dim=1)
    slot = torch.arange(config.max_accepted)
    in_preferred = (slot[None, :] < k[:, None]) & distinct[:, :-1] & has_attributes[:, None]
    attributes = indices[start[:, None] + positions]
    preferred = torch.where(
        in_preferred, attributes[:, :-1], torch.full_like(attributes[:, :-1], pad)
    )

    context = model.context(user_rows, preferred)
    positive = model.item_logits(context, items)

    random_negative = torch.randint(0, n_items, (size,), generator=generator)
    loss = -F.logsigmoid(positive - model.item_logits(context, random_negative)).mean()

    if config.hard_negative_weight > 0:
        first = torch.where(has_attributes, attributes[:, 0], torch.zeros_like(items))
        a_start = attr_indptr[first]
        a_count = (attr_indptr[first + 1] - a_start).clamp(min=1)
        hard = attr_indices[a_start + _random_below(a_count, generator)]
        valid = has_attributes & (hard != items)
        if valid.any():
            hard_term = -F.logsigmoid(positive - model.item_logits(context, hard))
            loss = loss + config.hard_negative_weight * hard_term[valid].mean()

    if config.attribute_loss_weight > 0:
        # The last drawn position is a further attribute of v when it is new and outside P.
        extra = attributes[:, -1]
        outside = (positions[:, -1:] != torch.where(in_preferred, positions[:, :-1], -1)).all(1)
        valid = has_attributes & outside & (count > k)
        if valid.any():
            negative_attribute = torch.randint(0, n_attributes, (size,), generator=generator)
            difference = model.attribute_logits(context, extra) - model.attribute_logits(
                context, negative_attribute
            )
            loss = loss + config.attribute_loss_weight * (-F.logsigmoid(difference[valid]).mean())

    if config.l2 > 0:
        penalty = (
            model.user_embedding(user_rows).pow(2).sum()
            + model.item_embedding(items).pow(2).sum()
            + model.attribute_embedding(preferred).pow(2).sum()
            + model.item_bias(items).pow(2).sum()
        )
        loss = loss + config.l2 * penalty / size
    return loss
