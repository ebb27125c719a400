"""Download registry files into the cache: resumable, checksum-verified, atomic; never at import.

Cache layout (root: ``cache_dir=``, else ``$VCBENCH_CACHE``, else ``~/.cache/vcbench``)::

    datasets/raw/<file>           downloaded files, complete and verified (or unverifiable: no checksum)
    datasets/partial/<file>.part  an interrupted download, resumed by the next call
    datasets/prepared/<name>.h5ad prepared files in the contract form (``resolve_dataset``)

The downloader streams into ``partial/`` and resumes from its length (HTTP ``Range``; ``file://``
mirrors seek), so an interrupted multi-gigabyte download is not restarted. The file moves into
``raw/`` only after its size and checksum match the registry (``vcbench.datasets.verify``), so
``raw/`` never holds a half-written or corrupt file. A mirror (``mirror=`` or ``$VCBENCH_MIRROR``) replaces the address's folder: the file is
fetched from ``<mirror>/<file name>``, e.g. ``file:///data/mirror``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from vcbench.datasets.registry import DatasetSpec, RemoteFile, get_spec
from vcbench.datasets.verify import verify_file
from vcbench.errors import DatasetFileError

CACHE_ENV = "VCBENCH_CACHE"
MIRROR_ENV = "VCBENCH_MIRROR"
CHUNK_BYTES = 1 << 20


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache root: ``cache_dir``, else ``$VCBENCH_CACHE``, else ``~/.cache/vcbench``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vcbench"


def raw_dir(cache_dir: str | Path | None = None) -> Path:
    """Folder of complete downloaded files."""
    return cache_root(cache_dir) / "datasets" / "raw"


def partial_dir(cache_dir: str | Path | None = None) -> Path:
    """Folder of interrupted downloads, resumed by the next ``download``."""
    return cache_root(cache_dir) / "datasets" / "partial"


def prepared_dir(cache_dir: str | Path | None = None) -> Path:
    """Folder of prepared (contract-form) files written by ``resolve_dataset``."""
    return cache_root(cache_dir) / "datasets" / "prepared"


def cached_file(spec: DatasetSpec, cache_dir: str | Path | None = None) -> Path | None:
    """Path of the dataset's downloaded file when it is in the cache, else None."""
    if spec.file is None:
        return None
    path = raw_dir(cache_dir) / spec.file.filename
    return path if path.is_file() else None


def file_url(remote: RemoteFile, mirror: str | None = None) -> str:
    """The address to fetch ``remote`` from: its own, or ``<mirror>/<file name>``."""
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    if not mirror:
        return remote.url
    if "://" not in mirror:  # a plain folder
        mirror = Path(mirror).expanduser().resolve().as_uri()
    return f"{mirror.rstrip('/')}/{remote.filename}"


def _progress(total: int | None, description: str, enabled: bool) -> Any:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=True,
    )


def _copy_stream(
    read: Callable[[int], bytes], part: Path, start: int, total: int | None, label: str, show: bool
) -> int:
    """Append ``read`` chunks to ``part``; return the final size."""
    size = start
    with _progress(total, label, show) as progress, part.open("ab") as out:
        task = progress.add_task(label, total=total, completed=start)
        while chunk := read(CHUNK_BYTES):
            out.write(chunk)
            size += len(chunk)
            progress.update(task, completed=size)
    return size


def offline_help(spec: DatasetSpec, cache_dir: str | Path | None = None) -> str:
    """How to proceed without the network: ``--from``, ``--mirror`` or a copy in the cache."""
    remote = spec.file
    filename = remote.filename if remote is not None else "FILE"
    return (
        f"To proceed offline: prepare a local copy with `vcbench datasets prepare {spec.name} "
        f"--from FILE --out OUT.h5ad`; or fetch from a mirror holding {filename} with "
        f"`--mirror DIR_OR_URL` (or ${MIRROR_ENV}); or copy the file to "
        f"{raw_dir(cache_dir) / filename} (it is verified before use)."
    )


def _fetch_file_url(url: str, part: Path, show: bool) -> int | None:
    source = Path(unquote(urlparse(url).path))
    if not source.is_file():
        raise DatasetFileError(
            f"Mirror file not found: {source}. Put the registry file there or fix the mirror address."
        )
    total = source.stat().st_size
    start = part.stat().st_size if part.exists() else 0
    if start > total:  # a stale partial of another file
        part.unlink()
        start = 0
    with source.open("rb") as stream:
        stream.seek(start)
        _copy_stream(stream.read, part, start, total, source.name, show)
    return total


def _range_total(response: Any) -> int | None:
    """The full length in a ``Content-Range: bytes */N`` (416) or ``bytes a-b/N`` (206) header."""
    value = response.headers.get("Content-Range", "")
    _, _, total = value.rpartition("/")
    return int(total) if total.strip().isdigit() else None


def _fetch_http(url: str, part: Path, show: bool, expected: int | None, offline: str) -> int | None:
    """Stream ``url`` into ``part``, resuming from its length; return the file's full size.

    An HTTP 416 (range not satisfiable) means the partial file is complete only when its length
    is the file's full size (from ``Content-Range``, else the registry's ``expected``); an
    oversized partial (a stale file of another download) is deleted and fetched afresh.
    """
    import requests

    start = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={start}-"} if start else {}
    try:
        with requests.get(url, headers=headers, stream=True, timeout=60) as response:
            if response.status_code == 416:
                total = _range_total(response) or expected
                if total is not None and start == total:
                    return start  # the partial file is already complete
                if total is None:
                    raise DatasetFileError(
                        f"{url} refused to resume {part} (HTTP 416) and gives no file size, so "
                        f"the partial file cannot be checked. Delete {part} and run the same "
                        "command again."
                    )
                part.unlink()  # longer (or otherwise not a prefix) than the file: start afresh
                return _fetch_http(url, part, show, expected, offline)
            response.raise_for_status()
            if start and response.status_code != 206:  # the server ignored Range: restart
                part.unlink()
                start = 0
            length = response.headers.get("Content-Length")
            total = start + int(length) if length is not None else None
            chunks = response.iter_content(CHUNK_BYTES)
            _copy_stream(lambda _n: next(chunks, b""), part, start, total, part.stem, show)
            return total
    except requests.ConnectionError as exc:
        raise DatasetFileError(
            f"Cannot reach {url} ({type(exc).__name__}). {offline} An interrupted download "
            f"resumes from {part}."
        ) from exc
    except requests.RequestException as exc:
        raise DatasetFileError(
            f"Downloading {url} failed: {exc}. Run the same command again: the download resumes "
            f"from {part}. {offline}"
        ) from exc


def _fetch(url: str, part: Path, show: bool, expected: int | None, offline: str) -> int | None:
    part.parent.mkdir(parents=True, exist_ok=True)
    scheme = urlparse(url).scheme
    if scheme == "file":
        return _fetch_file_url(url, part, show)
    if scheme in ("http", "https"):
        return _fetch_http(url, part, show, expected, offline)
    raise DatasetFileError(
        f"Cannot download {url!r}: only http(s):// and file:// addresses are supported. "
        "Give a mirror such as file:///path/to/folder."
    )


def verify_cached(spec: DatasetSpec, path: Path) -> dict[str, Any]:
    """Re-verify a file in ``raw/`` (size and checksum); a file that fails is an error naming it."""
    assert spec.file is not None
    return verify_file(
        path,
        spec.file,
        f"Delete {path} and run `vcbench datasets download {spec.name}` (or use --mirror) to "
        "fetch it again.",
    )


def download(
    name: str,
    cache_dir: str | Path | None = None,
    *,
    mirror: str | None = None,
    progress: bool = True,
) -> Path:
    """Download a registry dataset's file into the cache (once) and return its path.

    The bytes stream into ``partial/`` (resumed from its length on the next call), are verified
    (size, then sha256 where published, else md5) and only then moved into ``raw/``. A partial
    transfer keeps the partial file and says how to resume; an oversized or corrupt file is
    deleted, and the error names the file and the fix. A file already in ``raw/`` is re-verified.
    """
    spec = get_spec(name)
    if spec.file is None:
        raise DatasetFileError(
            f"{spec.name} has no single file to download. {spec.manual_download or ''}".strip()
        )
    remote = spec.file
    target = raw_dir(cache_dir) / remote.filename
    if target.is_file():
        verify_cached(spec, target)
        return target
    url = file_url(remote, mirror)
    part = partial_dir(cache_dir) / f"{remote.filename}.part"
    total = _fetch(url, part, progress, remote.size_bytes, offline_help(spec, cache_dir))
    size = part.stat().st_size if part.exists() else 0
    if total is not None and size < total:
        raise DatasetFileError(
            f"The download of {url} is truncated ({size} of {total} bytes). Run the same command "
            f"again to resume it from {part}."
        )
    try:
        verify_file(part, remote, "")
    except DatasetFileError as exc:
        # resumable only when the transfer's length was not announced and it ended short
        partial = total is None and remote.size_bytes is not None and size < remote.size_bytes
        if not partial:
            part.unlink(missing_ok=True)
        fix = (
            f"Run the same command again to resume it from {part}."
            if partial
            else "It was deleted and nothing was cached. The file on the server (or the mirror) "
            "differs from the published one: check the address, or prepare a file you trust "
            f"with `vcbench datasets prepare {spec.name} --from PATH`."
        )
        raise DatasetFileError(f"The download of {spec.name} from {url}: {exc} {fix}") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, target)
    return target
