"""A results release: the results cache packed per chapter, published, fetched and checked.

``python -m fa_lib results pack --scale S [--only CHAPTER ...] OUTDIR`` writes the cache
entries that the chosen chapters' experiments read (:func:`fa_lib.record.read_entries`)
as one compressed archive per chapter, ``<scale>-<chapter>.tar.xz`` (an entry that
several chapters read goes into the archive of the first of them, in the book's order;
an entry written before the cache stored float32-exact arrays as float32 is written into
the archive in that smaller layout, :func:`fa_lib.cache.stored_bytes`),
and ``OUTDIR/manifest.json`` (:func:`pack`): the scale, ``fa_lib.__version__``, the
commit, the base URL the archives are published at, and per archive its file name,
size, SHA-256, the chapters it serves and each entry's file name and code fingerprint.
The paper-scale manifest is committed as ``results/paper_manifest.json``.

``python -m fa_lib results fetch --scale S [--only CHAPTER ...] [--manifest PATH]
[--url BASE]`` downloads the archives that the chosen chapters need and that the cache
lacks (:func:`fetch`): with :mod:`pooch` (retries, a progress bar, the SHA-256 checked
before anything is unpacked), then every entry is checked as the cache checks an entry
computed elsewhere (:func:`fa_lib.cache.store_entry`: its CRCs, checksum, key and file
name, and a code fingerprint of this version of the book: an entry computed by other
code is refused). An archive is unpacked into a staging directory inside the cache and
its entries are moved into place only when all of them passed: a failure leaves the
cache as it was. The base URL is the manifest's, ``FA_RESULTS_URL`` when set, or
``--url``. Exit status 0 when every chosen chapter's results are in the cache, 1 when
some chapters were fetched and others not, 2 when nothing could be fetched (no manifest
for this scale, offline, a wrong hash, a damaged archive, an entry for other code).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fa_lib
from fa_lib import cache, catalogue, config, record, runner

__all__ = [
    "FORMAT",
    "MANIFEST_DIR",
    "URL_VARIABLE",
    "FetchReport",
    "ResultsError",
    "default_manifest",
    "fetch",
    "load_manifest",
    "main",
    "pack",
]

FORMAT = 1
"""The version of the manifest's layout."""

MANIFEST_DIR = record.PUBLISHED_DIR
"""Where the manifests of the published releases are committed (``<scale>_manifest.json``;
in an installed ``fa_lib``, their packaged copies)."""

URL_VARIABLE = "FA_RESULTS_URL"
"""The environment variable that overrides the manifest's base URL."""

_SUFFIX = ".tar.xz"
_READ_CHUNK = 2**20


class ResultsError(RuntimeError):
    """A results release cannot be packed, read or fetched; the message says what to do."""


def default_manifest(scale: str | None = None) -> Path:
    """The committed manifest of ``scale`` (default: the current scale)."""
    return MANIFEST_DIR / f"{config.scale() if scale is None else scale}_manifest.json"


# --------------------------------------------------------------------------- packing


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_READ_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry_code(path: Path) -> str:
    """The code fingerprint stored in an entry's metadata."""
    import numpy as np

    with np.load(path, allow_pickle=False) as npz:
        return str(json.loads(str(npz[cache.META_KEY][()]))["code"])


def _write_archive(target: Path, files: Sequence[Path]) -> None:
    """Write the entries ``files`` (flat, by name) into the xz-compressed tar ``target``.

    Atomically. Each entry is verified and written in the current layout
    (:func:`fa_lib.cache.stored_bytes`: an entry written before float32 storage gets its
    float32-exact float64 arrays stored as float32; same name, key and checksum).
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        with tarfile.open(tmp, "w:xz", preset=6) as tar:
            for path in files:
                data = cache.stored_bytes(path)
                info = tarfile.TarInfo(path.name)
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def pack(outdir: Path | str, chapters: Sequence[str] | None = None,
         base_url: str = "", modules: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Pack the results cache of the current scale: one archive per chapter and a manifest.

    Parameters
    ----------
    outdir : path
        Where the archives and ``manifest.json`` are written (created if missing).
    chapters : sequence of str, optional
        Default: every chapter with experiments, in the book's order.
    base_url : str
        The URL the archives will be published at (``<base_url>/<archive>``).
    modules : mapping of str to str, optional
        Chapter -> experiments module, as in :func:`fa_lib.catalogue.registry`.

    Returns
    -------
    dict
        The manifest, as written.

    Raises
    ------
    ResultsError
        If an experiment of a chosen chapter is not (all) in the results cache.
    """
    scale = config.scale()
    known = list(catalogue.CHAPTERS if modules is None else modules)
    chosen = catalogue.check_chapters(chapters, known)
    read, missing = record.read_entries(chosen, modules)
    if missing:
        raise ResultsError(
            f"{len(missing)} experiment(s) are not (all) in the results cache "
            f"{cache.cache_dir()} at the {scale} scale, e.g. {', '.join(missing[:3])}; run "
            f"`python -m fa_lib reproduce --scale {scale}` first.")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    home: dict[Path, str] = {}  # entry file -> the chapter whose archive holds it
    for chapter in chosen:
        for entries in read[chapter].values():
            for _, _, path in entries:
                home.setdefault(path, chapter)
    archives = []
    for chapter in chosen:
        files = sorted(p for p, ch in home.items() if ch == chapter)
        if not files:
            continue
        target = outdir / f"{scale}-{chapter}{_SUFFIX}"
        _write_archive(target, files)
        serves = [ch for ch in chosen
                  if any(home[p] == chapter for e in read[ch].values() for _, _, p in e)]
        archives.append({
            "file": target.name, "size": target.stat().st_size, "sha256": _sha256(target),
            "chapters": serves,
            "entries": [{"file": p.name, "code": _entry_code(p)} for p in files],
        })
    manifest = {
        "format": FORMAT, "scale": scale, "version": fa_lib.__version__,
        "commit": record._commit(), "base_url": base_url,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "chapters": chosen, "archives": archives,
    }
    cache.write_json(outdir / "manifest.json", manifest)
    return manifest


# --------------------------------------------------------------------------- the manifest


def _problem(manifest: Any) -> str:
    """What is wrong with a manifest's layout, or ``""``."""
    if not isinstance(manifest, dict):
        return "it is not a JSON object"
    if manifest.get("format") != FORMAT:
        return f"its format is {manifest.get('format')!r}, expected {FORMAT}"
    for key, kind in (("scale", str), ("version", str), ("base_url", str),
                      ("chapters", list), ("archives", list)):
        if not isinstance(manifest.get(key), kind):
            return f"{key!r} is missing or not a {kind.__name__}"
    for i, archive in enumerate(manifest["archives"]):
        where = f"archives[{i}]"
        if not isinstance(archive, dict):
            return f"{where} is not an object"
        for key, kind in (("file", str), ("size", int), ("sha256", str), ("chapters", list),
                          ("entries", list)):
            if not isinstance(archive.get(key), kind):
                return f"{where}[{key!r}] is missing or not a {kind.__name__}"
        if Path(archive["file"]).name != archive["file"] or \
                not archive["file"].endswith(_SUFFIX):
            return f"{where}['file'] is not a plain archive name: {archive['file']!r}"
        for j, entry in enumerate(archive["entries"]):
            if not (isinstance(entry, dict) and isinstance(entry.get("file"), str)
                    and isinstance(entry.get("code"), str)
                    and Path(entry["file"]).name == entry["file"]):
                return f"{where}['entries'][{j}] has no plain file name and code"
    return ""


def load_manifest(path: Path | str) -> dict[str, Any]:
    """Read and check a manifest.

    Parameters
    ----------
    path : path

    Returns
    -------
    dict

    Raises
    ------
    ResultsError
        If the file is missing, not JSON or not a manifest.
    """
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(
            f"no manifest {path}: no results of this scale are published for this version "
            "of the book; compute them with `python -m fa_lib reproduce`.") from None
    except (OSError, ValueError) as err:
        raise ResultsError(f"the manifest {path} cannot be read as JSON ({err}).") from None
    problem = _problem(manifest)
    if problem:
        raise ResultsError(f"the manifest {path} is not a results manifest: {problem}.")
    return manifest


# --------------------------------------------------------------------------- fetching


@dataclass
class FetchReport:
    """What :func:`fetch` did.

    Attributes
    ----------
    fetched : list of str
        The archives downloaded and unpacked into the cache.
    present : list of str
        The archives whose entries the cache held already.
    failed : dict of str to str
        Archive -> what went wrong (one line).
    chapters_ok, chapters_failed : list of str
        The chosen chapters whose archives are all in the cache now, and the others.
    """

    fetched: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    chapters_ok: list[str] = field(default_factory=list)
    chapters_failed: list[str] = field(default_factory=list)

    @property
    def status(self) -> int:
        """0: every chapter's results are there; 1: some; 2: none of the chapters failed ok."""
        if not self.chapters_failed:
            return 0
        return 1 if self.chapters_ok else 2


def _known_codes(modules: Mapping[str, str] | None, chapters: Iterable[str]) -> set[str]:
    """The code fingerprints of this version of the book, for the chosen chapters.

    An entry's fingerprint is that of the ``fa_lib`` module that computed it (or of the
    whole package, :func:`fa_lib.cache.fingerprint_of`): so the set of every ``fa_lib``
    module loaded once the chapters' experiments modules are imported, and the package's.
    """
    import importlib

    names = catalogue.module_names(modules)
    for chapter in chapters:
        importlib.import_module(names[chapter])
    codes = {cache.loaded_code_fingerprint()}
    for name in list(sys.modules):
        if name.startswith("fa_lib.") and getattr(sys.modules[name], "__file__", None):
            codes.add(cache.module_fingerprint(name))
    return codes


def _download(archive: Mapping[str, Any], base_url: str, folder: Path,
              progress: bool) -> Path:
    """Download one archive with pooch (retries; its SHA-256 checked); return the file."""
    import pooch
    import requests

    store = pooch.create(path=folder, base_url=base_url.rstrip("/") + "/",
                         registry={archive["file"]: f"sha256:{archive['sha256']}"},
                         retry_if_failed=2)
    try:
        return Path(store.fetch(archive["file"], progressbar=progress))
    except requests.exceptions.RequestException as err:
        raise ResultsError(f"download failed ({type(err).__name__}: "
                           f"{str(err).splitlines()[0] if str(err) else ''})") from None
    except ValueError as err:  # pooch: the hash does not match
        raise ResultsError(f"the download does not match the manifest's SHA-256 "
                           f"({str(err).splitlines()[0]})") from None
    finally:
        for part in folder.glob("tmp*"):  # pooch's temporaries of a failed download
            part.unlink(missing_ok=True)


def _unpack(path: Path, archive: Mapping[str, Any], directory: Path,
            codes: set[str]) -> int:
    """Check every entry of an archive, then move them all into the cache; return the count."""
    listed = {e["file"] for e in archive["entries"]}
    staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=directory))
    try:
        seen = []
        try:
            with tarfile.open(path, "r:xz") as tar:
                for member in tar:
                    if not member.isfile() or member.name not in listed:
                        raise ResultsError(f"it holds {member.name!r}, which its manifest "
                                           "does not list")
                    data = tar.extractfile(member).read()
                    cache.store_entry(member.name, data, staging, codes=codes)
                    seen.append(member.name)
        except (tarfile.TarError, EOFError, OSError, ValueError) as err:
            if isinstance(err, cache.EntryRejected):
                raise ResultsError(str(err)) from None
            raise ResultsError(f"it cannot be unpacked ({type(err).__name__}: {err})") from None
        if sorted(seen) != sorted(listed):
            raise ResultsError(f"it lacks {sorted(listed - set(seen))[:3]} of its manifest")
        for name in seen:
            os.replace(staging / name, directory / name)
        return len(seen)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fetch(chapters: Sequence[str] | None = None, manifest: Path | str | None = None,
          base_url: str | None = None, progress: bool = True,
          modules: Mapping[str, str] | None = None,
          log: Any = None) -> FetchReport:
    """Download the published results that the chosen chapters need into the cache.

    Parameters
    ----------
    chapters : sequence of str, optional
        Default: every chapter of the manifest.
    manifest : path, optional
        Default :func:`default_manifest` of the current scale.
    base_url : str, optional
        Default ``FA_RESULTS_URL`` when set, else the manifest's.
    progress : bool
        Show pooch's progress bar.
    modules : mapping of str to str, optional
        Chapter -> experiments module (tests); default the book's.
    log : file, optional
        Where the one-line messages go (default ``sys.stderr``).

    Returns
    -------
    FetchReport

    Raises
    ------
    ResultsError
        If the manifest is missing or malformed, of another scale, or the chapters are
        unknown to it: nothing was fetched.
    """
    log = sys.stderr if log is None else log
    path = default_manifest() if manifest is None else Path(manifest)
    info = load_manifest(path)
    if info["scale"] != config.scale():
        raise ResultsError(f"the manifest {path} is of the {info['scale']} scale, not "
                           f"{config.scale()}; fetch with --scale {info['scale']}.")
    chosen = list(info["chapters"]) if chapters is None else list(dict.fromkeys(chapters))
    unknown = [c for c in chosen if c not in info["chapters"]]
    if unknown:
        raise ResultsError(f"the manifest {path} has no results for {', '.join(unknown)}; "
                           f"it has: {', '.join(info['chapters'])}.")
    url = base_url or os.environ.get(URL_VARIABLE) or info["base_url"]
    directory = cache.cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    codes = _known_codes(modules, chosen)
    report = FetchReport()
    wanted = [a for a in info["archives"] if set(a["chapters"]) & set(chosen)]
    for archive in wanted:
        if all((directory / e["file"]).is_file() for e in archive["entries"]):
            report.present.append(archive["file"])
            continue
        foreign = [e["file"] for e in archive["entries"] if e["code"] not in codes]
        if foreign:  # a checkout ahead of the release: nothing to download for this code
            report.failed[archive["file"]] = (
                f"its entries were computed by other code than this checkout's ({len(foreign)} "
                f"of {len(archive['entries'])}, e.g. {foreign[0]}): the release of version "
                f"{info['version']} publishes results for its own code; compute them with "
                "`python -m fa_lib reproduce`")
            print(f"error: {archive['file']}: {report.failed[archive['file']]}", file=log)
            continue
        if not url:
            report.failed[archive["file"]] = "the manifest gives no URL; set FA_RESULTS_URL"
            continue
        folder = Path(tempfile.mkdtemp(prefix=".download-", dir=directory))
        try:
            downloaded = _download(archive, url, folder, progress)
            count = _unpack(downloaded, archive, directory, codes)
            report.fetched.append(archive["file"])
            print(f"fetched {archive['file']}: {count} entries", file=log)
        except ResultsError as err:
            report.failed[archive["file"]] = str(err)
            print(f"error: {archive['file']} from {url}: {err}", file=log)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    bad = {ch for a in wanted if a["file"] in report.failed for ch in a["chapters"]}
    report.chapters_failed = [c for c in chosen if c in bad]
    report.chapters_ok = [c for c in chosen if c not in bad]
    return report


# --------------------------------------------------------------------------- command line


def _parser(prog: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Pack the results cache as a release, or fetch a release.")
    sub = parser.add_subparsers(dest="action", required=True)
    for action, text in (("pack", "write the cache as per-chapter archives and a manifest"),
                         ("fetch", "download the published archives the cache lacks")):
        one = sub.add_parser(action, help=text)
        one.add_argument("--scale", choices=config.SCALES, default=None,
                         help="paper or quick (sets FA_SCALE); default: the current FA_SCALE")
        one.add_argument("--only", nargs="+", metavar="CHAPTER", default=None,
                         help="these chapters only")
        one.add_argument("--url", default=None, metavar="BASE",
                         help="the URL the archives are (to be) published at")
        one.add_argument("--no-progress", action="store_true", help="no progress bar")
        if action == "pack":
            one.add_argument("outdir", metavar="OUTDIR", help="where to write the release")
        else:
            one.add_argument("--manifest", default=None, metavar="PATH",
                             help="the manifest (default results/<scale>_manifest.json)")
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run ``python -m fa_lib results pack|fetch`` (the arguments after ``results``).

    ``argv`` and ``prog`` are as in :func:`fa_lib.reproduce.main`.

    Returns
    -------
    int
        ``pack``: 0, or 2 when the cache lacks results. ``fetch``: 0 when every chosen
        chapter's results are in the cache, 1 when some chapters were fetched and others
        not, 2 when none could be (each failure said in one line).
    """
    parser = _parser(prog)
    args = parser.parse_args(argv)
    try:
        catalogue.set_scale(args.scale)
        runner.check_cache_on()
    except ValueError as err:
        parser.error(str(err))
    try:
        if args.action == "pack":
            manifest = pack(args.outdir, args.only, base_url=args.url or "")
            size = sum(a["size"] for a in manifest["archives"])
            print(f"{len(manifest['archives'])} archive(s), {size / 2**20:,.1f} MiB, and "
                  f"manifest.json written to {args.outdir}")
            return 0
        report = fetch(args.only, args.manifest, args.url, progress=not args.no_progress)
    except (ResultsError, record.RecordError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(report.fetched)} archive(s) fetched, {len(report.present)} already in the "
          f"cache {cache.cache_dir()}; chapters ready: {', '.join(report.chapters_ok) or 'none'}"
          + (f"; not fetched: {', '.join(report.chapters_failed)}"
             if report.chapters_failed else ""))
    return report.status
