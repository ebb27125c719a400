"""Labels that become parts of file paths (dataset, scenario, variant and model names).

A safe label is one path component that stays where it is put: not empty, no path separator
(``/`` or ``\\``), not ``.`` or ``..``, no leading dot (hidden files, ``..`` tricks), no control
characters, at most 128 characters. Labels are checked, never silently rewritten, so a label in
the results is exactly the one in the spec and the folder of the same name.
"""

from __future__ import annotations

import re

from vcbench.errors import VcbenchError

MAX_LENGTH = 128
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnsafeNameError(VcbenchError, ValueError):
    """A label that would become a path component is not a safe file name."""


def unsafe_reason(label: str) -> str | None:
    """Why ``label`` is not a safe path component, or None when it is."""
    if not label.strip():
        return "it is empty"
    if "/" in label or "\\" in label:
        return "it contains a path separator (/ or \\)"
    if label.startswith("."):
        return "it starts with a dot"
    if _CONTROL.search(label):
        return "it contains a control character"
    if len(label) > MAX_LENGTH:
        return f"it is longer than {MAX_LENGTH} characters"
    return None


def check_path_label(label: str, what: str = "label") -> str:
    """``label`` unchanged when it is a safe path component; else an error naming it and the fix."""
    reason = unsafe_reason(str(label))
    if reason is not None:
        raise UnsafeNameError(
            f"The {what} {label!r} cannot be used: {reason}. It becomes a folder name, so use "
            "letters, digits, '_', '-' and '.' (not first), e.g. 'norman_2019'."
        )
    return label
