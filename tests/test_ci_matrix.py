"""Tests of fa_lib.ci_matrix: ``reproduce --shard K/N`` and ``python -m fa_lib plan-matrix``.

The shares are checked on made-up times (deterministic, balanced, every experiment in
exactly one share), the matrix on made-up missing experiments (a chapter over the budget
split into shards each under it, nothing missing -> no job), ``--shard`` on toy chapter
modules and a private results cache, and both command lines on a real chapter at the
quick scale, listing only (nothing is computed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from toy_chapters import toy_package

from fa_lib import ci_matrix, reproduce, runner
from fa_lib.build_plan import MEASURED, Times

ROOT = Path(__file__).resolve().parents[1]

TOY = '''
import numpy as np

from fa_lib.cache import cached

EXPERIMENTS = {name: (lambda name=name: cached(f"shardtoy_{name}", {"n": 2},
                                               lambda: {"x": np.arange(2)}))
               for name in "abcde"}
'''


def _times(table: dict[tuple[str, str], float]) -> Times:
    return Times(experiments={k: (v, MEASURED) for k, v in table.items()})


# --------------------------------------------------------------------------- --shard K/N


@pytest.mark.parametrize("text, expected", [("1/1", (1, 1)), ("2/3", (2, 3)),
                                            (" 3 / 3 ", (3, 3))])
def test_parse_shard_reads_k_of_n(text, expected):
    assert ci_matrix.parse_shard(text) == expected


@pytest.mark.parametrize("text, message", [
    ("3/2", "--shard 3/2: K must be between 1 and N"),
    ("0/2", "--shard 0/2: K must be between 1 and N"),
    ("1/0", "--shard 1/0: N must be at least 1"),
    ("2", "--shard 2: expected K/N"),
    ("a/b", "--shard a/b: expected K/N"),
])
def test_parse_shard_says_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        ci_matrix.parse_shard(text)


def test_shares_are_balanced_longest_first_and_keep_the_order():
    experiments = [("c", name) for name in "abcdef"]
    seconds = [1.0, 8.0, 3.0, 5.0, 2.0, 4.0]  # 23 s in all
    parts = ci_matrix.shares(experiments, 2, seconds)
    # longest first: b(8)->1, d(5)->2, f(4)->2, c(3)->1, e(2)->1 or 2 (11 vs 9 -> 2), a(1)->1
    assert parts == [[("c", "a"), ("c", "b"), ("c", "c")],
                     [("c", "d"), ("c", "e"), ("c", "f")]]
    assert ci_matrix.shares(experiments, 2, seconds) == parts  # deterministic
    for n in (1, 3, 4, 6, 8):
        parts = ci_matrix.shares(experiments, n, seconds)
        assert len(parts) == n
        assert sorted(e for p in parts for e in p) == experiments  # each exactly once
        for p in parts:
            assert p == sorted(p, key=experiments.index)
    with pytest.raises(ValueError):
        ci_matrix.shares(experiments, 0, seconds)


def test_unknown_times_count_as_the_median_of_the_known():
    experiments = [("c", "a"), ("c", "b"), ("c", "c"), ("c", "d")]
    times = _times({("c", "a"): 10.0, ("c", "b"): 20.0, ("c", "c"): 60.0})
    assert ci_matrix.experiment_seconds(experiments, times) == [10.0, 20.0, 60.0, 20.0]
    # a chapter timed as a whole (the quick scale): its time shared among its experiments
    quick = Times(chapters={"c": 100.0})
    assert ci_matrix.experiment_seconds(experiments, quick, {"c": 5}) == [20.0] * 4
    assert ci_matrix.experiment_seconds(experiments, Times()) == (
        [ci_matrix.DEFAULT_SECONDS] * 4)


def test_wall_time_is_the_work_over_the_cores_at_least_the_longest_times_safety():
    assert ci_matrix.wall_seconds([3600.0] * 8, cores=4, safety=1.5) == 2 * 3600 * 1.5
    assert ci_matrix.wall_seconds([5 * 3600.0, 60.0], cores=4, safety=1.0) == 5 * 3600
    assert ci_matrix.wall_seconds([], cores=4) == 0.0


# --------------------------------------------------------------------------- the matrix


def test_a_chapter_over_the_budget_is_split_into_shards_each_under_it():
    big = [("big", f"run{i}") for i in range(40)]
    small = [("small", "a"), ("small", "b")]
    table = {e: 1800.0 for e in big} | {e: 60.0 for e in small}  # big: 20 CPU-hours
    matrix = ci_matrix.plan_matrix(small + big, _times(table), budget_hours=4.0, cores=2,
                                   safety=1.5)
    jobs = matrix["include"]
    assert jobs[0] == {"chapter": "small", "shard": "", "id": "small", "experiments": 2,
                       "hours": round(60 * 1.5 / 3600, 2), "over_budget": False,
                       "untimed": 0}
    shards = jobs[1:]
    n = len(shards)
    # 20 h / 2 cores * 1.5 = 15 h of wall time: at least 4 jobs of 4 h
    assert n == 4
    assert [j["shard"] for j in shards] == [f"{k}/{n}" for k in range(1, n + 1)]
    assert [j["id"] for j in shards] == [f"big-{k}of{n}" for k in range(1, n + 1)]
    assert all(j["chapter"] == "big" and not j["over_budget"] for j in shards)
    assert all(j["hours"] <= 4.0 for j in shards)
    assert sum(j["experiments"] for j in shards) == 40
    # the fewest shards: one fewer would be over the budget
    parts = ci_matrix.shares(big, n - 1, [1800.0] * 40)
    assert max(ci_matrix.wall_seconds([1800.0] * len(p), 2, 1.5) for p in parts) > 4 * 3600


def test_nothing_missing_gives_an_empty_matrix():
    assert ci_matrix.plan_matrix([], Times()) == {"include": []}


def test_an_experiment_longer_than_the_budget_is_marked_and_not_split_further():
    missing = [("c", "huge"), ("c", "a"), ("c", "b")]
    times = _times({("c", "huge"): 6 * 3600.0, ("c", "a"): 60.0, ("c", "b"): 60.0})
    jobs = ci_matrix.plan_matrix(missing, times, budget_hours=4.0, cores=4, safety=1.0)
    assert [(j["shard"], j["experiments"], j["over_budget"]) for j in jobs["include"]] == [
        ("", 3, True)]


def test_experiments_without_a_time_are_counted_at_the_median_and_said():
    missing = [("c", "a"), ("c", "b"), ("c", "new1"), ("c", "new2")]
    times = _times({("c", "a"): 100.0, ("c", "b"): 300.0})
    assert ci_matrix.own_seconds(missing, times) == [100.0, 300.0, None, None]
    assert ci_matrix.experiment_seconds(missing, times) == [100.0, 300.0, 200.0, 200.0]
    matrix = ci_matrix.plan_matrix(missing, times, budget_hours=4.0, cores=1, safety=1.0)
    assert [(j["experiments"], j["untimed"]) for j in matrix["include"]] == [(4, 2)]
    text = ci_matrix._describe(matrix, 4, 4.0, 1, 1.0)
    assert ("--only c: 4 experiment(s), about 0.22 h (2 of them without a time in the "
            "benchmarks, counted at the median of the others)") in text


def test_plan_matrix_rejects_a_budget_that_is_not_positive():
    with pytest.raises(ValueError):
        ci_matrix.plan_matrix([("c", "a")], Times(), budget_hours=0)


def test_shard_of_is_the_split_of_the_matrix():
    items = [("c", f"e{i}", i % 3 == 0) for i in range(12)]
    times = _times({("c", f"e{i}"): float(100 * (i + 1)) for i in range(12)})
    missing = [(c, e) for c, e, ok in items if not ok]
    got = [ci_matrix.shard_of(items, (k, 3), times) for k in (1, 2, 3)]
    assert sorted(e for g in got for e in g) == sorted(missing)
    seconds = ci_matrix.experiment_seconds(missing, times, {"c": 12})
    assert got == ci_matrix.shares(missing, 3, seconds)


# --------------------------------------------------------------------------- reproduce


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A toy chapter module ``shard_toy.toy`` with five experiments, and a private cache."""
    toy_package(tmp_path, monkeypatch, "shard_toy", {"toy": TOY})
    monkeypatch.setenv("FA_SCALE", "quick")
    return {"toy": "shard_toy.toy"}


def test_the_runner_runs_only_the_share(toy):
    items = runner.list_experiments(modules=toy)
    share = ci_matrix.shard_of(items, (2, 2), Times())
    assert len(share) == 2  # five of equal (unknown) time: 3 and 2
    rows, failures = runner.reproduce(["toy"], progress=False, modules=toy,
                                      experiments=share)
    assert failures == [] and [(r.chapter, r.experiment) for r in rows] == share
    cached = {(c, e) for c, e, ok in runner.list_experiments(modules=toy) if ok}
    assert cached == set(share)
    # the missing ones are shared again: shard 1 of 1 is what is left
    rest = ci_matrix.shard_of(runner.list_experiments(modules=toy), (1, 1), Times())
    assert set(rest) == {(c, e) for c, e, _ in items} - set(share)


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FA_CACHE_DIR": str(tmp_path / "cache"), "FA_CACHE": "on",
           "FA_SCALE": "quick"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "fa_lib", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("shard", ["3/2", "0/1", "x"])
def test_reproduce_rejects_a_bad_shard(shard, capsys):
    with pytest.raises(SystemExit) as exc:
        reproduce.main(["--shard", shard, "--list"])
    assert exc.value.code == 2
    assert f"--shard {shard}:" in capsys.readouterr().err


def test_reproduce_shard_cannot_go_with_record(tmp_path, capsys):
    with pytest.raises(SystemExit):
        reproduce.main(["--shard", "1/2", "--record", str(tmp_path / "r.json")])
    assert "--shard" in capsys.readouterr().err


def test_the_command_lines_list_a_chapter_split_in_shards(tmp_path):
    """``reproduce --list --shard`` lists each share; plan-matrix writes the outputs."""
    listed = []
    for k in (1, 2):
        out = _cli(tmp_path, "reproduce", "--only", "persistent_error", "--list",
                   "--shard", f"{k}/2")
        assert out.returncode == 0, out.stderr
        assert f"--shard {k}/2:" in out.stdout
        listed.append({line.split()[1] for line in out.stdout.splitlines()
                       if line.startswith("persistent_error ")})
    everything = _cli(tmp_path, "reproduce", "--only", "persistent_error", "--list")
    names = {line.split()[1] for line in everything.stdout.splitlines()
             if line.startswith("persistent_error ")}
    assert listed[0] and listed[1] and not listed[0] & listed[1]
    assert listed[0] | listed[1] == names
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").glob("*.npz"))

    github = tmp_path / "github_output"
    out = _cli(tmp_path, "plan-matrix", "--only", "persistent_error", "--budget-hours",
               "4", "--cores", "2", "--json", "--github-output", str(github))
    assert out.returncode == 0, out.stderr
    matrix = json.loads(out.stdout)
    assert [j["chapter"] for j in matrix["include"]] == ["persistent_error"]
    assert github.read_text() == (f"matrix={json.dumps(matrix, separators=(',', ':'))}\n"
                                  "any=true\n")
    bad = _cli(tmp_path, "plan-matrix", "--budget-hours", "0")
    assert bad.returncode == 2 and "must be positive" in bad.stderr
