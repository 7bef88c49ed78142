"""Scene construction: history strictly before the target, negatives never interacted, the real
item's position uniform, seeded and vectorized."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recoworld.catalog import Catalog, Interactions, SyntheticCatalogConfig, generate_catalog
from recoworld.fidelity import NEGATIVE_SAMPLERS, scenes

N_ITEMS = 120


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return generate_catalog(SyntheticCatalogConfig(n_items=N_ITEMS), seed=5)


def synthetic_log(seed: int, n_users: int = 30, per_user: int = 12) -> Interactions:
    """Each user rates ``per_user`` distinct items; times collide on purpose (ties by item)."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(N_ITEMS, per_user, replace=False) for _ in range(n_users)])
    times = rng.integers(0, 6, size=len(users)) * 100
    ratings = rng.integers(1, 6, size=len(users)).astype(np.float32)
    order = rng.permutation(len(users))  # the file's order is not the time order
    return Interactions(users[order], items[order], ratings[order], times[order], "log.tsv")


def split_last(log: Interactions, k: int) -> tuple[Interactions, Interactions]:
    """(everything but each user's last ``k`` rows by (time, item), those last rows)."""
    chrono = log.chronological()
    rank_from_end = np.zeros(len(chrono), dtype=np.int64)
    for user in np.unique(chrono.users):
        rows = np.flatnonzero(chrono.users == user)
        rank_from_end[rows] = np.arange(len(rows))[::-1]
    held = rank_from_end < k
    return chrono.take(~held), chrono.take(held)


def brute_force_history(history: Interactions, user: int, time: int, item: int) -> list[int]:
    rows = [
        r
        for r in range(len(history))
        if history.users[r] == user and (history.timestamps[r], history.items[r]) < (time, item)
    ]
    rows.sort(key=lambda r: (history.timestamps[r], history.items[r]))
    return [int(history.items[r]) for r in rows]


@pytest.mark.parametrize("negatives", NEGATIVE_SAMPLERS)
def test_history_is_exactly_the_users_earlier_rows_even_when_it_holds_the_targets(
    catalog: Catalog, negatives: str
) -> None:
    log = synthetic_log(0)
    _, targets = split_last(log, 4)
    built = scenes(log, targets, catalog, n_choices=5, negatives=negatives, seed=1)  # type: ignore[arg-type]
    assert len(built) == len(targets)
    for s in range(len(built)):
        row = built.target_rows[s]
        user, time, item = targets.users[row], targets.timestamps[row], targets.items[row]
        expected = brute_force_history(log, user, time, item)
        assert built.history_of(s).tolist() == expected
        lo, hi = built.history_offsets[s], built.history_offsets[s + 1]
        times = built.history_timestamps[lo:hi]
        assert np.all(np.diff(times) >= 0)
        # No leakage: the target itself and everything at or after it stays out.
        assert all(
            (t, i) < (time, item)
            for t, i in zip(times.tolist(), built.history_of(s).tolist(), strict=True)
        )
    assert np.array_equal(built.real_items, targets.items[built.target_rows])
    assert np.array_equal(built.target_timestamps, targets.timestamps[built.target_rows])


@pytest.mark.parametrize("negatives", NEGATIVE_SAMPLERS)
def test_negatives_are_distinct_items_the_user_never_touched(
    catalog: Catalog, negatives: str
) -> None:
    history, targets = split_last(synthetic_log(1), 3)
    built = scenes(history, targets, catalog, n_choices=6, negatives=negatives, seed=2)  # type: ignore[arg-type]
    touched: dict[int, set[int]] = {}
    for table in (history, targets):
        for user, item in zip(table.users.tolist(), table.items.tolist(), strict=True):
            touched.setdefault(user, set()).add(item)
    for s in range(len(built)):
        row = built.choices[s].tolist()
        assert len(set(row)) == 6
        others = [item for k, item in enumerate(row) if k != built.answers[s]]
        assert not set(others) & touched[int(built.users[s])]  # never, at any time


def test_real_item_position_is_uniform(catalog: Catalog) -> None:
    log = synthetic_log(2, n_users=400, per_user=10)
    built = scenes(log, log, catalog, n_choices=4, negatives="uniform", seed=3)
    shares = np.bincount(built.answers, minlength=4) / len(built)
    assert np.all(np.abs(shares - 0.25) < 0.03), shares


def test_same_seed_same_scenes_and_limit_draws_a_subset(catalog: Catalog) -> None:
    log = synthetic_log(3)
    first = scenes(log, log, catalog, seed=7, limit=50)
    again = scenes(log, log, catalog, seed=7, limit=50)
    other = scenes(log, log, catalog, seed=8, limit=50)
    assert np.array_equal(first.choices, again.choices)
    assert np.array_equal(first.history_items, again.history_items)
    assert not np.array_equal(first.choices, other.choices)
    assert len(first) == 50 and len(np.unique(first.target_rows)) == 50
    assert np.all(np.diff(first.target_rows) > 0)
    assert first.config.limit == 50 and first.config.seed == 7


def test_popularity_negatives_favour_popular_and_similar_ones_resemble_the_real_item(
    catalog: Catalog,
) -> None:
    rng = np.random.default_rng(4)
    n = 3000
    popular = rng.integers(0, 10, size=n)  # items 0..9 are where all the history is
    history = Interactions(
        np.full(n, 1000), popular, np.ones(n), np.arange(n), "history.tsv"
    )  # a user of its own, so no scene user is barred from items 0..9
    targets = Interactions(
        np.arange(300), rng.integers(10, N_ITEMS, 300), np.ones(300), np.full(300, n)
    )
    by = {
        negatives: scenes(history, targets, catalog, negatives=negatives, seed=5)  # type: ignore[arg-type]
        for negatives in NEGATIVE_SAMPLERS
    }

    def others(built):  # type: ignore[no-untyped-def]
        mask = np.arange(built.n_choices)[None, :] != built.answers[:, None]
        return built.choices[mask].reshape(len(built), -1)

    popular_share = {k: float(np.mean(others(v) < 10)) for k, v in by.items()}
    assert popular_share["popularity"] > 0.8 > 0.2 > popular_share["uniform"]
    unit = catalog.embeddings / np.linalg.norm(catalog.embeddings, axis=1, keepdims=True)

    def mean_cosine(built):  # type: ignore[no-untyped-def]
        return float(np.mean(np.sum(unit[others(built)] * unit[built.real_items][:, None], -1)))

    assert mean_cosine(by["similar"]) > mean_cosine(by["uniform"]) + 0.2


def test_bad_input_is_refused_with_the_argument_named(catalog: Catalog) -> None:
    log = synthetic_log(5)
    with pytest.raises(ValueError, match="n_choices=1"):
        scenes(log, log, catalog, n_choices=1)
    with pytest.raises(ValueError, match="negatives='nearest'"):
        scenes(log, log, catalog, negatives="nearest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit=100000 exceeds"):
        scenes(log, log, catalog, limit=100_000)
    outside = Interactions(np.array([0]), np.array([N_ITEMS]), np.ones(1), np.zeros(1), "x.tsv")
    with pytest.raises(ValueError, match=r"targets \(x.tsv\) names item row 120"):
        scenes(log, outside, catalog)
    greedy = Interactions(
        np.zeros(N_ITEMS - 2), np.arange(N_ITEMS - 2), np.ones(N_ITEMS - 2), np.arange(N_ITEMS - 2)
    )
    with pytest.raises(ValueError, match="user row 0 interacted with all but 2"):
        scenes(greedy, greedy.take(np.array([5])), catalog, n_choices=5)


ML_100K = Path(__file__).resolve().parents[3] / "shared" / "data" / "ml-100k"


def test_ml_100k_valid_scenes_hold_only_the_past() -> None:
    if not (ML_100K / "ratings_valid.tsv").is_file():
        pytest.skip(f"MovieLens 100K is not at {ML_100K}")
    from recoworld.fidelity import load_scene_data

    data = load_scene_data("movielens", ML_100K)
    built = scenes(data.history, data.targets, data.catalog, negatives="popularity", seed=0)
    assert len(built) == 4715
    users = np.repeat(built.users, built.history_lengths)
    target_time = np.repeat(built.target_timestamps, built.history_lengths)
    target_item = np.repeat(built.real_items, built.history_lengths)
    earlier = (built.history_timestamps < target_time) | (
        (built.history_timestamps == target_time) & (built.history_items < target_item)
    )
    assert earlier.all()
    # Each history is the user's full train plus their valid ratings before the target.
    train_counts = np.bincount(data.train.users, minlength=data.history.n_users)
    assert np.all(built.history_lengths >= train_counts[built.users])
    assert np.all(built.history_lengths <= train_counts[built.users] + 4)
    assert users.size == built.history_offsets[-1]


def test_take_keeps_each_scene_whole() -> None:
    catalog = generate_catalog(SyntheticCatalogConfig(n_items=60), seed=0)
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(4), 8)
    log = Interactions(
        users, rng.permutation(60)[:32], np.ones(32, np.float32), np.tile(np.arange(8), 4)
    )
    built = scenes(log, log.take(np.array([3, 9, 31, 20])), catalog, n_choices=3, seed=0)
    rows = np.array([2, 0, 2])
    part = built.take(rows)
    assert len(part) == 3 and part.config == built.config
    for new, old in enumerate(rows):
        np.testing.assert_array_equal(part.history_of(new), built.history_of(old))
        np.testing.assert_array_equal(part.choices[new], built.choices[old])
        assert part.answers[new] == built.answers[old] and part.users[new] == built.users[old]
    assert len(built.take(np.array([], dtype=np.int64))) == 0
    with pytest.raises(ValueError, match=r"outside 0\.\.3"):
        built.take(np.array([4]))
    with pytest.raises(ValueError, match="1-D integer"):
        built.take(np.array([0.5]))


def test_train_scenes_hold_out_their_targets_and_share_the_samplers() -> None:
    from recoworld.fidelity.scene import Scenes, earlier_rows, train_scenes

    catalog = generate_catalog(SyntheticCatalogConfig(n_items=80), seed=0)
    rng = np.random.default_rng(1)
    users = np.repeat(np.arange(6), 12)
    items = np.concatenate([rng.permutation(80)[:12] for _ in range(6)])
    log = Interactions(users, items, np.ones(72, np.float32), np.tile(np.arange(12), 6))
    built, rows = train_scenes(
        log, catalog, count=20, min_history=4, negatives=("uniform", "popularity"), n_choices=3,
        rng=np.random.default_rng(2),
    )  # fmt: skip
    assert len(built) == len(rows) == 20 and len(set(rows.tolist())) == 20
    np.testing.assert_array_equal(built.real_items, log.items[rows])
    # each scene's history is its user's rows strictly before the target
    np.testing.assert_array_equal(built.history_lengths, earlier_rows(log)[rows])
    assert np.all(earlier_rows(log)[rows] >= 4)
    # the two samplers share the scenes, and neither gets only one end of the user table
    assert built.config.negatives == "uniform"
    first, second = log.users[rows[:10]], log.users[rows[10:]]
    assert first.max() > second.min() and second.max() > first.min()
    with pytest.raises(ValueError, match="fit_min_history=13"):
        train_scenes(
            log, catalog, count=5, min_history=13, negatives=("uniform",), n_choices=3,
            rng=np.random.default_rng(0), min_history_name="fit_min_history",
        )  # fmt: skip
    with pytest.raises(ValueError, match="n_choices"):
        train_scenes(
            log, catalog, count=5, min_history=1, negatives=("uniform",), n_choices=81,
            rng=np.random.default_rng(0),
        )  # fmt: skip
    halves = Scenes.concatenate([built.take(np.arange(7)), built.take(np.arange(7, 20))])
    for name in ("choices", "answers", "history_items", "history_offsets", "users"):
        np.testing.assert_array_equal(getattr(halves, name), getattr(built, name))
    with pytest.raises(ValueError, match="no scenes"):
        Scenes.concatenate([])


def test_earlier_rows_by_hand() -> None:
    from recoworld.fidelity.scene import earlier_rows

    log = Interactions(
        np.array([1, 0, 1, 0, 1]), np.array([5, 2, 3, 9, 4]),
        np.ones(5, np.float32), np.array([7, 1, 3, 1, 3]),
    )  # fmt: skip
    # user 0: (t1, item 2), (t1, item 9); user 1: (t3, 3), (t3, 4), (t7, 5)
    assert earlier_rows(log).tolist() == [2, 0, 0, 1, 1]
