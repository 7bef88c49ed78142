"""Output folders written whole or not at all, and never over a folder the library did not write.

Saved simulators, trained models and checkpoints are folders. Each is first written to a hidden
staging folder beside its target and then renamed into place (:func:`replace_folder`), so an
interrupted write leaves no half folder; an existing target is replaced only when the caller asked
(``overwrite``) and only when it is empty or holds the marker file its writer leaves
(:func:`check_replaceable`), so a folder of someone else's files is never deleted.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

__all__ = ["check_replaceable", "replace_folder", "staging_folder"]


def check_replaceable(
    folder: str | os.PathLike[str], *, name: str, marker: str, kind: str, overwrite: bool
) -> Path:
    """``folder`` as a :class:`~pathlib.Path` when a new folder may be written there.

    Args:
        folder: the target.
        name: what the caller calls it in errors (an argument or option name).
        marker: the file every folder of this kind holds.
        kind: what such a folder is, for errors ("a saved simulator").
        overwrite: whether an existing folder of this kind (or an empty one) may be replaced.

    Raises:
        NotADirectoryError: ``folder`` is a file.
        FileExistsError: ``folder`` exists and ``overwrite`` is false, or it holds files but
            not ``marker`` (never replaced, even with ``overwrite``).
    """
    target = Path(folder).expanduser()
    if not (target.exists() or target.is_symlink()):
        return target
    if not target.is_dir():
        raise NotADirectoryError(f"{name} {str(target)!r} is a file, not a folder")
    if not overwrite:
        raise FileExistsError(
            f"{name} {str(target)!r} exists; pass overwrite=True (--overwrite on the command "
            "line) to replace it, or name a new folder"
        )
    if any(target.iterdir()) and not (target / marker).is_file():
        raise FileExistsError(
            f"{name} {str(target)!r} holds files but no {marker}: it is not {kind} and is not "
            "replaced, even with overwrite"
        )
    return target


def staging_folder(target: Path) -> Path:
    """A new, empty hidden folder beside ``target`` (its parents created) to write into before
    :func:`replace_folder` moves it into place."""
    parent = target.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = parent / f".{target.name}.{uuid.uuid4().hex[:12]}.partial"
    staging.mkdir()
    return staging


def replace_folder(source: Path, target: Path) -> None:
    """Move folder ``source`` to ``target``. An existing ``target`` is renamed aside first, put
    back if ``source`` cannot be renamed into place, and removed once it is."""
    if not (target.exists() or target.is_symlink()):
        source.rename(target)
        return
    aside = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.replaced")
    target.rename(aside)
    try:
        source.rename(target)
    except BaseException:
        aside.rename(target)  # the earlier folder stays where it was
        raise
    shutil.rmtree(aside, ignore_errors=True)
