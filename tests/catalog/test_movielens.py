"""Tests of the MovieLens 100K loader."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recoworld.catalog import Interactions, MovieLensDataset, load_movielens
from recoworld.catalog.movielens import DEFAULT_DURATION_MINUTES, YEAR_WEIGHT

GENRES = ("unknown", "Action", "Comedy", "Drama")
OCCUPATIONS = ("artist", "doctor", "student")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FILES = ("u.genre", "u.occupation", "u.item", "u.user", "ratings_train.tsv", "ratings_valid.tsv")


@dataclass
class TinyMovieLens:
    """What :func:`write_movielens` wrote, in file order, and the file texts."""

    item_ids: list[int]
    titles: list[str]
    years: list[int]
    flags: list[list[int]]
    user_ids: list[int]
    ages: list[int]
    genders: list[str]
    occupations: list[str]
    zip_codes: list[str]
    train: list[tuple[int, int, int, int]]
    valid: list[tuple[int, int, int, int]]
    texts: dict[str, str]


def tiny_movielens(seed: int) -> TinyMovieLens:
    """A small MovieLens folder's content drawn from ``seed``: 8 movies (ids not contiguous, file
    order shuffled; the first has no genre flag, the second no release date, one title is
    Latin-1), 5 users, 30 train and 8 valid ratings."""
    rng = np.random.default_rng(seed)
    item_ids = [int(i) for i in rng.choice(np.arange(1, 60), size=8, replace=False)]
    years = [int(y) for y in rng.integers(1930, 1999, size=8)]
    years[1] = -1
    flags = [[int(f) for f in rng.integers(0, 2, size=len(GENRES))] for _ in item_ids]
    flags[0] = [0] * len(GENRES)
    titles = [f"Movie {item_id} ({year})" for item_id, year in zip(item_ids, years, strict=True)]
    titles[2] = "Café Noir (1962)"
    item_lines = []
    for item_id, title, year, row in zip(item_ids, titles, years, flags, strict=True):
        day = int(rng.integers(1, 29))
        date = "" if year < 0 else f"{day}-{MONTHS[int(rng.integers(12))]}-{year}"
        url = f"http://example.org/{item_id}"
        item_lines.append("|".join([str(item_id), title, date, "", url, *map(str, row)]))

    user_ids = [int(u) for u in rng.choice(np.arange(1, 40), size=5, replace=False)]
    ages = [int(a) for a in rng.integers(7, 74, size=5)]
    genders = [str(g) for g in rng.choice(["F", "M"], size=5)]
    occupations = [str(o) for o in rng.choice(OCCUPATIONS, size=5)]
    zip_codes = [f"{int(z):05d}" for z in rng.integers(0, 99999, size=5)]
    zip_codes[3] = "T8H1N"
    user_lines = [
        "|".join([str(u), str(a), g, o, z])
        for u, a, g, o, z in zip(user_ids, ages, genders, occupations, zip_codes, strict=True)
    ]

    def ratings(n: int) -> list[tuple[int, int, int, int]]:
        return [
            (
                user_ids[int(rng.integers(5))],
                item_ids[int(rng.integers(8))],
                int(rng.integers(1, 6)),
                int(rng.integers(874_000_000, 893_000_000)),
            )
            for _ in range(n)
        ]

    train, valid = ratings(30), ratings(8)
    texts = {
        # u.genre ends with a blank line, as GroupLens ships it.
        "u.genre": "".join(f"{name}|{i}\n" for i, name in enumerate(GENRES)) + "\n",
        "u.occupation": "".join(f"{name}\n" for name in OCCUPATIONS),
        "u.item": "".join(f"{line}\n" for line in item_lines),
        "u.user": "".join(f"{line}\n" for line in user_lines),
        "ratings_train.tsv": "".join("\t".join(map(str, row)) + "\n" for row in train),
        "ratings_valid.tsv": "".join("\t".join(map(str, row)) + "\n" for row in valid),
    }
    return TinyMovieLens(
        item_ids, titles, years, flags, user_ids, ages, genders, occupations, zip_codes,
        train, valid, texts,
    )  # fmt: skip


def write_movielens(root: Path, texts: dict[str, str | None]) -> Path:
    """Write the files into ``root`` (Latin-1); a ``None`` text leaves the file out."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        if text is not None:
            (root / name).write_bytes(text.encode("latin-1"))
    return root


@pytest.fixture(params=[0, 1])
def tiny(request: pytest.FixtureRequest) -> TinyMovieLens:
    return tiny_movielens(request.param)


@pytest.fixture
def loaded(tiny: TinyMovieLens, tmp_path: Path) -> MovieLensDataset:
    return load_movielens(write_movielens(tmp_path / "ml", dict(tiny.texts)), embedding_dim=8)


def test_items_users_and_ratings_are_read_exactly(
    tiny: TinyMovieLens, loaded: MovieLensDataset
) -> None:
    order = np.argsort(tiny.item_ids)
    catalog = loaded.catalog
    assert catalog.name == "ml-100k"
    assert catalog.item_ids.tolist() == sorted(tiny.item_ids)
    assert catalog.titles == tuple(tiny.titles[i] for i in order)
    assert "Café Noir (1962)" in catalog.titles
    assert loaded.release_years.tolist() == [tiny.years[i] for i in order]
    assert loaded.release_years.dtype == np.int64
    assert catalog.attribute_names == GENRES
    assert catalog.topic_names == GENRES
    flags = np.array(tiny.flags)[order]
    assert catalog.item_attributes.toarray().tolist() == flags.tolist()

    user_order = np.argsort(tiny.user_ids)
    users = loaded.users
    assert len(users) == 5
    assert users.user_ids.dtype == np.int64
    assert users.user_ids.tolist() == sorted(tiny.user_ids)
    assert users.ages.tolist() == [tiny.ages[i] for i in user_order]
    assert users.genders == tuple(tiny.genders[i] for i in user_order)
    assert users.occupations == tuple(tiny.occupations[i] for i in user_order)
    assert users.zip_codes == tuple(tiny.zip_codes[i] for i in user_order)
    assert users.occupation_names == OCCUPATIONS

    for table, rows, name in ((loaded.train, tiny.train, "ratings_train.tsv"),
                              (loaded.valid, tiny.valid, "ratings_valid.tsv")):  # fmt: skip
        assert isinstance(table, Interactions)
        assert table.source == name
        assert len(table) == len(rows)
        assert table.users.dtype == np.int64 and table.items.dtype == np.int64
        assert table.ratings.dtype == np.float32 and table.timestamps.dtype == np.int64
        # File order is kept; rows map back to the ids of the file.
        assert users.user_ids[table.users].tolist() == [r[0] for r in rows]
        assert catalog.item_ids[table.items].tolist() == [r[1] for r in rows]
        assert table.ratings.tolist() == [float(r[2]) for r in rows]
        assert table.timestamps.tolist() == [r[3] for r in rows]


def test_derived_catalog_fields(tiny: TinyMovieLens, loaded: MovieLensDataset) -> None:
    catalog = loaded.catalog
    order = np.argsort(tiny.item_ids)
    flags = np.array(tiny.flags, dtype=float)[order]
    row_of = {item_id: row for row, item_id in enumerate(catalog.item_ids.tolist())}

    counts = np.zeros(catalog.n_items)
    sums = np.zeros(catalog.n_items)
    for _, item_id, rating, _ in tiny.train:
        counts[row_of[item_id]] += 1
        sums[row_of[item_id]] += rating
    np.testing.assert_allclose(catalog.popularity, (counts + 1) / (counts + 1).sum(), rtol=1e-6)
    assert catalog.popularity.sum() == pytest.approx(1.0, abs=1e-6)
    mean = np.mean([r[2] for r in tiny.train])
    stars = (sums + 10.0 * mean) / (counts + 10.0)
    np.testing.assert_allclose(catalog.quality, (stars - 1) / 4, rtol=1e-6)
    assert ((catalog.quality >= 0) & (catalog.quality <= 1)).all()

    expected_topics = flags.copy()
    expected_topics[expected_topics.sum(axis=1) == 0, GENRES.index("unknown")] = 1.0
    expected_topics /= expected_topics.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(catalog.item_topics, expected_topics, rtol=1e-6)
    np.testing.assert_allclose(catalog.item_topics.sum(axis=1), 1.0, rtol=1e-6)

    assert (catalog.duration == DEFAULT_DURATION_MINUTES).all()
    for i in range(catalog.n_items):
        genres = [GENRES[j] for j in np.flatnonzero(flags[i])]
        description = catalog.descriptions[i]
        assert description.startswith(catalog.titles[i] + ": ")
        assert all(genre in description for genre in genres)
        assert ("no listed tags" in description) == (not genres)


def test_embeddings_follow_content_and_the_seed_only_rotates_them(tmp_path: Path) -> None:
    tiny = tiny_movielens(5)
    # Two movies with the same genres and year, and one with disjoint genres.
    lines = tiny.texts["u.item"].splitlines()
    first = lines[3].split("|")
    twin = [*first]
    twin[0], twin[1] = "98", "Twin (1990)"
    other = [*first]
    other[0], other[1] = "99", "Other (1990)"
    flags = [1 if f == "0" else 0 for f in first[5:]]
    flags[0] = 0 if any(flags[1:]) else 1
    other[5:] = map(str, flags)
    texts: dict[str, str | None] = dict(tiny.texts)
    texts["u.item"] = "\n".join([*lines, "|".join(twin), "|".join(other)]) + "\n"
    root = write_movielens(tmp_path / "ml", texts)

    a = load_movielens(root, embedding_dim=10, seed=0)
    b = load_movielens(root, embedding_dim=10, seed=1)
    again = load_movielens(root, embedding_dim=10, seed=0)
    assert a.catalog.embeddings.shape == (10, 10)
    assert a.catalog.embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a.catalog.embeddings, axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(a.catalog.embeddings, again.catalog.embeddings)
    assert not np.allclose(a.catalog.embeddings, b.catalog.embeddings)
    gram_a = a.catalog.embeddings @ a.catalog.embeddings.T
    gram_b = b.catalog.embeddings @ b.catalog.embeddings.T
    np.testing.assert_allclose(gram_a, gram_b, atol=1e-5)

    row = {item_id: r for r, item_id in enumerate(a.catalog.item_ids.tolist())}
    source, twin_row, other_row = row[int(first[0])], row[98], row[99]
    assert gram_a[source, twin_row] == pytest.approx(1.0, abs=1e-5)
    assert gram_a[source, other_row] <= YEAR_WEIGHT + 1e-5
    # Items sharing all genres stay at least 1 - YEAR_WEIGHT apart in cosine, whatever the year.
    flags_matrix = a.catalog.item_attributes.toarray()
    for i in range(a.catalog.n_items):
        for j in range(a.catalog.n_items):
            if flags_matrix[i].any() and (flags_matrix[i] == flags_matrix[j]).all():
                assert gram_a[i, j] >= 1 - YEAR_WEIGHT - 1e-5


def test_read_ratings_inside_and_outside_the_folder(
    tiny: TinyMovieLens, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_movielens(tmp_path / "ml", dict(tiny.texts))
    dataset = load_movielens(root, embedding_dim=8)
    elsewhere = tmp_path / "held_back"
    elsewhere.mkdir()
    test_file = elsewhere / "ratings_test.tsv"
    test_file.write_text(tiny.texts["ratings_valid.tsv"].replace("\n", "\r\n"))
    outside = dataset.read_ratings(test_file)
    assert outside.source == str(test_file.resolve())
    np.testing.assert_array_equal(outside.items, dataset.valid.items)
    np.testing.assert_array_equal(outside.timestamps, dataset.valid.timestamps)
    inside = dataset.read_ratings("ratings_train.tsv")
    np.testing.assert_array_equal(inside.users, dataset.train.users)
    monkeypatch.chdir(elsewhere)
    assert len(dataset.read_ratings("ratings_test.tsv")) == len(tiny.valid)
    with pytest.raises(FileNotFoundError, match=r"ratings_missing\.tsv.*looked for"):
        dataset.read_ratings("ratings_missing.tsv")

    test_file.write_text(
        f"{tiny.user_ids[0]}\t{tiny.item_ids[0]}\t3\t1\n{tiny.user_ids[0]}\t7777\t3\t1\n"
    )
    with pytest.raises(ValueError, match=r"ratings_test\.tsv, line 2, field 'item_id'.*u\.item"):
        dataset.read_ratings(test_file)


def test_train_and_valid_files_are_looked_up_in_the_folder_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = tiny_movielens(2)
    root = write_movielens(tmp_path / "ml", {**tiny.texts, "ratings_valid.tsv": None})
    outside = tmp_path / "splits" / "valid_elsewhere.tsv"
    outside.parent.mkdir()
    outside.write_text(tiny.texts["ratings_valid.tsv"])
    dataset = load_movielens(root, valid_file=outside, embedding_dim=8)
    assert len(dataset.valid) == len(tiny.valid) and dataset.valid.source == str(outside)
    same = load_movielens(root, valid_file="../splits/valid_elsewhere.tsv", embedding_dim=8)
    np.testing.assert_array_equal(same.valid.items, dataset.valid.items)
    # A namesake in the current directory does not stand in for a file missing from the folder.
    monkeypatch.chdir(outside.parent)
    (outside.parent / "ratings_valid.tsv").write_text(tiny.texts["ratings_valid.tsv"])
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / "ratings_valid.tsv"))):
        load_movielens(root, embedding_dim=8)


def _line(tiny: TinyMovieLens, user: int | str = 0, item: int | str = 0,
          rating: int | str = 4, time: int | str = 880000000) -> str:  # fmt: skip
    user = tiny.user_ids[user] if isinstance(user, int) else user
    item = tiny.item_ids[item] if isinstance(item, int) else item
    return f"{user}\t{item}\t{rating}\t{time}"


def _item(tiny: TinyMovieLens, **changes: str) -> str:
    fields = tiny.texts["u.item"].splitlines()[3].split("|")
    names = {"id": 0, "title": 1, "date": 2, "flag": 6}
    for name, value in changes.items():
        fields[names[name]] = value
    return "|".join(fields)


def _user(tiny: TinyMovieLens, **changes: str) -> str:
    fields = tiny.texts["u.user"].splitlines()[2].split("|")
    names = {"id": 0, "age": 1, "gender": 2, "occupation": 3}
    for name, value in changes.items():
        fields[names[name]] = value
    return "|".join(fields)


# (file, line number to replace, the new line, what the message must say after "<file>, line n")
MALFORMED: list[tuple[str, int, Callable[[TinyMovieLens], str], str]] = [
    ("ratings_train.tsv", 3, lambda t: "1\t2\t3", r": expected 4 tab-separated fields.*found 3"),
    ("ratings_train.tsv", 3, lambda t: _line(t) + "\t5", r": expected 4 .*found 5"),
    ("ratings_train.tsv", 2, lambda t: "", r": expected 4 .*found 1"),
    ("ratings_train.tsv", 4, lambda t: _line(t, user="u1"), r", field 'user_id': 'u1' is not"),
    ("ratings_train.tsv", 4, lambda t: _line(t, user="-3"), r", field 'user_id': '-3' is not"),
    ("ratings_train.tsv", 4, lambda t: _line(t, item=""), r", field 'item_id': '' is not"),
    ("ratings_train.tsv", 5, lambda t: _line(t, rating=6), r", field 'rating': 6 is outside 1..5"),
    ("ratings_train.tsv", 5, lambda t: _line(t, rating=0), r", field 'rating': 0 is outside"),
    ("ratings_train.tsv", 5, lambda t: _line(t, rating="4.5"), r", field 'rating': '4.5' is not"),
    ("ratings_train.tsv", 6, lambda t: _line(t, time="1e9"), r", field 'timestamp': '1e9' is not"),
    ("ratings_train.tsv", 6, lambda t: _line(t, time="-1"), r", field 'timestamp': '-1' is not"),
    ("ratings_train.tsv", 6, lambda t: _line(t, time="9" * 19), r", field 'timestamp': '9+' is"),
    ("ratings_train.tsv", 7, lambda t: _line(t, user="999"), r", field 'user_id': .*999.*u\.user"),
    ("ratings_valid.tsv", 1, lambda t: _line(t, item="777"), r", field 'item_id': .*777.*u\.item"),
    ("ratings_valid.tsv", 8, lambda t: _line(t, rating=9), r", field 'rating': 9 is outside"),
    ("ratings_valid.tsv", 1, lambda t: _line(t, time=""), r", field 'timestamp': '' is not"),
    ("u.item", 2, lambda t: "1|x|", r": expected 9 '\|'-separated fields.*u\.genre.*found 3"),
    ("u.item", 2, lambda t: _item(t, id="1a"), r", field 'movie id': '1a' is not"),
    ("u.item", 6, lambda t: _item(t), r", field 'movie id': movie id \d+ repeats line 4"),
    ("u.item", 2, lambda t: _item(t, title=""), r", field 'movie title': the title is empty"),
    ("u.item", 2, lambda t: _item(t, date="1995-01-01"), r", field 'release date': '1995-01-01'"),
    ("u.item", 2, lambda t: _item(t, date="01-Foo-1995"), r", field 'release date'"),
    ("u.item", 2, lambda t: _item(t, flag="2"), r", field \"genre 'Action'\": '2' is not 0 or 1"),
    ("u.user", 1, lambda t: "1|20|M|artist", r": expected 5 '\|'-separated fields, found 4"),
    ("u.user", 1, lambda t: _user(t, id="x"), r", field 'user id': 'x' is not"),
    ("u.user", 5, lambda t: _user(t), r", field 'user id': user id \d+ repeats line 3"),
    ("u.user", 1, lambda t: _user(t, age="ten"), r", field 'age': 'ten' is not an integer age"),
    ("u.user", 1, lambda t: _user(t, age="0"), r", field 'age': '0' is not an integer age in"),
    ("u.user", 1, lambda t: _user(t, age="200"), r", field 'age': '200'"),
    ("u.user", 1, lambda t: _user(t, gender="X"), r", field 'gender': 'X' is not one of F, M"),
    ("u.user", 1, lambda t: _user(t, occupation="pilot"), r", field 'occupation': 'pilot'.*u\.occ"),
    ("u.genre", 2, lambda t: "Action|7", r", field 'genre index': '7' must be 1"),
    ("u.genre", 3, lambda t: "Action|2", r", field 'genre': 'Action' repeats line 2"),
    ("u.genre", 2, lambda t: "Action", r": expected 2 '\|'-separated fields, found 1"),
    ("u.occupation", 3, lambda t: "artist", r", field 'occupation': 'artist' repeats line 1"),
]


@pytest.mark.parametrize(
    ("name", "number", "make_line", "message"),
    MALFORMED,
    ids=[f"{name}:{i}" for i, (name, *_rest) in enumerate(MALFORMED)],
)
def test_malformed_line_names_file_line_and_field(
    tmp_path: Path,
    name: str,
    number: int,
    make_line: Callable[[TinyMovieLens], str],
    message: str,
) -> None:
    tiny = tiny_movielens(3)
    lines = tiny.texts[name].split("\n")
    lines[number - 1] = make_line(tiny)
    texts: dict[str, str | None] = {**tiny.texts, name: "\n".join(lines)}
    root = write_movielens(tmp_path / "ml", texts)
    with pytest.raises(ValueError) as caught:
        load_movielens(root, embedding_dim=8)
    text = str(caught.value)
    assert text.startswith(f"{root / name}, line {number}"), text
    assert re.search(message, text[len(f"{root / name}, line {number}") :]), text


def test_blank_lines_only_at_the_end(tmp_path: Path) -> None:
    tiny = tiny_movielens(4)
    texts: dict[str, str | None] = dict(tiny.texts)
    texts["u.user"] = tiny.texts["u.user"] + "\n\n"
    texts["ratings_train.tsv"] = tiny.texts["ratings_train.tsv"] + "\n\n\n"
    assert len(load_movielens(write_movielens(tmp_path / "a", texts), embedding_dim=8).train) == 30
    texts["u.user"] = "\n" + tiny.texts["u.user"]
    with pytest.raises(ValueError, match=r"u\.user, line 1: the line is empty"):
        load_movielens(write_movielens(tmp_path / "b", texts), embedding_dim=8)


def test_the_first_bad_line_is_reported_whatever_the_kinds(tmp_path: Path) -> None:
    tiny = tiny_movielens(6)
    lines = tiny.texts["ratings_train.tsv"].splitlines()
    value_first = [*lines]
    value_first[4], value_first[9] = _line(tiny, rating=7), "1\t2"
    structure_first = [*lines]
    structure_first[4], structure_first[9] = "1\t2", _line(tiny, rating=7)
    for label, rows, expected in (
        ("a", value_first, "line 5, field 'rating'"),
        ("b", structure_first, "line 5: expected 4"),
    ):
        texts: dict[str, str | None] = {**tiny.texts, "ratings_train.tsv": "\n".join(rows)}
        with pytest.raises(ValueError, match=re.escape(expected)):
            load_movielens(write_movielens(tmp_path / label, texts), embedding_dim=8)


def test_an_empty_ratings_file_and_an_item_without_genre_or_unknown(tmp_path: Path) -> None:
    tiny = tiny_movielens(7)
    texts: dict[str, str | None] = {**tiny.texts, "ratings_valid.tsv": "\n"}
    with pytest.raises(ValueError, match=r"ratings_valid\.tsv holds no ratings"):
        load_movielens(write_movielens(tmp_path / "a", texts), embedding_dim=8)
    # Without an "unknown" genre, a movie with no flag has no topic to go to.
    texts = {**tiny.texts, "u.genre": tiny.texts["u.genre"].replace("unknown|0", "Noir|0")}
    with pytest.raises(ValueError, match=r"u\.item: movie id \d+ has no genre flag.*u\.genre"):
        load_movielens(write_movielens(tmp_path / "b", texts), embedding_dim=8)


@pytest.mark.parametrize("missing", FILES)
def test_a_missing_file_names_the_folder_and_the_file(tmp_path: Path, missing: str) -> None:
    tiny = tiny_movielens(8)
    root = write_movielens(tmp_path / "ml", {**tiny.texts, missing: None})
    with pytest.raises(FileNotFoundError) as caught:
        load_movielens(root, embedding_dim=8)
    assert str(root) in str(caught.value) and missing in str(caught.value)


def test_folder_and_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_movielens(tmp_path / "absent")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        load_movielens(tmp_path / "file")
    root = write_movielens(tmp_path / "ml", dict(tiny_movielens(9).texts))
    with pytest.raises(ValueError, match=r"embedding_dim=5 must be at least the 6 content"):
        load_movielens(root, embedding_dim=5)
    with pytest.raises(ValueError, match="quality_prior_ratings"):
        load_movielens(root, quality_prior_ratings=0.0)
    with pytest.raises(ValueError, match="seed"):
        load_movielens(root, seed=-1)


@st.composite
def _corruptions(draw: st.DrawFn) -> tuple[str, int, str]:
    name = draw(st.sampled_from(FILES))
    n_lines = len(TINY.texts[name].rstrip("\n").split("\n"))
    number = draw(st.integers(1, n_lines))
    line = TINY.texts[name].split("\n")[number - 1]
    alphabet = st.sampled_from("0123456789|\t\n -xé") | st.characters(max_codepoint=255)
    kind = draw(st.sampled_from(["replace", "insert", "delete"]))
    if kind == "replace":
        new = draw(st.text(alphabet, max_size=30))
    else:
        at = draw(st.integers(0, len(line)))
        new = line[:at] + draw(st.text(alphabet, min_size=1, max_size=3)) + line[at:]
        if kind == "delete":
            new = line[:at] + line[at + 1 :]
    return name, number, new


TINY = tiny_movielens(11)


@settings(max_examples=80, deadline=None)
@given(corruption=_corruptions())
def test_a_corrupted_line_loads_or_names_its_file(corruption: tuple[str, int, str]) -> None:
    name, number, new = corruption
    lines = TINY.texts[name].split("\n")
    lines[number - 1] = new
    with tempfile.TemporaryDirectory() as folder:
        root = write_movielens(Path(folder) / "ml", {**TINY.texts, name: "\n".join(lines)})
        try:
            dataset = load_movielens(root, embedding_dim=8)
        except ValueError as error:
            assert name in str(error), (name, new, str(error))
        else:
            assert dataset.catalog.n_items >= 1


REAL = Path(__file__).resolve().parents[2].parent / "shared/data/ml-100k"


def test_the_real_ml_100k_folder() -> None:
    if not REAL.is_dir():
        pytest.skip(f"MovieLens 100K data folder {REAL} is absent")
    dataset = load_movielens(REAL)
    catalog = dataset.catalog
    assert (catalog.n_items, len(dataset.users)) == (1682, 943)
    assert (len(dataset.train), len(dataset.valid)) == (90_570, 4_715)
    assert catalog.n_attributes == 19 and catalog.attribute_names[0] == "unknown"
    assert catalog.item_ids.tolist() == list(range(1, 1683))
    assert dataset.users.user_ids.tolist() == list(range(1, 944))
    assert (dataset.release_years == -1).sum() == 1
    assert catalog.popularity.sum() == pytest.approx(1.0, abs=1e-5)
    # Every user's valid ratings come no earlier than their train ratings.
    n_users = len(dataset.users)
    last_train = np.full(n_users, np.iinfo(np.int64).min)
    np.maximum.at(last_train, dataset.train.users, dataset.train.timestamps)
    first_valid = np.full(n_users, np.iinfo(np.int64).max)
    np.minimum.at(first_valid, dataset.valid.users, dataset.valid.timestamps)
    assert (first_valid >= last_train).all()
    assert np.bincount(dataset.valid.users, minlength=n_users).tolist() == [5] * n_users
