"""Tests of fa_lib.tables, the one table style of the book."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fa_lib import cache, tables


def _cells(t: tables.Table) -> list[str]:
    import re

    return re.findall(r"<td[^>]*>(.*?)</td>", t.html)


def test_default_formats():
    assert tables.fmt(1234567) == "1,234,567"
    assert tables.fmt(np.int64(12)) == "12"
    assert tables.fmt(0.012345) == "0.0123"
    assert tables.fmt(np.float32(2.5)) == "2.5"
    assert tables.fmt(True) == "yes" and tables.fmt(np.bool_(False)) == "no"
    assert tables.fmt("FA + WN") == "FA + WN"


@pytest.mark.parametrize("missing", [None, float("nan"), np.nan, pd.NA, pd.NaT])
def test_missing_values_are_a_dash(missing):
    assert tables.fmt(missing) == tables.MISSING == "—"
    assert tables.fmt(missing, ".2f") == "—"


def test_format_specs_patterns_and_functions():
    assert tables.fmt(3.14159, ".2f") == "3.14"
    assert tables.fmt(0.000123, ".2g") == "0.00012"
    assert tables.fmt(2, "{:d} epochs") == "2 epochs"
    assert tables.fmt(0.5, lambda v: f"{100 * v:.0f}%") == "50%"


def test_pm_keeps_mean_and_sd_on_one_line():
    assert tables.pm(72.06, 0.61) == "72.1\u00a0±\u00a00.6"
    assert tables.pm(1.0, 0.25, ".2f", "°") == "1.00°\u00a0±\u00a00.25°"
    assert tables.pm(math.nan, 1.0) == "—"
    assert tables.pm(3.0, None) == "3.0"
    assert " " not in tables.pm(123.456, 7.89, ".2f")


def test_table_html_formats_units_missing_and_scroll():
    df = pd.DataFrame(
        {"run": ["FA", "BP <b>"], "accuracy": [91.234, None], "n": [10, 2000]},
        index=["a", "b"],
    )
    t = tables.table(df, formats={"accuracy": ".1f"}, units={"accuracy": "%"})
    assert f'<div class="{tables.CLASS}">' in t.html
    assert "overflow-x: auto" in t.html
    assert "<th>accuracy (%)</th>" in t.html
    # no index column, HTML escaped, formats applied, missing as a dash with a note
    assert _cells(t) == ["FA", "91.2", "10", "BP &lt;b&gt;", "—", "2,000"]
    assert "—: not available." in t.html
    assert t._repr_html_() == t.html
    assert "accuracy (%)" in repr(t) and "2,000" in repr(t)


def test_numbers_right_aligned_on_one_line_text_wraps_only_where_asked():
    df = pd.DataFrame({"claim": ["long text"], "value": [1.5], "label": ["x"]})
    t = tables.table(df, wrap=["claim"])
    assert '<td class="txt wrap">long text</td>' in t.html
    assert '<td class="num">1.5</td>' in t.html
    assert '<td class="txt nowrap">x</td>' in t.html
    assert "white-space: nowrap" in t.html


def test_a_numeric_column_with_missing_values_stays_numeric():
    df = pd.DataFrame({"x": pd.Series([1.0, None], dtype=object)})
    assert _cells(tables.table(df)) == ["1", "—"]
    assert 'class="num"' in tables.table(df).html


def test_index_shown_under_its_name_when_asked():
    df = pd.DataFrame({"v": [1, 2]}, index=pd.Index(["b1", "b2"], name="band"))
    t = tables.table(df, index=True)
    assert "<th>band</th><th>v</th>" in t.html
    assert _cells(t) == ["b1", "1", "b2", "2"]
    assert "<th>band</th>" not in tables.table(df).html


def test_styles_per_cell_and_note():
    df = pd.DataFrame({"verdict": ["reproduced", "not reproduced"]})
    t = tables.table(
        df, styles={"verdict": lambda v: "background-color: #eee" if v == "reproduced" else ""},
        note="Two claims.",
    )
    assert t.html.count('style="background-color: #eee"') == 1
    assert "Two claims." in t.html and "not available" not in t.html


def test_unknown_columns_are_an_error():
    with pytest.raises(KeyError, match="nope"):
        tables.table(pd.DataFrame({"a": [1]}), formats={"nope": ".1f"})


def test_tables_is_not_part_of_the_code_fingerprints():
    assert cache.module_dependencies("fa_lib.tables") == []


def test_one_number_format_without_negative_zero_reprs_or_sentinels():
    # Zero has no sign, whatever the format (issue 28: "-0" in a table).
    assert tables.fmt(-0.004, ".1f") == "0.0" and tables.fmt(-0.4, ".0f") == "0"
    assert tables.fmt(-0.0) == "0" and tables.fmt(-0.04, "+.1f") == "0.0"
    assert tables.fmt(-0.04, ".2f") == "-0.04" and tables.fmt(0.0, "+.1f") == "+0.0"
    assert tables.fmt(-1e-9, "{:.1f}°") == "0.0°"
    assert tables.pm(-0.01, 0.2) == "0.0\u00a0±\u00a00.2"
    assert tables.unsigned_zero("-0.0 [-0.0, +0.5], -10.0, −0.00, x-0") == \
        "0.0 [0.0, +0.5], -10.0, 0.00, x-0"
    # No repr: a mapping or a sequence is written out (issue 28: "{'dfa_wn_bn': 1}").
    assert tables.fmt({"dfa_wn_bn": 1, "usf": np.int64(2)}) == "dfa_wn_bn: 1, usf: 2"
    assert tables.fmt([np.float64(0.5), 2]) == "0.5, 2"
    # A sentinel for "none" (an iteration of -1: never) is shown in words.
    never = tables.sentinel(-1, "never", ",d")
    assert tables.fmt(-1, never) == "never" and tables.fmt(1500, never) == "1,500"
    cells = _cells(tables.table(pd.DataFrame({"x": [-0.01, -1.0]}), formats={"x": ".1f"}))
    assert cells == ["0.0", "-1.0"]


def test_math_in_headers_is_typeset():
    df = pd.DataFrame({"$W_1 \\angle B^T$": [1.0], "a < b": [2.0]})
    t = tables.table(df, units={"$W_1 \\angle B^T$": "°"})
    assert ('<th><span class="math notranslate nohighlight">\\(W_1 \\angle B^T\\)</span> (°)'
            "</th>") in t.html
    assert "<th>a &lt; b</th>" in t.html
    cells = _cells(tables.table(pd.DataFrame({"sweep": ["$\\beta_X$", "5 < 6"]})))
    assert cells == ['<span class="math notranslate nohighlight">\\(\\beta_X\\)</span>', "5 &lt; 6"]


def test_unicode_math_for_the_claims_plain_text():
    assert tables.unicode_math("W1 ∠ B^T") == "W₁ ∠ Bᵀ"
    assert tables.unicode_math("within +-0.5 deg, -0.5 +- 0.12") == "within ±0.5 deg, -0.5 ± 0.12"
    assert tables.unicode_math("falls like n^(-1/2)") == "falls like 1/√n"
    # left alone: words, file names, ranges and version numbers
    for text in ("float32", "Cond. 2", "eq. 1 / S10", "a+-b", "T^nonlin", "x^T2", "1e-3"):
        assert tables.unicode_math(text) == text
