"""Tests of the paper-scale record (fa_lib/record.py) and ``reproduce --record/--check-record``.

A toy chapter (a test-only experiments module writing two small cache entries) and fake
saved claims stand in for the book: the record is built, written, checked against
itself, then perturbed (a number beyond its tolerance, a flipped verdict, a dropped
claim) and checked again. Nothing of the book is computed. The last test checks the
committed record against the claims the notebooks register (saved at any scale: the
statements do not depend on it); it is skipped when the results cache holds no saved
claims, as in CI, where the report page makes the same check after the notebooks run.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from fa_lib import cache, catalogue, claims, record, report, reproduce, training, verdicts

ROOT = Path(__file__).resolve().parents[1]

TOY = '''
import numpy as np
from fa_lib import cache


def _angles():
    w = np.full((5, 3, 2), 40.0)
    w[-1] = [[10.0, 12.0], [11.0, 13.0], [np.nan, 14.0]]
    return {"w_bt": w, "test_acc": np.array([[0.1, 0.2, 0.3], [0.8, 0.85, 0.9]]),
            "loss": np.array([2.0, 1.0, 0.5]), "seconds": np.array(3.5),
            "codes": np.zeros((2, 3), np.float32), "dw0": np.array([30.0, 20.1234])}


def _other():
    return {"eig": np.array([1.0, 2.0, 4.0])}


def angles():
    return cache.cached("toy_angles", {"n": 5}, _angles)


def both():
    return angles(), cache.cached("toy_other", {"k": 1}, _other)


EXPERIMENTS = {"angles": angles, "both": both}
KINDS = {"w_bt": "angle", "dw0": "angle", "test_*": "accuracy"}
'''

MODULES = {"toy": "toy_record.toy"}

TOY2 = '''
import numpy as np
from fa_lib import cache


def _rates():
    return {"val_acc": np.array([[0.5, 0.6], [0.7, 0.9]]), "seconds": np.array(2.0)}


def rates():
    return cache.cached("toy2_rates", {"k": 2}, _rates)


EXPERIMENTS = {"rates": rates}
'''


TOY_VERDICTS = '''
from fa_lib.claims import Claim
from toy_record import toy


def claims():
    w = toy.angles()["w_bt"][-1]
    return [Claim("toy", "Angles fall.", f"{float(w[0, 0]):.0f} deg", bool(w[0, 0] < 45),
                  "below 45"),
            Claim("toy", "Accuracy rises.", "0.85", False, "above 0.9"),
            Claim("toy", "Needs the paper's sizes.", "n/a", True, "x", asserted=False)]
'''

TOY2_VERDICTS = '''
from fa_lib.claims import Claim


def claims():
    return [Claim("toy2", "Rates rise.", "0.8", True, "above 0.5")]
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A toy chapter module ``toy_record.toy``, a private cache, and the chapter's claims."""
    for name in [n for n in sys.modules if n.split(".")[0] == "toy_record"]:
        monkeypatch.delitem(sys.modules, name)
    package = tmp_path / "toy_record"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "toy.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("FA_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("FA_CACHE", "on")
    monkeypatch.setenv("FA_SCALE", "quick")
    (package / "toy_verdicts.py").write_text(TOY_VERDICTS)
    (package / "toy2_verdicts.py").write_text(TOY2_VERDICTS)
    monkeypatch.setattr(verdicts, "module_name", lambda chapter: f"toy_record.{chapter}_verdicts")
    from toy_record import toy as module  # noqa: I001 - importable only in this test

    module.both()  # fill the cache
    return cache_dir


def test_headline_numbers_and_kinds():
    kinds = {"w_bt": "angle", "dw0": "angle", "t*_aln": "angle", "test_acc": "accuracy"}
    assert record.kind_of("w_bt", kinds) == record.kind_of("case1__dw0", kinds) == "angle"
    assert record.kind_of("t60_aln", kinds) == "angle"
    assert record.kind_of("test_acc", kinds) == "accuracy"
    # An array that is not declared is "other", whatever its name says.
    assert record.kind_of("angles", kinds) == record.kind_of("val_acc", kinds) == "other"
    assert record.kind_of("norm_w", kinds, default=None) is None
    with pytest.raises(record.RecordError, match="'degrees' declared for the arrays 'dw0'"):
        record.kind_of("dw0", {"dw0": "degrees"})
    w = np.full((4, 2), 30.0)
    w[-1] = [10.0, np.nan]
    assert record.headline("w_bt", w, "angle") == {"kind": "angle", "final": 10.0,
                                                    "mean": 27.143}
    assert record.headline("w_bt", w) == {"kind": "other", "final": 10.0, "mean": 27.14286}
    acc = record.headline("test_acc", np.array([[0.1, 0.2], [0.9, 0.8]]), "accuracy")
    assert acc["final"] == 0.85 and acc["final_per_run"] == [0.9, 0.8]
    assert record.headline("eig", np.array([np.nan]))["final"] is None
    assert record.headline("seconds", np.array(1.0)) is None
    assert record.headline("codes_after", np.zeros(3)) is None
    assert record.headline("loss", np.array([], float)) is None


def test_the_arrays_named_in_the_issue_are_declared_angles():
    """Angles whose names the old regular expression missed (they were ``other``)."""
    declared = catalogue.declared_kinds()
    named = {"persistent_error": ["dw0", "w0_limit", "w1_limit"],
             "autocorrelation": ["dw0", "linear", "nonlinear", "nonlinear_shared", "sym",
                                 "skew"],
             "acf_weight_normalisation": ["dw0", "case1__dw1", "case4_b__dw0"]}
    for chapter, arrays in named.items():
        assert {record.kind_of(a, declared[chapter]) for a in arrays} == {"angle"}, chapter
    for chapter in ("mnist_alignment", "flexibility", "deep_networks"):
        assert declared[chapter] is training.KINDS
    # the feedback-rules chapter also caches its read-outs (accuracies, as fractions)
    assert declared["feedback_rules"] == {**training.KINDS, "readout_acc": "accuracy"}
    assert record.kind_of("t60_aln", training.KINDS) == "angle"
    assert record.kind_of("acc_relabel", training.KINDS) == "accuracy"
    assert record.kind_of("active", training.KINDS) == "other"  # a fraction of units
    for chapter, kinds in declared.items():
        assert set(kinds.values()) <= set(record.TOLERANCES), chapter


def test_record_agrees_with_itself_and_reports_differences(toy, tmp_path):
    rec = record.build_record(modules=MODULES)
    assert rec["scale"] == "quick" and rec["format"] == record.FORMAT
    assert rec["compute_seconds"] == 3.5 and rec["machine"]["cores"] >= 1
    assert rec["commit"] and rec["date"].endswith("+00:00")
    verdicts = [c["verdict"] for c in rec["chapters"]["toy"]["claims"]]
    assert verdicts == [claims.REPRODUCED, claims.NOT_REPRODUCED, claims.NOT_CHECKED]
    assert rec["chapters"]["toy"]["experiments"] == {
        "angles": ["toy_angles"], "both": ["toy_angles", "toy_other"]}
    numbers = rec["entries"]["toy_angles"]
    assert set(numbers) == {"w_bt", "test_acc", "loss", "dw0"}  # no seconds, no codes
    assert {k: v["kind"] for k, v in numbers.items()} == {
        "w_bt": "angle", "dw0": "angle", "test_acc": "accuracy", "loss": "other"}
    assert numbers["dw0"] == {"kind": "angle", "final": 20.123, "mean": 25.062}
    assert numbers["w_bt"]["final"] == 12.0 and numbers["test_acc"]["final_per_run"] == [
        0.8, 0.85, 0.9]
    path = record.write_record(rec, tmp_path / "results" / "record.json")
    loaded = record.load_record(path)
    assert loaded == json.loads(json.dumps(rec))
    assert record.check_record(loaded, modules=MODULES) == []

    within = copy.deepcopy(loaded)
    within["entries"]["toy_angles"]["w_bt"]["final"] += 0.4  # inside 0.5 degree
    within["entries"]["toy_angles"]["dw0"]["final"] -= 0.4  # an angle, whatever its name
    within["entries"]["toy_other"]["eig"]["mean"] *= 1 + 5e-4  # inside 1e-3 relative
    within["entries"]["toy_angles"]["test_acc"]["final_per_run"][0] += 0.02  # one network
    assert record.check_record(within, modules=MODULES) == []

    changed = copy.deepcopy(loaded)
    changed["entries"]["toy_angles"]["w_bt"]["final"] += 0.6
    changed["entries"]["toy_angles"]["test_acc"]["final_per_run"][1] -= 0.03
    changed["entries"]["toy_other"]["eig"]["mean"] *= 1.01
    changed["chapters"]["toy"]["claims"][0]["verdict"] = claims.NOT_REPRODUCED
    dropped = changed["chapters"]["toy"]["claims"].pop(2)
    changed["entries"]["gone"] = {}
    diffs = record.check_record(changed, modules=MODULES)
    text = "\n".join(diffs)
    assert len(diffs) == 6, text
    assert "w_bt final recorded 12.6, now 12.0" in text
    assert "test_acc final_per_run differs in run(s) [1]" in text
    assert "eig mean" in text
    assert "verdict recorded 'not reproduced', now 'reproduced'" in text
    assert f"claim registered now, not in the record: {dropped['statement']}" in text
    assert "entry gone: in the record, not read now" in text


def test_missing_claims_or_entries_are_clear_errors(toy):
    verdicts_file = toy.parent / "toy_record" / "toy_verdicts.py"
    verdicts_file.rename(verdicts_file.with_suffix(".txt"))
    with pytest.raises(record.RecordError, match=r"chapter 'toy' has no verdicts module"):
        record.build_record(modules=MODULES)
    verdicts_file.with_suffix(".txt").rename(verdicts_file)
    for entry in toy.glob("toy_other-*.npz"):
        entry.unlink()
    with pytest.raises(record.RecordError, match=r"toy: both.*reproduce --scale quick"):
        record.build_record(modules=MODULES)
    assert not list(toy.glob("toy_other-*.npz"))  # nothing was computed


def test_cli_record_and_check_record(toy, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(catalogue, "CHAPTERS", ("toy",))
    monkeypatch.setattr(catalogue, "EXPERIMENTS_PACKAGE", "toy_record")
    entries = sorted(p.name for p in toy.glob("*.npz"))
    path = tmp_path / "rec.json"
    assert reproduce.main(["--record", str(path)]) == 0
    assert "written to" in capsys.readouterr().out
    assert reproduce.main(["--check-record", str(path)]) == 0
    assert "agrees with the record" in capsys.readouterr().out

    rec = json.loads(path.read_text())
    rec["entries"]["toy_angles"]["loss"]["final"] = 0.6
    path.write_text(json.dumps(rec))
    assert reproduce.main(["--check-record", str(path)]) == 1
    out = capsys.readouterr().out
    assert "DIFFERENT: entry toy_angles: loss final recorded 0.6, now 0.5" in out
    assert "1 difference(s)" in out

    assert reproduce.main(["--check-record", str(tmp_path / "none.json")]) == 2
    assert "no record file" in capsys.readouterr().err
    path.write_text("{not json")
    assert reproduce.main(["--check-record", str(path)]) == 2
    assert "cannot be read as JSON" in capsys.readouterr().err
    path.write_text(json.dumps({"format": record.FORMAT, "scale": "quick", "chapters": []}))
    assert reproduce.main(["--check-record", str(path)]) == 2
    assert "is not a record" in capsys.readouterr().err
    rec["scale"] = "paper"
    path.write_text(json.dumps(rec))
    assert reproduce.main(["--check-record", str(path)]) == 2
    assert "--scale paper" in capsys.readouterr().err

    for entry in toy.glob("toy_angles-*.npz"):
        entry.unlink()
    entries = sorted(p.name for p in toy.glob("*.npz"))
    assert reproduce.main(["--record", str(tmp_path / "new.json")]) == 2
    assert "not in the results cache" in capsys.readouterr().err
    assert not (tmp_path / "new.json").exists()  # nothing partial written
    assert sorted(p.name for p in toy.glob("*.npz")) == entries  # nothing computed

    for args in (["--record", "a", "--check-record", "b"], ["--record", "a", "--jobs", "2"],
                 ["--check-record", "a", "--list"]):
        with pytest.raises(SystemExit) as exit_:
            reproduce.main(args)
        assert exit_.value.code == 2
        assert "cannot be used together" in capsys.readouterr().err


def test_cli_records_chapter_by_chapter(toy, tmp_path, monkeypatch, capsys):
    """--only with --record writes chapters into the record; --check-record checks them."""
    (tmp_path / "toy_record" / "toy2.py").write_text(TOY2)
    monkeypatch.setattr(catalogue, "CHAPTERS", ("toy", "toy2"))
    monkeypatch.setattr(catalogue, "EXPERIMENTS_PACKAGE", "toy_record")
    # Both are chapters of the table of contents, as the book's are: writing one must not
    # touch the other's claims, experiments or entries in the record.
    monkeypatch.setattr(catalogue, "notebooks", lambda: ["toy", "toy2"])
    from toy_record import toy2  # noqa: I001 - importable only in this test

    toy2.rates()
    path = tmp_path / "results" / "rec.json"
    assert reproduce.main(["--only", "toy", "--record", str(path)]) == 0
    assert "does not hold yet: toy2" in capsys.readouterr().out
    rec = json.loads(path.read_text())
    assert not rec["complete"] and rec["missing_chapters"] == ["toy2"]
    assert list(rec["chapters"]) == ["toy"] and set(rec["entries"]) == {"toy_angles", "toy_other"}
    assert "not complete" in record.describe(rec)
    assert reproduce.main(["--only", "toy", "--check-record", str(path)]) == 0
    capsys.readouterr()
    assert reproduce.main(["--check-record", str(path)]) == 1  # the whole book: toy2 missing
    assert "chapter toy2: measured now, not in the record" in capsys.readouterr().out

    first = rec["chapters"]["toy"]["recorded"]
    assert first["compute_seconds"] == 3.5
    monkeypatch.setattr(record, "_commit", lambda: "f" * 40)
    assert reproduce.main(["--only", "toy2", "--record", str(path)]) == 0
    rec = json.loads(path.read_text())
    assert rec["complete"] and rec["missing_chapters"] == []
    assert list(rec["chapters"]) == ["toy", "toy2"]
    assert rec["chapters"]["toy"]["recorded"] == first  # kept as it was recorded
    assert rec["chapters"]["toy2"]["recorded"]["commit"] == rec["commit"] == "f" * 40
    assert rec["compute_seconds"] == 5.5 and rec["entry_seconds"]["toy2_rates"] == 2.0
    assert set(rec["entries"]) == {"toy_angles", "toy_other", "toy2_rates"}
    # toy2's module declares no kinds: its accuracies are compared as other numbers.
    assert rec["entries"]["toy2_rates"]["val_acc"]["kind"] == "other"
    if first["commit"] != "f" * 40:
        assert record.describe(rec).startswith("per chapter, ")
    assert reproduce.main(["--check-record", str(path)]) == 0

    rec["entries"]["toy2_rates"]["val_acc"]["final"] = 0.5
    path.write_text(json.dumps(rec))
    assert reproduce.main(["--only", "toy", "--check-record", str(path)]) == 0
    assert reproduce.main(["--only", "toy2", "--check-record", str(path)]) == 1
    assert "toy2_rates: val_acc final recorded 0.5, now 0.8" in capsys.readouterr().out

    with pytest.raises(record.RecordError, match="another path"):
        record.merge_records({**rec, "scale": "paper"}, rec)


VERDICTS = '''
from fa_lib import claims
from toy_record import toy


def claims():
    from fa_lib.claims import Claim

    w = toy.angles()["w_bt"][-1]
    return [Claim("toy", "Angles fall.", f"{float(w[0, 0]):.0f} deg", bool(w[0, 0] < 45),
                  "below 45")]
'''


def test_the_record_computes_claims_from_the_cache_without_a_build(toy, monkeypatch):
    (toy.parent / "toy_record" / "verdicts.py").write_text(VERDICTS)
    assert not claims.claims_dir().exists()  # no notebook ran, no claims were saved
    rec = record.build_record(modules=MODULES, verdict_modules={"toy": "toy_record.verdicts"})
    assert rec["chapters"]["toy"]["claims"] == [
        {"statement": "Angles fall.", "measured": "10 deg", "criterion": "below 45",
         "holds": True, "asserted": True, "verdict": "reproduced", "kind": "claim"}]
    assert not record.check_record(rec, modules=MODULES,
                                   verdict_modules={"toy": "toy_record.verdicts"})
    # Results the claims need but the cache lacks: a clear error, nothing computed.
    for entry in toy.glob("toy_angles-*.npz"):
        entry.unlink()
    with pytest.raises(record.RecordError, match="need results that are not in the results "
                                                 "cache .* --only toy"):
        record.collect(["toy"], modules=MODULES, verdict_modules={"toy": "toy_record.verdicts"})
    assert not list(toy.glob("toy_angles-*.npz"))


def test_write_record_removes_the_temporaries_of_a_killed_write(tmp_path):
    import os
    import subprocess
    import time

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    left = tmp_path / f".paper_record.json.{cache._HOST}-{int(gone.stdout)}.k1ll3d_x.tmp"
    theirs = tmp_path / "draft.tmp"
    for p in (left, theirs):
        p.write_text("{")
        os.utime(p, (time.time() - 3 * 86400,) * 2)
    record.write_record({"a": 1}, tmp_path / "paper_record.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["draft.tmp", "paper_record.json"]
    assert json.loads((tmp_path / "paper_record.json").read_text()) == {"a": 1}
    git = subprocess.run(["git", "check-ignore", "-q", f"results/{left.name}"], cwd=ROOT)
    assert git.returncode == 0, "the temporary files of a killed write must be ignored by git"


def test_chapter_compute_time_counts_only_entries_that_store_it():
    """A chapter none of whose entries stores its compute time has none, not 0 s."""
    chapter = {"experiments": {"a": ["timed", "untimed"], "b": ["timed"]}}
    assert record._seconds_of(chapter, {"timed": 2.04, "elsewhere": 9.0}) == 2.0
    assert record._seconds_of(chapter, {"elsewhere": 9.0}) is None


def _fake_record() -> dict:
    """A small record of the layout that build_record writes (load_record accepts it)."""
    provenance = {"commit": "0123456789abcdef" * 2, "uncommitted_changes": False,
                  "date": "2026-11-30T12:00:00+00:00",
                  "machine": {"cpu": "a CPU", "cores": 2, "platform": "Linux"}}
    return {
        "format": record.FORMAT, "scale": "paper", **provenance, "compute_seconds": 3.5,
        "tolerances": copy.deepcopy(record.TOLERANCES), "complete": True, "missing_chapters": [],
        "entry_seconds": {"e": 3.5},
        "chapters": {"a": {
            "claims": [
                {"statement": f"claim {i} <b>", "measured": "m", "criterion": "c",
                 "holds": holds, "asserted": True, "verdict": claims.verdict(holds)}
                for i, holds in enumerate([True, False])],
            "experiments": {"run": ["e"]},
            "recorded": {**provenance, "compute_seconds": 3.5},
        }},
        "entries": {"e": {
            "dw0": {"kind": "angle", "final": 20.5, "mean": 30.0},
            "test_acc": {"kind": "accuracy", "final": 0.9, "mean": 0.7,
                         "final_per_run": [0.85, None]},
        }},
    }


def _set(path: tuple, value: object):
    """A change of a record: set the field at ``path`` (keys and indices) to ``value``."""
    def change(rec: dict) -> None:
        *parents, last = path
        for key in parents:
            rec = rec[key]
        rec[last] = value
    return change


def _drop(*path: str | int):
    def change(rec: dict) -> None:
        *parents, last = path
        for key in parents:
            rec = rec[key]
        del rec[last]
    return change


MALFORMED = [
    # The issue's cases: a headline that is not an object, a final that is not a number,
    # a chapter's experiments that are not an object.
    (_set(("entries", "e", "dw0"), 5), 'entries["e"]["dw0"]: expected an object, got 5'),
    (_set(("entries", "e", "dw0", "final"), "abc"),
     'entries["e"]["dw0"]["final"]: expected a number or null, got "abc"'),
    (_set(("entries", "e", "dw0", "final"), [1, 2]),
     'entries["e"]["dw0"]["final"]: expected a number or null, got [1, 2]'),
    (_set(("chapters", "a", "experiments"), [1, 2]),
     'chapters["a"]["experiments"]: expected an object, got [1, 2]'),
    # The header.
    (_drop("commit"), "commit: missing"),
    (_drop("entries"), "entries: missing"),
    (_set(("format",), 2), "format: expected 1, got 2"),
    (_set(("scale",), "huge"), 'scale: expected one of "paper", "quick", got "huge"'),
    (_set(("date",), 20261130), "date: expected a string, got 20261130"),
    (_set(("machine", "cores"), "two"),
     'machine["cores"]: expected a whole number or null, got "two"'),
    (_set(("complete",), "yes"), 'complete: expected true or false, got "yes"'),
    (_set(("missing_chapters",), "b"), 'missing_chapters: expected a list, got "b"'),
    (_set(("entry_seconds", "e"), None), 'entry_seconds["e"]: expected a number, got null'),
    (_set(("tolerances", "angle", "abs"), "0.5"),
     'tolerances["angle"]["abs"]: expected a number, got "0.5"'),
    # Chapters and their claims.
    (_set(("chapters",), []), "chapters: expected an object, got []"),
    (_set(("chapters", "a"), 3), 'chapters["a"]: expected an object, got 3'),
    (_drop("chapters", "a", "claims"), 'chapters["a"]["claims"]: missing'),
    (_set(("chapters", "a", "claims", 1), "claim"),
     'chapters["a"]["claims"][1]: expected an object, got "claim"'),
    (_set(("chapters", "a", "claims", 0, "holds"), "yes"),
     'chapters["a"]["claims"][0]["holds"]: expected true or false, got "yes"'),
    (_set(("chapters", "a", "claims", 1, "measured"), 0.5),
     'chapters["a"]["claims"][1]["measured"]: expected a string, got 0.5'),
    (_drop("chapters", "a", "claims", 0, "asserted"),
     'chapters["a"]["claims"][0]["asserted"]: missing'),
    (_set(("chapters", "a", "claims", 0, "verdict"), "maybe"),
     'chapters["a"]["claims"][0]["verdict"]: expected one of '
     f'{", ".join(json.dumps(v) for v in claims.VERDICTS)}, got "maybe"'),
    (_set(("chapters", "a", "experiments", "run"), "e"),
     'chapters["a"]["experiments"]["run"]: expected a list, got "e"'),
    (_set(("chapters", "a", "experiments", "run", 0), "gone"),
     'chapters["a"]["experiments"]["run"][0]: the entry "gone" is not in entries'),
    (_set(("chapters", "a", "recorded", "date"), None),
     'chapters["a"]["recorded"]["date"]: expected a string, got null'),
    # Entries.
    (_set(("entries", "e"), [1]), 'entries["e"]: expected an object, got [1]'),
    (_set(("entries", "e", "dw0", "kind"), "angel"),
     'entries["e"]["dw0"]["kind"]: expected one of "angle", "accuracy", "other", got "angel"'),
    (_set(("entries", "e", "dw0", "mean"), True),
     'entries["e"]["dw0"]["mean"]: expected a number or null, got true'),
    (_set(("entries", "e", "dw0", "mean"), float("nan")),
     'entries["e"]["dw0"]["mean"]: expected a number or null, got NaN'),
    (_set(("entries", "e", "test_acc", "final_per_run", 1), "x"),
     'entries["e"]["test_acc"]["final_per_run"][1]: expected a number or null, got "x"'),
]


def test_a_valid_record_and_the_committed_one_validate():
    record.validate_record(_fake_record())
    record.validate_record(json.loads(json.dumps(_fake_record())))
    without = _fake_record()
    del without["chapters"]["a"]["recorded"]  # a record made before chapters carried it
    record.validate_record(without)
    rec = record.load_record(ROOT / record.RECORD_PATH)
    assert rec["scale"] == "paper"


@pytest.mark.parametrize(("change", "message"), MALFORMED, ids=[m for _, m in MALFORMED])
def test_a_malformed_record_names_the_field(change, message, tmp_path):
    rec = _fake_record()
    change(rec)
    with pytest.raises(record.RecordError) as err:
        record.validate_record(rec)
    assert str(err.value) == message
    path = tmp_path / "rec.json"
    path.write_text(json.dumps(rec))
    with pytest.raises(record.RecordError, match=re.escape(f"is not a record: {message}.")):
        record.load_record(path)
    with pytest.raises(record.RecordError, match="expected an object, got"):
        record.validate_record([rec])


@pytest.mark.parametrize(("path", "value", "expected"), [
    (("entries", "toy_angles", "w_bt"), 5, "an object"),
    (("entries", "toy_angles", "w_bt", "final"), "abc", "a number or null"),
    (("entries", "toy_angles", "w_bt", "final"), [1, 2], "a number or null"),
    (("chapters", "toy", "experiments"), [1, 2], "an object"),
])
def test_cli_check_record_of_a_malformed_record_exits_2(path, value, expected, toy, tmp_path,
                                                         monkeypatch, capsys):
    """The issue's cases: one line on standard error and exit status 2, no traceback."""
    monkeypatch.setattr(catalogue, "CHAPTERS", ("toy",))
    monkeypatch.setattr(catalogue, "EXPERIMENTS_PACKAGE", "toy_record")
    file = tmp_path / "rec.json"
    assert reproduce.main(["--record", str(file)]) == 0
    rec = json.loads(file.read_text())
    _set(path, value)(rec)
    file.write_text(json.dumps(rec))
    capsys.readouterr()
    assert reproduce.main(["--check-record", str(file)]) == 2
    where = path[0] + "".join(f"[{json.dumps(k)}]" for k in path[1:])
    assert capsys.readouterr().err == (f"error: the record file {file} is not a record: "
                                       f"{where}: expected {expected}, got {json.dumps(value)}.\n")


def test_report_shows_the_recorded_paper_verdicts_beside_the_quick_ones(tmp_path):
    saved = {"a": {"chapter": "a", "scale": "quick", "claims": [
        {"statement": f"claim {i} <b>", "measured": "m", "criterion": "c", "holds": h}
        for i, h in enumerate([True, True, False])]}}
    fake = _fake_record()
    rep = report.build_report(saved, chapters=["a"], scale="quick", saved_at={}, paper=fake)
    column = "paper scale (recorded 0123456, 2026-11-30)"
    assert rep.paper_column == column
    table = rep.chapter_claims("a")
    assert list(table.columns) == ["claim", "measured", "criterion", "verdict", column]
    assert table[column].tolist() == [claims.REPRODUCED, claims.NOT_REPRODUCED, "\u2014"]
    html = report.style_claims(table).to_html()
    assert "0123456" in html  # both verdict columns coloured
    assert html.count(report._COLOURS[claims.NOT_REPRODUCED]) >= 2
    assert rep.paper_totals.to_dict("index") == {
        "a": {"checked": 2, "reproduced": 1, "not reproduced": 1,
              "recorded at": "0123456, 2026-11-30"},
        report.ALL: {"checked": 2, "reproduced": 1, "not reproduced": 1, "recorded at": ""}}

    # A chapter the record lacks, and one recorded in a later write of its own.
    fake2 = copy.deepcopy(fake)
    fake2["chapters"]["c"] = {"claims": [{"statement": "c0", "verdict": claims.REPRODUCED}],
                              "recorded": {"commit": "f" * 40, "date": "2026-12-01T09:00"}}
    saved2 = {**saved, "c": {"chapter": "c", "scale": "quick", "claims": [
        {"statement": "c0", "measured": "m", "criterion": "c", "holds": True}]}}
    rep2 = report.build_report(saved2, chapters=["a", "b", "c"], scale="quick",
                               saved_at={}, paper=fake2)
    totals = rep2.paper_totals
    assert totals["recorded at"].to_dict() == {
        "a": "0123456, 2026-11-30", "b": "not recorded", "c": "fffffff, 2026-12-01",
        report.ALL: "2 of 3 chapters"}
    assert totals.loc[report.ALL, ["checked", "reproduced"]].tolist() == [3, 2]
    assert totals.loc["b", ["checked", "reproduced", "not reproduced"]].isna().all()

    path = tmp_path / "record.json"
    path.write_text(json.dumps(fake))
    from_file = report.build_report(saved, chapters=["a"], scale="quick", saved_at={},
                                    paper=path)
    assert from_file.paper_column == column

    at_paper = report.build_report(saved, chapters=["a"], scale="paper", saved_at={},
                                   paper=fake)
    without = report.build_report(saved, chapters=["a"], scale="quick", saved_at={},
                                  paper=tmp_path / "none.json")
    for rep in (at_paper, without):
        assert rep.paper_column is None and rep.paper_totals is None
        assert list(rep.claims.columns) == ["chapter", "claim", "measured", "criterion",
                                            "verdict", "kind"]
    with pytest.raises(record.RecordError, match="results of the quick scale"):
        report.build_report(saved, chapters=["a"], scale="quick", saved_at={},
                            paper={**fake, "scale": "quick"})
    path.write_text(json.dumps({"format": record.FORMAT}))
    with pytest.raises(record.RecordError, match="not a record"):
        report.build_report(saved, chapters=["a"], scale="quick", saved_at={}, paper=path)


def test_unmatched_claims_names_each_difference_both_ways():
    fake = _fake_record()
    same = {"a": {"scale": "paper",
                  "claims": [{"statement": "claim 1 <b>"}, {"statement": "claim 0 <b>"}]},
            "not recorded": {"scale": "paper", "claims": [{"statement": "anything"}]}}
    assert record.unmatched_claims(fake, same) == []
    changed = {"a": {"scale": "paper",
                     "claims": [{"statement": "claim 0 <b>"}, {"statement": "claim 2"}]}}
    assert record.unmatched_claims(fake, changed) == [
        "a: registered but not in the record: 'claim 2'",
        "a: in the record but no longer registered: 'claim 1 <b>'"]
    # A quick build may leave out a claim that needs the paper's sizes; not one it adds.
    changed["a"]["scale"] = "quick"
    assert record.unmatched_claims(fake, changed) == [
        "a: registered but not in the record: 'claim 2'"]


def test_the_committed_record_holds_the_declared_kinds():
    """Every array of the committed record is declared by the module of every chapter that
    reads it (KINDS), is of that kind, and its numbers are rounded for it and in range."""
    rec = record.load_record(ROOT / record.RECORD_PATH)
    declared = catalogue.declared_kinds()
    ranges = {"angle": (0.0, 180.0), "accuracy": (0.0, 1.0), "other": (-np.inf, np.inf)}
    seen = 0
    for chapter, body in rec["chapters"].items():
        for entry in {name for names in body["experiments"].values() for name in names}:
            for array, numbers in rec["entries"][entry].items():
                where = f"{chapter} reads {entry}: {array}"
                kind = record.kind_of(array, declared[chapter], default=None)
                assert kind is not None, f"{where} is not declared in the module's KINDS"
                assert numbers["kind"] == kind, where
                low, high = ranges[kind]
                for value in [numbers["final"], numbers["mean"],
                              *numbers.get("final_per_run", [])]:
                    assert value is None or record._round(value, kind) == value, where
                    assert value is None or low <= value <= high, where
                seen += 1
    assert seen > 500  # every array of every entry the record holds


def test_every_registered_claim_has_an_entry_in_the_record():
    path = ROOT / record.RECORD_PATH
    if not path.is_file():
        pytest.skip(f"no committed paper-scale record ({record.RECORD_PATH}) yet; make it "
                    "with `python -m fa_lib reproduce --scale paper --record "
                    f"{record.RECORD_PATH}` after a paper-scale build.")
    rec = record.load_record(path)
    assert rec["scale"] == "paper"
    # Every chapter whose notebook registers claims has claims in the record, or the
    # record says that it does not hold that chapter yet (a record made chapter by chapter).
    not_yet = []
    for chapter in catalogue.CHAPTERS:
        if chapter in rec.get("missing_chapters", []):
            assert chapter not in rec["chapters"] and not rec["complete"]
            not_yet.append(chapter)
            continue
        assert rec["chapters"].get(chapter, {}).get("claims"), (
            f"the record has no claims of {chapter}; regenerate it")
    # Statements do not depend on the scale: claims saved at any scale are compared (the
    # paper-scale ones last, so that they are the ones compared when both are saved).
    saved = {name: body for name, body in {**claims.load_all("quick"),
                                           **claims.load_all("paper")}.items()
             if name in catalogue.CHAPTERS and name in rec["chapters"]}
    problems = record.unmatched_claims(rec, saved)
    assert not problems, "regenerate the record:\n" + "\n".join(problems)
    unchecked = [c for c in rec["chapters"] if c in catalogue.CHAPTERS and c not in saved]
    if not_yet or unchecked:
        pytest.skip(f"the record does not hold {not_yet or 'no chapter missing'} yet; "
                    f"no claims are saved in {cache.cache_dir()}/claims for "
                    f"{unchecked or 'none'} (the book's report page checks them in CI, "
                    "after the notebooks have run).")


def test_drop_chapters_takes_chapters_out_until_they_are_recorded_again():
    rec = record.load_record(ROOT / record.RECORD_PATH)
    kept = [c for c in rec["chapters"]]
    gone = record.drop_chapters(rec, kept[:1], known=kept)
    record.validate_record(gone)
    assert list(gone["chapters"]) == kept[1:]
    assert not gone["complete"] and gone["missing_chapters"] == kept[:1]
    read = {n for body in gone["chapters"].values() for ns in body["experiments"].values()
            for n in ns}
    assert set(gone["entries"]) == read and set(gone["entry_seconds"]) <= read
    assert all(body.get("recorded") for body in gone["chapters"].values())
    with pytest.raises(record.RecordError, match="holds no chapter"):
        record.drop_chapters(gone, kept[:1])
