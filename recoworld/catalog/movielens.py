"""Loader for MovieLens 100K (``ml-100k``): movies with titles, genres and release dates, users with
demographics, and timestamped 1-5 star ratings.

The folder holds the GroupLens files plus the library's train/valid rating splits:

======================= ========================================================================
file                    content
======================= ========================================================================
``ratings_train.tsv``   ``user_id<TAB>item_id<TAB>rating<TAB>timestamp`` per line, no header
``ratings_valid.tsv``   the same format (any other ratings file can be read with
                        :meth:`MovieLensDataset.read_ratings`)
``u.item``              ``item_id|title|release date|video release date|IMDb URL|<genre flags>``
                        with one ``0``/``1`` flag per genre of ``u.genre``, in its order;
                        Latin-1 text; the release date is ``DD-Mon-YYYY`` or empty
``u.user``              ``user_id|age|gender|occupation|zip code``
``u.genre``             ``name|index`` per line, indices ``0, 1, 2, ...`` in file order
``u.occupation``        one occupation name per line
======================= ========================================================================

:func:`load_movielens` turns such a folder into a :class:`MovieLensDataset`: a :class:`Catalog`
of the movies, a :class:`MovieLensUsers` table and the train and valid :class:`Interactions`.
The library never ships these files; the user passes the folder path.

How the catalog is built (deterministic for a given ``seed``; only the embeddings' basis uses it):

* **Rows.** Item rows are ordered by movie id, ascending; ``catalog.item_ids[row]`` is the movie
  id. User rows likewise follow ascending user id (``users.user_ids[row]``). Interactions address
  users and items by row.
* **Attributes** are the genres of ``u.genre`` (19 for ml-100k, ``"unknown"`` included), as the
  multi-hot of ``u.item``'s flags.
* **Topics** are the same genres: an item's topic mass is spread uniformly over its flagged
  genres; an item with no flag puts all of it on the genre named ``"unknown"``.
* **Embeddings** come from content only, so items sharing genres are close. A content vector
  joins a genre part, the item's genres (those with no flag count as ``"unknown"``) weighted by
  smoothed inverse document frequency ``ln((1 + n_items) / (1 + df)) + 1`` and L2-normalised,
  with a release-year part ``(cos a, sin a)``, ``a = (pi / 2) (year - first year) / (last year -
  first year)`` over the catalog's years (``(0, 0)`` when the date is missing). The two parts
  are weighted ``sqrt(1 - YEAR_WEIGHT)`` and ``sqrt(YEAR_WEIGHT)`` (``YEAR_WEIGHT = 0.2``) and the
  vector is L2-normalised: two movies with the same genres have cosine at least 0.8, two with
  disjoint genres at most 0.2. The ``n_genres + 2`` content dimensions are then written in an
  orthonormal basis of ``embedding_dim`` dimensions drawn from ``seed`` (the Q of a QR
  factorisation of a standard normal matrix, signs fixed), which keeps every cosine exactly: the
  seed changes the coordinates, never the similarities.
* **Popularity** is ``(number of train ratings + 1)``, normalised to sum to one; only the train
  split is counted.
* **Quality** is the item's train mean rating shrunk towards the global train mean,
  ``(sum of ratings + k * global mean) / (count + k)`` with ``k = quality_prior_ratings``, mapped
  from the 1-5 star scale to ``[0, 1]`` by ``(stars - 1) / 4``. An unrated item gets the global
  mean.
* **Duration is a constant** :data:`DEFAULT_DURATION_MINUTES` (120 minutes, a feature film): the
  data has no running times.
* **Text.** Titles are ``u.item``'s (with the year, as GroupLens writes them); descriptions are
  :func:`~recoworld.catalog.render_description` of the title and the genre names.

Every malformed line is a ``ValueError`` naming the file, the line number (from 1) and the field.
Blank lines at the very end of a file are ignored (``u.genre`` ends with one); a blank line
followed by data is an error. Lines may end in ``\\n`` or ``\\r\\n``.

Example (needs the data folder, so it is not a doctest; ``tests/catalog/test_movielens.py`` loads
the real folder when it is present)::

    dataset = load_movielens("../shared/data/ml-100k")
    dataset.catalog.n_items, len(dataset.users)  # (1682, 943)
    len(dataset.train), len(dataset.valid)  # (90570, 4715)
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recoworld.catalog.base import Catalog, render_description
from recoworld.catalog.interactions import Interactions
from recoworld.validation import check_int, check_number, check_seed

__all__ = [
    "DEFAULT_DURATION_MINUTES",
    "GENRE_FILE",
    "ITEM_FILE",
    "OCCUPATION_FILE",
    "USER_FILE",
    "YEAR_WEIGHT",
    "MovieLensDataset",
    "MovieLensUsers",
    "load_movielens",
]

ITEM_FILE = "u.item"
USER_FILE = "u.user"
GENRE_FILE = "u.genre"
OCCUPATION_FILE = "u.occupation"

DEFAULT_DURATION_MINUTES = 120.0
"""Duration of every movie in minutes: MovieLens has no running times; 120 is a feature film."""

YEAR_WEIGHT = 0.2
"""Share of an item's squared embedding norm given to its release year (the rest to genres)."""

UNKNOWN_GENRE = "unknown"
GENDERS: tuple[str, ...] = ("F", "M")
AGE_RANGE = (1, 120)
RATING_RANGE = (1, 5)
RATING_FIELDS: tuple[str, ...] = ("user_id", "item_id", "rating", "timestamp")
ITEM_FIELDS: tuple[str, ...] = (
    "movie id",
    "movie title",
    "release date",
    "video release date",
    "IMDb URL",
)
USER_FIELDS: tuple[str, ...] = ("user id", "age", "gender", "occupation", "zip code")

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_DATE = re.compile(r"(\d{1,2})-([A-Z][a-z]{2})-(\d{4})")
_DIGITS = re.compile(r"[0-9]+")
# More digits than this may overflow int64; no id, rating or Unix time needs them.
_MAX_DIGITS = 18
_TAB, _NEWLINE, _ZERO, _NINE = 9, 10, 48, 57  # bytes of tab, newline, '0', '9'


@dataclass(frozen=True, eq=False)
class MovieLensUsers:
    """The users of ``u.user``, one row per user, ordered by user id (row ``i`` is
    ``user_ids[i]``).

    Attributes:
        user_ids: ``(n_users,)`` int64 user ids, ascending.
        ages: ``(n_users,)`` int64 ages in years.
        genders: ``"F"`` or ``"M"`` of every user.
        occupations: occupation of every user, one of ``occupation_names``.
        zip_codes: zip code of every user as written (not always numeric).
        occupation_names: the vocabulary of ``u.occupation``, in file order.
    """

    user_ids: np.ndarray
    ages: np.ndarray
    genders: tuple[str, ...]
    occupations: tuple[str, ...]
    zip_codes: tuple[str, ...]
    occupation_names: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.user_ids)
        for name in ("ages", "genders", "occupations", "zip_codes"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"MovieLensUsers.{name} has {len(getattr(self, name))} entries, not {n}"
                )
        for name in ("user_ids", "ages"):
            array = np.asarray(getattr(self, name)).astype(np.int64, copy=False)
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    def __len__(self) -> int:
        return len(self.user_ids)


@dataclass(frozen=True, eq=False, repr=False)
class MovieLensDataset:
    """MovieLens 100K loaded by :func:`load_movielens`.

    Attributes:
        catalog: the movies; see the :mod:`module docstring <recoworld.catalog.movielens>` for
            how each field is built.
        users: the users of ``u.user``.
        train: the train ratings, users as ``users`` rows and items as catalog rows, file order.
        valid: the valid ratings, likewise.
        release_years: ``(n_items,)`` int64 release year of every catalog row, ``-1`` where
            ``u.item`` has no release date.
        root: absolute path of the data folder.
    """

    catalog: Catalog
    users: MovieLensUsers
    train: Interactions
    valid: Interactions
    release_years: np.ndarray
    root: Path

    def read_ratings(self, path_or_name: str | os.PathLike[str]) -> Interactions:
        """Read another ratings file of the same format (such as a held-back test split).

        ``path_or_name`` may lie outside the data folder on purpose (a split kept elsewhere can
        be scored against this data set): an absolute path is read as given; a relative one is
        looked up in the data folder first, then in the current directory. Ids are mapped
        through this data set's user and item tables.

        Raises:
            FileNotFoundError: the file is in neither place (the message names both).
            ValueError: a malformed line, or a user or item id absent from ``u.user`` or
                ``u.item``; the message names the file, line and field.
        """
        path = _locate(self.root, path_or_name, current_directory=True)
        return _read_ratings(path, self.root, self.users.user_ids, self.catalog.item_ids)

    def __repr__(self) -> str:
        return (
            f"MovieLensDataset(name={self.catalog.name!r}, n_items={self.catalog.n_items}, "
            f"n_users={len(self.users)}, n_train={len(self.train)}, n_valid={len(self.valid)}, "
            f"root={str(self.root)!r})"
        )


def load_movielens(
    path: str | os.PathLike[str],
    *,
    train_file: str | os.PathLike[str] = "ratings_train.tsv",
    valid_file: str | os.PathLike[str] = "ratings_valid.tsv",
    embedding_dim: int = 32,
    quality_prior_ratings: float = 10.0,
    seed: int = 0,
) -> MovieLensDataset:
    """Load a MovieLens 100K folder into a :class:`MovieLensDataset`.

    Args:
        path: the folder holding ``u.item``, ``u.user``, ``u.genre``, ``u.occupation`` and the
            two ratings files.
        train_file: the train ratings: a path relative to the folder (normally a name inside
            it) or an absolute path; never looked up in the current directory, so a file
            missing from the folder is an error, not replaced by a namesake. Popularity and
            quality come from it.
        valid_file: the valid ratings, likewise.
        embedding_dim: dimension of the item embeddings; at least the number of content
            dimensions, ``n_genres + 2`` (21 for ml-100k).
        quality_prior_ratings: how many ratings' worth of the global mean an item's mean rating
            is shrunk towards (``> 0``).
        seed: draws the orthonormal basis of the embeddings (cosines do not depend on it).

    Returns:
        The data set; see the module docstring for how each catalog field is derived.

    Raises:
        FileNotFoundError: the folder or one of its files is missing (the message names the
            folder and the file).
        NotADirectoryError: ``path`` is not a folder.
        ValueError: a malformed line (wrong field count, a non-integer id, a rating outside 1..5,
            a bad timestamp, date, genre flag, age or gender, a duplicate item or user id, an
            occupation absent from ``u.occupation``, a user or item id absent from ``u.user`` or
            ``u.item``), naming the file, the line and the field; or an argument out of range.
    """
    quality_prior_ratings = check_number(
        "quality_prior_ratings", quality_prior_ratings, low=0.0, low_open=True
    )
    seed = check_seed("seed", seed)
    embedding_dim = check_int("embedding_dim", embedding_dim, low=1)

    root = Path(path).expanduser().resolve()
    if not root.exists():
        raise FileNotFoundError(f"MovieLens data folder {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"MovieLens data path {root} is not a folder")

    genre_names = _read_genres(root)
    n_features = len(genre_names) + 2
    if embedding_dim < n_features:
        raise ValueError(
            f"embedding_dim={embedding_dim} must be at least the {n_features} content dimensions "
            f"(the {len(genre_names)} genres of {root / GENRE_FILE} plus 2 for the release year)"
        )
    occupation_names = _read_occupations(root)
    item_ids, titles, years, flags = _read_items(root, genre_names)
    users = _read_users(root, occupation_names)
    train_path = _locate(root, train_file, current_directory=False)
    valid_path = _locate(root, valid_file, current_directory=False)
    train = _read_ratings(train_path, root, users.user_ids, item_ids)
    valid = _read_ratings(valid_path, root, users.user_ids, item_ids)

    n_items = len(item_ids)
    item_attributes = sp.csr_array(flags.astype(np.int8))
    item_attributes.sort_indices()
    item_topics = _topics(flags, genre_names, item_ids, root)
    rng = np.random.default_rng(seed)
    embeddings = _embeddings(flags, genre_names, years, embedding_dim, rng)
    popularity, quality = _popularity_and_quality(train, n_items, quality_prior_ratings)
    duration = np.full(n_items, DEFAULT_DURATION_MINUTES, dtype=np.float32)
    descriptions = tuple(
        render_description(
            title,
            [name for name, flagged in zip(genre_names, row, strict=True) if flagged],
            DEFAULT_DURATION_MINUTES,
        )
        for title, row in zip(titles, flags.tolist(), strict=True)
    )
    catalog = Catalog(
        item_ids=item_ids,
        attribute_names=genre_names,
        item_attributes=item_attributes,
        topic_names=genre_names,
        item_topics=item_topics,
        embeddings=embeddings,
        quality=quality,
        popularity=popularity,
        duration=duration,
        titles=titles,
        descriptions=descriptions,
        name="ml-100k",
    )
    years.setflags(write=False)
    return MovieLensDataset(
        catalog=catalog, users=users, train=train, valid=valid, release_years=years, root=root
    )


# --------------------------------------------------------------------------------------------
# Reading the small '|'-separated files.


def _text_lines(root: Path, name: str) -> list[str]:
    """The lines of ``root / name`` (Latin-1), without line ends and without trailing blank
    lines; a blank line before the last data line is a ``ValueError`` naming its number."""
    path = root / name
    try:
        text = path.read_bytes().decode("latin-1")
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f"MovieLens data folder {root} has no file {name!r} ({path} does not exist)"
        ) from error
    except IsADirectoryError as error:
        raise ValueError(f"MovieLens data file {path} is a folder, not a text file") from error
    lines = text.split("\n")
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    while lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, 1):
        if line == "":
            raise ValueError(f"{path}, line {number}: the line is empty")
    if not lines:
        raise ValueError(f"MovieLens data file {path} is empty")
    return lines


def _fields(path: Path, number: int, line: str, names: tuple[str, ...], why: str = "") -> list[str]:
    fields = line.split("|")
    if len(fields) != len(names):
        raise ValueError(
            f"{path}, line {number}: expected {len(names)} '|'-separated fields{why}, "
            f"found {len(fields)}"
        )
    return fields


def _field_error(path: Path, number: int, field: str, message: str) -> ValueError:
    return ValueError(f"{path}, line {number}, field {field!r}: {message}")


def _parse_id(path: Path, number: int, field: str, text: str) -> int:
    if not _DIGITS.fullmatch(text) or len(text) > _MAX_DIGITS:
        raise _field_error(path, number, field, f"{text!r} is not a non-negative integer id")
    return int(text)


def _read_genres(root: Path) -> tuple[str, ...]:
    path = root / GENRE_FILE
    names: list[str] = []
    for number, line in enumerate(_text_lines(root, GENRE_FILE), 1):
        name, index = _fields(path, number, line, ("genre", "genre index"))
        if not name:
            raise _field_error(path, number, "genre", "the genre name is empty")
        if name in names:
            raise _field_error(
                path, number, "genre", f"{name!r} repeats line {names.index(name) + 1}"
            )
        if index != str(number - 1):
            raise _field_error(
                path,
                number,
                "genre index",
                f"{index!r} must be {number - 1}: genres are numbered 0, 1, 2, ... in file order",
            )
        names.append(name)
    return tuple(names)


def _read_occupations(root: Path) -> tuple[str, ...]:
    path = root / OCCUPATION_FILE
    names: list[str] = []
    for number, line in enumerate(_text_lines(root, OCCUPATION_FILE), 1):
        if "|" in line:
            raise _field_error(path, number, "occupation", f"{line!r} holds a '|'")
        if line in names:
            raise _field_error(
                path, number, "occupation", f"{line!r} repeats line {names.index(line) + 1}"
            )
        names.append(line)
    return tuple(names)


def _parse_year(path: Path, number: int, text: str) -> int:
    """The year of a ``DD-Mon-YYYY`` release date, or -1 for an empty one."""
    if text == "":
        return -1
    match = _DATE.fullmatch(text)
    if match is None or match[2] not in _MONTHS or not 1 <= int(match[1]) <= 31:
        raise _field_error(
            path, number, "release date", f"{text!r} is not a date such as '01-Jan-1995'"
        )
    return int(match[3])


def _read_items(
    root: Path, genre_names: tuple[str, ...]
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray, np.ndarray]:
    """Item ids (ascending), titles, release years (-1 if none) and ``(n_items, n_genres)``
    bool genre flags, all in item-id order."""
    path = root / ITEM_FILE
    names = ITEM_FIELDS + tuple(f"genre {name!r}" for name in genre_names)
    why = (
        f" ({len(ITEM_FIELDS)} plus one flag for each of the {len(genre_names)} genres "
        f"of {GENRE_FILE})"
    )
    seen: dict[int, int] = {}
    ids: list[int] = []
    titles: list[str] = []
    years: list[int] = []
    flags: list[list[bool]] = []
    for number, line in enumerate(_text_lines(root, ITEM_FILE), 1):
        fields = _fields(path, number, line, names, why)
        item_id = _parse_id(path, number, "movie id", fields[0])
        if item_id in seen:
            raise _field_error(
                path, number, "movie id", f"movie id {item_id} repeats line {seen[item_id]}"
            )
        seen[item_id] = number
        if not fields[1]:
            raise _field_error(path, number, "movie title", "the title is empty")
        row: list[bool] = []
        for name, flag in zip(genre_names, fields[len(ITEM_FIELDS) :], strict=True):
            if flag not in ("0", "1"):
                raise _field_error(path, number, f"genre {name!r}", f"{flag!r} is not 0 or 1")
            row.append(flag == "1")
        ids.append(item_id)
        titles.append(fields[1])
        years.append(_parse_year(path, number, fields[2]))
        flags.append(row)
    order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
    item_ids = np.asarray(ids, dtype=np.int64)[order]
    item_ids.setflags(write=False)
    return (
        item_ids,
        tuple(titles[i] for i in order),
        np.asarray(years, dtype=np.int64)[order],
        np.asarray(flags, dtype=bool).reshape(len(ids), len(genre_names))[order],
    )


def _read_users(root: Path, occupation_names: tuple[str, ...]) -> MovieLensUsers:
    path = root / USER_FILE
    occupations_known = set(occupation_names)
    seen: dict[int, int] = {}
    ids: list[int] = []
    ages: list[int] = []
    genders: list[str] = []
    occupations: list[str] = []
    zip_codes: list[str] = []
    for number, line in enumerate(_text_lines(root, USER_FILE), 1):
        user_id_text, age_text, gender, occupation, zip_code = _fields(
            path, number, line, USER_FIELDS
        )
        user_id = _parse_id(path, number, "user id", user_id_text)
        if user_id in seen:
            raise _field_error(
                path, number, "user id", f"user id {user_id} repeats line {seen[user_id]}"
            )
        seen[user_id] = number
        if (
            not _DIGITS.fullmatch(age_text)
            or len(age_text) > 3
            or not AGE_RANGE[0] <= int(age_text) <= AGE_RANGE[1]
        ):
            raise _field_error(
                path,
                number,
                "age",
                f"{age_text!r} is not an integer age in {AGE_RANGE[0]}..{AGE_RANGE[1]}",
            )
        if gender not in GENDERS:
            raise _field_error(
                path, number, "gender", f"{gender!r} is not one of {', '.join(GENDERS)}"
            )
        if occupation not in occupations_known:
            raise _field_error(
                path,
                number,
                "occupation",
                f"{occupation!r} is not an occupation of {OCCUPATION_FILE}",
            )
        ids.append(user_id)
        ages.append(int(age_text))
        genders.append(gender)
        occupations.append(occupation)
        zip_codes.append(zip_code)
    order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable").tolist()
    return MovieLensUsers(
        user_ids=np.asarray(ids, dtype=np.int64)[order],
        ages=np.asarray(ages, dtype=np.int64)[order],
        genders=tuple(genders[i] for i in order),
        occupations=tuple(occupations[i] for i in order),
        zip_codes=tuple(zip_codes[i] for i in order),
        occupation_names=occupation_names,
    )


# --------------------------------------------------------------------------------------------
# Reading ratings files: a vectorized pass over the bytes, then one slow line for the message.


def _locate(root: Path, path_or_name: str | os.PathLike[str], *, current_directory: bool) -> Path:
    """``path_or_name`` as a file path: absolute as given; relative in ``root`` (it may lead
    outside it, on purpose), else, with ``current_directory``, in the current directory."""
    given = Path(path_or_name).expanduser()
    if given.is_absolute():
        candidates = [given]
    elif current_directory:
        candidates = [root / given, Path.cwd() / given]
    else:
        candidates = [root / given]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    for candidate in candidates:
        if candidate.exists():
            raise ValueError(f"MovieLens ratings path {candidate} is not a file")
    if len(candidates) == 1:
        raise FileNotFoundError(
            f"MovieLens ratings file {str(path_or_name)!r} not found: {candidates[0]} does not "
            f"exist (data folder {root})"
        )
    raise FileNotFoundError(
        f"MovieLens ratings file {str(path_or_name)!r} not found: looked for "
        + " and ".join(str(c) for c in candidates)
        + f" (data folder {root})"
    )


def _source_name(path: Path, root: Path) -> str:
    """The file's name relative to the data folder when inside it, else its full path."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _read_ratings(
    path: Path, root: Path, user_ids: np.ndarray, item_ids: np.ndarray
) -> Interactions:
    """The ratings of ``path`` with ids mapped to rows of the sorted ``user_ids``/``item_ids``.

    Every check runs vectorized over the whole file: structure first (four tab-separated fields
    of 1 to 18 ASCII digits per line), then, for the lines before the first structural failure,
    the values (parsed by ``np.loadtxt``, which cannot fail on such fields): known ids, ratings
    in 1..5. The first failing line is then re-read alone to say which field is wrong and why.
    """
    try:
        data = path.read_bytes().replace(b"\r\n", b"\n").rstrip(b"\n")
    except IsADirectoryError as error:  # pragma: no cover (_locate only passes files)
        raise ValueError(f"MovieLens ratings path {path} is a folder, not a file") from error
    if not data:
        raise ValueError(f"MovieLens ratings file {path} holds no ratings")
    buffer = np.frombuffer(data, dtype=np.uint8)
    is_newline = buffer == _NEWLINE
    is_tab = buffer == _TAB
    newlines = np.flatnonzero(is_newline)
    n_lines = len(newlines) + 1
    line_starts = np.concatenate([[0], newlines + 1])
    line_ends = np.concatenate([newlines, [len(buffer)]])
    # Field k of the file spans bytes bounds[k] + 1 .. bounds[k + 1] - 1.
    separators = np.flatnonzero(is_tab | is_newline)
    bounds = np.concatenate([[-1], separators, [len(buffer)]])
    field_lengths = np.diff(bounds) - 1
    line_breaks = np.flatnonzero(buffer[separators] == _NEWLINE)
    fields_per_line = np.diff(np.concatenate([[-1], line_breaks, [len(separators)]]))
    bad_byte = ~(((buffer >= _ZERO) & (buffer <= _NINE)) | is_tab | is_newline)
    structural = fields_per_line != len(RATING_FIELDS)
    structural[np.searchsorted(newlines, np.flatnonzero(bad_byte))] = True
    # Lines 0..n_good-1 have four fields of ASCII digits each; no field may be empty or too long.
    n_good = int(np.argmax(structural)) if structural.any() else n_lines
    n_fields = len(RATING_FIELDS)
    lengths = field_lengths[: n_good * n_fields].reshape(n_good, n_fields)
    bad_length = ((lengths == 0) | (lengths > _MAX_DIGITS)).any(axis=1)
    # Lines 0..n_parsed-1 are fields of 1 to 18 ASCII digits: numpy's C parser reads them exactly.
    n_parsed = int(np.argmax(bad_length)) if bad_length.any() else n_good
    values = np.zeros((n_parsed, n_fields), dtype=np.int64)
    if n_parsed:
        text = data[: line_ends[n_parsed - 1]].decode("ascii")
        values = np.loadtxt(
            io.StringIO(text), dtype=np.int64, delimiter="\t", comments=None, ndmin=2
        ).reshape(n_parsed, n_fields)
    users, user_known = _rows(values[:, 0], user_ids)
    items, item_known = _rows(values[:, 1], item_ids)
    ratings = values[:, 2]
    bad = ~user_known | ~item_known | (ratings < RATING_RANGE[0]) | (ratings > RATING_RANGE[1])
    if bad.any() or n_parsed < n_lines:
        first = int(np.argmax(bad)) if bad.any() else n_parsed
        line = data[line_starts[first] : line_ends[first]]
        message = _rating_line_error(line, user_ids, item_ids)
        raise ValueError(f"{path}, line {first + 1}{message}")
    return Interactions(
        users=users,
        items=items,
        ratings=ratings.astype(np.float32),
        timestamps=values[:, 3],
        source=_source_name(path, root),
    )


def _rows(ids: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``ids`` in the sorted ``table`` and whether each id is in it."""
    rows = np.minimum(np.searchsorted(table, ids), len(table) - 1)
    return rows.astype(np.int64), table[rows] == ids


def _rating_line_error(line: bytes, user_ids: np.ndarray, item_ids: np.ndarray) -> str:
    """What is wrong with one ratings line known to be bad (the message after ``<file>, line
    <n>``)."""
    fields = line.split(b"\t")
    if len(fields) != len(RATING_FIELDS):
        return (
            f": expected {len(RATING_FIELDS)} tab-separated fields ({', '.join(RATING_FIELDS)}), "
            f"found {len(fields)}"
        )
    values: list[int] = []
    for name, raw in zip(RATING_FIELDS, fields, strict=True):
        text = raw.decode("latin-1")
        if not _DIGITS.fullmatch(text) or not text.isascii() or len(text) > _MAX_DIGITS:
            kind = "Unix time in seconds" if name == "timestamp" else "integer"
            return f", field {name!r}: {text!r} is not a non-negative {kind}"
        values.append(int(text))
    user_id, item_id, rating, _ = values
    for name, value, table, file in (
        ("user_id", user_id, user_ids, USER_FILE),
        ("item_id", item_id, item_ids, ITEM_FILE),
    ):
        if not _rows(np.asarray([value], dtype=np.int64), table)[1][0]:
            return f", field {name!r}: {name.split('_')[0]} id {value} is not in {file}"
    if not RATING_RANGE[0] <= rating <= RATING_RANGE[1]:
        return f", field 'rating': {rating} is outside {RATING_RANGE[0]}..{RATING_RANGE[1]}"
    raise AssertionError(f"ratings line {line!r} passes every check")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# Deriving the catalog fields.


def _topics(
    flags: np.ndarray, genre_names: tuple[str, ...], item_ids: np.ndarray, root: Path
) -> np.ndarray:
    """``(n_items, n_genres)`` float32 genre flags normalised per row; no flag -> "unknown"."""
    counts = flags.sum(axis=1)
    topics = flags.astype(np.float64)
    empty = counts == 0
    if empty.any():
        if UNKNOWN_GENRE not in genre_names:
            raise ValueError(
                f"{root / ITEM_FILE}: movie id {int(item_ids[np.argmax(empty)])} has no genre "
                f"flag, and {root / GENRE_FILE} has no {UNKNOWN_GENRE!r} genre to give it"
            )
        topics[empty, genre_names.index(UNKNOWN_GENRE)] = 1.0
    topics /= np.maximum(topics.sum(axis=1, keepdims=True), 1.0)
    return topics.astype(np.float32)


def _embeddings(
    flags: np.ndarray,
    genre_names: tuple[str, ...],
    years: np.ndarray,
    dim: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``(n_items, dim)`` float32 unit-norm content embeddings (see the module docstring)."""
    genres = flags.astype(np.float64)
    empty = genres.sum(axis=1) == 0
    if empty.any():  # _topics has checked that "unknown" exists
        genres[empty, genre_names.index(UNKNOWN_GENRE)] = 1.0
    n_items = len(genres)
    idf = np.log((1.0 + n_items) / (1.0 + genres.sum(axis=0))) + 1.0
    genres *= idf[None, :]
    genres /= np.linalg.norm(genres, axis=1, keepdims=True)

    dated = years >= 0
    year_part = np.zeros((n_items, 2))
    if dated.any():
        first, last = int(years[dated].min()), int(years[dated].max())
        angle = (np.pi / 2) * (years[dated] - first) / max(last - first, 1)
        year_part[dated] = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    content = np.concatenate(
        [np.sqrt(1.0 - YEAR_WEIGHT) * genres, np.sqrt(YEAR_WEIGHT) * year_part], axis=1
    )
    content /= np.linalg.norm(content, axis=1, keepdims=True)

    q, r = np.linalg.qr(rng.standard_normal((dim, content.shape[1])))
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    basis = (q * signs[None, :]).T  # (n_features, dim), orthonormal rows
    embeddings = content @ basis
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings.astype(np.float32)


def _popularity_and_quality(
    train: Interactions, n_items: int, prior_ratings: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(n_items,)`` float32 popularity (add-one train counts, sums to 1) and quality in
    ``[0, 1]`` (shrunk mean rating, ``(stars - 1) / 4``)."""
    counts = np.bincount(train.items, minlength=n_items).astype(np.float64)
    smoothed = counts + 1.0
    popularity = smoothed / smoothed.sum()
    sums = np.bincount(train.items, weights=train.ratings.astype(np.float64), minlength=n_items)
    global_mean = float(train.ratings.astype(np.float64).mean())
    stars = (sums + prior_ratings * global_mean) / (counts + prior_ratings)
    low, high = RATING_RANGE
    quality = (stars - low) / (high - low)
    return popularity.astype(np.float32), quality.astype(np.float32)
