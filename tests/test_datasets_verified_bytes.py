"""Verified bytes: size and checksum after every download and before every prepare, HTTP 416 on a
partial file, resume, --from and --mirror verified, and the offline error. Only local files and a
server on 127.0.0.1; never the network."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import socket
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import shared_file
from typer.testing import CliRunner

from vcbench.cli import app
from vcbench.data import contract as c
from vcbench.datasets import REGISTRY, DatasetSpec, RemoteFile, download, prepare
from vcbench.datasets.fetch import partial_dir, raw_dir
from vcbench.datasets.verify import expected_checksum, verify_file
from vcbench.errors import DatasetFileError

KANG = "kang2018_pbmc_ifnb_scgen/kang2018_pbmc_ifnb_scgen_valid.h5ad"
PAYLOAD = bytes(range(256)) * 2048  # 512 KiB


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _register(
    monkeypatch,
    payload: bytes,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = -1,
    name: str = "toy",
) -> DatasetSpec:
    """A registry entry for ``payload`` (its md5 and size unless told otherwise)."""
    base = REGISTRY["kang2018"]
    spec = DatasetSpec(
        name=name,
        title="toy",
        perturbation_type="none",
        description="toy",
        file=RemoteFile(
            url="https://example.invalid/toy.bin",
            filename="toy.bin",
            known_hash="md5:" + (md5 or _md5(payload)),
            size_bytes=len(payload) if size == -1 else size,
            sha256=sha256,
        ),
        licence="none",
        citation="none",
        accession="none",
        sources=base.sources,
    )
    monkeypatch.setitem(REGISTRY, name, spec)
    return spec


class _RangeServer:
    """A 127.0.0.1 HTTP server for one payload that honours ``Range`` (206, or 416 with
    ``Content-Range: bytes */N`` past the end) and records the ranges asked for."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.ranges: list[str | None] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:
                data = owner.payload
                asked = self.headers.get("Range")
                owner.ranges.append(asked)
                if asked:
                    start = int(asked.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                    body = data[start:]
                else:
                    self.send_response(200)
                    body = data
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _RangeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _partial(cache: Path, data: bytes) -> Path:
    part = partial_dir(cache) / "toy.bin.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(data)
    return part


def test_resume_over_http_asks_for_the_missing_bytes_only(tmp_path, monkeypatch) -> None:
    _register(monkeypatch, PAYLOAD)
    cache = tmp_path / "cache"
    _partial(cache, PAYLOAD[:1000])
    with _RangeServer(PAYLOAD) as server:
        path = download("toy", cache, mirror=server.url, progress=False)
    assert server.ranges == ["bytes=1000-"]
    assert path.read_bytes() == PAYLOAD and path == raw_dir(cache) / "toy.bin"


def test_http_416_on_a_complete_partial_is_verified_and_cached(tmp_path, monkeypatch) -> None:
    _register(monkeypatch, PAYLOAD)
    cache = tmp_path / "cache"
    part = _partial(cache, PAYLOAD)
    with _RangeServer(PAYLOAD) as server:
        path = download("toy", cache, mirror=server.url, progress=False)
    assert server.ranges == [f"bytes={len(PAYLOAD)}-"]
    assert path.read_bytes() == PAYLOAD and not part.exists()


def test_http_416_on_an_oversized_partial_refetches_it(tmp_path, monkeypatch) -> None:
    _register(monkeypatch, PAYLOAD)
    cache = tmp_path / "cache"
    _partial(cache, PAYLOAD + b"stale bytes of another file")
    with _RangeServer(PAYLOAD) as server:
        path = download("toy", cache, mirror=server.url, progress=False)
    # the 416 is not taken as "complete": the stale partial is dropped and fetched afresh
    assert server.ranges == [f"bytes={len(PAYLOAD) + 27}-", None]
    assert path.read_bytes() == PAYLOAD


def test_http_416_on_a_partial_of_the_right_length_but_wrong_bytes(tmp_path, monkeypatch) -> None:
    _register(monkeypatch, PAYLOAD)
    cache = tmp_path / "cache"
    part = _partial(cache, b"x" * len(PAYLOAD))
    with (
        _RangeServer(PAYLOAD) as server,
        pytest.raises(
            DatasetFileError, match=r"toy\.bin\.part does not match the registry checksum.*deleted"
        ),
    ):
        download("toy", cache, mirror=server.url, progress=False)
    assert not part.exists() and not (raw_dir(cache) / "toy.bin").exists()


def test_a_server_file_of_another_size_is_refused(tmp_path, monkeypatch) -> None:
    _register(monkeypatch, PAYLOAD)
    cache = tmp_path / "cache"
    with (
        _RangeServer(PAYLOAD + b"!") as server,
        pytest.raises(
            DatasetFileError,
            match=r"is oversized: 524,289 bytes.*524,288 bytes.*differs from the pub",
        ),
    ):
        download("toy", cache, mirror=server.url, progress=False)
    assert list(cache.rglob("*.bin*")) == []


def test_sha256_is_preferred_to_md5(tmp_path, monkeypatch) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "toy.bin").write_bytes(PAYLOAD)
    # a wrong md5 does not matter when a sha256 is published
    spec = _register(monkeypatch, PAYLOAD, sha256=_sha256(PAYLOAD), md5="0" * 32)
    assert expected_checksum(spec.file) == ("sha256", _sha256(PAYLOAD))
    path = download("toy", tmp_path / "c1", mirror=str(mirror), progress=False)
    assert path.read_bytes() == PAYLOAD
    _register(monkeypatch, PAYLOAD, sha256="f" * 64)
    with pytest.raises(DatasetFileError, match=r"sha256 f{64}; the file has " + _sha256(PAYLOAD)):
        download("toy", tmp_path / "c2", mirror=str(mirror), progress=False)


def test_a_cached_file_is_reverified_partial_or_oversized(tmp_path, monkeypatch) -> None:
    _register(monkeypatch, PAYLOAD)
    cache = tmp_path / "cache"
    raw = raw_dir(cache) / "toy.bin"
    raw.parent.mkdir(parents=True)
    raw.write_bytes(PAYLOAD[:-10])
    with pytest.raises(
        DatasetFileError, match=rf"{raw} is partial: 524,278 of 524,288 bytes.*Delete {raw}"
    ):
        download("toy", cache, progress=False)
    raw.write_bytes(PAYLOAD + b"0")
    with pytest.raises(DatasetFileError, match=rf"{raw} is oversized.*Delete {raw} and run"):
        download("toy", cache, progress=False)
    raw.write_bytes(PAYLOAD)
    assert download("toy", cache, progress=False) == raw


def test_prepare_reverifies_the_cached_file(tmp_path, monkeypatch) -> None:
    payload = shared_file(KANG).read_bytes()
    kang = REGISTRY["kang2018"]
    remote = replace(kang.file, size_bytes=len(payload), known_hash="md5:" + _md5(payload))
    monkeypatch.setitem(REGISTRY, "kang2018", replace(kang, file=remote))
    cache = tmp_path / "cache"
    raw = raw_dir(cache) / remote.filename
    raw.parent.mkdir(parents=True)
    raw.write_bytes(payload)
    prepared = prepare("kang2018", cache_dir=cache)
    assert prepared.uns[c.UNS_KEY]["registry"]["verification"]["checked"] == ["size", "md5"]
    corrupt = bytearray(payload)
    corrupt[len(payload) // 2] ^= 0xFF
    raw.write_bytes(bytes(corrupt))
    with pytest.raises(DatasetFileError, match=rf"{raw} does not match the registry checksum"):
        prepare("kang2018", cache_dir=cache)


def test_from_is_verified_when_it_is_the_registry_file(tmp_path, monkeypatch) -> None:
    payload = shared_file(KANG).read_bytes()
    kang = REGISTRY["kang2018"]
    remote = replace(kang.file, size_bytes=len(payload) + 5)
    monkeypatch.setitem(REGISTRY, "kang2018", replace(kang, file=remote))
    named = tmp_path / remote.filename  # the registry file's name: verified, and too short
    named.write_bytes(payload)
    with pytest.raises(DatasetFileError, match=r"kang_2018\.h5ad is partial.*--no-verify"):
        prepare("kang2018", named)
    other = tmp_path / "valid.h5ad"  # another name and size: a subset, recorded as not verified
    other.write_bytes(payload)
    record = prepare("kang2018", other).uns[c.UNS_KEY]["registry"]["verification"]
    assert record["checked"] == ["nothing: a local file that is not the registry file (a subset)"]
    with pytest.raises(DatasetFileError, match="is partial"):
        prepare("kang2018", other, verify=True)
    assert prepare("kang2018", named, verify=False).n_obs == 1975


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_offline_error_says_how_to_proceed(tmp_path, monkeypatch) -> None:
    _register(monkeypatch, PAYLOAD)
    cache = tmp_path / "cache"
    mirror = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(DatasetFileError) as error:
        download("toy", cache, mirror=mirror, progress=False)
    text = str(error.value)
    assert "Cannot reach" in text and "--from FILE" in text and "--mirror DIR_OR_URL" in text
    assert str(raw_dir(cache) / "toy.bin") in text


def test_a_file_mirror_is_verified_the_same_way(tmp_path, monkeypatch) -> None:
    _register(monkeypatch, PAYLOAD)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "toy.bin").write_bytes(PAYLOAD[:-1] + b"!")
    with pytest.raises(DatasetFileError, match="does not match the registry checksum"):
        download("toy", tmp_path / "cache", mirror=mirror.as_uri(), progress=False)
    (mirror / "toy.bin").write_bytes(PAYLOAD[:100])
    with pytest.raises(DatasetFileError, match="is partial: 100 of 524,288 bytes"):
        download("toy", tmp_path / "cache", mirror=str(mirror), progress=False)
    shutil.rmtree(tmp_path / "cache")


def test_verify_file_reports_what_it_checked(tmp_path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(PAYLOAD)
    remote = RemoteFile(
        url="x", filename="f.bin", size_bytes=len(PAYLOAD), known_hash="md5:" + _md5(PAYLOAD)
    )
    assert verify_file(path, remote, "")["checked"] == ["size", "md5"]
    bare = RemoteFile(url="x", filename="f.bin")
    assert verify_file(path, bare, "")["checked"] == ["nothing: no size or checksum is published"]


def test_cli_prepare_prints_what_it_verified_and_dropped(tmp_path) -> None:
    out = tmp_path / "p.h5ad"
    args = ["datasets", "prepare", "papalexi2021", "--out", str(out), "--from"]
    path = shared_file("papalexi2021_thp1_crispr_sceptre/papalexi2021_thp1_sceptre.h5ad")
    result = CliRunner().invoke(app, [*args, str(path), "--obs-query", "bio_rep == 'rep_1'"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "verified nothing: a local file that is not the registry file" in text
    assert "obs query \"bio_rep == 'rep_1'\" on the input file: kept" in text
