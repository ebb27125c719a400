"""Statistics that depend only on the truth, computed once and reused for every model of a split.

Everything ``evaluate`` derives from the real cells alone (per context: the real means, the control
mean, the PCA; per condition: the Wilcoxon DE set of the real cells, the real-vs-real energy term,
the real-vs-real entropic OT value) is the same for every model scored against the same truth. A
``TruthCache`` keeps those values under keys that name the quantity, the condition and every
parameter it depends on (``max_cells``, ``seed``, ``n_pcs``, ``k`` …), so a cached value is used
only where the very same computation would otherwise run again, and the scores are bit-identical
with or without the cache.

A cache belongs to one truth: it is bound to an identity (names, labels, column sums) on first use and
emptied if it is later used with another truth. ``save``/``load`` keep the array and number entries
in a ``.npz`` file (the runner keeps one per split, in the split's folder, so it is keyed by the
split's fingerprint); objects such as sorted control ranks live in memory only.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from vcbench.data import contract as c
from vcbench.files import write_atomic

if TYPE_CHECKING:
    import anndata as ad

T = TypeVar("T")
_IDENTITY = "__identity__"
_FORMAT = 1


def truth_identity(truth: ad.AnnData) -> str:
    """A digest of the truth's shape, genes, cell names, labels and column sums of X.

    What the cache is valid for; the column sums (one pass over X) tell apart two truths with the
    same cells whose values differ.
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"v{_FORMAT}:{truth.n_obs}x{truth.n_vars}".encode())
    for names in (truth.var_names, truth.obs_names):
        digest.update("\x1f".join(map(str, names)).encode())
    for column in (c.CONTEXT, c.PERTURBATION, c.IS_CONTROL):
        if column in truth.obs:
            digest.update("\x1f".join(map(str, truth.obs[column])).encode())
    if not truth.isbacked:
        digest.update(np.asarray(truth.X.sum(axis=0), dtype=np.float64).tobytes())
    return digest.hexdigest()


def _key(parts: tuple[Any, ...]) -> str:
    return "\x1e".join(map(str, parts))


class TruthCache:
    """Truth-side values by key; thread-safe (conditions may be scored on several threads)."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._identity: str | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._values)

    def bind(self, identity: str) -> None:
        """Tie the cache to a truth; a cache bound to another truth is emptied first."""
        with self._lock:
            if self._identity != identity:
                self._values.clear()
                self._identity = identity

    def get(self, parts: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """The value under ``parts``, computing (and keeping) it on first use."""
        key = _key(parts)
        with self._lock:
            if key in self._values:
                self.hits += 1
                return self._values[key]
        value = compute()  # outside the lock: other conditions go on meanwhile
        with self._lock:
            self.misses += 1
            return self._values.setdefault(key, value)

    def get_all(
        self, parts: list[tuple[Any, ...]], compute: Callable[[], tuple[Any, ...]]
    ) -> tuple[Any, ...]:
        """The values under each of ``parts``; all computed at once by ``compute`` if any is new."""
        keys = [_key(p) for p in parts]
        with self._lock:
            if all(key in self._values for key in keys):
                self.hits += len(keys)
                return tuple(self._values[key] for key in keys)
        values = compute()
        with self._lock:
            self.misses += len(keys)
            for key, value in zip(keys, values, strict=True):
                self._values[key] = value
        return tuple(values)

    def save(self, path: str | Path) -> Path:
        """Write the array and number entries to ``path`` (.npz) atomically."""
        path = Path(path)
        with self._lock:
            arrays = {
                key: np.asarray(value)
                for key, value in self._values.items()
                if isinstance(value, np.ndarray | float | int | np.floating | np.integer)
            }
            identity = self._identity or ""
        arrays[_IDENTITY] = np.asarray(identity)

        def write(temporary: Path) -> None:
            with open(temporary, "wb") as stream:  # a file object: savez adds no suffix
                np.savez(stream, **arrays)

        return write_atomic(path, write)

    @classmethod
    def load(cls, path: str | Path) -> TruthCache:
        """The cache saved at ``path``; an empty cache if there is none or it cannot be read."""
        cache = cls()
        try:
            with np.load(Path(path), allow_pickle=False) as stored:
                entries = {key: stored[key] for key in stored.files}
        except (OSError, ValueError, KeyError):
            return cache
        cache._identity = str(entries.pop(_IDENTITY, np.asarray("")))
        for key, value in entries.items():
            cache._values[key] = value[()] if value.ndim == 0 else value
        return cache


def cached(cache: TruthCache | None, parts: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """``cache.get(parts, compute)``, or just ``compute()`` without a cache."""
    return compute() if cache is None else cache.get(parts, compute)


def cached_all(
    cache: TruthCache | None, parts: list[tuple[Any, ...]], compute: Callable[[], tuple[Any, ...]]
) -> tuple[Any, ...]:
    """``cache.get_all(parts, compute)``, or just ``compute()`` without a cache."""
    return tuple(compute()) if cache is None else cache.get_all(parts, compute)
