"""Tests of fa_lib.sphinxext: figure labels, the quick-scale banner, author-year labels."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from fa_lib import sphinxext


def test_paper_panels_keep_the_papers_labels_others_are_extras_and_tables():
    labels = sphinxext.figure_labels(
        "4", ["fig-depth-heatmaps", "fig-a", "tab-b", "fig-c", "fig-depth-hist", "tab-d"]
    )
    assert labels == {
        "fig-depth-heatmaps": "Fig. 5A, C",
        "fig-a": "Extra 4.1",
        "tab-b": "Table 4.1",
        "fig-c": "Extra 4.2",
        "fig-depth-hist": "Fig. 5B, D",
        "tab-d": "Table 4.2",
    }
    # no book-only label can be mistaken for one of the paper's
    assert all(v.startswith("Fig. ") for v in sphinxext.PAPER_LABELS.values())
    assert not any(v.startswith("Fig. ") for k, v in labels.items()
                   if k not in sphinxext.PAPER_LABELS)


def test_relabel_replaces_running_numbers_and_numref_prints_labels():
    env = SimpleNamespace(toc_fignumbers={
        "book/depth": {"figure": {"fig-depth-heatmaps": (20,), "fig-x": (21,), "tab-y": (22,)}},
        "book/report": {"figure": {"tab-report-totals": (40,)}},
        "book/intro": {},
    })
    assert sphinxext._relabel(None, env) == []
    depth = env.toc_fignumbers["book/depth"]["figure"]
    assert depth == {"fig-depth-heatmaps": ("Fig. 5A, C",), "fig-x": ("Extra 4.1",),
                     "tab-y": ("Table 4.1",)}
    assert env.toc_fignumbers["book/report"]["figure"] == {"tab-report-totals": ("Table R.1",)}
    # Sphinx prints numfig_format % ".".join(map(str, number)); the format is "%s"
    fmt = "%s"
    assert fmt % ".".join(map(str, depth["fig-depth-heatmaps"])) == "Fig. 5A, C"  # noqa: UP031


def test_config_sets_the_label_format_and_the_banner_at_quick_scale(monkeypatch):
    cfg = SimpleNamespace(numfig_format={"figure": "Fig. %s", "table": "Table %s"},
                          html_theme_options={"use_repository_button": True})
    monkeypatch.setenv("FA_SCALE", "quick")
    monkeypatch.delenv(sphinxext.MATHJAX_ENV, raising=False)
    sphinxext._config_inited(None, cfg)
    assert cfg.numfig_format == {"figure": "%s", "table": "Table %s"}
    assert "Quick-scale preview" in cfg.html_theme_options["announcement"]
    assert cfg.html_theme_options["use_repository_button"] is True
    assert sphinxext.scale_banner("paper") == ""
    monkeypatch.setenv("FA_SCALE", "paper")
    cfg = SimpleNamespace(numfig_format={}, html_theme_options={})
    sphinxext._config_inited(None, cfg)
    assert "announcement" not in cfg.html_theme_options


def test_author_year_labels():
    from pybtex.database import parse_string
    from pybtex.plugin import find_plugin

    bib = parse_string(
        """
        @article{a, author = {Lillicrap, Timothy and Cownden, Daniel and Tweed, Douglas},
                 title = {t}, journal = {j}, year = {2016}}
        @article{b, author = {N{\\o}kland, Arild}, title = {t}, journal = {j}, year = {2016}}
        @article{c, author = {Liao, Q. and Poggio, T.}, title = {t1}, journal = {j}, year = {2016}}
        @article{d, author = {Liao, Q. and Poggio, T.}, title = {t2}, journal = {j}, year = {2016}}
        @misc{e, title = {code}, organization = {Someone}}
        """,
        "bibtex",
    )
    sphinxext._register_bibliography_style()
    style = find_plugin("pybtex.style.formatting", "fa_author_year")()
    labels = {e.key: e.label for e in style.format_entries(bib.entries.values())}
    assert labels["a"] == "Lillicrap et al., 2016"
    assert labels["b"].startswith("N") and labels["b"].endswith("kland, 2016")
    assert {labels["c"], labels["d"]} == {"Liao and Poggio, 2016a", "Liao and Poggio, 2016b"}
    assert labels["e"] == "Someone, n.d."


def test_local_mathjax_from_the_environment(tmp_path, monkeypatch):
    from fa_lib import sphinxext

    monkeypatch.delenv(sphinxext.MATHJAX_ENV, raising=False)
    assert sphinxext.local_mathjax() is None
    monkeypatch.setenv(sphinxext.MATHJAX_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="tex-chtml.js"):
        sphinxext.local_mathjax()
    (tmp_path / "tex-chtml.js").write_text("// MathJax")
    assert sphinxext.local_mathjax() == tmp_path.resolve()
    connected = []
    app = SimpleNamespace(connect=lambda event, handler: connected.append(event))
    cfg = SimpleNamespace(numfig_format={}, html_theme_options={}, mathjax_path="https://x/y.js")
    sphinxext._config_inited(app, cfg)
    assert cfg.mathjax_path == "mathjax/tex-chtml.js" and connected == ["build-finished"]


def test_figure_images_link_to_their_files_and_nothing_else_changes():
    body = (
        '<p><img src="../_images/logo.png" /></p>'
        '<figure class="align-default" id="fig-a"><div class="cell_output">'
        '<img alt="a" src="../_images/a.png" /></div>'
        '<figcaption><p>Fig. 1A</p></figcaption></figure>'
        '<figure id="fig-b"><a href="x.html"><img src="../_images/b.png" /></a></figure>'
    )
    out = sphinxext.link_figures(body)
    assert out.startswith('<p><img src="../_images/logo.png" /></p>')  # not a figure
    assert (f'<a class="{sphinxext.FIGURE_LINK_CLASS} reference internal image-reference" '
            'href="../_images/a.png"') in out
    assert '<a href="x.html"><img src="../_images/b.png" /></a>' in out  # already linked
    assert out.count(sphinxext.FIGURE_HINT) == 1  # the hint for phones, inside the link
    assert (f'<img alt="a" src="../_images/a.png" /><span class="{sphinxext.FIGURE_HINT_CLASS}">'
            f'{sphinxext.FIGURE_HINT}</span></a>') in out
    assert out.count("<a ") == 2
    assert sphinxext.link_figures(out) == out  # idempotent
