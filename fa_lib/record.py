"""The paper-scale record: every chapter's claims and headline numbers, in one small JSON file.

A paper-scale build takes hours, so its results are kept, in short, in the repository
(``results/paper_record.json``, :data:`RECORD_PATH`): every chapter's claims (statement,
measured value, criterion, verdict) and the headline numbers of every cache entry of the
book's experiments (final and mean value of each array: angles per condition,
accuracies per run, ...), with the commit, date, machine and compute time of the build.
The report page of a quick-scale build shows the recorded paper-scale verdict beside
each quick one (:func:`fa_lib.report.build_report`).

Made and checked with the ``reproduce`` command, which then computes nothing::

    python -m fa_lib reproduce --scale paper --record results/paper_record.json
    python -m fa_lib reproduce --scale paper --check-record results/paper_record.json

Chapter by chapter: a paper-scale build of the whole book takes longer than some
machines keep their results, so the record can also be made a few chapters at a time::

    python -m fa_lib reproduce --scale paper --only feedback_rules deep_networks \
        --record results/paper_record.json

writes those chapters into the record at that path (:func:`merge_records`), keeping the
chapters it already holds; each chapter carries the commit, date and machine it was
recorded at (``recorded``), and the record says whether it covers every chapter
(``complete``, ``missing_chapters``). ``--check-record`` with ``--only`` checks those
chapters only; without it, the whole record, so a record that is not complete fails it.

A record file is checked field by field when it is read (:func:`validate_record`): a
record of the wrong layout (a hand edit, a merge gone wrong) is an error that names the
first field that does not fit, e.g. ``entries["e"]["dw0"]["final"]: expected a number or
null, got "abc"``, never a difference (``--check-record`` exits with status 2, as for a
missing record).

Where the numbers come from: every experiment of :func:`fa_lib.catalogue.registry` is
called under a refusing cache observer (:func:`fa_lib.cache.observe` with
``refuse=True``), which reads the entries the notebooks read and computes nothing; the
observer lists the entries read. An entry is named by its cache name; when one name is
read with several configurations, the name is followed by a digest of the configuration
(never of the code: a change of code that leaves the numbers alone leaves the record
valid).

Headline numbers, generically (no code per chapter): for each numeric array of an entry,
``final`` is the NaN-aware mean of its last index along the first axis (the first axis
is the iteration or epoch in the book's results, so this is the final value averaged
over repetitions and layers), and ``mean`` the NaN-aware mean of the whole array; for an
accuracy array with repetitions (``epochs x R``), ``final_per_run`` lists the final
accuracy of each run. Arrays that are bookkeeping or bulk (:data:`SKIPPED`: times, label
codes, snapshots, traces) are left out.

Tolerances (:data:`TOLERANCES`, per kind of number): the same code on another machine
does not give the same bits (float32 BLAS kernels sum in another order, and training
amplifies the last bits over thousands of steps), so a check compares numbers within a
tolerance: angles (degrees) within 0.5 degree, accuracies (fractions) within 0.005 (half
a percentage point), other numbers within a relative 1e-3 (plus 1e-6 absolute, for
numbers near zero). The final accuracy of each single run (``final_per_run``) is compared
within 0.025 (``per_run_abs``): one network of a long run moves more than the mean of ten
(FA with eight hidden layers, 6,000 steps: up to 1.8 points per network between two
machines), while a collapse or a real change moves it by far more. Verdicts must be
identical. The kind of an array is declared by the
code that computes it, never guessed from its name: each experiments module's ``KINDS``
maps the names of the arrays of its cache entries to ``angle``, ``accuracy`` or
``other`` (:func:`fa_lib.catalogue.declared_kinds`, :func:`kind_of`; the MNIST chapters
use :data:`fa_lib.training.KINDS`); an array that is not declared is ``other``. The kinds
are stored in the record with the numbers, rounded for their kind (3 decimals for an
angle, 5 for an accuracy, 7 significant digits otherwise), and a check compares with the
kinds declared now. (Until the record's kinds came from these declarations, a regular
expression on the names made ``dw0``, ``dw1``, ``w0_limit``, ``w1_limit`` and the angles of
Fig. 2 ``other``: they were compared within a relative 1e-3, 0.02 degree at 20 degrees,
instead of 0.5 degree.)
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib
import importlib.util
import json
import math
import os
import platform
import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np

from fa_lib import cache, catalogue, claims, config, verdicts

__all__ = [
    "FORMAT",
    "PUBLISHED_DIR",
    "RECORD_PATH",
    "SKIPPED",
    "TOLERANCES",
    "RecordError",
    "build_record",
    "chapter_provenance",
    "check_record",
    "collect",
    "compare",
    "cpu_model",
    "describe",
    "drop_chapters",
    "headline",
    "kind_of",
    "load_record",
    "merge_records",
    "recorded_verdicts",
    "restrict",
    "validate_record",
    "write_record",
]

ROOT = cache.PACKAGE_DIR.parent
"""The repository root."""

PUBLISHED_DIR = (ROOT / "results" if (ROOT / "_toc.yml").is_file()
                 else cache.PACKAGE_DIR / "published")
"""Where the committed record and release manifests are: ``results/`` in a checkout; in an
installed ``fa_lib`` (a wheel, ``pip install git+...@vX.Y.Z``), the copy of ``results/``
packaged as ``fa_lib/published`` (``pyproject.toml``)."""

RECORD_PATH = Path("results") / "paper_record.json"
"""The committed paper-scale record, relative to the repository root."""

FORMAT = 1
"""The version of the record's layout."""

TOLERANCES: dict[str, dict[str, float]] = {
    "angle": {"abs": 0.5},
    "accuracy": {"abs": 0.005, "per_run_abs": 0.025},
    "other": {"rel": 1e-3, "abs": 1e-6},
}
"""How far a recorded number may be from the one measured now, per kind (see the module's
docstring): angles in degrees, accuracies as fractions, other numbers relative."""

_DIGITS = {"angle": 3, "accuracy": 5}
_SIGNIFICANT = 7  # other numbers: significant digits kept

SKIPPED = re.compile(r"^(seconds|codes.*|z_snapshot|trace_.*|final_[wb]\d+)$")
"""Names of arrays without headline numbers: compute times, label codes, snapshots of
activity, traces, final weights (the last part of a name ``case__array`` is matched)."""

_PER_RUN_MAX = 50


class RecordError(ValueError):
    """The record cannot be made or checked.

    Claims or cache entries are missing, or the record file is not a record.
    """


def kind_of(array_name: str, kinds: Mapping[str, str],
            default: str | None = "other") -> str | None:
    """Return the kind of an array's numbers, as the code that computes it declares.

    Parameters
    ----------
    array_name
        The name of the array in its cache entry; for ``case__array`` the last part counts.
    kinds
        The declaration: array name, or a pattern of names (:func:`fnmatch.fnmatchcase`,
        ``t*_aln``), to kind; an experiments module's ``KINDS``
        (:func:`fa_lib.catalogue.declared_kinds`). A name declared as it is wins over a
        pattern; among patterns, the first that matches.
    default
        The kind of an array that is not declared (None: say so).

    Returns
    -------
    str or None
        A key of :data:`TOLERANCES`, or ``default``.

    Raises
    ------
    RecordError
        If the declared kind is not a key of :data:`TOLERANCES`.

    Examples
    --------
    >>> kind_of("case1__dw0", {"dw0": "angle", "t*_aln": "angle"})
    'angle'
    >>> kind_of("t60_aln", {"dw0": "angle", "t*_aln": "angle"}), kind_of("loss", {})
    ('angle', 'other')
    """
    base = array_name.rsplit("__", 1)[-1]
    pattern = base if base in kinds else next((p for p in kinds if fnmatchcase(base, p)), None)
    if pattern is None:
        return default
    if kinds[pattern] not in TOLERANCES:
        raise RecordError(f"the kind {kinds[pattern]!r} declared for the arrays {pattern!r} is "
                          f"not one of {', '.join(TOLERANCES)}.")
    return kinds[pattern]


def _round(value: float, kind: str) -> float | None:
    if not math.isfinite(value):
        return None
    if kind in _DIGITS:
        return round(value, _DIGITS[kind])
    return float(f"{value:.{_SIGNIFICANT}g}")


def _nanmean(a: np.ndarray) -> float:
    a = a[~np.isnan(a)]
    return float(a.mean()) if a.size else math.nan


def headline(array_name: str, array: np.ndarray, kind: str = "other"
             ) -> dict[str, Any] | None:
    """Return the headline numbers of one array, or None when it has none.

    Parameters
    ----------
    array_name
        The array's name (whether it is skipped follows from it, :data:`SKIPPED`).
    array
        The array, as read from the cache.
    kind
        The kind of its numbers (:func:`kind_of`), a key of :data:`TOLERANCES`: it sets
        how they are rounded and whether the final accuracy of each run is kept.

    Returns
    -------
    dict or None
        ``kind``, ``final`` (NaN-aware mean of the last index along the first axis),
        ``mean`` (NaN-aware mean of everything) and, for an accuracy array of two or
        more axes, ``final_per_run`` (the last index along the first axis, averaged over
        any axes after the second); a number that is NaN everywhere is None. None for
        an array of :data:`SKIPPED`, an empty one or one that is not numeric.
    """
    base = array_name.rsplit("__", 1)[-1]
    a = np.asarray(array)
    if SKIPPED.fullmatch(base) or a.size == 0 or a.dtype.kind not in "biuf":
        return None
    a = a.astype(np.float64)
    last = a[-1] if a.ndim else a
    out: dict[str, Any] = {
        "kind": kind,
        "final": _round(_nanmean(np.atleast_1d(last)), kind),
        "mean": _round(_nanmean(a.ravel()), kind),
    }
    if kind == "accuracy" and a.ndim >= 2 and a.shape[1] <= _PER_RUN_MAX:
        per_run = last.reshape(last.shape[0], -1)
        out["final_per_run"] = [_round(_nanmean(row), kind) for row in per_run]
    return out


# --------------------------------------------------------------------------- collecting


def _config_digest(config_text: str) -> str:
    return hashlib.sha256(config_text.encode()).hexdigest()[:8]


def read_entries(chapters: Sequence[str], modules: Mapping[str, str] | None = None
                 ) -> tuple[dict[str, dict[str, list[tuple[str, str, Path]]]], list[str]]:
    """Call every experiment under a refusing observer, computing nothing.

    Parameters
    ----------
    chapters : sequence of str
    modules : mapping of str to str, optional
        Chapter -> experiments module, as in :func:`fa_lib.catalogue.registry`.

    Returns
    -------
    read : dict
        Chapter -> experiment label -> the entries it read: (name, configuration as
        canonical JSON, file), without repeats.
    missing : list of str
        ``"<chapter>: <label>"`` of every experiment with an entry not in the cache.
    """
    table = catalogue.registry(modules=modules)
    read: dict[str, dict[str, list[tuple[str, str, Path]]]] = {}
    missing = []
    for chapter in chapters:
        read[chapter] = {}
        for label, run in table[chapter]:
            try:
                with cache.observe(refuse=True) as observer:
                    run()
            except cache.ComputeRefused:
                missing.append(f"{chapter}: {label}")
                continue
            read[chapter][label] = list(dict.fromkeys(observer.read))
    return read, missing


def _claim_row(claim: claims.Claim) -> dict[str, Any]:
    return {"statement": claim.statement, "measured": claim.measured,
            "criterion": claim.criterion, "holds": claim.holds, "asserted": claim.asserted,
            "verdict": claim.verdict, "kind": claim.kind}


def _computed_claims(chapters: Sequence[str], scale: str,
                     verdict_modules: Mapping[str, str] | None = None
                     ) -> dict[str, list[dict[str, Any]]]:
    """Each chapter's claims, computed from the results cache (nothing is computed anew).

    The claims of a chapter are those of its verdicts module (``claims()``,
    :mod:`fa_lib.verdicts`), called under a refusing observer: the results it needs
    must all be cached. No build is needed.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for chapter in chapters:
        name = (verdict_modules or {}).get(chapter) or verdicts.module_name(chapter)
        if importlib.util.find_spec(name) is None:
            raise RecordError(f"chapter {chapter!r} has no verdicts module {name} (its "
                              "claims()); see fa_lib/verdicts/__init__.py.")
        module = importlib.import_module(name)
        try:
            with cache.observe(refuse=True):
                out[chapter] = [_claim_row(c) for c in module.claims()]
        except cache.ComputeRefused as refused:
            raise RecordError(
                f"the claims of chapter {chapter!r} need results that are not in the results "
                f"cache {cache.cache_dir()} at the {scale} scale (first missing: {refused}); "
                f"run `python -m fa_lib reproduce --scale {scale} --only {chapter}` first."
            ) from None
    return out


def collect(chapters: Sequence[str] | None = None,
            modules: Mapping[str, str] | None = None,
            verdict_modules: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Gather the claims and headline numbers of the current scale, computing nothing.

    Parameters
    ----------
    chapters
        The chapters whose claims and experiments are collected; default every chapter
        with an experiments module (:data:`fa_lib.catalogue.CHAPTERS`, or the keys of
        ``modules``). Chapters named here are collected alone: a record written
        chapter by chapter (:func:`merge_records`) keeps its other chapters as they were.
    modules
        Chapter -> experiments module, as in :func:`fa_lib.catalogue.registry`.
    verdict_modules
        Chapter -> the module whose ``claims()`` gives the chapter's claims; default
        ``fa_lib.verdicts.<chapter>`` (:mod:`fa_lib.verdicts`). The claims are computed
        from the results cache, with nothing computed anew: no build is needed.

    Returns
    -------
    dict
        ``scale``, ``compute_seconds`` (the sum of the ``seconds`` arrays of the entries
        that store their compute time, such as the MNIST training runs),
        ``entry_seconds`` (entry name -> that compute time, for those entries),
        ``chapters`` (chapter -> ``claims``: list of statement, measured, criterion,
        holds, asserted, verdict; ``experiments``: label -> entry names) and
        ``entries`` (entry name -> array name -> :func:`headline`, of the kind that the
        module of the first chapter that reads the entry declares, :func:`kind_of`).

    Raises
    ------
    RecordError
        If an experiment's entries or the results a chapter's claims need are not all in
        the results cache, or a module declares an unknown kind.
    """
    scale = config.scale()
    if not cache.cache_enabled():
        raise RecordError("FA_CACHE=off: the results cache is disabled, so there is nothing "
                          "to record or check.")
    known = list(catalogue.CHAPTERS if modules is None else modules)
    chosen = known if chapters is None else list(chapters)
    computed_claims = _computed_claims(chosen, scale, verdict_modules)
    read, missing = read_entries(chosen, modules)
    if missing:
        raise RecordError(
            f"{len(missing)} experiment(s) are not (all) in the results cache "
            f"{cache.cache_dir()} at the {scale} scale, e.g. {', '.join(missing[:3])}; "
            f"run `python -m fa_lib reproduce --scale {scale}` first."
        )
    configs: dict[str, set[str]] = {}
    for labels in read.values():
        for entries in labels.values():
            for name, text, _ in entries:
                configs.setdefault(name, set()).add(text)

    def entry_id(name: str, text: str) -> str:
        return name if len(configs[name]) == 1 else f"{name} [{_config_digest(text)}]"

    declared = catalogue.declared_kinds(modules)
    entries_out: dict[str, dict[str, Any]] = {}
    entry_seconds: dict[str, float] = {}
    for chapter, labels in read.items():
        for entries in labels.values():
            for name, text, path in entries:
                ident = entry_id(name, text)
                if ident in entries_out:
                    continue
                arrays = cache.read_entry(path)[0]  # float32-stored arrays widened
                if "seconds" in arrays:
                    entry_seconds[ident] = round(float(np.nansum(arrays["seconds"])), 1)
                numbers = {k: headline(k, arrays[k], kind_of(k, declared[chapter]))
                           for k in sorted(arrays)}
                entries_out[ident] = {k: v for k, v in numbers.items() if v is not None}
    chapters_out = {
        chapter: {
            "claims": computed_claims[chapter],
            "experiments": {label: [entry_id(n, t) for n, t, _ in entries]
                            for label, entries in read.get(chapter, {}).items()},
        }
        for chapter in computed_claims
    }
    return {"scale": scale, "compute_seconds": round(sum(entry_seconds.values()), 1),
            "entry_seconds": entry_seconds, "chapters": chapters_out, "entries": entries_out}


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def _dirty() -> bool | None:
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                             cwd=ROOT, capture_output=True, text=True, timeout=10,
                             check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip())


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo``, else what :mod:`platform` knows)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def build_record(chapters: Sequence[str] | None = None,
                 modules: Mapping[str, str] | None = None,
                 verdict_modules: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the record of the current scale: header, claims and headline numbers.

    Parameters
    ----------
    chapters, modules, verdict_modules
        As in :func:`collect`.

    Returns
    -------
    dict
        :func:`collect`'s content with a header: ``format``, ``commit`` (``git
        rev-parse HEAD``, or ``"unknown"``), ``uncommitted_changes`` (whether tracked
        files differed from the commit), ``date`` (UTC, ISO 8601), ``machine`` (CPU model,
        cores, platform), ``tolerances`` (:data:`TOLERANCES`), ``complete`` and
        ``missing_chapters`` (the chapters with an experiments module that the record
        does not hold); each chapter also gets ``recorded`` (its commit, uncommitted
        changes, date, machine and the compute seconds of those of its entries that
        store their compute time; ``None`` when none does).

    Raises
    ------
    RecordError
        As :func:`collect`.
    """
    body = collect(chapters, modules, verdict_modules)
    provenance = {
        "commit": _commit(),
        "uncommitted_changes": _dirty(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(),
                    "platform": platform.platform()},
    }
    for chapter in body["chapters"].values():
        chapter["recorded"] = {**provenance,
                               "compute_seconds": _seconds_of(chapter, body["entry_seconds"])}
    known = list(catalogue.CHAPTERS if modules is None else modules)
    return _with_header(body, provenance, known)


def _referenced(chapters: Mapping[str, Any]) -> list[str]:
    """The entry names the chapters' experiments read, in order, each once."""
    return list(dict.fromkeys(name for body in chapters.values()
                              for names in body.get("experiments", {}).values()
                              for name in names))


def _seconds_of(chapter: Mapping[str, Any], entry_seconds: Mapping[str, float]
                ) -> float | None:
    timed = [entry_seconds[n] for n in _referenced({"c": chapter}) if n in entry_seconds]
    return round(sum(timed), 1) if timed else None


def _with_header(body: Mapping[str, Any], provenance: Mapping[str, Any],
                 known: Sequence[str]) -> dict[str, Any]:
    missing = [c for c in known if c not in body["chapters"]]
    header = {
        "format": FORMAT,
        "scale": body["scale"],
        **provenance,
        "compute_seconds": round(sum(body["entry_seconds"].values()), 1),
        "tolerances": TOLERANCES,
        "complete": not missing,
        "missing_chapters": missing,
    }
    rest = {k: body[k] for k in ("entry_seconds", "chapters", "entries")}
    return {**header, **rest}


def merge_records(old: Mapping[str, Any], new: Mapping[str, Any],
                  known: Sequence[str] | None = None) -> dict[str, Any]:
    """Return the record ``old`` with the chapters of ``new`` written into it.

    Parameters
    ----------
    old, new
        Records of one scale (:func:`load_record`, :func:`build_record`). A chapter of
        ``old`` without its own ``recorded`` (a record made before chapters carried it)
        gets ``old``'s commit, date and machine.
    known
        Every chapter a complete record holds; default those with an experiments module
        (:data:`fa_lib.catalogue.CHAPTERS`).

    Returns
    -------
    dict
        ``new``'s chapters, and ``old``'s other chapters; the entries the chapters read
        (``new``'s where both have one; entries no chapter reads any more are dropped);
        the header of ``new`` (commit, date and machine of this write) with
        ``compute_seconds``, ``complete`` and ``missing_chapters`` recomputed.

    Raises
    ------
    RecordError
        If the two records are of different scales or formats.
    """
    if old.get("scale") != new.get("scale") or old.get("format") != new.get("format"):
        raise RecordError(
            f"cannot write chapters of the {new.get('scale')} scale (format "
            f"{new.get('format')}) into a record of the {old.get('scale')} scale (format "
            f"{old.get('format')}); write the record to another path.")
    known = list(catalogue.CHAPTERS if known is None else known)
    inherited = {k: old.get(k) for k in ("commit", "uncommitted_changes", "date", "machine")}
    chapters: dict[str, Any] = {}
    for name, body in old["chapters"].items():
        if name not in new["chapters"]:
            chapters[name] = {**body, "recorded": body.get("recorded") or
                              {**inherited, "compute_seconds": old.get("compute_seconds")}}
    chapters.update(new["chapters"])
    order = [c for c in known if c in chapters] + [c for c in chapters if c not in known]
    chapters = {c: chapters[c] for c in order}
    entries, seconds = {}, {}
    for name in _referenced(chapters):
        source = new if name in new["entries"] else old
        entries[name] = source["entries"][name]
        if name in source.get("entry_seconds", {}):
            seconds[name] = source["entry_seconds"][name]
    provenance = {k: new.get(k) for k in ("commit", "uncommitted_changes", "date", "machine")}
    body = {"scale": new["scale"], "entry_seconds": seconds, "chapters": chapters,
            "entries": entries}
    return _with_header(body, provenance, known)


def drop_chapters(record: Mapping[str, Any], names: Sequence[str],
                  known: Sequence[str] | None = None) -> dict[str, Any]:
    """Return the record without the chapters ``names``, until they are recorded again.

    A chapter whose claims changed (new claims, new statements) no longer matches its
    recorded claims; taking it out of the record says so (``complete`` false, the chapter
    in ``missing_chapters``) instead of keeping verdicts of another design. The other
    chapters keep their claims, entries and provenance (a chapter without its own
    ``recorded`` gets the record's).

    Raises
    ------
    RecordError
        If a chapter of ``names`` is not in the record.
    """
    absent = [n for n in names if n not in record["chapters"]]
    if absent:
        raise RecordError(f"the record holds no chapter {absent}; it holds "
                          f"{sorted(record['chapters'])}.")
    known = list(catalogue.CHAPTERS if known is None else known)
    inherited = {k: record.get(k) for k in ("commit", "uncommitted_changes", "date", "machine")}
    chapters = {n: {**body, "recorded": body.get("recorded") or
                    {**inherited, "compute_seconds": record.get("compute_seconds")}}
                for n, body in record["chapters"].items() if n not in names}
    kept = _referenced(chapters)
    seconds = record.get("entry_seconds", {})
    body = {"scale": record["scale"], "chapters": chapters,
            "entries": {n: record["entries"][n] for n in kept},
            "entry_seconds": {n: seconds[n] for n in kept if n in seconds}}
    return _with_header(body, inherited, known)


def write_record(record: Mapping[str, Any], path: Path | str) -> Path:
    """Write a record atomically as JSON (its directory is created); return the path.

    Temporary files that an earlier, killed write left in the directory are removed first
    (:func:`fa_lib.cache.remove_stale_temporaries`: only files of the cache's own naming).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cache.remove_stale_temporaries(path.parent)
    cache.write_json(path, record)
    return path


def load_record(path: Path | str) -> dict[str, Any]:
    """Read a record file.

    Parameters
    ----------
    path
        The JSON file written by :func:`write_record`.

    Returns
    -------
    dict

    Raises
    ------
    RecordError
        If the file is missing, not JSON, or not a record (:func:`validate_record`: the
        message names the first field that does not fit).
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"no record file {path}; make it with `python -m fa_lib reproduce "
                          "--scale paper --record PATH`.") from None
    except (OSError, ValueError) as err:
        raise RecordError(f"the record file {path} cannot be read as JSON ({err}).") from None
    try:
        validate_record(record)
    except RecordError as err:
        raise RecordError(f"the record file {path} is not a record: {err}.") from None
    return record


# --------------------------------------------------------------------------- the schema


def _show(value: Any, limit: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def _at(path: str, key: str | int) -> str:
    """The path of ``key`` (an index or a field) in the value at ``path`` (``""``: the record)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}[{json.dumps(key)}]" if path else key


def _wrong(path: str, problem: str) -> RecordError:
    return RecordError(f"{path}: {problem}" if path else problem)


@dataclass(frozen=True)
class _Leaf:
    """A value that ``test`` accepts (a number, a string, one of some values, ...)."""

    expected: str
    test: Callable[[Any], bool]

    def check(self, value: Any, path: str) -> None:
        if not self.test(value):
            raise _wrong(path, f"expected {self.expected}, got {_show(value)}")


@dataclass(frozen=True)
class _Nullable:
    """``null``, or a value of ``schema``."""

    schema: _Schema

    def check(self, value: Any, path: str) -> None:
        if value is not None:
            self.schema.check(value, path)


@dataclass(frozen=True)
class _ListOf:
    """A list whose items are of ``item``."""

    item: _Schema

    def check(self, value: Any, path: str) -> None:
        _LIST.check(value, path)
        for i, item in enumerate(value):
            self.item.check(item, _at(path, i))


@dataclass(frozen=True)
class _MapOf:
    """An object of any field names (chapters, entries, arrays), with values of ``item``."""

    item: _Schema

    def check(self, value: Any, path: str) -> None:
        _DICT.check(value, path)
        for key, item in value.items():
            self.item.check(item, _at(path, key))


@dataclass(frozen=True)
class _Object:
    """An object with these fields, checked in this order; other fields are let through."""

    required: Mapping[str, _Schema]
    optional: Mapping[str, _Schema] = field(default_factory=dict)

    def check(self, value: Any, path: str) -> None:
        _DICT.check(value, path)
        for key, schema in self.required.items():
            if key not in value:
                raise _wrong(_at(path, key), "missing")
            schema.check(value[key], _at(path, key))
        for key, schema in self.optional.items():
            if key in value:
                schema.check(value[key], _at(path, key))


_Schema = _Leaf | _Nullable | _ListOf | _MapOf | _Object


def _one_of(*values: Any) -> _Leaf:
    shown = [_show(v) for v in values]
    return _Leaf(shown[0] if len(values) == 1 else f"one of {', '.join(shown)}",
                 lambda v: any(v == x and type(v) is type(x) for x in values))


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


_LIST = _Leaf("a list", lambda v: isinstance(v, list))
_DICT = _Leaf("an object", lambda v: isinstance(v, dict))
_TEXT = _Leaf("a string", lambda v: isinstance(v, str))
_BOOL = _Leaf("true or false", lambda v: isinstance(v, bool))
_NUMBER = _Leaf("a number", _is_number)
_NUMBER_OR_NULL = _Leaf("a number or null", lambda v: v is None or _is_number(v))
_PROVENANCE = {
    "commit": _TEXT,
    "uncommitted_changes": _Leaf("true, false or null", lambda v: v is None or isinstance(v, bool)),
    "date": _TEXT,
    "machine": _Object({
        "cpu": _TEXT,
        "cores": _Leaf("a whole number or null",
                       lambda v: v is None or isinstance(v, int) and not isinstance(v, bool)),
        "platform": _TEXT,
    }),
}
_CLAIM = _Object({"statement": _TEXT, "measured": _TEXT, "criterion": _TEXT, "holds": _BOOL,
                  "asserted": _BOOL, "verdict": _one_of(*claims.VERDICTS)},
                 optional={"kind": _one_of(*claims.KINDS)})
_HEADLINE = _Object({"kind": _one_of(*TOLERANCES), "final": _NUMBER_OR_NULL,
                     "mean": _NUMBER_OR_NULL},
                    optional={"final_per_run": _ListOf(_NUMBER_OR_NULL)})
_CHAPTER = _Object(
    {"claims": _ListOf(_CLAIM), "experiments": _MapOf(_ListOf(_TEXT))},
    optional={"recorded": _Nullable(_Object({**_PROVENANCE,
                                             "compute_seconds": _NUMBER_OR_NULL}))},
)
# The layout of a record of FORMAT 1 (see validate_record).
_SCHEMA = _Object({
    "format": _one_of(FORMAT),
    "scale": _one_of(*config.SCALES),
    **_PROVENANCE,
    "compute_seconds": _NUMBER,
    "tolerances": _MapOf(_MapOf(_NUMBER)),
    "complete": _BOOL,
    "missing_chapters": _ListOf(_TEXT),
    "entry_seconds": _MapOf(_NUMBER),
    "chapters": _MapOf(_CHAPTER),
    "entries": _MapOf(_MapOf(_HEADLINE)),
})


def validate_record(record: Any) -> None:
    """Check that ``record`` has the layout of a record, field by field.

    Every field that the comparison, the merge and the report read is checked against
    the layout that :func:`build_record` writes: the header (format, scale, commit, date,
    machine, compute time, tolerances, completeness), every chapter's claims (texts,
    true/false, a known verdict), experiments (label -> names of entries that the record
    holds) and provenance, and every entry's headline numbers (a known kind; finite
    numbers or null). A chapter's ``recorded`` may be missing (a record written in one go
    before chapters carried it); fields not named here are let through.

    Parameters
    ----------
    record
        The record, as read from its JSON file.

    Raises
    ------
    RecordError
        At the first field that does not fit, with its path and what was expected,
        e.g. ``entries["e"]["dw0"]["final"]: expected a number or null, got "abc"``.
    """
    _SCHEMA.check(record, "")
    for chapter, body in record["chapters"].items():
        for label, names in body["experiments"].items():
            for i, name in enumerate(names):
                if name not in record["entries"]:
                    path = _at(_at(_at(_at("chapters", chapter), "experiments"), label), i)
                    raise _wrong(path, f"the entry {_show(name)} is not in entries")


# --------------------------------------------------------------------------- comparing


def _close(recorded: Any, now: Any, kind: str, per_run: bool = False) -> bool:
    if recorded is None or now is None:
        return recorded is None and now is None
    tol = TOLERANCES.get(kind, TOLERANCES["other"])
    scale = max(abs(recorded), abs(now))
    absolute = tol.get("per_run_abs", tol.get("abs", 0.0)) if per_run else tol.get("abs", 0.0)
    return abs(recorded - now) <= absolute + tol.get("rel", 0.0) * scale


def _on_both_sides(recorded: Mapping[str, Any], now: Mapping[str, Any], what: str, done: str,
                   out: list[str]) -> list[str]:
    """The keys of both mappings, recorded first; one-sided keys are said in ``out``."""
    for key in recorded:
        if key not in now:
            out.append(f"{what} {key}: in the record, not {done} now")
    for key in now:
        if key not in recorded:
            out.append(f"{what} {key}: {done} now, not in the record")
    return [key for key in recorded if key in now]


def compare(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Return the differences between a record and the numbers measured now.

    Parameters
    ----------
    recorded
        A record (:func:`load_record`).
    now
        What :func:`collect` returns for the current cache and claims.

    Returns
    -------
    list of str
        One line per difference, empty when they agree: another scale, chapters or
        claims (matched by chapter and statement) missing on either side, a verdict
        that differs, entries or arrays missing on either side, a number outside its
        tolerance (:data:`TOLERANCES`).
    """
    out: list[str] = []
    if recorded.get("scale") != now["scale"]:
        out.append(f"scale: recorded {recorded.get('scale')}, now {now['scale']}")
    rec_ch, now_ch = recorded["chapters"], now["chapters"]
    for chapter in _on_both_sides(rec_ch, now_ch, "chapter", "measured", out):
        rec = {c["statement"]: c for c in rec_ch[chapter]["claims"]}
        cur = {c["statement"]: c for c in now_ch[chapter]["claims"]}
        for statement in [*rec, *(s for s in cur if s not in rec)]:
            if statement not in cur:
                out.append(f"{chapter}: claim in the record, not registered now: {statement}")
            elif statement not in rec:
                out.append(f"{chapter}: claim registered now, not in the record: {statement}")
            elif rec[statement]["verdict"] != cur[statement]["verdict"]:
                out.append(f"{chapter}: verdict recorded {rec[statement]['verdict']!r}, now "
                           f"{cur[statement]['verdict']!r} (measured now: "
                           f"{cur[statement]['measured']}): {statement}")
    rec_en, now_en = recorded["entries"], now["entries"]
    for entry in _on_both_sides(rec_en, now_en, "entry", "read", out):
        a, b = rec_en[entry], now_en[entry]
        for array in [*a, *(x for x in b if x not in a)]:
            if array not in b or array not in a:
                where = "in the record only" if array not in b else "now only"
                out.append(f"entry {entry}: array {array} {where}")
                continue
            kind = b[array].get("kind", "other")
            for stat in ("final", "mean"):
                x, y = a[array].get(stat), b[array].get(stat)
                if not _close(x, y, kind):
                    out.append(f"entry {entry}: {array} {stat} recorded {x}, now {y} "
                               f"({kind}, tolerance {TOLERANCES[kind]})")
            xs, ys = a[array].get("final_per_run"), b[array].get("final_per_run")
            if xs is not None or ys is not None:
                if xs is None or ys is None or len(xs) != len(ys):
                    out.append(f"entry {entry}: {array} final_per_run recorded {xs}, now {ys}")
                else:
                    bad = [i for i, (x, y) in enumerate(zip(xs, ys, strict=True))
                           if not _close(x, y, kind, per_run=True)]
                    if bad:
                        out.append(f"entry {entry}: {array} final_per_run differs in run(s) "
                                   f"{bad}: recorded {[xs[i] for i in bad]}, now "
                                   f"{[ys[i] for i in bad]} ({kind}, tolerance "
                                   f"{TOLERANCES[kind]})")
    return out


def restrict(record: Mapping[str, Any], chapters: Sequence[str]) -> dict[str, Any]:
    """Return ``record`` with only ``chapters`` and the entries they read.

    A chapter the record does not hold is left out.
    """
    kept = {c: record["chapters"][c] for c in chapters if c in record["chapters"]}
    names = set(_referenced(kept))
    return {**record, "chapters": kept,
            "entries": {k: v for k, v in record["entries"].items() if k in names}}


def check_record(record: Mapping[str, Any], chapters: Sequence[str] | None = None,
                 modules: Mapping[str, str] | None = None,
                 verdict_modules: Mapping[str, str] | None = None) -> list[str]:
    """Compare the current cache and claims (at the current scale) with a record.

    Parameters
    ----------
    record
        The record (:func:`load_record`).
    chapters, modules, verdict_modules
        As in :func:`collect`. With ``chapters``, only they are compared: the record's
        other chapters, and entries only they read, are left out on both sides.

    Returns
    -------
    list of str
        The differences (:func:`compare`); empty when the cache reproduces the record.

    Raises
    ------
    RecordError
        As :func:`collect`.
    """
    now = collect(chapters, modules, verdict_modules)
    if chapters is None:
        return compare(record, now)
    return compare(restrict(record, chapters), restrict(now, chapters))


def recorded_verdicts(record: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """Return (chapter, statement) -> recorded verdict, for every claim of a record."""
    return {(chapter, c["statement"]): c["verdict"]
            for chapter, body in record["chapters"].items() for c in body["claims"]}


def unmatched_claims(record: Mapping[str, Any], saved: Mapping[str, Mapping[str, Any]]
                     ) -> list[str]:
    """Compare the claims chapters registered with those the record holds.

    Claim statements do not depend on the scale, so claims saved by a build at any
    scale (:func:`fa_lib.claims.load_all`) can be compared with a paper-scale record: a
    registered claim must be in the record. A chapter may register a claim only at the
    paper scale (the flexibility chapter's gamma-sensitivity claim needs at least three
    gammas, which the quick Fig. S3 grid lacks), so a claim of the record that is no
    longer registered counts only for claims saved at the record's scale.

    Parameters
    ----------
    record
        A paper-scale record (:func:`load_record`).
    saved
        Chapter name to its saved claims (``{"scale": ..., "claims": [{"statement":
        ...}, ...]}``). Chapters the record does not hold are left out of the comparison.

    Returns
    -------
    list of str
        One line per difference: a claim registered but not in the record, or (for
        claims saved at the record's scale) a claim of the record that its chapter no
        longer registers; empty when they agree.
    """
    recorded = recorded_verdicts(record)
    problems = []
    for chapter in sorted(set(saved) & set(record["chapters"])):
        statements = {(chapter, c["statement"]) for c in saved[chapter]["claims"]}
        in_record = {k for k in recorded if k[0] == chapter}
        problems += [f"{chapter}: registered but not in the record: {s!r}"
                     for _, s in sorted(statements - in_record)]
        if saved[chapter].get("scale") == record["scale"]:
            problems += [f"{chapter}: in the record but no longer registered: {s!r}"
                         for _, s in sorted(in_record - statements)]
    return problems


def chapter_provenance(record: Mapping[str, Any], chapter: str) -> str:
    """Return ``"<commit[:7]>, <date>"`` of the write that recorded ``chapter``.

    A chapter without its own ``recorded`` (a record made in one write) has the
    record's commit and date.
    """
    body = record["chapters"][chapter]
    own = body.get("recorded")
    return _short(own if isinstance(own, Mapping) else record)


def _short(provenance: Mapping[str, Any]) -> str:
    commit = str(provenance.get("commit", "unknown"))
    commit = commit[:7] if re.fullmatch(r"[0-9a-f]{7,40}", commit) else commit
    return f"{commit}, {str(provenance.get('date', '?'))[:10]}"


def describe(record: Mapping[str, Any]) -> str:
    """Return how the report labels a record: ``"<commit[:7]>, <date>"``.

    For a record whose chapters were recorded at different commits or dates
    (:func:`merge_records`): ``"per chapter, <first date> to <last date>"`` (or
    ``"per chapter, <date>"`` when they share the date); and
    ``"; not complete"`` is added when the record does not hold every chapter.
    """
    times = {_short(body["recorded"]) for body in record["chapters"].values()
             if isinstance(body.get("recorded"), dict)}
    if len(times) > 1:
        dates = sorted(str(body["recorded"].get("date", "?"))[:10]
                       for body in record["chapters"].values()
                       if isinstance(body.get("recorded"), dict))
        span = dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
        text = f"per chapter, {span}"
    else:
        text = _short(record)
    return text if record.get("complete", True) else f"{text}; not complete"

