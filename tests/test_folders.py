"""Output folders: written whole or not at all, never over a folder the library did not write."""

from __future__ import annotations

from pathlib import Path

import pytest

from recoworld.folders import check_replaceable, replace_folder, staging_folder


def replaceable(folder: Path, overwrite: bool) -> Path:
    return check_replaceable(
        folder, name="out", marker="marker.json", kind="a test folder", overwrite=overwrite
    )


def test_check_replaceable(tmp_path: Path) -> None:
    assert replaceable(tmp_path / "new", overwrite=False) == tmp_path / "new"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileExistsError, match="exists; pass overwrite=True"):
        replaceable(empty, overwrite=False)
    assert replaceable(empty, overwrite=True) == empty
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "marker.json").write_text("{}")
    assert replaceable(mine, overwrite=True) == mine
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("years of work")
    with pytest.raises(FileExistsError, match=r"no marker\.json: it is not a test folder"):
        replaceable(theirs, overwrite=True)
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        replaceable(file, overwrite=True)


def test_replace_folder_swaps_in_the_new_one(tmp_path: Path) -> None:
    target = tmp_path / "model"
    staging = staging_folder(target)
    assert staging.parent == tmp_path and staging.name.startswith(".model.")
    (staging / "weights").write_text("first")
    replace_folder(staging, target)
    assert (target / "weights").read_text() == "first"
    again = staging_folder(target)
    (again / "weights").write_text("second")
    replace_folder(again, target)
    assert (target / "weights").read_text() == "second"
    assert [path.name for path in tmp_path.iterdir()] == ["model"]  # nothing left aside


def test_a_failed_replacement_puts_the_old_folder_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = tmp_path / "model", tmp_path / "staged"
    for folder, text in ((old, "old"), (new, "new")):
        folder.mkdir()
        (folder / "weights").write_text(text)
    rename = Path.rename

    def failing(self: Path, target: Path) -> Path:
        if self == new:
            raise OSError("disk full")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", failing)
    with pytest.raises(OSError, match="disk full"):
        replace_folder(new, old)
    assert (old / "weights").read_text() == "old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model", "staged"]
