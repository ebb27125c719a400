"""Small table renderers for the report: HTML and Markdown from string-valued DataFrames."""

from __future__ import annotations

import html
import math
import numbers

import numpy as np
import pandas as pd

# A cell may hold a main value and a detail line separated by this marker: HTML shows the detail
# on a second, smaller line; Markdown puts it after a space.
DETAIL = "\x1f"


def fmt(value: object, digits: int = 3) -> str:
    """A number with ``digits`` significant digits ("—" for NaN/None); other values as text."""
    if value is None:
        return "—"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return "—"
        if number.is_integer() and abs(number) >= 1:
            return str(int(number))
        return f"{number:.{digits}g}"
    return str(value)


def percent(value: float) -> str:
    """A fraction as a signed percentage ("—" for NaN)."""
    return "—" if value is None or math.isnan(value) else f"{100 * value:+.1f} %"


def signed_intervals(frame: pd.DataFrame, estimate: str) -> list[str]:
    """Each row's ``estimate`` with its 95 % interval (columns ``estimate_low`` and
    ``estimate_high``), signed to two decimals: "+0.42 [+0.10, +0.71]"."""
    return [
        f"{x:+.2f} [{lo:+.2f}, {hi:+.2f}]"
        for x, lo, hi in zip(
            frame[estimate], frame[f"{estimate}_low"], frame[f"{estimate}_high"], strict=True
        )
    ]


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def html_table(frame: pd.DataFrame, bold: pd.DataFrame | None = None) -> str:
    """An HTML table of ``frame`` (index ignored); cells where ``bold`` is true are emphasised."""
    numeric = [_is_numeric(frame[c]) or str(c)[-1:] in "↑↓" for c in frame.columns]
    head = "".join(
        f'<th class="{"num" if n else "text"}">{html.escape(str(c))}</th>'
        for c, n in zip(frame.columns, numeric, strict=True)
    )
    rows = []
    for i in range(len(frame)):
        cells = []
        for j, column in enumerate(frame.columns):
            text = fmt(frame.iloc[i, j])
            main, _, detail = text.partition(DETAIL)
            body = html.escape(main)
            if detail:
                body += f'<br><span class="detail">{html.escape(detail)}</span>'
            strong = bold is not None and column in bold.columns and bool(bold.iloc[i][column])
            classes = ("num" if numeric[j] else "text") + (" best" if strong else "")
            cells.append(f'<td class="{classes}">{body}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def md_text(text: object) -> str:
    """Text for Markdown with HTML disarmed: ``&``, ``<`` and ``>`` become entities, so a label such
    as ``<script>`` or ``<img onerror=…>`` is shown, never run, by a Markdown viewer."""
    return html.escape(str(text), quote=False)


def markdown_table(frame: pd.DataFrame, bold: pd.DataFrame | None = None) -> str:
    """A GitHub-flavoured Markdown table of ``frame`` (index ignored)."""

    def cell(i: int, column: str) -> str:
        text = md_text(fmt(frame.iloc[i][column]).replace(DETAIL, " ")).replace("|", "\\|")
        strong = bold is not None and column in bold.columns and bool(bold.iloc[i][column])
        return f"**{text}**" if strong and text != "—" else text

    lines = [
        "| " + " | ".join(md_text(c).replace("|", "\\|") for c in frame.columns) + " |",
        "|" + "|".join("---" for _ in frame.columns) + "|",
    ]
    lines += [
        "| " + " | ".join(cell(i, c) for c in frame.columns) + " |" for i in range(len(frame))
    ]
    return "\n".join(lines)
