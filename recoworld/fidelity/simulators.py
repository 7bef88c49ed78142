"""Simulators that answer scenes: one protocol, the baselines, the registry of names and the
folders fitted simulators are saved in."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from recoworld.catalog import Catalog, Interactions
from recoworld.fidelity.scene import Scenes
from recoworld.folders import check_replaceable, replace_folder, staging_folder
from recoworld.validation import check_seed

if TYPE_CHECKING:
    from recoworld.llm.settings import LLMSpec

__all__ = [
    "METADATA_FILE",
    "PopularitySimulator",
    "RandomSimulator",
    "SceneSimulator",
    "check_scenes",
    "make_simulator",
    "read_arrays",
    "read_metadata",
    "simulator_description",
    "simulator_names",
    "simulator_options",
    "write_simulator_folder",
]


@runtime_checkable
class SceneSimulator(Protocol):
    """A user simulator measured on scenes: it says how likely the user is to choose each listed
    item.

    ``fit`` learns from logged interactions (the train log: nothing a scene holds out) and
    returns the simulator; ``predict`` returns an ``(n_scenes, n_choices)`` float64 array of
    probabilities over each scene's exposure list (rows sum to 1).
    """

    name: str

    def fit(self, history: Interactions, catalog: Catalog) -> SceneSimulator: ...

    def predict(self, scenes: Scenes) -> np.ndarray: ...


def check_scenes(scenes: object, n_items: int, *, max_choices: int | None = None) -> Scenes:
    """``scenes`` when a simulator fitted on ``n_items`` items can score it: a :class:`Scenes`
    table whose listed and history items are rows ``0..n_items - 1`` (and with at most
    ``max_choices`` listed items, where the simulator has such a bound).

    Raises:
        ValueError: another type, too many choices, or an item row outside the fitted items.
    """
    if not isinstance(scenes, Scenes):
        raise ValueError(f"scenes must be a Scenes, got {type(scenes)!r}")
    if max_choices is not None and scenes.n_choices > max_choices:
        raise ValueError(f"scenes have {scenes.n_choices} choices; at most {max_choices}")
    for label, rows in (("list", scenes.choices), ("history", scenes.history_items)):
        if rows.size and int(rows.max()) >= n_items:
            raise ValueError(
                f"scenes {label} item row {int(rows.max())} is outside the {n_items} items "
                "the simulator was fitted on"
            )
    return scenes


class RandomSimulator:
    """Chance: every listed item is equally likely (``1 / n_choices``), whatever the scene.

    Nothing is drawn (``seed`` is kept only so every registered simulator is made alike), and
    with ties split evenly its accuracy is exactly chance.
    """

    name = "random"

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = check_seed("seed", seed)

    def fit(self, history: Interactions, catalog: Catalog) -> RandomSimulator:
        return self

    def predict(self, scenes: Scenes) -> np.ndarray:
        return np.full((len(scenes), scenes.n_choices), 1.0 / scenes.n_choices)


class PopularitySimulator:
    """The user picks a listed item with probability proportional to its smoothed train count.

    ``p(item) = (1 + count) / sum over the list of (1 + count)``, counts taken from the
    interactions given to :meth:`fit` (no softmax, no temperature: the plain popularity share,
    so an item never seen still has a chance). The user's own history is not consulted, and
    nothing is drawn (``seed`` is kept only so every registered simulator is made alike).
    """

    name = "popularity"

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = check_seed("seed", seed)
        self.counts: np.ndarray | None = None

    def fit(self, history: Interactions, catalog: Catalog) -> PopularitySimulator:
        if len(history) and int(history.items.max()) >= catalog.n_items:
            raise ValueError(
                f"history names item row {int(history.items.max())}, outside the catalog's "
                f"0..{catalog.n_items - 1}"
            )
        self.counts = np.bincount(history.items, minlength=catalog.n_items).astype(np.float64)
        return self

    def predict(self, scenes: Scenes) -> np.ndarray:
        if self.counts is None:
            raise ValueError("PopularitySimulator.predict: call fit(history, catalog) first")
        scenes = check_scenes(scenes, len(self.counts))
        weights = 1.0 + self.counts[scenes.choices]
        return weights / weights.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., SceneSimulator]
    description: str
    options: tuple[str, ...] = ()
    """Keyword options of :func:`make_simulator` beside ``seed`` the simulator takes."""


def _sequential(
    *, seed: int = 0, checkpoint: str | os.PathLike[str] | None = None
) -> SceneSimulator:
    from recoworld.fidelity.sequential import SequentialSimulator

    if checkpoint is not None:
        return SequentialSimulator(checkpoint=checkpoint)
    return SequentialSimulator(seed=seed)


def _latent_fitted(
    *, seed: int = 0, checkpoint: str | os.PathLike[str] | None = None
) -> SceneSimulator:
    from recoworld.fidelity.latent_fitted import LatentFittedSimulator

    if checkpoint is not None:
        return LatentFittedSimulator(checkpoint=checkpoint)
    return LatentFittedSimulator(seed=seed)


def _llm(*, seed: int = 0, llm: LLMSpec | None = None) -> SceneSimulator:
    from recoworld.fidelity.llm_scene import LLMSceneSimulator

    return LLMSceneSimulator("local" if llm is None else llm, seed=seed)


ALIGN_EXTRA_HINT = 'pip install -e ".[align]"'
"""How to install what the ``llm-aligned`` simulator needs (transformers, trl)."""


def _llm_aligned(
    *,
    seed: int = 0,
    llm: LLMSpec | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
) -> SceneSimulator:
    try:
        from recoworld.fidelity.aligned import (  # type: ignore[import-not-found, unused-ignore]
            AlignedSceneSimulator,
        )
    except ImportError as error:
        raise ImportError(
            f"the llm-aligned simulator needs the align extra ({error}); install it with: "
            f"{ALIGN_EXTRA_HINT}"
        ) from error
    simulator: SceneSimulator
    if checkpoint is not None:
        if llm is not None:
            raise ValueError(
                f"simulator 'llm-aligned': llm= names the model that writes the rationales a "
                f"model is trained on, and a checkpoint= is used as it is (nothing is trained); "
                f"give one of them (got llm={llm!r}, checkpoint={str(checkpoint)!r})"
            )
        # load() restores what the checkpoint was scored with (threads, batch size).
        simulator = AlignedSceneSimulator.load(checkpoint)
    else:
        simulator = AlignedSceneSimulator(seed=seed, rationale_llm=llm)
    return simulator


_REGISTRY: dict[str, _Entry] = {
    "random": _Entry(RandomSimulator, "chance: every listed item equally likely"),
    "popularity": _Entry(
        PopularitySimulator, "probability proportional to 1 + the item's train count"
    ),
    "latent-fitted": _Entry(
        _latent_fitted,
        "the latent user model's utility (recency-weighted interest from the scene history on "
        "SVD-refined embeddings, quality, boredom, novelty, popularity), weights fitted by "
        "maximum likelihood on train scenes",
        ("checkpoint",),
    ),
    "llm": _Entry(
        _llm,
        "a language model (the embedded SmolLM2-135M, or llm=) reads the history titles and the "
        "lettered list and names one letter with a rationale (structured output); one-hot on "
        "its choice, uniform where the call failed",
        ("llm",),
    ),
    "sequential": _Entry(
        _sequential,
        "SASRec-style attention over the last 50 history items, trained on the train log "
        "(full softmax over the catalog; torch, the train extra)",
        ("checkpoint",),
    ),
    "llm-aligned": _Entry(
        _llm_aligned,
        "a small language model fine-tuned on the train log to name the chosen letter "
        "(llm= writes the rationales it learns from; transformers and trl, the align extra: "
        f"{ALIGN_EXTRA_HINT})",
        ("llm", "checkpoint"),
    ),
}


def simulator_names() -> list[str]:
    """Names :func:`make_simulator` accepts, in registration order."""
    return list(_REGISTRY)


def simulator_description(name: str) -> str:
    """One line saying what simulator ``name`` does."""
    return _entry(name).description


def simulator_options(name: str) -> tuple[str, ...]:
    """The options of :func:`make_simulator` beside ``seed`` that simulator ``name`` takes:
    ``"llm"`` (it asks a language model) and ``"checkpoint"`` (it is fitted, and can be saved
    with its ``save`` method and loaded from the folder)."""
    return _entry(name).options


def make_simulator(
    name: str,
    *,
    seed: int = 0,
    llm: LLMSpec | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
) -> SceneSimulator:
    """A new simulator of the registered ``name``, seeded with ``seed``.

    Args:
        name: one of :func:`simulator_names`.
        seed: seeds the simulator. A simulator loaded from ``checkpoint`` keeps what it was
            saved with (latent-fitted and sequential: their seed too, so they answer exactly as
            they did).
        llm: the language model (an :class:`~recoworld.llm.LLMSettings`, a model string, a
            :class:`~recoworld.llm.ChatModel` or a dict of settings) of ``llm`` (the model that
            answers) and ``llm-aligned`` (the model that writes the rationales it learns from;
            not with ``checkpoint``, where nothing is trained).
        checkpoint: a folder saved by a fitted simulator's ``save`` (latent-fitted, sequential,
            llm-aligned): the simulator is loaded from it instead of being fitted (its ``fit``
            only checks the catalog); llm-aligned is loaded with
            ``AlignedSceneSimulator.load``, which restores the threads and scoring batch size
            it was saved with.

    Raises:
        ValueError: an unknown name, ``llm``/``checkpoint`` given to a simulator that takes
            none (the message names the simulator and those that take it), or both given to
            ``llm-aligned``.
        ImportError: the simulator needs an extra that is not installed (the message says
            which).
    """
    entry = _entry(name)
    kwargs: dict[str, Any] = {"seed": seed}
    for option, value, why in (
        ("llm", llm, "uses no language model"),
        ("checkpoint", checkpoint, "is not fitted, so has nothing to load"),
    ):
        if value is None:
            continue
        if option not in entry.options:
            takers = [other for other, e in _REGISTRY.items() if option in e.options]
            raise ValueError(
                f"simulator {name!r} {why}: {option}= is for {', '.join(takers)} (got "
                f"{option}={value!r})"
            )
        kwargs[option] = value
    return entry.factory(**kwargs)


def _entry(name: str) -> _Entry:
    if name not in _REGISTRY:
        raise ValueError(f"simulator={name!r} must be one of {tuple(_REGISTRY)}")
    return _REGISTRY[name]


# -- saved simulator folders --------------------------------------------------------------------

METADATA_FILE = "simulator.json"
"""The metadata file of a saved simulator folder: its format name and version, the simulator's
options and what was fitted (besides the arrays)."""


def refuse_options_beside_checkpoint(
    given: Mapping[str, Any],
    defaults: Mapping[str, Any],
    checkpoint: str | os.PathLike[str],
    note: str = "leave the other arguments at their defaults",
) -> None:
    """Raise ``ValueError`` naming the first of ``given`` (constructor arguments) that is off
    its default in ``defaults``: a simulator loaded from ``checkpoint`` keeps the options it was
    saved with, so another value would be silently ignored."""
    changed = [name for name, value in given.items() if value != defaults[name]]
    if changed:
        raise ValueError(
            f"{changed[0]}={given[changed[0]]!r} with checkpoint={str(checkpoint)!r}: a "
            f"loaded simulator keeps the options it was saved with; {note}"
        )


def write_simulator_folder(
    path: str | os.PathLike[str],
    metadata: Mapping[str, Any],
    write_files: Callable[[Path], None],
    *,
    overwrite: bool = False,
) -> Path:
    """Write a saved simulator folder: ``write_files(folder)`` writes the arrays, ``metadata``
    goes to :data:`METADATA_FILE` (JSON). Everything is written to a new hidden folder beside
    ``path`` that is then renamed to ``path``, so an interrupted save leaves no half folder.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false; or ``path`` is a folder
            holding files but no :data:`METADATA_FILE` (not a saved simulator: never replaced),
            or one whose :data:`METADATA_FILE` names another ``format`` (a simulator of another
            kind: never replaced).
        NotADirectoryError: ``path`` is a file.
        OSError: the folder cannot be written.
    """
    target = check_replaceable(
        path,
        name="simulator folder",
        marker=METADATA_FILE,
        kind="a saved simulator",
        overwrite=overwrite,
    )
    saved_as = _saved_format(target / METADATA_FILE)
    if saved_as is not None and saved_as != metadata.get("format"):
        raise FileExistsError(
            f"folder {str(target)!r} holds a simulator saved as {saved_as!r}, not "
            f"{metadata.get('format')!r}: another kind of simulator does not replace it, "
            "even with overwrite"
        )
    staging = staging_folder(target)
    try:
        write_files(staging)
        text = json.dumps(dict(metadata), indent=2, allow_nan=False) + "\n"
        (staging / METADATA_FILE).write_text(text, encoding="utf-8")
        replace_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _saved_format(file: Path) -> str | None:
    """The ``format`` named in the metadata ``file`` (``None``: no file, or none readable)."""
    try:
        found = json.loads(file.read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def read_metadata(
    path: str | os.PathLike[str], format_name: str, version: int, fields: tuple[str, ...]
) -> dict[str, Any]:
    """The metadata of a saved simulator folder, checked: the folder and its
    :data:`METADATA_FILE` exist, the file is a JSON object whose ``format`` is ``format_name``
    and ``version`` is ``version``, and it has exactly ``fields`` besides those two.

    Raises:
        FileNotFoundError: no such folder, or it has no metadata file.
        ValueError: the file is not such a JSON object (the message names the file and field).
    """
    folder = Path(path)
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise FileNotFoundError(f"simulator folder {str(folder)!r} {what}")
    file = folder / METADATA_FILE
    if not file.is_file():
        raise FileNotFoundError(
            f"{file} does not exist: {str(folder)!r} is not a saved simulator folder"
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{file} is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{file} must hold a JSON object, not {type(data).__name__}")
    if data.get("format") != format_name:
        raise ValueError(
            f"{file}: field 'format' is {data.get('format')!r}, expected {format_name!r} (a "
            "folder saved by another simulator?)"
        )
    if data.get("version") != version:
        raise ValueError(
            f"{file}: field 'version' is {data.get('version')!r}; this recoworld reads "
            f"{format_name} version {version}"
        )
    expected = {"format", "version", *fields}
    missing = [name for name in fields if name not in data]
    if missing:
        raise ValueError(f"{file}: field {missing[0]!r} is missing")
    unknown = sorted(set(data) - expected)
    if unknown:
        raise ValueError(f"{file}: unknown field {unknown[0]!r}; expected {sorted(expected)}")
    return data


def read_arrays(
    path: str | os.PathLike[str], name: str, expected: Mapping[str, tuple[str, int]]
) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` file ``name`` in a saved simulator folder (no pickled objects
    are read), checked against ``expected``: array name -> (numpy dtype kind, e.g. ``"f"``,
    ``"i"``, ``"U"``; number of dimensions). Exactly those arrays must be there.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not an npz archive, or an array is missing, unexpected, or of
            the wrong kind or dimensions (named with the file).
    """
    file = Path(path) / name
    if not file.is_file():
        raise FileNotFoundError(f"{file} does not exist: the saved simulator lacks its arrays")
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(file, allow_pickle=False) as archive:
            names = set(archive.files)
            for key in expected:
                if key in names:
                    arrays[key] = archive[key]
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"{file} is not a readable .npz archive ({error})") from None
    missing = [key for key in expected if key not in arrays]
    if missing:
        raise ValueError(f"{file}: array {missing[0]!r} is missing")
    unknown = sorted(names - set(expected))
    if unknown:
        raise ValueError(f"{file}: unexpected array {unknown[0]!r}")
    for key, (kind, ndim) in expected.items():
        array = arrays[key]
        if array.dtype.kind not in kind or array.ndim != ndim:
            raise ValueError(
                f"{file}: array {key!r} has dtype {array.dtype} and {array.ndim} dimensions, "
                f"expected kind {kind!r} and {ndim}"
            )
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ValueError(f"{file}: array {key!r} holds non-finite values")
    return arrays
