"""Seeded synthetic catalog generator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recoworld.catalog.base import Catalog, render_description
from recoworld.validation import check_int, check_number, check_seed

GENRES: tuple[str, ...] = (
    "jazz", "indie", "metal", "classical", "hip-hop", "electronic", "folk", "pop",
    "rock", "ambient", "soul", "country", "reggae", "blues", "punk", "latin",
    "k-pop", "opera", "techno", "funk", "gospel", "disco", "grunge", "swing",
)  # fmt: skip
TAGS: tuple[str, ...] = (
    "upbeat", "calm", "dark", "romantic", "energetic", "melancholic", "funny", "instrumental",
    "live", "acoustic", "vintage", "experimental", "cinematic", "dreamy", "raw", "groovy",
    "epic", "minimal", "political", "playful", "nostalgic", "spiritual", "heavy", "lush",
)  # fmt: skip


@dataclass(frozen=True)
class SyntheticCatalogConfig:
    """Parameters of :func:`generate_catalog`.

    Attributes:
        n_items: number of items.
        n_topics: number of genres; the genres are the catalog's topics (at most 24).
        n_tags: number of mood/style tags besides the genres (at most 24).
        embedding_dim: dimension of the item embedding.
        secondary_topic_prob: probability that an item also belongs to a second genre.
        max_tags: each item gets 1..max_tags tags.
        embedding_noise: scale of the item-specific part of the embedding; smaller means
            embeddings are more fully explained by the attributes.
        zipf_exponent: popularity of the item of popularity rank r is proportional to
            ``r ** -zipf_exponent`` (long tail).
        quality_popularity_correlation: in [0, 1], how much popularity rank follows quality.
        median_duration: median item duration in minutes (durations are log-normal).
    """

    n_items: int = 1000
    n_topics: int = 12
    n_tags: int = 12
    embedding_dim: int = 16
    secondary_topic_prob: float = 0.3
    max_tags: int = 3
    embedding_noise: float = 0.35
    zipf_exponent: float = 1.0
    quality_popularity_correlation: float = 0.5
    median_duration: float = 4.0

    def __post_init__(self) -> None:
        integers: dict[str, tuple[int, int]] = {
            "n_items": (2, 10_000_000),
            "n_topics": (2, len(GENRES)),
            "n_tags": (0, len(TAGS)),
            "embedding_dim": (2, 4096),
            "max_tags": (1, 24),
        }
        numbers: dict[str, tuple[float, float]] = {
            "secondary_topic_prob": (0.0, 1.0),
            "embedding_noise": (0.0, 10.0),
            "zipf_exponent": (0.0, 5.0),
            "quality_popularity_correlation": (0.0, 1.0),
            "median_duration": (1e-3, 1e4),
        }
        # Numpy numbers count as the numbers they hold (stored as int / float); bools do not.
        for name, (low, high) in integers.items():
            value = check_int(f"SyntheticCatalogConfig.{name}", getattr(self, name), low, high)
            object.__setattr__(self, name, value)
        for name, (bottom, top) in numbers.items():
            number = check_number(
                f"SyntheticCatalogConfig.{name}", getattr(self, name), bottom, top
            )
            object.__setattr__(self, name, number)
        if self.n_tags > 0 and self.max_tags > self.n_tags:
            raise ValueError(
                f"SyntheticCatalogConfig.max_tags={self.max_tags} exceeds n_tags={self.n_tags}"
            )


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def generate_catalog(
    config: SyntheticCatalogConfig | None = None, *, seed: int | np.random.Generator = 0
) -> Catalog:
    """Generate a synthetic catalog; the same seed gives the same catalog.

    Each item has a primary genre, sometimes a secondary genre, and a few tags. Its embedding is
    the weighted sum of its genres' and tags' directions plus item-specific noise, so the
    embedding is consistent with the attributes. Popularity is Zipf-distributed over a ranking
    that partly follows quality.

    >>> catalog = generate_catalog(SyntheticCatalogConfig(n_items=50), seed=1)
    >>> catalog.n_items, catalog.n_topics, catalog.embedding_dim
    (50, 12, 16)
    >>> bool(abs(catalog.popularity.sum() - 1.0) < 1e-5)
    True
    """
    if config is None:
        config = SyntheticCatalogConfig()
    elif not isinstance(config, SyntheticCatalogConfig):
        raise ValueError(f"config={config!r} must be a SyntheticCatalogConfig or None")
    if isinstance(seed, np.random.Generator):
        rng = seed
    else:
        rng = np.random.default_rng(check_seed("seed", seed))
    n, n_topics, n_tags, dim = config.n_items, config.n_topics, config.n_tags, config.embedding_dim

    topic_directions = _unit(rng.standard_normal((n_topics, dim)))
    tag_directions = _unit(rng.standard_normal((max(n_tags, 1), dim)))

    primary = rng.integers(0, n_topics, size=n)
    has_secondary = rng.random(n) < config.secondary_topic_prob
    secondary = (primary + rng.integers(1, n_topics, size=n)) % n_topics
    item_topics = np.zeros((n, n_topics), dtype=np.float64)
    rows = np.arange(n)
    item_topics[rows, primary] = np.where(has_secondary, 0.7, 1.0)
    item_topics[rows[has_secondary], secondary[has_secondary]] = 0.3

    tag_matrix = np.zeros((n, n_tags), dtype=bool)
    if n_tags > 0:
        tag_counts = rng.integers(1, config.max_tags + 1, size=n)
        # Gumbel top-k: each item picks tag_counts[i] distinct tags, uniformly.
        order = np.argsort(rng.random((n, n_tags)), axis=1)
        tag_matrix[rows[:, None], order] = np.arange(n_tags)[None, :] < tag_counts[:, None]

    content = item_topics @ topic_directions
    if n_tags > 0:
        tag_share = tag_matrix / np.maximum(tag_matrix.sum(axis=1, keepdims=True), 1)
        content = content + 0.5 * (tag_share @ tag_directions)
    noise = rng.standard_normal((n, dim)) / np.sqrt(dim)
    embeddings = _unit(content + config.embedding_noise * noise).astype(np.float32)

    quality = rng.beta(2.0, 2.0, size=n)
    rank_key = config.quality_popularity_correlation * quality + (
        1 - config.quality_popularity_correlation
    ) * rng.random(n)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(-rank_key)] = np.arange(1, n + 1)
    popularity = rank.astype(np.float64) ** -config.zipf_exponent
    popularity /= popularity.sum()
    duration = np.exp(np.log(config.median_duration) + 0.5 * rng.standard_normal(n))

    genre_names = GENRES[:n_topics]
    tag_names = TAGS[:n_tags]
    attribute_names = genre_names + tag_names
    genre_block = item_topics > 0
    item_attributes = sp.csr_array(
        np.concatenate([genre_block, tag_matrix], axis=1).astype(np.int8)
    )

    titles: list[str] = []
    descriptions: list[str] = []
    for i in range(n):
        genres = [genre_names[j] for j in np.flatnonzero(genre_block[i])]
        tags = [tag_names[j] for j in np.flatnonzero(tag_matrix[i])]
        lead = tags[0].capitalize() + " " if tags else ""
        title = f"{lead}{genre_names[primary[i]].capitalize()} #{i}"
        titles.append(title)
        descriptions.append(render_description(title, genres + tags, float(duration[i])))

    return Catalog(
        item_ids=np.arange(n, dtype=np.int64),
        attribute_names=attribute_names,
        item_attributes=item_attributes,
        topic_names=genre_names,
        item_topics=(item_topics / item_topics.sum(axis=1, keepdims=True)).astype(np.float32),
        embeddings=embeddings,
        quality=quality.astype(np.float32),
        popularity=popularity.astype(np.float32),
        duration=duration.astype(np.float32),
        titles=tuple(titles),
        descriptions=tuple(descriptions),
        name=f"synthetic-{n}",
    )
