"""The item catalog shared by every simulator, environment and agent."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class Catalog:
    """An immutable item catalog.

    Items are addressed by their row index ``0..n_items-1`` everywhere in the library; ``item_ids``
    maps a row back to the id the data source used (for SCPR data, the JSON item id).

    Two views of an item's content are kept because they serve different purposes:

    * ``item_attributes`` is the full, possibly very large, attribute vocabulary (genres, tags) as
      a sparse multi-hot matrix. It is what datasets provide and what conversational agents ask
      about.
    * ``item_topics`` is a compact soft assignment of every item to ``n_topics`` named topics
      (rows sum to one). Latent users keep per-topic state (boredom, familiarity) on this compact
      view, so the per-user state stays small whatever the vocabulary size, and reflective
      instructions name topics.

    Attributes:
        item_ids: ``(n_items,)`` int64, the source's id of each row.
        attribute_names: name of every attribute column.
        item_attributes: ``(n_items, n_attributes)`` sparse CSR, 1 where the item has the attribute.
        topic_names: name of every topic column.
        item_topics: ``(n_items, n_topics)`` float32, rows sum to 1.
        embeddings: ``(n_items, embedding_dim)`` float32, unit L2 norm, consistent with the
            attributes (items sharing attributes are close).
        quality: ``(n_items,)`` float32 in ``[0, 1]``, intrinsic appeal independent of taste.
        popularity: ``(n_items,)`` float32, positive, sums to 1 (long-tailed).
        duration: ``(n_items,)`` float32, minutes of content.
        titles: short display title of every item.
        descriptions: one-sentence description rendered from the attributes.
    """

    item_ids: np.ndarray
    attribute_names: tuple[str, ...]
    item_attributes: sp.csr_array
    topic_names: tuple[str, ...]
    item_topics: np.ndarray
    embeddings: np.ndarray
    quality: np.ndarray
    popularity: np.ndarray
    duration: np.ndarray
    titles: tuple[str, ...]
    descriptions: tuple[str, ...]
    name: str = "catalog"

    def __post_init__(self) -> None:
        n = len(self.item_ids)
        checks: dict[str, tuple[int, ...]] = {
            "item_attributes": (n, len(self.attribute_names)),
            "item_topics": (n, len(self.topic_names)),
            "quality": (n,),
            "popularity": (n,),
            "duration": (n,),
        }
        for name, shape in checks.items():
            actual = tuple(getattr(self, name).shape)
            if actual != shape:
                raise ValueError(f"Catalog.{name} has shape {actual}, expected {shape}")
        if self.embeddings.ndim != 2 or self.embeddings.shape[0] != n:
            raise ValueError(
                f"Catalog.embeddings has shape {self.embeddings.shape}, expected ({n}, dim)"
            )
        for name in ("titles", "descriptions"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Catalog.{name} has {len(getattr(self, name))} entries, not {n}")
        if n == 0:
            raise ValueError("Catalog has no items")
        for name in ("item_topics", "embeddings", "quality", "popularity", "duration"):
            array = getattr(self, name)
            if not np.all(np.isfinite(array)):
                raise ValueError(f"Catalog.{name} contains NaN or infinite values")
        for name in ("item_ids", "item_topics", "embeddings", "quality", "popularity", "duration"):
            getattr(self, name).setflags(write=False)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_attributes(self) -> int:
        return len(self.attribute_names)

    @property
    def n_topics(self) -> int:
        return len(self.topic_names)

    @property
    def embedding_dim(self) -> int:
        return int(self.embeddings.shape[1])

    @cached_property
    def topic_centroids(self) -> np.ndarray:
        """``(n_topics, embedding_dim)`` unit-norm mean embedding of each topic's items.

        Used to tell which topic an interest vector is closest to (for reflective instructions)
        and to place the interests of sampled users.
        """
        centroids = self.item_topics.T.astype(np.float64) @ self.embeddings
        norms = np.linalg.norm(centroids, axis=1, keepdims=True)
        centroids = (centroids / np.maximum(norms, 1e-12)).astype(np.float32)
        centroids.setflags(write=False)
        return centroids

    @cached_property
    def topic_share_cdf(self) -> np.ndarray:
        """``(n_topics,)`` cumulative share of the catalog's topic mass (last entry 1)."""
        share = self.item_topics.sum(axis=0, dtype=np.float64)
        cdf = np.cumsum(share / share.sum())
        cdf[-1] = 1.0
        cdf.setflags(write=False)
        return cdf

    def attributes_of(self, item: int) -> list[str]:
        """Names of the attributes of item row ``item``.

        Raises:
            ValueError: ``item`` is not an integer (Python or numpy; not a bool).
            IndexError: ``item`` is outside ``0..n_items-1``.
        """
        if isinstance(item, bool | np.bool_) or not isinstance(item, int | np.integer):
            raise ValueError(f"item={item!r} must be an integer item row")
        if not 0 <= item < self.n_items:
            raise IndexError(f"item row {item} is outside 0..{self.n_items - 1}")
        row = self.item_attributes[[item], :]
        return [self.attribute_names[j] for j in row.indices]

    def attribute_lists(self) -> list[np.ndarray]:
        """Attribute column indices of every item, one int array per item."""
        matrix = self.item_attributes
        return [
            matrix.indices[matrix.indptr[i] : matrix.indptr[i + 1]] for i in range(self.n_items)
        ]


def render_description(title: str, attributes: list[str], duration_minutes: float) -> str:
    """A one-sentence, human-readable description of an item from its attributes."""
    if not attributes:
        tags = "no listed tags"
    elif len(attributes) == 1:
        tags = attributes[0]
    else:
        tags = ", ".join(attributes[:-1]) + " and " + attributes[-1]
    return f"{title}: {tags}, {duration_minutes:.0f} min."
