"""Item catalogs: the :class:`Catalog` type, a seeded synthetic generator and dataset loaders."""

from recoworld.catalog.base import Catalog, render_description
from recoworld.catalog.interactions import Interactions
from recoworld.catalog.movielens import MovieLensDataset, MovieLensUsers, load_movielens
from recoworld.catalog.scpr import ScprDataset, load_scpr
from recoworld.catalog.synthetic import GENRES, TAGS, SyntheticCatalogConfig, generate_catalog

__all__ = [
    "GENRES",
    "TAGS",
    "Catalog",
    "Interactions",
    "MovieLensDataset",
    "MovieLensUsers",
    "ScprDataset",
    "SyntheticCatalogConfig",
    "generate_catalog",
    "load_movielens",
    "load_scpr",
    "render_description",
]
