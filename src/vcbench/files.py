"""Write files atomically with ordinary modes: the one place where vcbench creates output files.

Every writer goes through :func:`write_atomic`: the content is written to a temporary file in the
destination's folder, flushed to disk (``fsync``), given the mode an ordinary file would get under
the process's umask (``0o666 & ~umask``: 0644 under the default umask 022), and renamed over the
destination. A reader therefore sees either the old file or the whole new one, never a partial one,
and a killed writer leaves at most a hidden ``.NAME.*.tmp`` file behind (never the destination).
Folders are created with ``0o777 & ~umask`` (0755 under umask 022).

This module sits at the bottom of the layering: it imports nothing else of vcbench, so every
layer (data, metrics, runner, report) may use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import anndata as ad
    import pandas as pd

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask (read without changing it for longer than two system calls)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode of a new regular file: ``0o666 & ~umask`` (0644 under umask 022)."""
    return 0o666 & ~current_umask()


def make_folder(path: str | Path) -> Path:
    """Create ``path`` and its missing parents with mode ``0o777 & ~umask``; returns the path."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)  # mkdir applies the umask itself
    return path


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entry list (so a rename survives a crash); a no-op where unsupported."""
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Create or replace ``path`` atomically: ``write(temporary)`` fills a temporary file in the
    same folder, which is then flushed, given :func:`file_mode` and renamed onto ``path``."""
    path = Path(path)
    make_folder(path.parent)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.chmod(temporary, file_mode())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_folder(path.parent)
    return path


def write_text_atomic(text: str, path: str | Path) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(data: dict[str, Any], path: str | Path) -> Path:
    """Write ``data`` as indented, key-sorted JSON, atomically."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    return write_text_atomic(text, path)


def write_table_atomic(table: pd.DataFrame, path: str | Path) -> Path:
    """Write ``table`` as CSV (``.csv``) or else parquet, without its index, atomically."""
    path = Path(path)
    if path.suffix == ".csv":
        return write_atomic(path, lambda tmp: table.to_csv(tmp, index=False))
    return write_atomic(path, lambda tmp: table.to_parquet(tmp, index=False))


def write_h5ad_atomic(adata: ad.AnnData, path: str | Path) -> Path:
    """Write an AnnData as ``.h5ad``, atomically."""
    return write_atomic(path, lambda tmp: adata.write_h5ad(tmp))


def check_writable_folder(path: str | Path, what: str = "output folder") -> Path:
    """Create ``path`` if needed and check that files can be created in it, so that a run fails
    before its work rather than after; the error names the folder and the fix."""
    from vcbench.errors import VcbenchError  # errors.py imports nothing: still the bottom layer

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise VcbenchError(f"The {what} {path} is a file, not a folder. Name a folder.")
    try:
        make_folder(path)
        handle, name = tempfile.mkstemp(dir=path, prefix=".vcbench-write-check.", suffix=".tmp")
        os.close(handle)
        os.unlink(name)
    except OSError as exc:
        raise VcbenchError(
            f"Cannot write to the {what} {path}: {exc.strerror or exc}. "
            "Choose a folder you can write to, or fix its permissions."
        ) from None
    return path
