"""Tests of fa_lib.config: the one place where FA_SCALE is read."""

from __future__ import annotations

import pytest

from fa_lib import config


def test_default_is_paper(monkeypatch):
    monkeypatch.delenv("FA_SCALE", raising=False)
    assert config.scale() == "paper"
    assert not config.is_quick()
    assert config.pick(paper=1000, quick=10) == 1000


def test_empty_is_paper(monkeypatch):
    monkeypatch.setenv("FA_SCALE", "")
    assert config.scale() == "paper"


@pytest.mark.parametrize("value", ["quick", "QUICK", " quick "])
def test_quick(monkeypatch, value):
    monkeypatch.setenv("FA_SCALE", value)
    assert config.scale() == "quick"
    assert config.is_quick()
    assert config.pick(paper=1000, quick=10) == 10
    assert config.pick(paper={"reps": 30}, quick={"reps": 3}) == {"reps": 3}


def test_explicit_paper(monkeypatch):
    monkeypatch.setenv("FA_SCALE", "paper")
    assert config.pick(paper="p", quick="q") == "p"


@pytest.mark.parametrize("value", ["fast", "full", "1", "paperscale"])
def test_bad_scale_raises(monkeypatch, value):
    monkeypatch.setenv("FA_SCALE", value)
    with pytest.raises(ValueError, match=r"FA_SCALE=.* is not a known scale.*paper.*quick"):
        config.scale()
    with pytest.raises(ValueError, match="FA_SCALE"):
        config.pick(paper=1, quick=2)
