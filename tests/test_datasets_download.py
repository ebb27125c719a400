"""Downloads against local mirrors (file:// and a localhost HTTP server): checksums, truncation, resume."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import shared_file

import vcbench.datasets.fetch as dl
from vcbench.data import contract as c
from vcbench.datasets import REGISTRY, DatasetSpec, RemoteFile, download, resolve_dataset
from vcbench.datasets.fetch import cached_file, file_url, partial_dir, raw_dir
from vcbench.errors import DataContractError, DatasetFileError

pytest.importorskip("pooch")

KANG = "kang2018_pbmc_ifnb_scgen/kang2018_pbmc_ifnb_scgen_valid.h5ad"
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


def _register(monkeypatch, payload: bytes | None, name: str = "toy") -> DatasetSpec:
    """A registry entry whose checksum is that of ``payload`` (None: no checksum)."""
    known = None if payload is None else "md5:" + hashlib.md5(payload).hexdigest()
    base = REGISTRY["kang2018"]
    spec = DatasetSpec(
        name=name,
        title="toy",
        perturbation_type="none",
        description="toy",
        file=RemoteFile(
            url="https://example.invalid/toy.bin", filename="toy.bin", known_hash=known
        ),
        licence="none",
        citation="none",
        accession="none",
        sources=base.sources,
    )
    monkeypatch.setitem(REGISTRY, name, spec)
    return spec


def _mirror(tmp_path: Path, payload: bytes, filename: str = "toy.bin") -> Path:
    folder = tmp_path / "mirror"
    folder.mkdir(exist_ok=True)
    (folder / filename).write_bytes(payload)
    return folder


def _cache_files(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())


def test_a_verified_download_from_a_file_mirror(tmp_path, monkeypatch) -> None:
    spec = _register(monkeypatch, PAYLOAD)
    cache = tmp_path / "cache"
    path = download("toy", cache, mirror=_mirror(tmp_path, PAYLOAD).as_uri(), progress=False)
    assert path == raw_dir(cache) / "toy.bin"
    assert path.read_bytes() == PAYLOAD
    assert cached_file(spec, cache) == path
    assert _cache_files(cache) == ["datasets/raw/toy.bin"]
    # a second call finds the verified file and does not fetch again
    shutil.rmtree(tmp_path / "mirror")
    assert download("toy", cache, mirror=str(tmp_path / "mirror"), progress=False) == path


def test_a_file_whose_checksum_differs_is_refused_and_not_cached(tmp_path, monkeypatch) -> None:
    _register(monkeypatch, PAYLOAD)
    cache = tmp_path / "cache"
    mirror = _mirror(tmp_path, PAYLOAD[:-1] + b"!")
    with pytest.raises(DatasetFileError, match="does not match the registry checksum"):
        download("toy", cache, mirror=str(mirror), progress=False)
    assert _cache_files(cache) == []


def test_the_real_norman_checksum_guards_its_download(tmp_path) -> None:
    filename = REGISTRY["norman2019"].file.filename
    mirror = _mirror(tmp_path, b"not the Norman file", filename)
    with pytest.raises(DatasetFileError, match=r"norman2019.*of 698,680,199 bytes"):
        download("norman2019", tmp_path / "cache", mirror=str(mirror), progress=False)
    assert _cache_files(tmp_path / "cache") == []


def test_a_truncated_transfer_is_an_error_and_resumes_next_time(tmp_path, monkeypatch) -> None:
    _register(monkeypatch, PAYLOAD)
    cache = tmp_path / "cache"
    mirror = _mirror(tmp_path, PAYLOAD)
    copy_stream = dl._copy_stream
    reads: list[int] = []

    def cut_short(read, part, start, total, label, show):  # the connection drops halfway
        return copy_stream(
            lambda n: read(n) if part.stat().st_size < total // 2 else b"",
            part,
            start,
            total,
            label,
            show,
        )

    monkeypatch.setattr(dl, "CHUNK_BYTES", 1 << 16)
    monkeypatch.setattr(dl, "_copy_stream", cut_short)
    with pytest.raises(DatasetFileError, match=r"truncated \(524288 of 1048576 bytes\).*resume"):
        download("toy", cache, mirror=str(mirror), progress=False)
    assert _cache_files(cache) == ["datasets/partial/toy.bin.part"]  # nothing in raw/

    def counting(read, part, start, total, label, show):
        reads.append(start)
        return copy_stream(read, part, start, total, label, show)

    monkeypatch.setattr(dl, "_copy_stream", counting)
    path = download("toy", cache, mirror=str(mirror), progress=False)
    assert reads == [len(PAYLOAD) // 2]  # resumed from the partial file, not restarted
    assert path.read_bytes() == PAYLOAD
    assert _cache_files(cache) == ["datasets/raw/toy.bin"]


def test_http_download_with_a_server_that_ignores_ranges(tmp_path, monkeypatch) -> None:
    _register(monkeypatch, PAYLOAD)
    mirror = _mirror(tmp_path, PAYLOAD)
    quiet = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a, **k: quiet(*a, directory=str(mirror), **k)
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        cache = tmp_path / "cache"
        part = partial_dir(cache) / "toy.bin.part"
        part.parent.mkdir(parents=True)
        part.write_bytes(PAYLOAD[:1000])  # a stale partial: the server answers 200, so restart
        url = f"http://127.0.0.1:{server.server_address[1]}"
        path = download("toy", cache, mirror=url, progress=False)
        assert path.read_bytes() == PAYLOAD
        assert not part.exists()
    finally:
        server.shutdown()
        server.server_close()


def test_addresses_and_unsupported_schemes(tmp_path, monkeypatch) -> None:
    remote = REGISTRY["norman2019"].file
    assert file_url(remote) == remote.url
    assert file_url(remote, "file:///m/") == f"file:///m/{remote.filename}"
    monkeypatch.setenv("VCBENCH_MIRROR", str(tmp_path))
    assert file_url(remote) == f"{tmp_path.as_uri()}/{remote.filename}"
    _register(monkeypatch, None)
    with pytest.raises(DatasetFileError, match="only http"):
        download("toy", tmp_path / "cache", mirror="ftp://host/dir", progress=False)
    with pytest.raises(DatasetFileError, match="Mirror file not found"):
        download("toy", tmp_path / "cache", mirror=str(tmp_path / "empty"), progress=False)


def test_tahoe_explains_how_to_build_its_subset(tmp_path) -> None:
    with pytest.raises(DatasetFileError, match=r"does not download it.*--from SUBSET.h5ad"):
        download("tahoe100m", tmp_path)


def test_the_cache_folder_comes_from_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VCBENCH_CACHE", str(tmp_path / "env-cache"))
    assert raw_dir() == tmp_path / "env-cache" / "datasets" / "raw"
    assert raw_dir(tmp_path / "arg") == tmp_path / "arg" / "datasets" / "raw"


def test_resolve_a_registry_name_downloads_prepares_and_reuses(tmp_path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    payload = shared_file(KANG).read_bytes()  # the scGen subset stands in for the registry file
    kang = REGISTRY["kang2018"]
    monkeypatch.setitem(
        REGISTRY, "kang2018", replace(kang, file=replace(kang.file, size_bytes=len(payload)))
    )
    mirror = _mirror(tmp_path, payload, kang.file.filename)
    monkeypatch.setenv("VCBENCH_MIRROR", str(mirror))
    first = resolve_dataset("kang2018", cache)
    assert c.is_standardised(first) and first.n_obs == 1975
    assert (cache / "datasets" / "prepared" / "kang2018.h5ad").is_file()
    shutil.rmtree(mirror)  # the second call needs neither the network nor the mirror
    second = resolve_dataset("kang2018", cache)
    assert second.uns[c.UNS_KEY]["fingerprint"] == first.uns[c.UNS_KEY]["fingerprint"]


def test_resolve_a_path_checks_the_contract_and_the_fingerprint(tmp_path) -> None:
    from vcbench.datasets import prepare

    out = tmp_path / "kang.h5ad"
    adata = prepare("kang2018", shared_file(KANG), out=out)
    assert resolve_dataset(out).shape == adata.shape
    with pytest.raises(DataContractError, match="not in the vcbench contract form"):
        resolve_dataset(shared_file(KANG))
    tampered = adata.copy()
    tampered.X = tampered.X * 2
    tampered.write_h5ad(tmp_path / "tampered.h5ad")
    with pytest.raises(DataContractError, match="changed after it was prepared"):
        resolve_dataset(tmp_path / "tampered.h5ad")
    with pytest.raises(DataContractError, match="No registry dataset called 'nonsense'"):
        resolve_dataset("nonsense")
