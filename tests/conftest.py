"""Shared fixtures: small seeded catalogs and hand-built micro-worlds."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from recoworld.catalog import Catalog, SyntheticCatalogConfig, generate_catalog
from recoworld.simulators import LatentUserState


@pytest.fixture(autouse=True)
def _quiet_checker_warnings():
    # The checkers warn about things that are by design here (2-D candidate features for SB3,
    # no render fps); the tests assert behaviour, not the absence of advice.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


@pytest.fixture(scope="session")
def small_catalog() -> Catalog:
    return generate_catalog(SyntheticCatalogConfig(n_items=200), seed=3)


def micro_catalog() -> Catalog:
    """Two items in two topics, embeddings on the axes, worked by hand in the tests."""
    return Catalog(
        item_ids=np.array([0, 1]),
        attribute_names=("red", "blue"),
        item_attributes=sp.csr_array(np.eye(2, dtype=np.int8)),
        topic_names=("red", "blue"),
        item_topics=np.eye(2, dtype=np.float32),
        embeddings=np.eye(2, dtype=np.float32),
        quality=np.array([0.5, 1.0], np.float32),
        popularity=np.array([0.5, 0.5], np.float32),
        duration=np.array([4.0, 2.0], np.float32),
        titles=("Red", "Blue"),
        descriptions=("Red: red.", "Blue: blue."),
        name="micro",
    )


def micro_user(patience: float = 1.0) -> LatentUserState:
    """One user with one interest pointing at item 0 ("red")."""
    return LatentUserState(
        interests=np.array([[[1.0, 0.0]]], np.float32),
        interest_bonus=np.zeros((1, 1), np.float32),
        boredom=np.array([[0.5, 0.0]], np.float32),
        familiarity=np.zeros((1, 2), np.float32),
        novelty_propensity=np.array([0.2], np.float32),
        novelty_state=np.zeros(1, np.float32),
        base_patience=np.array([1.0], np.float32),
        patience=np.array([patience], np.float32),
        session_skips=np.zeros((1, 2), np.float32),
        session_satisfaction=np.zeros(1, np.float32),
        session_turns=np.zeros(1, np.int32),
        turns_since_instruction=np.full(1, 1 << 20, np.int32),
        seen_bits=np.zeros((1, 1), np.uint8),
        consumed_bits=np.zeros((1, 1), np.uint8),
    )


@pytest.fixture
def fake_provider(monkeypatch: pytest.MonkeyPatch):
    """A scriptable OpenAI-compatible server on loopback (``tests/fake_provider.py``), with
    ``OPENAI_API_KEY`` set to ``fake_provider.FAKE_API_KEY``; use model ``"openai/fake"`` and
    ``api_base=fake_provider.url``."""
    from fake_provider import FAKE_API_KEY, start_fake_provider

    monkeypatch.setenv("OPENAI_API_KEY", FAKE_API_KEY)
    provider, httpd = start_fake_provider()
    try:
        yield provider
    finally:
        httpd.shutdown()
        httpd.server_close()
