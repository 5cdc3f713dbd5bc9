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


def test_scale_context_overrides_the_environment(monkeypatch):
    monkeypatch.setenv("FA_SCALE", "paper")
    with config.scale_context(" QUICK ") as chosen:
        assert chosen == "quick" and config.scale() == "quick" and config.is_quick()
        assert config.pick(paper=1, quick=2) == 2
        with config.scale_context("paper"):  # blocks nest
            assert config.scale() == "paper"
        assert config.scale() == "quick"
        monkeypatch.setenv("FA_SCALE", "nonsense")  # the environment is not read inside
        assert config.scale() == "quick"
    monkeypatch.setenv("FA_SCALE", "paper")
    assert config.scale() == "paper"  # restored on leaving, without touching FA_SCALE


def test_scale_context_is_restored_after_an_exception(monkeypatch):
    monkeypatch.setenv("FA_SCALE", "paper")
    with pytest.raises(RuntimeError), config.scale_context("quick"):
        raise RuntimeError("inside")
    assert config.scale() == "paper"


@pytest.mark.parametrize("value", ["fast", "", "1"])
def test_scale_context_rejects_an_unknown_scale(value):
    with pytest.raises(ValueError, match=r"not a known scale.*paper.*quick"), \
            config.scale_context(value):
        pass


def test_probe_scale_of_a_bare_pytest():
    """Run by test_bare_pytest_runs_at_quick_scale in a pytest without FA_SCALE."""
    import os
    import subprocess
    import sys

    if os.environ.get("FA_TEST_PROBE") != "1":
        pytest.skip("only a probe for test_bare_pytest_runs_at_quick_scale")
    assert config.scale() == "quick"
    # A kernel or subprocess started by a test (nbval's notebooks) sees the same scale.
    out = subprocess.run([sys.executable, "-c", "from fa_lib import config; "
                          "print(config.scale())"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "quick"


@pytest.mark.parametrize("value, expected", [(None, "quick"), ("", "quick"),
                                             ("paper", "paper")])
def test_bare_pytest_runs_at_quick_scale(value, expected):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != "FA_SCALE"}
    env["FA_TEST_PROBE"] = "1"
    if value is not None:
        env["FA_SCALE"] = value
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         "tests/test_config.py::test_probe_scale_of_a_bare_pytest"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300)
    if expected == "quick":
        assert out.returncode == 0 and "1 passed" in out.stdout, out.stdout + out.stderr
    else:  # an explicit FA_SCALE wins: the probe sees paper and fails
        assert out.returncode == 1 and "1 failed" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("value, expected", [(None, 1), ("", 1), (" ", 1), ("3", 3)])
def test_jobs(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("FA_JOBS", raising=False)
    else:
        monkeypatch.setenv("FA_JOBS", value)
    assert config.jobs() == expected
    # the book build's default is the number of cores: FA_JOBS, when set, still wins
    assert config.jobs(default=7) == (7 if expected == 1 else expected)


@pytest.mark.parametrize("value", ["abc", "2.5", "0", "-1"])
def test_bad_jobs_raise_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("FA_JOBS", value)
    with pytest.raises(ValueError, match=r"FA_JOBS=.*(whole number|>= 1)"):
        config.jobs()
