"""Item catalogs: the :class:`Catalog` type, a seeded synthetic generator and dataset loaders."""

from recoworld.catalog.base import Catalog, render_description
from recoworld.catalog.interactions import Interactions
from recoworld.catalog.movielens import MovieLensDataset, MovieLensUsers, load_movielens
from recoworld.catalog.scpr import ScprDataset, load_scpr
from recoworld.catalog.slates import (
    SlateLogs,
    generate_slate_logs,
    load_slate_logs,
    slate_world_from_logs,
    split_users,
    write_slate_logs,
)
from recoworld.catalog.synthetic import GENRES, TAGS, SyntheticCatalogConfig, generate_catalog

__all__ = [
    "GENRES",
    "TAGS",
    "Catalog",
    "Interactions",
    "MovieLensDataset",
    "MovieLensUsers",
    "ScprDataset",
    "SlateLogs",
    "SyntheticCatalogConfig",
    "generate_catalog",
    "generate_slate_logs",
    "load_movielens",
    "load_scpr",
    "load_slate_logs",
    "render_description",
    "slate_world_from_logs",
    "split_users",
    "write_slate_logs",
]
