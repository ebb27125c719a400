"""Download registry files into the cache: resumable, checksum-verified, atomic; never at import.

Cache layout (root: ``cache_dir=``, else ``$VCBENCH_CACHE``, else ``~/.cache/vcbench``)::

    datasets/raw/<file>           downloaded files, complete and verified (or unverifiable: no checksum)
    datasets/partial/<file>.part  an interrupted download, resumed by the next call
    datasets/prepared/<name>.h5ad prepared files in the contract form (``resolve_dataset``)

pooch checks the checksum and moves the file into ``raw/`` only when it matches, so ``raw/`` never
holds a half-written or corrupt file. The downloader streams into ``partial/`` and resumes from its
length (HTTP ``Range``; ``file://`` mirrors seek), so an interrupted multi-gigabyte download is not
restarted. A mirror (``mirror=`` or ``$VCBENCH_MIRROR``) replaces the address's folder: the file is
fetched from ``<mirror>/<file name>``, e.g. ``file:///data/mirror``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from vcbench.datasets.registry import DatasetSpec, RemoteFile, get_spec
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


def _fetch_http(url: str, part: Path, show: bool) -> int | None:
    import requests

    start = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={start}-"} if start else {}
    try:
        with requests.get(url, headers=headers, stream=True, timeout=60) as response:
            if response.status_code == 416:  # the partial file is already complete
                return start
            response.raise_for_status()
            if start and response.status_code != 206:  # the server ignored Range: restart
                part.unlink()
                start = 0
            length = response.headers.get("Content-Length")
            total = start + int(length) if length is not None else None
            chunks = response.iter_content(CHUNK_BYTES)
            _copy_stream(lambda _n: next(chunks, b""), part, start, total, part.stem, show)
            return total
    except requests.RequestException as exc:
        raise DatasetFileError(
            f"Downloading {url} failed: {exc}. Check the network connection and run the same command "
            f"again: the download resumes from {part}."
        ) from exc


class ResumableDownloader:
    """A pooch downloader that streams into a persistent ``.part`` file and resumes from it.

    Supports ``http(s)://`` (Range requests) and ``file://`` mirrors. A transfer that ends short of
    the announced size raises ``DatasetFileError`` and keeps the partial file for the next run.
    """

    def __init__(self, part: Path, progress: bool = True) -> None:
        self.part = part
        self.progress = progress

    def __call__(
        self, url: str, output_file: str | Any, pooch: Any, check_only: bool = False
    ) -> None:
        self.part.parent.mkdir(parents=True, exist_ok=True)
        scheme = urlparse(url).scheme
        if scheme == "file":
            total = _fetch_file_url(url, self.part, self.progress)
        elif scheme in ("http", "https"):
            total = _fetch_http(url, self.part, self.progress)
        else:
            raise DatasetFileError(
                f"Cannot download {url!r}: only http(s):// and file:// addresses are supported. "
                "Give a mirror such as file:///path/to/folder."
            )
        size = self.part.stat().st_size if self.part.exists() else 0
        if total is not None and size != total:
            raise DatasetFileError(
                f"The download of {url} is truncated ({size} of {total} bytes). Run the same command "
                f"again to resume it from {self.part}."
            )
        target = Path(output_file if isinstance(output_file, str) else output_file.name)
        shutil.move(self.part, target)  # pooch verifies it there and moves it into raw/


def download(
    name: str,
    cache_dir: str | Path | None = None,
    *,
    mirror: str | None = None,
    progress: bool = True,
) -> Path:
    """Download a registry dataset's file into the cache (once) and return its path.

    The file is verified against the registry checksum when one is known; a file whose checksum
    differs is deleted and ``DatasetFileError`` says so. An existing cached file is re-verified.
    """
    import pooch

    spec = get_spec(name)
    if spec.file is None:
        raise DatasetFileError(
            f"{spec.name} has no single file to download. {spec.manual_download or ''}".strip()
        )
    remote = spec.file
    url = file_url(remote, mirror)
    part = partial_dir(cache_dir) / f"{remote.filename}.part"
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # vcbench shows its own progress; pooch's notes are noise here
    try:
        path = pooch.retrieve(
            url,
            known_hash=remote.known_hash,
            fname=remote.filename,
            path=raw_dir(cache_dir),
            downloader=ResumableDownloader(part, progress=progress),
            progressbar=False,
        )
    except ValueError as exc:  # pooch: the checksum does not match
        part.unlink(missing_ok=True)
        raise DatasetFileError(
            f"The downloaded file for {spec.name} from {url} does not match the registry checksum "
            f"({remote.known_hash}); it was deleted and nothing was cached. The file on the server "
            f"(or the mirror) differs from the published one: check the address, or use a file you "
            f"trust with `vcbench datasets prepare {spec.name} --from PATH`. ({exc})"
        ) from exc
    finally:
        logger.setLevel(level)
    return Path(path)
