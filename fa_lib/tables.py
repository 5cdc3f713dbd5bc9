r"""One table style for the book: formatted columns, units in headers, a horizontal scroll.

Every chapter shows its tables through :func:`table`: it takes a pandas
``DataFrame`` and per-column formats and units, and returns a :class:`Table`
whose HTML (``_repr_html_``) the notebook displays or glues. The style is the
same everywhere:

- no index column (pass ``index=True`` to show a meaningful index as the first
  column, under its name);
- numbers right-aligned and kept on one line (a "mean ± SD" cell made with
  :func:`pm` never breaks), text left-aligned and allowed to wrap (``wrap``);
- units in the headers (``"final angle (°)"``);
- missing values (``None``, ``NaN``) shown as "—", with a note under the table;
- numbers formatted by one function, :func:`fmt`: never a negative zero ("-0.0" is
  "0.0"), never a repr (a list or a mapping is written out, ``"a: 1, b: 2"``), and a
  sentinel that stands for "none" (an iteration of -1: never diverged) shown as words
  with :func:`sentinel`;
- math written as ``$...$`` in a header or a cell of text is typeset (the book's MathJax
  typesets the ``\(...\)`` of a ``math`` span wherever it is on the page);
- wide tables scroll horizontally inside their own box instead of being clipped.

:func:`unicode_math` writes the ASCII math of the claims' plain text (``W1 ∠ B^T``,
``+-``) in Unicode (``W₁ ∠ Bᵀ``, ``±``) for the tables that show them.

Presentation only: nothing here changes a computed number (the results cache
does not fingerprint it).

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"run": ["FA", "BP"], "accuracy": [91.234, None]})
>>> t = table(df, formats={"accuracy": ".1f"}, units={"accuracy": "%"})
>>> "91.2" in t.html and "accuracy (%)" in t.html and "—" in t.html
True
"""

from __future__ import annotations

import html
import numbers
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["MISSING", "Table", "fmt", "pm", "sentinel", "table", "unicode_math",
           "unsigned_zero"]

MISSING = "—"
"""How a missing value (``None``, ``NaN``) is shown."""

CLASS = "book-table"
"""The CSS class of the box around every table (the browser test looks for it).

Not ``fa-...``: the theme loads Font Awesome, which styles every ``fa-*`` class (its
``fa-table`` draws a table icon before the element)."""

NOTE_CLASS = f"{CLASS}-note"
"""The CSS class of the note under a table."""

_CSS = f"""<style>
.{CLASS} {{ overflow-x: auto; max-width: 100%; margin: 0.5em 0 1em 0; }}
.{CLASS} table {{ border-collapse: collapse; font-size: 0.9em; margin: 0; }}
.{CLASS} th, .{CLASS} td {{ padding: 0.3em 0.7em; border-bottom: 1px solid #ddd;
  vertical-align: top; }}
.{CLASS} thead th {{ border-bottom: 2px solid #888; text-align: left; }}
.{CLASS} td.num {{ text-align: right; white-space: nowrap;
  font-variant-numeric: tabular-nums; }}
.{CLASS} td.txt {{ text-align: left; }}
.{CLASS} td.nowrap {{ white-space: nowrap; }}
.{CLASS} th {{ white-space: normal; min-width: 4em; }}
.{CLASS} td.wrap {{ white-space: normal; min-width: 12em; }}
.{CLASS} .{NOTE_CLASS} {{ font-size: 0.85em; color: #555; margin-top: 0.3em; }}
</style>"""

Format = str | Callable[[object], str]


def _missing(value: object) -> bool:
    """Whether ``value`` is a missing value (``None``, ``NaN``, ``pd.NA``, ``NaT``)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # arrays, lists: not a missing scalar
        return False


_NEGATIVE_ZERO = re.compile(r"[-\u2212](?=[0.,]*\d)(?![0.,]*[1-9])")
"""A minus sign before a number whose digits are all zero (of the mantissa: "-0.00", "-0")."""


def unsigned_zero(text: str) -> str:
    """``text`` without the minus sign of a number that was rounded to zero.

    Formatting a small negative number with few digits gives a negative zero
    (``format(-0.004, ".1f") == "-0.0"``); zero has no sign. Only a whole number is
    changed, at the start of ``text`` or after a space or an opening bracket, and a
    ``+`` format keeps its sign (``"+0.0"``).

    Examples
    --------
    >>> unsigned_zero("-0.0"), unsigned_zero("-0"), unsigned_zero("-0.04"), unsigned_zero("+0.0")
    ('0.0', '0', '-0.04', '+0.0')
    >>> unsigned_zero("-0.0 [-1.2, -0.0]")
    '0.0 [-1.2, 0.0]'
    """
    out, start = [], 0
    for match in re.finditer(r"(?:(?<=^)|(?<=[\s(\[]))[-\u2212][0-9.,]*\d(?:e[-+]?\d+)?", text):
        number = match.group(0)
        if _NEGATIVE_ZERO.match(number) and "e" not in number:
            out.append(text[start:match.start()] + number[1:])
            start = match.end()
    return "".join(out) + text[start:]


def sentinel(value: object, text: str, spec: Format | None = None) -> Format:
    """A format (for :func:`fmt` and :func:`table`) that shows ``value`` as ``text``.

    The experiments mark "none" with a sentinel number (an iteration of -1: the run
    never diverged); a table shows the words instead.

    Examples
    --------
    >>> never = sentinel(-1, "never", ",d")
    >>> fmt(-1, never), fmt(12000, never)
    ('never', '12,000')
    """

    def formatted(v: object) -> str:
        return text if v == value else fmt(v, spec)

    return formatted


def fmt(value: object, spec: Format | None = None) -> str:
    """Format one cell: ``spec`` applied to ``value``, :data:`MISSING` for a missing value.

    Parameters
    ----------
    value : object
        The cell's value.
    spec : str or callable, optional
        A format spec (``".2f"``, ``",d"``, ``".2g"``), a ``str.format`` pattern
        with one field (``"{:.1f} s"``), or a function of the value returning
        text. By default integers get thousands separators, other real numbers
        three significant digits, booleans "yes" / "no", anything else ``str``.

    Returns
    -------
    str
        The cell's text (not yet HTML-escaped).

    Examples
    --------
    >>> fmt(1234567), fmt(0.012345), fmt(float("nan")), fmt(3.14159, ".2f"), fmt(2, "{:d} x")
    ('1,234,567', '0.0123', '—', '3.14', '2 x')
    >>> fmt(-0.004, ".1f"), fmt({"dfa": 2, "usf": 1}), fmt([0.5, np.float64(1.25)])
    ('0.0', 'dfa: 2, usf: 1', '0.5, 1.25')
    """
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {fmt(v, spec)}" for k, v in value.items())
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(fmt(v, spec) for v in value)
    if _missing(value):
        return MISSING
    if callable(spec):
        return unsigned_zero(str(spec(value)))
    if spec is not None:
        return unsigned_zero(spec.format(value) if "{" in spec else format(value, spec))
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        return unsigned_zero(f"{float(value):.3g}")
    return str(value)


def pm(mean: float, spread: float, spec: str = ".1f", unit: str = "") -> str:
    """Format ``"mean ± spread"`` on one line (non-breaking spaces around the ±).

    Parameters
    ----------
    mean, spread : float
        The value and its SD (or SEM, or half-width: say which in the header).
    spec : str
        Format spec of both numbers.
    unit : str
        Appended to both numbers (e.g. ``"°"``).

    Returns
    -------
    str
        For example ``"72.1\u00a0±\u00a00.6"``; :data:`MISSING` when ``mean`` is missing,
        the mean alone when only ``spread`` is.
    """
    if _missing(mean):
        return MISSING
    text = f"{fmt(mean, spec)}{unit}"
    if _missing(spread):
        return text
    return f"{text}\u00a0±\u00a0{fmt(spread, spec)}{unit}"


@dataclass(frozen=True)
class Table:
    """A formatted table: its HTML for the page and a plain-text version.

    Display it as the last expression of a cell, or glue it
    (``glue("tab-name", table(...), display=False)``).
    """

    html: str
    text: str

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text

    def to_html(self) -> str:
        """The table's HTML (as ``pandas.io.formats.style.Styler.to_html``)."""
        return self.html


def _header(column: object, units: Mapping[object, str]) -> str:
    unit = units.get(column)
    return f"{column} ({unit})" if unit else str(column)


_MATH = re.compile(r"\$([^$]+)\$")


def _header_html(column: object, units: Mapping[object, str]) -> str:
    """A header's HTML: its text escaped, its ``$...$`` as inline math for MathJax."""
    return _math_html(_header(column, units))


def _math_html(text: str) -> str:
    """``text`` escaped for HTML, its ``$...$`` as inline math for MathJax."""
    parts, start = [], 0
    for match in _MATH.finditer(text):
        parts.append(html.escape(text[start:match.start()]))
        parts.append(f'<span class="math notranslate nohighlight">\\({html.escape(match.group(1))}'
                     "\\)</span>")
        start = match.end()
    return "".join(parts) + html.escape(text[start:])


_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_UNICODE_MATH = [
    (re.compile(r"\+-(?=\s?[\d.])|(?<=\s)\+-(?=\s)"), lambda m: "±"),
    (re.compile(r"(?<=[\w)\]|])\^T(?![\w(])"), lambda m: "ᵀ"),
    (re.compile(r"\b(\w)\^\(-1/2\)"), lambda m: f"1/√{m.group(1)}"),
    (re.compile(r"(?<=[\w)\]|])\^(-?\d+)(?![A-Za-z0-9.])"),
     lambda m: m.group(1).translate(_SUPERSCRIPTS)),
    (re.compile(r"(?<![\w.])((?:d|Δ)?[WB])(\d)(?![\w.])"),
     lambda m: m.group(1) + m.group(2).translate(_SUBSCRIPTS)),
]


def unicode_math(text: str) -> str:
    """``text`` with its ASCII math in Unicode, for plain text shown in a table.

    The claims are plain text (their statements are the keys of the paper-scale record,
    so they stay as written); MathJax does not typeset them. A few unambiguous forms are
    written as a reader expects them: ``+-`` as ±, a transpose ``^T`` as ᵀ, a numeric
    exponent as superscripts (``n_b^2`` as n_b², and ``n^(-1/2)`` as 1/√n), and the index
    of a weight or feedback matrix (``W1``, ``dW0``, ``B2``) as a subscript.

    Examples
    --------
    >>> unicode_math("W1 ∠ B^T E^T X X^T E within +-0.5 deg")
    'W₁ ∠ Bᵀ Eᵀ X Xᵀ E within ±0.5 deg'
    >>> unicode_math("E[E^T X X^T E] = n_b n_i I; falls like n^(-1/2), slope -0.5 +- 0.12")
    'E[Eᵀ X Xᵀ E] = n_b n_i I; falls like 1/√n, slope -0.5 ± 0.12'
    >>> unicode_math("dW0 FA∠BP, n_b^2 n_i, T^1_aln, Cond. 2, float32, W_l ∠ B_l^T")
    'dW₀ FA∠BP, n_b² n_i, T¹_aln, Cond. 2, float32, W_l ∠ B_lᵀ'
    """
    for pattern, replace in _UNICODE_MATH:
        text = pattern.sub(replace, text)
    return text


def _is_numeric(series: pd.Series) -> bool:
    """Whether every value of ``series`` that is not missing is a real number (not a bool)."""
    values = [v for v in series if not _missing(v)]
    return bool(values) and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_) for v in values
    )


def table(
    df: pd.DataFrame,
    formats: Mapping[object, Format] | None = None,
    units: Mapping[object, str] | None = None,
    *,
    index: bool = False,
    wrap: Iterable[object] = (),
    styles: Mapping[object, Callable[[object], str]] | None = None,
    row_style: Callable[[pd.Series], str] | None = None,
    note: str | None = None,
    missing_note: str = "not available",
) -> Table:
    """Return ``df`` as a table in the book's style.

    Parameters
    ----------
    df : DataFrame
        The values. Column names are shown as they are (give readable names);
        a column of strings built with :func:`pm` stays on one line.
    formats : mapping, optional
        Column name -> format (see :func:`fmt`). Columns not named get the default
        format of their values.
    units : mapping, optional
        Column name -> unit, shown in the header as ``"name (unit)"``.
    index : bool
        Show the index as the first column, headed by its name (default: no index).
    wrap : iterable, optional
        Columns of long text that may wrap onto several lines (claims, notes);
        every other column stays on one line and the table scrolls sideways.
    styles : mapping, optional
        Column name -> function of a cell's value returning CSS declarations for
        that cell (e.g. a background colour by verdict).
    row_style : callable, optional
        Function of a row (a ``Series``) returning CSS declarations for every
        cell of that row (e.g. bold for a row of totals).
    note : str, optional
        A note shown under the table (plain text).
    missing_note : str
        What :data:`MISSING` means, added to the note when the table has a missing value.

    Returns
    -------
    Table
        The HTML (a scrolling box holding the table, with the style sheet) and a
        plain-text rendering.

    Raises
    ------
    KeyError
        If ``formats``, ``units``, ``wrap`` or ``styles`` name a column that ``df`` lacks.
    """
    formats, units, styles = dict(formats or {}), dict(units or {}), dict(styles or {})
    wrap = set(wrap)
    if index:
        name = df.index.name if df.index.name is not None else ""
        df = df.reset_index(names=[name] if df.index.nlevels == 1 else None)
    unknown = (set(formats) | set(units) | wrap | set(styles)) - set(df.columns)
    if unknown:
        raise KeyError(f"not columns of the table: {sorted(map(str, unknown))}")
    columns = list(df.columns)
    numeric = {c: _is_numeric(df[c]) for c in columns}
    cells = [[fmt(v, formats.get(c)) for v in df[c]] for c in columns]
    any_missing = any(text == MISSING for col in cells for text in col)

    head = "".join(f"<th>{_header_html(c, units)}</th>" for c in columns)
    rows = []
    for i in range(len(df)):
        tds = []
        row_css = row_style(df.iloc[i]) if row_style else ""
        for j, c in enumerate(columns):
            kind = "num" if numeric[c] else "txt"
            kind += " wrap" if c in wrap else ("" if numeric[c] else " nowrap")
            css = "; ".join(
                x for x in (row_css, styles[c](df[c].iloc[i]) if c in styles else "") if x
            )
            attr = f' style="{html.escape(css)}"' if css else ""
            tds.append(f'<td class="{kind}"{attr}>{_math_html(cells[j][i])}</td>')
        rows.append(f"<tr>{''.join(tds)}</tr>")
    notes = [note] if note else []
    if any_missing:
        notes.append(f"{MISSING}: {missing_note}.")
    foot = f'<div class="{NOTE_CLASS}">{html.escape(" ".join(notes))}</div>' if notes else ""
    body = (
        f'<div class="{CLASS}"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{foot}</div>"
    )
    text = pd.DataFrame({_header(c, units): cells[j] for j, c in enumerate(columns)}).to_string(
        index=False
    )
    if notes:
        text += "\n" + " ".join(notes)
    return Table(html=_CSS + body, text=text)
