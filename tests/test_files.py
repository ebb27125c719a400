"""The atomic file writer: modes under the umask, atomic replacement, and its place in the layering."""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from vcbench.errors import VcbenchError
from vcbench.files import (
    check_writable_folder,
    make_folder,
    write_atomic,
    write_h5ad_atomic,
    write_json_atomic,
    write_table_atomic,
    write_text_atomic,
)

SOURCE = Path(__file__).resolve().parents[1] / "src" / "vcbench"


@pytest.fixture
def umask():
    """Set a umask for one test and restore the previous one."""
    previous = os.umask(0o022)
    os.umask(previous)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("mask", "file_mode", "folder_mode"),
    [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700), (0o002, 0o664, 0o775)],
)
def test_every_writer_gives_the_umask_modes(tmp_path, umask, mask, file_mode, folder_mode):
    umask(mask)
    folder = tmp_path / "out" / "nested"
    table = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    adata = ad.AnnData(np.ones((2, 3), dtype=np.float32))
    written = [
        write_table_atomic(table, folder / "t.parquet"),
        write_table_atomic(table, folder / "t.csv"),
        write_json_atomic({"k": 1}, folder / "r.json"),
        write_text_atomic("# hi\n", folder / "report.md"),
        write_h5ad_atomic(adata, folder / "d.h5ad"),
    ]
    for path in written:
        assert _mode(path) == file_mode, path
    assert _mode(folder) == folder_mode
    assert _mode(folder.parent) == folder_mode
    assert pd.read_parquet(folder / "t.parquet").equals(table)
    assert pd.read_csv(folder / "t.csv").equals(table)
    assert ad.read_h5ad(folder / "d.h5ad").shape == (2, 3)
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in written)


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_text_atomic("old", tmp_path / "report.html")

    def half_write(temporary: Path) -> None:
        temporary.write_text("half of the new cont")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="mid-write"):
        write_atomic(path, half_write)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_concurrent_writers_use_distinct_temporaries(tmp_path):
    seen: list[Path] = []

    def record(temporary: Path) -> None:
        seen.append(temporary)
        temporary.write_text("x")

    write_atomic(tmp_path / "data.h5ad", record)
    write_atomic(tmp_path / "data.h5ad", record)
    assert seen[0] != seen[1]
    assert all(p.parent == tmp_path and p.name.startswith(".data.h5ad.") for p in seen)


def test_an_unwritable_folder_is_a_plain_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(VcbenchError, match="is a file, not a folder"):
        check_writable_folder(blocker)
    with pytest.raises(VcbenchError, match=r"Cannot write to the output folder .*Choose a folder"):
        check_writable_folder(blocker / "sub")
    assert check_writable_folder(tmp_path / "new") == tmp_path / "new"
    assert list((tmp_path / "new").iterdir()) == []
    assert make_folder(tmp_path / "x" / "y").is_dir()


def _vcbench_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vcbench"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("vcbench")}
    return found


def test_the_writer_is_at_the_bottom_and_metrics_never_import_the_runner():
    assert _vcbench_imports(SOURCE / "files.py") <= {"vcbench.errors"}
    assert _vcbench_imports(SOURCE / "errors.py") == set()
    higher = ("vcbench.runner", "vcbench.analysis", "vcbench.report", "vcbench.cli")
    for path in (SOURCE / "metrics").glob("*.py"):
        wrong = [m for m in _vcbench_imports(path) if m.startswith(higher)]
        assert not wrong, (path.name, wrong)
