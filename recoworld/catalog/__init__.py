"""Item catalogs: the :class:`Catalog` type, a seeded synthetic generator and dataset loaders."""

from recoworld.catalog.base import Catalog, render_description
from recoworld.catalog.scpr import ScprDataset, load_scpr
from recoworld.catalog.synthetic import GENRES, TAGS, SyntheticCatalogConfig, generate_catalog

__all__ = [
    "GENRES",
    "TAGS",
    "Catalog",
    "ScprDataset",
    "SyntheticCatalogConfig",
    "generate_catalog",
    "load_scpr",
    "render_description",
]
