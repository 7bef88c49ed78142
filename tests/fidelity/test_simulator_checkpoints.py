"""Saving and loading the fitted scene simulators (latent-fitted, sequential): exact answers,
the catalog check, overwriting rules and hostile folders."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recoworld.catalog import Catalog, Interactions, SyntheticCatalogConfig, generate_catalog
from recoworld.fidelity import Scenes, make_simulator, scenes
from recoworld.fidelity.latent_fitted import LatentFittedSimulator
from recoworld.fidelity.simulators import METADATA_FILE

N_ITEMS = 60
NAMES = ("latent-fitted", "sequential")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return generate_catalog(SyntheticCatalogConfig(n_items=N_ITEMS), seed=4)


@pytest.fixture(scope="module")
def log() -> Interactions:
    rng = np.random.default_rng(5)
    n = 500
    return Interactions(
        rng.integers(0, 25, n), rng.integers(0, N_ITEMS, n), np.ones(n), rng.integers(0, 100, n)
    )


@pytest.fixture(scope="module")
def built(log: Interactions, catalog: Catalog) -> Scenes:
    return scenes(log, log.take(np.arange(60)), catalog, n_choices=4, seed=1)


def new_simulator(name: str, **kwargs: Any) -> Any:
    if name == "latent-fitted":
        options: dict[str, Any] = {"fit_scenes": 200, "collaborative_dims": 4, "fit_min_history": 3}
        return LatentFittedSimulator(seed=2, **options, **kwargs)
    pytest.importorskip("torch")
    from recoworld.fidelity.sequential import SequentialSimulator

    return SequentialSimulator(seed=2, epochs=1, embedding_dim=8, batch_size=64, **kwargs)


@pytest.fixture(scope="module")
def saved(
    tmp_path_factory: pytest.TempPathFactory, log: Interactions, catalog: Catalog
) -> Callable[[str], tuple[Any, Path]]:
    """``saved(name)``: a fitted simulator and the folder it was saved to (made once each)."""
    cache: dict[str, tuple[Any, Path]] = {}

    def make(name: str) -> tuple[Any, Path]:
        if name not in cache:
            simulator = new_simulator(name).fit(log, catalog)
            folder = tmp_path_factory.mktemp("saved") / name
            assert simulator.save(folder) == folder
            cache[name] = (simulator, folder)
        return cache[name]

    return make


def class_of(name: str) -> Any:
    return type(new_simulator(name))


@pytest.mark.parametrize("name", NAMES)
def test_a_loaded_simulator_answers_exactly_as_the_saved_one(
    name: str, saved: Any, log: Interactions, catalog: Catalog, built: Scenes
) -> None:
    simulator, folder = saved(name)
    assert sorted(path.name for path in folder.iterdir()) == ["arrays.npz", METADATA_FILE]
    metadata = json.loads((folder / METADATA_FILE).read_text())
    assert metadata["n_items"] == N_ITEMS and metadata["version"] == 1
    assert metadata["options"]["seed"] == 2
    expected = simulator.predict(built)
    loaded = class_of(name).load(folder)
    assert np.array_equal(loaded.predict(built), expected)
    assert loaded.options() == simulator.options()
    # Through the registry (its seed argument does not override the saved seed), then fit:
    # it checks the catalog and learns nothing, even from another history.
    registered = make_simulator(name, seed=9, checkpoint=folder)
    assert registered.fit(log.take(np.arange(50)), catalog) is registered
    assert np.array_equal(registered.predict(built), expected)


def test_a_latent_fitted_checkpoint_saved_before_the_choice_model_loads_as_cascade(
    saved: Any, built: Scenes, tmp_path: Path
) -> None:
    simulator, folder = saved("latent-fitted")
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    data = json.loads((old / METADATA_FILE).read_text())
    del data["options"]["config"]["choice_model"]
    (old / METADATA_FILE).write_text(json.dumps(data))
    loaded = class_of("latent-fitted").load(old)
    assert loaded.options()["config"]["choice_model"] == "cascade"
    assert np.array_equal(loaded.predict(built), simulator.predict(built))


@pytest.mark.parametrize("name", NAMES)
def test_a_loaded_simulator_refuses_another_catalog(
    name: str, saved: Any, log: Interactions, catalog: Catalog
) -> None:
    _, folder = saved(name)
    loaded = class_of(name).load(folder)
    bigger = generate_catalog(SyntheticCatalogConfig(n_items=N_ITEMS + 5), seed=4)
    with pytest.raises(ValueError, match=f"catalog of {N_ITEMS} items; the catalog given has 65"):
        loaded.fit(log, bigger)
    renumbered = dataclasses.replace(catalog, item_ids=catalog.item_ids + 1000)
    with pytest.raises(ValueError, match="another catalog: item row 0 has id"):
        loaded.fit(log, renumbered)


@pytest.mark.parametrize("name", NAMES)
def test_saving_never_loses_a_folder(name: str, saved: Any, tmp_path: Path) -> None:
    simulator, _ = saved(name)
    folder = simulator.save(tmp_path / "model")
    with pytest.raises(FileExistsError, match="exists; pass overwrite=True"):
        simulator.save(folder)
    (folder / METADATA_FILE).write_text("{}")
    simulator.save(folder, overwrite=True)  # replaces an earlier save
    assert json.loads((folder / METADATA_FILE).read_text())["n_items"] == N_ITEMS
    # A folder another kind of simulator saved is not replaced.
    (folder / METADATA_FILE).write_text('{"format": "recoworld.fidelity.OtherSimulator"}')
    with pytest.raises(FileExistsError, match=r"OtherSimulator.*another kind"):
        simulator.save(folder, overwrite=True)
    assert "OtherSimulator" in (folder / METADATA_FILE).read_text()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="not a saved simulator"):
        simulator.save(other, overwrite=True)
    assert (other / "thesis.tex").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        simulator.save(tmp_path / "file", overwrite=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file", "model", "notes"]
    with pytest.raises(ValueError, match="call fit"):
        new_simulator(name).save(tmp_path / "unfitted")


def corrupt(folder: Path, target: Path, change: Callable[[Path], None]) -> Path:
    shutil.copytree(folder, target)
    change(target)
    return target


def edit_metadata(key: str, value: Any) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        data = json.loads((folder / METADATA_FILE).read_text())
        if value is KeyError:
            del data[key]
        else:
            data[key] = value
        (folder / METADATA_FILE).write_text(json.dumps(data))

    return change


def edit_options(key: str, value: Any) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        data = json.loads((folder / METADATA_FILE).read_text())
        data["options"][key] = value
        (folder / METADATA_FILE).write_text(json.dumps(data))

    return change


def edit_arrays(change_arrays: Callable[[dict[str, np.ndarray]], None]) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        with np.load(folder / "arrays.npz") as archive:
            arrays = {key: archive[key] for key in archive.files}
        change_arrays(arrays)
        np.savez(folder / "arrays.npz", **arrays)

    return change


def drop(key: str) -> Callable[[dict[str, np.ndarray]], None]:
    def change(arrays: dict[str, np.ndarray]) -> None:
        del arrays[key]

    return change


def write(name: str, text: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        (folder / name).write_text(text)

    return change


HOSTILE: list[tuple[str, Callable[[Path], None], type[Exception], str]] = [
    ("not json", write(METADATA_FILE, "{not json"), ValueError, "simulator.json is not valid JSON"),
    ("a list", write(METADATA_FILE, "[1, 2]"), ValueError, "must hold a JSON object"),
    ("format", edit_metadata("format", "something.else"), ValueError, "field 'format'"),
    ("version", edit_metadata("version", 2), ValueError, "field 'version' is 2"),
    ("no n_items", edit_metadata("n_items", KeyError), ValueError, "field 'n_items' is missing"),
    ("n_items", edit_metadata("n_items", "many"), ValueError, "field 'n_items' is 'many'"),
    ("extra field", edit_metadata("comment", 1), ValueError, "unknown field 'comment'"),
    ("options", edit_metadata("options", [1]), ValueError, "field 'options' must be"),
    ("seed", edit_options("seed", -1), ValueError, "field 'options': seed=-1"),
    ("arrays gone", lambda f: (f / "arrays.npz").unlink(), FileNotFoundError, "arrays.npz"),
    ("arrays junk", write("arrays.npz", "junk"), ValueError, "not a readable .npz"),
    ("no item ids", edit_arrays(drop("item_ids")), ValueError, "array 'item_ids' is missing"),
    ("other size", edit_metadata("n_items", N_ITEMS + 1), ValueError, "arrays.npz: array"),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("label", "change", "error", "message"), HOSTILE, ids=[case[0] for case in HOSTILE]
)
def test_a_bad_folder_is_refused_naming_the_file_and_field(
    name: str,
    saved: Any,
    tmp_path: Path,
    label: str,
    change: Callable[[Path], None],
    error: type[Exception],
    message: str,
) -> None:
    _, folder = saved(name)
    bad = corrupt(folder, tmp_path / "bad", change)
    with pytest.raises(error, match=message) as caught:
        class_of(name).load(bad)
    assert str(bad) in str(caught.value)


@pytest.mark.parametrize("name", NAMES)
def test_missing_folders_and_arrays_of_the_model(name: str, saved: Any, tmp_path: Path) -> None:
    _, folder = saved(name)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        class_of(name).load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a saved simulator folder"):
        class_of(name).load(tmp_path / "empty")
    # An array of the fitted model itself, gone or reshaped.
    key = "choice_weights" if name == "latent-fitted" else "state.item_bias"
    bad = corrupt(folder, tmp_path / "dropped", edit_arrays(drop(key)))
    with pytest.raises(ValueError, match=f"array '{key}' is missing"):
        class_of(name).load(bad)
    bad = corrupt(
        folder,
        tmp_path / "reshaped",
        edit_arrays(lambda arrays: arrays.update({key: arrays[key][:-1]})),
    )
    with pytest.raises(ValueError, match=f"array '{key}' has"):
        class_of(name).load(bad)
    # Another simulator's folder.
    other = "sequential" if name == "latent-fitted" else "latent-fitted"
    _, other_folder = saved(other)
    with pytest.raises(ValueError, match="field 'format'"):
        class_of(name).load(other_folder)


def test_options_beside_a_checkpoint_are_refused(saved: Any) -> None:
    _, folder = saved("latent-fitted")
    with pytest.raises(ValueError, match="n_interests=2 with checkpoint="):
        LatentFittedSimulator(checkpoint=folder, n_interests=2)


def test_sequential_takes_threads_beside_a_checkpoint(saved: Any, built: Scenes) -> None:
    simulator, folder = saved("sequential")
    sequential = type(simulator)
    loaded = sequential(checkpoint=folder, threads=2)
    assert loaded.threads == 2 and loaded.losses == simulator.losses
    assert np.array_equal(loaded.predict(built), simulator.predict(built))
    with pytest.raises(ValueError, match="epochs=5 with checkpoint="):
        sequential(checkpoint=folder, epochs=5)
