"""Verify a registry file's bytes: its size, then its checksum (sha256 where published, else md5).

``verify_file`` is called after every download and before every preparation of a registry file,
so a partial, oversized or corrupt file is never prepared. Each failure is a ``DatasetFileError``
naming the file and the fix. Both digests are computed in one pass over the file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from vcbench.datasets.registry import RemoteFile
from vcbench.errors import DatasetFileError

READ_BYTES = 1 << 22


def expected_checksum(remote: RemoteFile) -> tuple[str, str] | None:
    """The checksum a file is verified against: ``("sha256", hex)`` where one is published, else
    ``("md5", hex)``; None when neither is known."""
    if remote.sha256:
        return "sha256", remote.sha256.lower()
    if remote.known_hash:
        algorithm, _, value = remote.known_hash.partition(":")
        return algorithm.lower(), value.lower()
    return None


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of ``path``'s bytes, read in 4 MiB blocks."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as stream:
        while block := stream.read(READ_BYTES):
            digest.update(block)
    return digest.hexdigest()


def check_size(path: Path, remote: RemoteFile, fix: str) -> None:
    """Refuse a file whose size differs from the registry's ``size_bytes`` (when known)."""
    if remote.size_bytes is None:
        return
    size = path.stat().st_size
    if size < remote.size_bytes:
        raise DatasetFileError(
            f"{path} is partial: {size:,} of {remote.size_bytes:,} bytes of {remote.filename}. "
            f"{fix}"
        )
    if size > remote.size_bytes:
        raise DatasetFileError(
            f"{path} is oversized: {size:,} bytes, but {remote.filename} has "
            f"{remote.size_bytes:,} bytes, so it is another file or a corrupt one. {fix}"
        )


def verify_file(path: str | Path, remote: RemoteFile, fix: str) -> dict[str, Any]:
    """Check ``path`` against ``remote``'s size and checksum; return what was checked.

    Args:
        path: the file on disk.
        remote: its registry entry.
        fix: the sentence telling the user what to do when a check fails.

    Returns:
        ``{"file", "size_bytes", "checked"}`` where ``checked`` lists ``"size"`` and the checksum
        algorithm, and ``"sha256"`` is the file's sha256 when it was computed.
    """
    path = Path(path)
    check_size(path, remote, fix)
    checked = ["size"] if remote.size_bytes is not None else []
    record: dict[str, Any] = {"file": str(path), "size_bytes": int(path.stat().st_size)}
    expected = expected_checksum(remote)
    if expected is not None:
        algorithm, value = expected
        actual = file_digest(path, algorithm)
        if actual != value:
            raise DatasetFileError(
                f"{path} does not match the registry checksum of {remote.filename} "
                f"({algorithm} {value}; the file has {actual}). {fix}"
            )
        checked.append(algorithm)
        record[algorithm] = actual
    record["checked"] = checked or ["nothing: no size or checksum is published"]
    return record


__all__ = ["check_size", "expected_checksum", "file_digest", "verify_file"]
