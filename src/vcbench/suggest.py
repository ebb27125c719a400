"""Did-you-mean suggestions for misspelt names (a bottom-layer helper with no vcbench imports)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, or an empty string if none is close."""
    choices = {str(k).lower(): str(k) for k in known}
    close = difflib.get_close_matches(str(name).lower(), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {choices[close[0]]!r}?)" if close else ""
