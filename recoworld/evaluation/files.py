"""Checks of output paths before a run spends its time: never lose a file, fail early."""

from __future__ import annotations

import argparse
import os
import uuid
from pathlib import Path

__all__ = ["check_new_file", "check_output_option"]


def check_new_file(path: str | os.PathLike[str], *, overwrite: bool, what: str = "file") -> Path:
    """Check that ``path`` can be written as a new file (or replaced, with ``overwrite``).

    Nothing is left behind: the nearest existing folder above ``path`` must be a folder that can
    be written in (missing folders below it are created later, by the writer). A file (when the
    parent folder exists) or a folder (when it does not) is created there and removed at once,
    which catches places that accept nothing new (``/proc``, a read-only mount) even for the
    superuser.

    Returns ``path`` as a :class:`~pathlib.Path`.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        IsADirectoryError: ``path`` is a folder.
        NotADirectoryError: a component of the parent path is a file.
        PermissionError: the folder cannot be written.
        OSError: any other reason the file cannot be created.
    """
    target = Path(path)
    label = f"{what} {str(target)!r}"
    if target.is_dir():
        raise IsADirectoryError(f"{label} is a folder; name a file inside it")
    if target.exists() or target.is_symlink():
        if not overwrite:
            raise FileExistsError(
                f"{label} exists; refusing to overwrite it (pass overwrite=True, or --overwrite "
                "on the command line, to replace it)"
            )
        if not os.access(target, os.W_OK):
            raise PermissionError(f"{label} exists and cannot be written")
        return target
    ancestor = target.parent
    while not ancestor.exists():
        if ancestor.is_symlink():
            raise OSError(f"{label}: {str(ancestor)!r} is a broken link")
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise NotADirectoryError(f"{label}: {str(ancestor)!r} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PermissionError(f"{label}: the folder {str(ancestor)!r} cannot be written")
    try:
        if ancestor == target.parent:
            with target.open("x"):
                pass
            target.unlink()
        else:  # the writer will create the missing folders there: try making (and removing) one
            probe = ancestor / f".recoworld-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            probe.mkdir()
            probe.rmdir()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise type(error)(f"{label} cannot be created in {str(ancestor)!r}: {reason}") from None
    return target


def check_output_option(
    parser: argparse.ArgumentParser,
    option: str,
    path: str | os.PathLike[str] | None,
    *,
    overwrite: bool,
) -> None:
    """For scripts: :func:`check_new_file` on the output ``option`` names (nothing when
    ``None``), before any work; a refusal is ``parser.error`` (one usage line, exit 2), so a
    long benchmark never fails only when it writes its results."""
    if path is None:
        return
    try:
        check_new_file(path, overwrite=overwrite, what=option)
    except OSError as error:
        parser.error(str(error))
