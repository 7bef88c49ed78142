"""Tests of the FINN.no slate-log format: loading, writing, the synthetic generator and the
world built from logs."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from recoworld.catalog import slates
from recoworld.catalog.slate_world import SlateWorld, synthetic_slate_world
from recoworld.catalog.slates import (
    DATA_KEYS,
    SlateLogs,
    generate_slate_logs,
    load_slate_logs,
    slate_world_from_logs,
    split_users,
    write_slate_logs,
)
from recoworld.simulators import sample_users, step_users

FIELDS = ("user_id", "click", "click_idx", "slate_lengths", "slate", "interaction_type")
SLATE_SIZE = 12


@pytest.fixture(scope="module")
def world() -> SlateWorld:
    return synthetic_slate_world(3, n_items=400, n_groups=8)


@pytest.fixture(scope="module")
def logs(world: SlateWorld) -> SlateLogs:
    return generate_slate_logs(world, 120, seed=5, horizon=10, slate_size=SLATE_SIZE)


def assert_same_logs(first: SlateLogs, second: SlateLogs) -> None:
    for name in (*FIELDS, "category"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name), err_msg=name)
    assert first.category_names == second.category_names
    assert first.interaction_type_names == second.interaction_type_names


def data_arrays(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / "data.npz") as archive:
        return {key: archive[key] for key in archive.files}


# ------------------------------------------------------------------------------ round trip


def test_round_trip_uncompressed_is_memory_mapped_in_place(logs: SlateLogs, tmp_path: Path) -> None:
    folder = write_slate_logs(logs, tmp_path / "logs")
    cache = tmp_path / "cache"
    loaded = load_slate_logs(folder, cache_dir=cache)
    assert_same_logs(logs, loaded)
    for name in FIELDS:
        assert isinstance(getattr(loaded, name), np.memmap), name
        assert Path(str(getattr(loaded, name).filename)) == (folder / "data.npz").resolve()
    assert not cache.exists()  # nothing to decompress
    assert loaded.source == str(folder)
    assert (loaded.n_users, loaded.n_steps, loaded.max_slate) == (120, 10, SLATE_SIZE)


def test_round_trip_compressed_decompresses_into_the_cache(
    world: SlateWorld, logs: SlateLogs, tmp_path: Path
) -> None:
    folder = write_slate_logs(logs, tmp_path / "logs", compress=True)
    with zipfile.ZipFile(folder / "data.npz") as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    cache = tmp_path / "cache"
    loaded = load_slate_logs(folder, cache_dir=cache)
    assert_same_logs(logs, loaded)
    for name in FIELDS:
        array = getattr(loaded, name)
        assert isinstance(array, np.memmap), name
        assert Path(str(array.filename)).is_relative_to(cache.resolve())
    assert sorted(p.name for p in folder.iterdir()) == ["data.npz", "ind2val.json", "itemattr.npz"]
    (entry,) = list(cache.iterdir())
    assert sorted(p.name for p in entry.iterdir()) == sorted(f"{key}.npy" for key in DATA_KEYS)

    # a changed file is decompressed again, never served stale
    other = generate_slate_logs(world, 30, seed=9, horizon=10, slate_size=SLATE_SIZE)
    write_slate_logs(other, folder, compress=True, overwrite=True)
    assert_same_logs(other, load_slate_logs(folder, cache_dir=cache))
    assert len(list(cache.iterdir())) == 2


def test_written_files_follow_the_finn_format(logs: SlateLogs, tmp_path: Path) -> None:
    folder = write_slate_logs(logs, tmp_path / "logs")
    assert set(data_arrays(folder)) == set(DATA_KEYS)
    with np.load(folder / "itemattr.npz") as archive:
        assert archive.files == ["category"]
        assert archive["category"].dtype == np.float64
    names = json.loads((folder / "ind2val.json").read_text(encoding="utf-8"))
    assert set(names) == {"category", "interaction_type"}
    assert names["category"]["0"] == "PAD"
    assert names["category"]["1"] == "noClick"
    assert names["category"]["2"] == "<UNK>"
    assert names["interaction_type"] == {"0": "<UNK>", "1": "search", "2": "rec"}


def test_existing_files_are_not_overwritten(logs: SlateLogs, tmp_path: Path) -> None:
    folder = write_slate_logs(logs, tmp_path / "logs")
    before = (folder / "data.npz").read_bytes()
    smaller = logs.take(np.arange(10))
    with pytest.raises(FileExistsError, match=r"data\.npz"):
        write_slate_logs(smaller, folder)
    assert (folder / "data.npz").read_bytes() == before
    write_slate_logs(smaller, folder, overwrite=True)
    assert load_slate_logs(folder).n_users == 10
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no partial files left


def test_take_copies_the_rows_in_order(logs: SlateLogs, tmp_path: Path) -> None:
    loaded = load_slate_logs(write_slate_logs(logs, tmp_path / "logs"))
    rows = np.array([7, 2, 99])
    part = loaded.take(rows)
    for name in FIELDS:
        array = getattr(part, name)
        assert not isinstance(array, np.memmap)
        np.testing.assert_array_equal(array, getattr(logs, name)[rows], err_msg=name)
    with pytest.raises(ValueError, match="user row 120"):
        loaded.take(np.array([0, 120]))


# ---------------------------------------------------------------------------- bad files


@pytest.fixture
def folder(logs: SlateLogs, tmp_path: Path) -> Path:
    return write_slate_logs(logs, tmp_path / "logs")


def rewrite_data(folder: Path, **changes: np.ndarray | None) -> None:
    arrays = data_arrays(folder)
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    np.savez(folder / "data.npz", **arrays)  # type: ignore[arg-type]


def test_missing_key_is_named(folder: Path) -> None:
    rewrite_data(folder, click_idx=None)
    with pytest.raises(ValueError, match=r"data\.npz: missing key 'click_idx'"):
        load_slate_logs(folder)


def test_wrong_shape_is_named(folder: Path, logs: SlateLogs) -> None:
    rewrite_data(folder, click=np.asarray(logs.click)[:, :-1])
    with pytest.raises(
        ValueError, match=r"data\.npz.*'click' has shape \(120, 9\), expected \(120, 10\)"
    ):
        load_slate_logs(folder)


def test_float_array_is_refused(folder: Path, logs: SlateLogs) -> None:
    rewrite_data(folder, slate_lengths=np.asarray(logs.slate_lengths, dtype=np.float32))
    with pytest.raises(ValueError, match=r"data\.npz: key 'slate_lengths'.*float32"):
        load_slate_logs(folder)


def test_bad_slate_value_names_its_position(folder: Path, logs: SlateLogs) -> None:
    slate = np.array(logs.slate)
    slate[37, 4, 3] = logs.n_items + 5
    rewrite_data(folder, slate=slate)
    with pytest.raises(
        ValueError,
        match=rf"data\.npz: key 'slate' holds {logs.n_items + 5} at user row 37, step 4, slot 3",
    ):
        load_slate_logs(folder)


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("click", -1, "log index"),
        ("click_idx", SLATE_SIZE, "slate position"),
        ("slate_lengths", SLATE_SIZE + 1, "slate length"),
        ("interaction_type", 3, "2 rec"),
    ],
)
def test_bad_step_values_are_named(
    folder: Path, logs: SlateLogs, key: str, value: int, allowed: str
) -> None:
    array = np.array(getattr(logs, key if key != "userId" else "user_id"))
    array[11, 6] = value
    rewrite_data(folder, **{key: array})
    with pytest.raises(
        ValueError, match=rf"'{key}' holds {value} at user row 11, step 6;.*{allowed}"
    ):
        load_slate_logs(folder)


def first_step(logs: SlateLogs, where: np.ndarray) -> tuple[int, int]:
    rows, steps = np.nonzero(where)
    return int(rows[0]), int(steps[0])


LAYOUT_BREAKS = {
    # name: (step kind, key, change, message) with the step's user row u, step t and length L
    "no-click not first": ("real", "slate", (0, 7), r"holds 7 at {u}, step {t}, slot 0;.*"
                           r"the no-click index 1 at slot 0"),
    "zero below the length": ("short", "slate", ("L-1", 0), r"holds 0 at {u}, step {t}, slot "
                              r"{L-1};.*an item \(not 0\) below the slate length {L}"),
    "item after the length": ("short", "slate", ("L", 7), r"holds 7 at {u}, step {t}, slot {L};"
                              r".*0 \(padding\) from the slate length {L}"),
    "length without no-click": ("real", "slate_lengths", 0, r"holds 0 at {u}, step {t};.*at "
                                r"least 1"),
    "click position past the length": ("short", "click_idx", "L", r"holds {L} at {u}, step {t};"
                                       r".*a position below the slate length {L}"),
    "padded step with a length": ("padded", "slate_lengths", 3, r"holds 3 at {u}, step {t};.*0 "
                                  r"on a padded step"),
    "padded step with a click position": ("padded", "click_idx", 2, r"holds 2 at {u}, step {t};"
                                          r".*0 on a padded step"),
    "padded step with a slate": ("padded", "slate", (4, 7), r"holds 7 at {u}, step {t}, slot 4;"
                                 r".*0 on a padded step \(click 0\): its slate row is all 0"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(LAYOUT_BREAKS))
def test_layout_breaks_are_named(folder: Path, logs: SlateLogs, name: str) -> None:
    kind, key, change, message = LAYOUT_BREAKS[name]
    real = logs.click != 0
    steps = {"real": real, "short": real & (logs.slate_lengths < SLATE_SIZE), "padded": ~real}
    row, step = first_step(logs, steps[kind])
    length = int(logs.slate_lengths[row, step])
    marks = {"L-1": length - 1, "L": length}
    arrays = data_arrays(folder)
    if key == "slate":
        slot, value = change
        arrays["slate"][row, step, marks.get(slot, slot)] = value
    else:
        arrays[key][row, step] = marks.get(change, change)
    rewrite_data(folder, **{key: arrays[key]})
    pattern = message.format(u=f"user row {row}", t=step, L=length, **{"L-1": length - 1})
    with pytest.raises(ValueError, match=rf"data\.npz: key '{key}' " + pattern):
        load_slate_logs(folder)
    # the broken keys are named as their fields: writing refuses the same break
    bad = SlateLogs(**{**{field: getattr(logs, field) for field in FIELDS}, key: arrays[key]},
                    category=logs.category, category_names=logs.category_names,
                    interaction_type_names=logs.interaction_type_names)  # fmt: skip
    with pytest.raises(ValueError, match=rf"logs: key '{key}' " + pattern):
        write_slate_logs(bad, folder.parent / "again")
    assert not (folder.parent / "again").exists()


def test_click_outside_its_slate_is_accepted(folder: Path, logs: SlateLogs) -> None:
    real = logs.click != 0
    row, step = first_step(logs, real & (logs.slate_lengths < SLATE_SIZE))
    shown = set(np.asarray(logs.slate[row, step]).tolist())
    outside = next(item for item in range(3, logs.n_items) if item not in shown)
    click = np.array(logs.click)
    click[row, step] = outside
    rewrite_data(folder, click=click)
    assert load_slate_logs(folder).click[row, step] == outside


def test_checks_read_every_chunk(
    folder: Path, logs: SlateLogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slates, "_CHUNK_ENTRIES", 7 * logs.n_steps * SLATE_SIZE)  # 7 users
    assert load_slate_logs(folder).n_users == 120  # 18 chunks, all good
    slate = np.array(logs.slate)
    slate[100, 4, 3] = logs.n_items + 5  # in the 15th chunk (rows 98..104)
    rewrite_data(folder, slate=slate)
    with pytest.raises(
        ValueError, match=rf"holds {logs.n_items + 5} at user row 100, step 4, slot 3; exp"
    ):
        load_slate_logs(folder)
    slate[100, 4, 3] = logs.slate[100, 4, 3]
    slate[95, 2, 0] = 7  # a layout break in the 14th chunk (rows 91..97)
    rewrite_data(folder, slate=slate)
    with pytest.raises(ValueError, match=r"holds 7 at user row 95, step 2, slot 0; expected the"):
        load_slate_logs(folder)


def test_exposure_counts_every_chunk(logs: SlateLogs, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = slate_world_from_logs(logs, seed=1)
    monkeypatch.setattr(slates, "_CHUNK_ENTRIES", 7 * logs.n_steps * SLATE_SIZE)  # 7 users
    chunked = slate_world_from_logs(logs, seed=1)
    np.testing.assert_array_equal(chunked.catalog.popularity, whole.catalog.popularity)
    np.testing.assert_array_equal(chunked.catalog.quality, whole.catalog.quality)
    shown = np.bincount(np.asarray(logs.slate).reshape(-1), minlength=logs.n_items)[3:]
    expected = (shown + 1.0) / (shown + 1.0).sum()
    np.testing.assert_allclose(chunked.catalog.popularity, expected, rtol=1e-6)
    click = np.array(logs.click)
    click[117, 3] = logs.n_items  # in the 17th chunk (rows 112..118)
    bad = SlateLogs(**{**{name: getattr(logs, name) for name in FIELDS}, "click": click},
                    category=logs.category, category_names=logs.category_names,
                    interaction_type_names=logs.interaction_type_names)  # fmt: skip
    with pytest.raises(ValueError, match=f"click holds {logs.n_items}, outside"):
        slate_world_from_logs(bad, seed=1)


def test_truncated_archive_is_named(folder: Path) -> None:
    data = (folder / "data.npz").read_bytes()
    (folder / "data.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"data\.npz"):
        load_slate_logs(folder)


def test_truncated_compressed_member_is_named(logs: SlateLogs, tmp_path: Path) -> None:
    folder = write_slate_logs(logs, tmp_path / "logs", compress=True)
    path = folder / "data.npz"
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("slate.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    data[start : start + 64] = bytes(64)  # damage the deflated stream
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"data\.npz"):
        load_slate_logs(folder, cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("slate.npy"))  # no half file is kept


def test_bad_json_is_named(folder: Path) -> None:
    (folder / "ind2val.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"ind2val\.json"):
        load_slate_logs(folder)


def test_names_without_category_are_named(folder: Path) -> None:
    (folder / "ind2val.json").write_text('{"interaction_type": {"0": "<UNK>"}}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"ind2val\.json: missing key 'category'"):
        load_slate_logs(folder)


def test_unnamed_category_is_named(folder: Path, logs: SlateLogs) -> None:
    category = logs.category.astype(np.float64)
    category[50] = 999.0
    np.savez(folder / "itemattr.npz", category=category)
    with pytest.raises(ValueError, match=r"itemattr\.npz: key 'category' holds 999 at item 50"):
        load_slate_logs(folder)


def test_fractional_category_is_refused(folder: Path, logs: SlateLogs) -> None:
    category = logs.category.astype(np.float64)
    category[7] = 4.5
    np.savez(folder / "itemattr.npz", category=category)
    with pytest.raises(ValueError, match=r"itemattr\.npz.*4\.5 at item 7"):
        load_slate_logs(folder)


def test_missing_file_is_named(folder: Path) -> None:
    (folder / "itemattr.npz").unlink()
    with pytest.raises(FileNotFoundError, match=r"itemattr\.npz"):
        load_slate_logs(folder)


def test_a_missing_folder_or_a_file_given_as_the_folder_is_named(
    folder: Path, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_slate_logs(tmp_path / "nowhere")
    with pytest.raises(NotADirectoryError, match=r"data\.npz' is a file; name the folder"):
        load_slate_logs(folder / "data.npz")


def test_cache_inside_the_dataset_folder_is_refused(
    logs: SlateLogs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_slate_logs(logs, tmp_path / "logs", compress=True)
    monkeypatch.chdir(folder)
    with pytest.raises(ValueError, match=r"cache_dir='cache' is inside the log folder"):
        load_slate_logs(folder, cache_dir="cache")  # named as passed
    assert not (folder / "cache").exists()


def test_default_cache_serves_data_kept_in_home(
    logs: SlateLogs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    write_slate_logs(logs, home, compress=True)  # the log folder is an ancestor of ~/.cache
    assert_same_logs(logs, load_slate_logs(home))
    assert sorted(p.name for p in home.iterdir()) == [
        ".cache", "data.npz", "ind2val.json", "itemattr.npz"
    ]  # fmt: skip
    (entry,) = list((home / ".cache" / "recoworld" / "slate_logs").iterdir())
    assert sorted(p.name for p in entry.iterdir()) == sorted(f"{key}.npy" for key in DATA_KEYS)


def test_cache_never_writes_beside_the_data(logs: SlateLogs, tmp_path: Path) -> None:
    folder = write_slate_logs(logs, tmp_path / "logs", compress=True)
    cache = tmp_path / "cache"
    load_slate_logs(folder, cache_dir=cache)
    (entry,) = list(cache.iterdir())
    shutil.rmtree(entry)
    entry.symlink_to(folder, target_is_directory=True)  # the cache folder is the log folder
    with pytest.raises(ValueError, match="never writes next to a dataset's files"):
        load_slate_logs(folder, cache_dir=cache)
    assert sorted(p.name for p in folder.iterdir()) == ["data.npz", "ind2val.json", "itemattr.npz"]


def pad_to(path: Path, size: int) -> None:
    """Grow the zip archive ``path`` to ``size`` bytes with an archive comment."""
    with zipfile.ZipFile(path, "a") as archive:
        archive.comment = b"x" * (size - path.stat().st_size)
    assert path.stat().st_size == size


def test_cache_tells_apart_copies_of_equal_size_and_time(world: SlateWorld, tmp_path: Path) -> None:
    first = generate_slate_logs(world, 30, seed=1, horizon=10, slate_size=SLATE_SIZE)
    second = generate_slate_logs(world, 30, seed=2, horizon=10, slate_size=SLATE_SIZE)
    folder = write_slate_logs(first, tmp_path / "logs", compress=True)
    other = write_slate_logs(second, tmp_path / "other", compress=True)
    size = max((folder / "data.npz").stat().st_size, (other / "data.npz").stat().st_size) + 64
    pad_to(folder / "data.npz", size)
    pad_to(other / "data.npz", size)
    cache = tmp_path / "cache"
    assert_same_logs(first, load_slate_logs(folder, cache_dir=cache))
    before = (folder / "data.npz").stat()
    # what ``cp -p`` of the other file does: new content, same path, size and mtime
    shutil.copyfile(other / "data.npz", folder / "data.npz")
    os.utime(folder / "data.npz", ns=(before.st_atime_ns, before.st_mtime_ns))
    after = (folder / "data.npz").stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert_same_logs(second, load_slate_logs(folder, cache_dir=cache))
    assert len(list(cache.iterdir())) == 2


def test_unnamed_category_is_not_written(logs: SlateLogs, tmp_path: Path) -> None:
    category = logs.category.copy()
    category[5] = 77
    bad = SlateLogs(**{name: getattr(logs, name) for name in FIELDS}, category=category,
                    category_names=logs.category_names,
                    interaction_type_names=logs.interaction_type_names)  # fmt: skip
    with pytest.raises(ValueError, match="category holds 77 at item 5, a category category_names"):
        write_slate_logs(bad, tmp_path / "logs")
    assert not (tmp_path / "logs").exists()


def test_bad_logs_are_not_written(logs: SlateLogs, tmp_path: Path) -> None:
    click = np.array(logs.click)
    click[3, 1] = logs.n_items
    bad = SlateLogs(**{**{name: getattr(logs, name) for name in FIELDS}, "click": click},
                    category=logs.category, category_names=logs.category_names,
                    interaction_type_names=logs.interaction_type_names)  # fmt: skip
    with pytest.raises(ValueError, match="'click' holds 403 at user row 3, step 1"):
        write_slate_logs(bad, tmp_path / "logs")
    assert not (tmp_path / "logs").exists()


# ----------------------------------------------------------------------------- generator


def test_same_seed_gives_identical_logs(world: SlateWorld, logs: SlateLogs) -> None:
    again = generate_slate_logs(world, 120, seed=5, horizon=10, slate_size=SLATE_SIZE)
    assert_same_logs(logs, again)
    other = generate_slate_logs(world, 120, seed=6, horizon=10, slate_size=SLATE_SIZE)
    assert not np.array_equal(logs.slate, other.slate)


def test_generated_logs_follow_the_finn_layout(world: SlateWorld, logs: SlateLogs) -> None:
    np.testing.assert_array_equal(logs.user_id, np.arange(1, 121))
    np.testing.assert_array_equal(logs.category[3:], world.groups + 3)
    assert logs.category_names[0] == "PAD" and logs.category_names[3] == world.group_names[0]
    padded = logs.click == 0
    active = ~padded
    # once a user has left, every later step is padded
    assert not (padded[:, :-1] & active[:, 1:]).any()
    assert padded.any() and active[:, 0].all()
    assert (logs.slate[padded] == 0).all()
    assert (logs.slate_lengths[padded] == 0).all()
    assert (logs.interaction_type[padded] == 0).all()
    assert (logs.click_idx[padded] == 0).all()

    slates = logs.slate[active]
    lengths = logs.slate_lengths[active]
    assert (slates[:, 0] == 1).all()  # the no-click item first
    positions = np.arange(SLATE_SIZE)[None, :]
    inside = (positions >= 1) & (positions < lengths[:, None])
    assert (slates[inside] >= 3).all()
    assert (slates[positions >= lengths[:, None]] == 0).all()
    for row, length in zip(slates, lengths, strict=True):
        assert len(np.unique(row[1:length])) == length - 1

    clicks, where = logs.click[active], logs.click_idx[active]
    no_click = clicks == 1
    assert (where[no_click] == 0).all()
    assert (where[~no_click] >= 1).all()
    np.testing.assert_array_equal(slates[~no_click, where[~no_click]], clicks[~no_click])


def test_generated_logs_mix_search_and_recommendation(world: SlateWorld, logs: SlateLogs) -> None:
    kinds = logs.interaction_type[logs.click != 0]
    search, recommendation = kinds == 1, kinds == 2
    assert (search | recommendation).all()
    assert 0.3 < search.mean() < 0.7
    lengths = logs.slate_lengths[logs.click != 0]
    assert (lengths[recommendation] == SLATE_SIZE).all()
    assert lengths[search].min() >= 5 and lengths[search].max() <= SLATE_SIZE
    assert len(np.unique(lengths[search])) > 3
    slates = logs.slate[logs.click != 0][search]
    for row, length in zip(slates, lengths[search], strict=True):
        assert len(np.unique(logs.category[row[1:length]])) == 1  # one group per search
    # informative for training: users click several times, not on every slate
    clicks_per_user = (logs.click >= 3).sum(axis=1)
    assert clicks_per_user.mean() > 2.0
    assert 0.1 < (logs.click[logs.click != 0] == 1).mean() < 0.9


def test_generator_refuses_bad_arguments(world: SlateWorld) -> None:
    with pytest.raises(ValueError, match="slate_size"):
        generate_slate_logs(world, 10, seed=0, slate_size=1)
    with pytest.raises(ValueError, match="search_share"):
        generate_slate_logs(world, 10, seed=0, search_share=1.5)
    with pytest.raises(ValueError, match="n_users"):
        generate_slate_logs(world, 0, seed=0)


# ------------------------------------------------------------------------ splits, worlds


def test_split_users_is_a_seeded_partition() -> None:
    train, valid = split_users(200, valid_fraction=0.25, seed=4)
    assert len(valid) == 50 and len(train) == 150
    np.testing.assert_array_equal(np.sort(np.concatenate([train, valid])), np.arange(200))
    again = split_users(200, valid_fraction=0.25, seed=4)
    np.testing.assert_array_equal(again[1], valid)
    assert not np.array_equal(split_users(200, valid_fraction=0.25, seed=5)[1], valid)
    with pytest.raises(ValueError, match="valid_fraction"):
        split_users(5, valid_fraction=0.01)


def test_world_from_synthetic_logs(world: SlateWorld, logs: SlateLogs) -> None:
    rebuilt = slate_world_from_logs(logs, seed=1)
    assert rebuilt.n_items == world.n_items
    np.testing.assert_array_equal(rebuilt.groups, world.groups)
    assert rebuilt.group_names == world.group_names
    assert rebuilt.catalog.topic_names == world.group_names  # few groups: one topic each
    np.testing.assert_array_equal(rebuilt.catalog.item_ids, np.arange(3, world.n_items + 3))
    np.testing.assert_array_equal(rebuilt.log_items(np.array([0])), [3])
    assert rebuilt.catalog.titles[0] == f"item 3 ({world.group_names[world.groups[0]]})"
    shown = np.bincount(np.asarray(logs.slate).reshape(-1), minlength=logs.n_items)[3:]
    popularity = rebuilt.catalog.popularity
    assert popularity.sum() == pytest.approx(1.0, rel=1e-5)
    assert popularity[np.argmax(shown)] > popularity[np.argmin(shown)]
    norms = np.linalg.norm(rebuilt.catalog.embeddings, axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    assert 0.0 <= rebuilt.catalog.quality.min() and rebuilt.catalog.quality.max() <= 1.0
    # the latent users live in it
    rng = np.random.default_rng(0)
    users = sample_users(4, rebuilt.catalog, rebuilt.user_config, rng)
    outcome = step_users(
        users, rebuilt.catalog, np.arange(20).reshape(4, 5), rebuilt.user_config, rng
    )
    assert (outcome.clicks.sum(axis=1) <= 1).all()
    same = slate_world_from_logs(logs, seed=1)
    np.testing.assert_array_equal(same.catalog.embeddings, rebuilt.catalog.embeddings)


def finn_like_logs(category_names: dict[int, str], category: np.ndarray) -> SlateLogs:
    n_items = len(category)
    rng = np.random.default_rng(0)
    slate = rng.integers(3, n_items, size=(6, 4, 5))
    slate[:, :, 0] = 1
    return SlateLogs(
        user_id=np.arange(1, 7),
        click=slate[:, :, 2].copy(),
        click_idx=np.full((6, 4), 2),
        slate_lengths=np.full((6, 4), 5),
        slate=slate,
        interaction_type=np.full((6, 4), 2),
        category=category,
        category_names=category_names,
        interaction_type_names={0: "<UNK>", 1: "search", 2: "rec"},
        source="finn-like",
    )


def test_world_topics_are_finn_verticals() -> None:
    names = {
        **{0: "PAD", 1: "noClick", 2: "<UNK>", 3: "BAP,antiques,Oslo"},
        **{4: "BAP,antiques,Trøndelag", 5: "MOTOR,cars,Oslo", 6: "REAL_ESTATE,homes,Bergen"},
    }
    category = np.array([0, 1, 2, 3, 4, 5, 6, 6, 3, 2])  # the last real item has no category
    rebuilt = slate_world_from_logs(finn_like_logs(names, category))
    assert rebuilt.catalog.topic_names == ("BAP", "MOTOR", "REAL_ESTATE", "<UNK>")
    np.testing.assert_array_equal(rebuilt.groups, [0, 1, 2, 3, 3, 0, 4])
    assert rebuilt.group_names[-1] == "<UNK>"
    topics = np.argmax(rebuilt.catalog.item_topics, axis=1)
    np.testing.assert_array_equal(topics[:5], [0, 0, 1, 2, 2])
    assert rebuilt.catalog.titles[1] == "item 4 (BAP, antiques, Trøndelag)"


def test_world_caps_the_topics_of_many_groups() -> None:
    names = {0: "PAD", 1: "noClick", 2: "<UNK>"} | {k: f"group {k}" for k in range(3, 43)}
    category = np.concatenate([np.arange(3), np.arange(3, 43), np.full(10, 42)])
    rebuilt = slate_world_from_logs(finn_like_logs(names, category))
    assert rebuilt.n_groups == 40
    assert rebuilt.catalog.n_topics == 24
    assert "other" in rebuilt.catalog.topic_names
    assert rebuilt.catalog.topic_names[np.argmax(rebuilt.catalog.item_topics[-1])] == "group 42"
