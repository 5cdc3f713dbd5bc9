"""The on-disk results cache: an experiment's arrays, keyed by its config and the code.

A chapter asks an experiment for results; the experiment calls :func:`cached`
with a name, its configuration and a function that computes the results. The
results are stored as one ``.npz`` file per entry, whose name holds the first
characters of a SHA-256 key over

- the entry's name,
- the configuration, as canonical JSON (sorted keys; NumPy scalars and arrays
  turned into numbers and lists; tuples into lists), and
- a fingerprint of the code that produced it: the SHA-256 over the code (the
  parsed source without docstrings, comments, layout and the declarations of
  :data:`DECLARATIONS`, the kinds of numbers a module computes: :func:`code_text`) of
  the ``fa_lib`` module that defines ``compute`` and of every ``fa_lib`` module
  it uses, directly or through others (:func:`module_fingerprint`; the
  presentation modules ``plotting``, ``claims`` and ``report`` and the
  bookkeeping modules ``cache`` and ``config`` are left out). A ``compute``
  defined outside ``fa_lib`` (a notebook cell, a test) is keyed by every
  ``.py`` file of the package,

so that changing either the configuration or a line of the code that computed
the results computes them again, while editing one chapter's module leaves the
other chapters' results valid. The fingerprint is taken once per process, when this module
is imported (:func:`loaded_code_fingerprint`), i.e. of the code the process
loaded: a Jupyter kernel that keeps running while ``fa_lib`` is edited keeps
filing its results under the old code's fingerprint, so they are never served
to a process that runs the new code. Restart the kernel to use edited code.

Nothing is pickled: arrays are written as :func:`numpy.savez` writes them (with fixed
member times, so that equal results give equal bytes) and read with
``allow_pickle=False``, and the metadata (the key, the configuration, the list
of arrays, and ``backend``: where the engine computed them, ``numpy`` or e.g.
``torch:cuda``, :mod:`fa_lib.backend`; the key does not depend on it) is a JSON string
stored in the same file as the 0-d unicode array ``__meta__``.

A float64 array whose every value float32 holds exactly (bit for bit after the round
trip: NaN payloads and the sign of zero included) is stored as float32, and the metadata
lists it under ``"widen"``; reading the entry widens it back, so a caller gets the float64
array that was computed, bit-identical (:func:`read_entry`). Much of what the experiments
compute is float32 widened to float64, so this shrinks the cache losslessly (by 30 % on
two quick-scale chapters); the xz archives of a release (:mod:`fa_lib.results`) shrink
much less (3 %), as xz already compresses the zero bytes of widened float32 values. The
layout version and the keys are unchanged: an entry written before (no ``"widen"``
field) reads as it always did.

Entries are written to a temporary file in the cache directory (named
``.<entry>.<host>-<pid>.<random>.tmp``, so that the process writing it is known) and
moved into place with :func:`os.replace`, which is atomic: a reader never sees a
partial entry, and when two processes fill the same entry at once both finish and the
last rename wins. A new entry gets the permissions of the process umask (0644 under
umask 022). The metadata holds a SHA-256 over every array's name, dtype, shape and
bytes (:func:`content_checksum`), verified on every read. It is taken over the arrays as
computed, i.e. over the float64 arrays, not their float32 storage: it is verified after
the arrays listed under ``"widen"`` are widened, so the same rule holds for entries
written before and after float32 storage (a checksum never depends on how an entry is
stored), and a reader that does not widen (the code of an older version of the book)
finds that the float32 arrays do not match the checksum and refuses the entry rather
than return float32 arrays. An entry that was read and
found damaged (truncated, not an ``.npz``, a member failing its CRC, metadata that does
not match, or a checksum that does not match its arrays) is reported once, in words (a
line on the ``fa_lib.cache`` logger, not a warning with a source line), deleted and
recomputed; an error that says nothing about the file's content (for
example a :class:`PermissionError` on opening it) is raised and the file is left alone.
Temporary files left by a killed writer are removed by :func:`remove_stale_temporaries`
(``python -m fa_lib reproduce`` calls it at the start of a run).

A caller can watch what :func:`cached` does (:func:`observe`): every entry looked up,
computed, found damaged or not written is counted in an :class:`Observer`, and an
observer made with ``refuse=True`` makes :func:`cached` raise :class:`ComputeRefused`
instead of computing and leave damaged entries in place (read-only checks such as
``reproduce --list``). The observer is a context variable: it changes no key.

Environment variables:

``FA_CACHE_DIR``
    The cache directory, when :func:`cached` is not given one. The default is
    ``_cache/`` in the repository root (the parent of the ``fa_lib`` package).
``FA_CACHE``
    ``off`` disables the cache (every call computes); ``on`` or unset enables it.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import hashlib
import importlib
import inspect
import io
import json
import logging
import os
import re
import socket
import sys
import tempfile
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fa_lib import backend, config

__all__ = [
    "DECLARATIONS",
    "ComputeRefused",
    "EntryRejected",
    "Observer",
    "cache_dir",
    "cache_enabled",
    "cache_key",
    "cached",
    "canonical_json",
    "code_fingerprint",
    "code_text",
    "content_checksum",
    "observe",
    "read_entry",
    "remove_stale_temporaries",
    "store_entry",
    "stored_bytes",
    "loaded_code_fingerprint",
    "module_dependencies",
    "module_fingerprint",
    "fingerprint_of",
    "write_json",
]

PACKAGE_DIR = Path(__file__).resolve().parent
"""The directory of the ``fa_lib`` package, whose ``.py`` files make the code fingerprint."""

META_KEY = "__meta__"
"""Name of the 0-d unicode array that holds an entry's JSON metadata."""

FORMAT_VERSION = 1
"""Version of the entry layout; part of the key, so a new layout never reads an old file."""

_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# Keys that cannot be passed to np.savez as keyword arguments, or that the cache uses itself.
_RESERVED_KEYS = frozenset({META_KEY, "file", "args", "kwds", "allow_pickle"})
# What parsing the bytes of a damaged or foreign .npz file can raise.
_READ_ERRORS = (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile, zlib.error)
_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"
# A temporary file of an entry or JSON record, as _temporary names it (nothing else is ever
# removed as a temporary): .<name>.<host>-<pid>.<random>.tmp
_TEMP_PATTERN = re.compile(r"\.[A-Za-z0-9][A-Za-z0-9_.-]*\.(?P<host>[A-Za-z0-9_]+)"
                           r"-(?P<pid>[0-9]+)\.[A-Za-z0-9_]+\.tmp")
_LOG = logging.getLogger("fa_lib.cache")
_REPORTED: set[tuple] = set()  # damaged files reported already (see _report)
STALE_TEMP_SECONDS = 24 * 3600.0
"""Age after which a temporary file of the cache's own naming is removed, whoever wrote it."""


class ComputeRefused(BaseException):  # noqa: N818 - a signal to the caller, not an error
    """Raised by :func:`cached` instead of computing, under an observer with ``refuse=True``.

    A :class:`BaseException`, so that no ``except Exception`` in an experiment swallows it.
    """


class _Damaged(Exception):
    """An entry was read and its content found damaged (the file may be deleted)."""


class Observer:
    """What :func:`cached` did while this observer was set (see :func:`observe`).

    Attributes
    ----------
    refuse : bool
        When True, :func:`cached` raises :class:`ComputeRefused` instead of computing,
        and leaves a damaged entry in place (it only reports it).
    quiet : bool
        When True, a damaged entry is only counted in :attr:`damaged`, not reported
        (for a check whose caller goes on to compute, and so to report, it).
    entries : int
        Calls of :func:`cached` (one per cache entry asked for).
    computed : int
        How many of them computed their results (no valid entry was found).
    damaged : list of str
        The damaged entries found (path and cause).
    write_errors : list of str
        The entries that were computed but could not be written (path and cause).
    read : list of (str, str, pathlib.Path)
        The entries read from the cache, in the order asked for: name, configuration
        (its canonical JSON, :func:`canonical_json`) and file.
    refused : str or None
        With ``refuse``: the file name of the entry :func:`cached` refused to compute
        (``name-key.npz``, in the cache directory), once it has; None before, and with
        ``FA_CACHE=off``.
    """

    def __init__(self, refuse: bool = False, quiet: bool = False) -> None:
        self.refuse = refuse
        self.quiet = quiet
        self.entries = 0
        self.computed = 0
        self.damaged: list[str] = []
        self.write_errors: list[str] = []
        self.read: list[tuple[str, str, Path]] = []
        self.refused: str | None = None

    def __repr__(self) -> str:
        return (f"Observer(refuse={self.refuse}, entries={self.entries}, "
                f"computed={self.computed}, damaged={self.damaged}, "
                f"write_errors={self.write_errors})")

    @property
    def cached_before(self) -> str:
        """``"yes"`` (nothing computed), ``"no"`` (everything computed) or ``"partial"``."""
        if self.computed == 0:
            return "yes"
        return "no" if self.computed == self.entries else "partial"


_OBSERVER: contextvars.ContextVar[Observer | None] = contextvars.ContextVar(
    "fa_lib_cache_observer", default=None
)


@contextlib.contextmanager
def observe(refuse: bool = False, quiet: bool = False) -> Iterator[Observer]:
    """Watch the calls of :func:`cached` made in this context.

    Parameters
    ----------
    refuse : bool
        When True, compute nothing: :func:`cached` raises :class:`ComputeRefused` where
        it would compute, and does not delete a damaged entry.
    quiet : bool
        With ``refuse``: count a damaged entry (:attr:`Observer.damaged`) without
        reporting it.

    Yields
    ------
    Observer
        Filled by every :func:`cached` call until the context ends.
    """
    with config.bound(_OBSERVER, Observer(refuse=refuse, quiet=quiet)) as observer:
        yield observer


def cache_enabled() -> bool:
    """Return whether the cache is on, as set by the environment variable ``FA_CACHE``.

    Returns
    -------
    bool
        False when ``FA_CACHE=off``; True when it is ``on``, empty or unset.

    Raises
    ------
    ValueError
        If ``FA_CACHE`` holds anything other than ``on`` or ``off``.
    """
    value = os.environ.get("FA_CACHE", "").strip().lower() or "on"
    if value not in ("on", "off"):
        raise ValueError(f"FA_CACHE={value!r} is not understood; expected 'on' or 'off'.")
    return value == "on"


def cache_dir(directory: Path | str | None = None) -> Path:
    """Return the cache directory (without creating it).

    Parameters
    ----------
    directory
        An explicit directory. When None, the environment variable
        ``FA_CACHE_DIR`` is used if set, else ``_cache/`` in the repository
        root (the parent directory of the ``fa_lib`` package).

    Returns
    -------
    pathlib.Path
        The absolute path of the cache directory.
    """
    if directory is None:
        env = os.environ.get("FA_CACHE_DIR", "").strip()
        directory = Path(env).expanduser() if env else PACKAGE_DIR.parent / "_cache"
    return Path(directory).expanduser().resolve()


_cache_dir = cache_dir  # cached() has a parameter of the same name


def _to_jsonable(value: Any, where: str) -> Any:
    """Return ``value`` as plain JSON types, raising ValueError for anything else."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.generic):
        return _to_jsonable(value.item(), where)
    if isinstance(value, int | float):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise ValueError(f"config{where} is an object array; use numbers or strings.")
        return _to_jsonable(value.tolist(), where)
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"config{where} has a key {k!r} that is not a str.")
            out[k] = _to_jsonable(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, list | tuple):
        return [_to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise ValueError(
        f"config{where} has type {type(value).__name__}, which the cache cannot key on; "
        "use numbers, strings, bools, None, lists, tuples, dicts or NumPy arrays."
    )


def canonical_json(config: Mapping[str, Any]) -> str:
    """Return the canonical JSON text of a configuration.

    Parameters
    ----------
    config
        A mapping with str keys whose values are numbers, strings, bools, None,
        lists, tuples, mappings, :class:`pathlib.Path` objects, NumPy scalars or
        NumPy arrays (nested freely).

    Returns
    -------
    str
        Compact JSON with sorted keys; tuples and arrays become lists and NumPy
        scalars Python numbers, so equal configurations give equal text.

    Raises
    ------
    ValueError
        If ``config`` is not a mapping or holds a value of another type.
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be a mapping; got {type(config).__name__}.")
    return json.dumps(
        _to_jsonable(config, ""), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )


def code_fingerprint(package_dir: Path | None = None) -> str:
    """Return the SHA-256 over the ``.py`` files of the ``fa_lib`` package.

    Parameters
    ----------
    package_dir
        The package directory; the default is the directory of this module.

    Returns
    -------
    str
        Hex digest over the relative path and the bytes of every ``.py`` file
        below ``package_dir`` (subpackages included), in sorted order of paths.
    """
    root = PACKAGE_DIR if package_dir is None else Path(package_dir)
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    for path in files:
        rel = path.relative_to(root).as_posix().encode()
        body = path.read_bytes()
        for part in (rel, body):
            digest.update(len(part).to_bytes(8, "little"))
            digest.update(part)
    return digest.hexdigest()


_LOADED_FINGERPRINT = code_fingerprint()


def loaded_code_fingerprint() -> str:
    """Return the code fingerprint taken when this module was imported.

    Returns
    -------
    str
        :func:`code_fingerprint` of the ``fa_lib`` package as it was on disk at
        import time, the code this process runs (edits made later are not
        loaded, so they must not change the key of the results it computes).
    """
    return _LOADED_FINGERPRINT



DECLARATIONS = frozenset({"KINDS"})
"""Module-level names whose assignments (and the docstring that follows) are left out of
the code (:func:`code_text`): ``KINDS``, the kind of the numbers of each array a module
computes, tells :mod:`fa_lib.record` how to compare them and changes no result, so
declaring or correcting it keeps the results cache."""


def _is_text(node: ast.stmt) -> bool:
    """Whether ``node`` is a bare string (a docstring)."""
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def _declaration(node: ast.stmt) -> bool:
    """Whether ``node`` assigns one of :data:`DECLARATIONS` (alone)."""
    targets = node.targets if isinstance(node, ast.Assign) else \
        [node.target] if isinstance(node, ast.AnnAssign) else []
    return bool(targets) and all(isinstance(t, ast.Name) and t.id in DECLARATIONS
                                 for t in targets)


def code_text(source: str) -> str:
    """Return the code of a Python source without its docstrings, comments and layout.

    Parameters
    ----------
    source
        The text of a module.

    Returns
    -------
    str
        :func:`ast.dump` of the parsed module after the docstrings of the module, its
        classes and functions are removed: two sources that differ only in
        docstrings, comments, blank lines or formatting give the same text. The
        module-level assignments of :data:`DECLARATIONS`, and their docstrings, are
        removed too.
    """
    tree = ast.parse(source)
    body = tree.body
    tree.body = [node for i, node in enumerate(body) if not _declaration(node)
                 and not (i and _declaration(body[i - 1]) and _is_text(node))]
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                and body and _is_text(body[0])):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


_NOT_CODE = frozenset(
    {"fa_lib", "fa_lib.cache", "fa_lib.config", "fa_lib.plotting", "fa_lib.claims", "fa_lib.report",
     "fa_lib.book", "fa_lib.tables", "fa_lib.record"}
)
_MODULE_FINGERPRINTS: dict[str, str] = {}


def module_dependencies(module_name: str) -> list[str]:
    """Return the ``fa_lib`` modules that ``module_name`` uses, itself included, sorted.

    A module uses another when one of its globals is that module, or is a function,
    class or object defined in it; the relation is followed transitively. The
    bookkeeping and presentation modules (``cache``, ``config``, ``plotting``,
    ``claims``, ``report``, ``book``, ``tables``, ``record``) are not counted: they do not change
    computed results.
    """
    seen: set[str] = set()
    todo = [module_name]
    while todo:
        name = todo.pop()
        if name in seen or name in _NOT_CODE or not name.startswith("fa_lib"):
            continue
        module = sys.modules.get(name) or importlib.import_module(name)
        seen.add(name)
        for value in vars(module).values():
            if inspect.ismodule(value):
                todo.append(value.__name__)
            else:
                owner = getattr(value, "__module__", None)
                if isinstance(owner, str):
                    todo.append(owner)
    return sorted(seen)


def module_fingerprint(module_name: str) -> str:
    """Return the SHA-256 over the code of the modules of :func:`module_dependencies`.

    Each module counts by its :func:`code_text`, so editing a docstring, a comment
    or the layout keeps the results; editing a statement recomputes them. Taken once
    per process, at the first use of a module, so that a process keeps filing its
    results under the code it loaded.
    """
    if module_name not in _MODULE_FINGERPRINTS:
        digest = hashlib.sha256()
        for name in module_dependencies(module_name):
            path = Path(sys.modules[name].__file__)
            for part in (name.encode(), code_text(path.read_text(encoding="utf-8")).encode()):
                digest.update(len(part).to_bytes(8, "little"))
                digest.update(part)
        _MODULE_FINGERPRINTS[module_name] = digest.hexdigest()
    return _MODULE_FINGERPRINTS[module_name]


def fingerprint_of(compute: Callable[..., Any]) -> str:
    """Return the code fingerprint for the results of ``compute``.

    :func:`module_fingerprint` of the ``fa_lib`` module that defines ``compute``
    (a function, lambda or :func:`functools.partial` of one); for code defined
    elsewhere, :func:`loaded_code_fingerprint` (the whole package).
    """
    func = getattr(compute, "func", compute)
    owner = getattr(func, "__module__", None)
    if isinstance(owner, str) and owner.startswith("fa_lib.") and owner not in _NOT_CODE:
        return module_fingerprint(owner)
    return loaded_code_fingerprint()


def _check_name(name: str) -> str:
    """Return ``name``, raising ValueError unless it is safe inside a file name."""
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"cache entry name {name!r} must be a non-empty str of letters, digits, '_', '.' "
            "or '-' that starts with a letter or digit."
        )
    return name


def cache_key(name: str, config: Mapping[str, Any], *, fingerprint: str | None = None) -> str:
    """Return the SHA-256 key of an entry.

    Parameters
    ----------
    name
        The entry's name (letters, digits, ``_``, ``.``, ``-``).
    config
        The configuration (see :func:`canonical_json`).
    fingerprint
        The code fingerprint; the default is :func:`loaded_code_fingerprint`.

    Returns
    -------
    str
        The hex digest over the name, the canonical JSON of ``config``, the
        code fingerprint and the entry layout version.
    """
    _check_name(name)
    code = loaded_code_fingerprint() if fingerprint is None else fingerprint
    payload = json.dumps(
        {"name": name, "config": canonical_json(config), "code": code, "format": FORMAT_VERSION},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _check_results(results: Any) -> dict[str, np.ndarray]:
    """Return ``results`` as a dict of arrays, raising ValueError if it is not one."""
    if not isinstance(results, Mapping):
        raise ValueError(
            f"compute() must return a mapping of str -> numpy array; got {type(results).__name__}."
        )
    out: dict[str, np.ndarray] = {}
    for key, value in results.items():
        if not isinstance(key, str) or not key:
            raise ValueError(
                f"compute() returned a result key {key!r}; keys must be non-empty str."
            )
        if key in _RESERVED_KEYS:
            raise ValueError(
                f"compute() returned the reserved result key {key!r}; "
                f"rename it (reserved: {sorted(_RESERVED_KEYS)})."
            )
        try:
            array = np.asarray(value)
        except ValueError as err:  # ragged sequences
            raise ValueError(f"result {key!r} cannot be made into an array: {err}") from None
        if array.dtype.hasobject:
            raise ValueError(
                f"result {key!r} has dtype {array.dtype} (Python objects); the cache stores only "
                "numeric, bool and string arrays, without pickle."
            )
        out[key] = array
    return out


def content_checksum(arrays: Mapping[str, np.ndarray]) -> str:
    """Return the SHA-256 over the names, dtypes, shapes and bytes of ``arrays``.

    Parameters
    ----------
    arrays
        The results of an entry (str -> array), without the metadata.

    Returns
    -------
    str
        Hex digest over every array, in sorted order of names: its name, its dtype
        (:attr:`numpy.dtype.str`, byte order included), its shape and its bytes in C order.
    """
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.asarray(arrays[name])
        parts = (name.encode(), array.dtype.str.encode(), repr(array.shape).encode(),
                 array.tobytes(order="C"))
        for part in parts:
            digest.update(len(part).to_bytes(8, "little"))
            digest.update(part)
    return digest.hexdigest()


def _narrow(results: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays as stored, and the sorted names of those stored as float32 (to widen).

    A float64 array (native byte order) is stored as float32 when widening the float32
    copy gives back the same bits: every value, NaN payloads, infinities, the sign of zero
    and subnormals included. Any other array is stored as it is.
    """
    stored: dict[str, np.ndarray] = {}
    widen: list[str] = []
    for name, value in results.items():
        array = np.asarray(value)
        if array.dtype == np.dtype(np.float64):
            with np.errstate(over="ignore", invalid="ignore"):  # not exact: kept as it is
                narrow = array.astype(np.float32)
            if np.array_equal(narrow.astype(np.float64).view(np.uint64),
                              array.view(np.uint64)):
                stored[name] = narrow
                widen.append(name)
                continue
        stored[name] = array
    return stored, sorted(widen)


def _widen(arrays: dict[str, np.ndarray], widen: Any) -> None:
    """Widen, in ``arrays``, the float32 arrays that an entry's metadata lists under ``widen``.

    Raises :class:`_Damaged` when ``widen`` is not a list of distinct names of float32
    arrays of the entry.
    """
    if not isinstance(widen, list) or not all(isinstance(n, str) for n in widen):
        raise _Damaged("its metadata's 'widen' is not a list of array names")
    if len(set(widen)) != len(widen):
        raise _Damaged("its metadata's 'widen' lists an array twice")
    for name in widen:
        if name not in arrays:
            raise _Damaged(f"its metadata lists {name!r} to widen, an array it does not hold")
        dtype = arrays[name].dtype
        if dtype.kind != "f" or dtype.itemsize != 4:
            raise _Damaged(f"its metadata lists {name!r} to widen, but it is stored as "
                           f"{dtype}, not float32")
        # Widened in the byte order it was stored in (the writer's native float64).
        arrays[name] = arrays[name].astype(np.dtype(np.float64).newbyteorder(dtype.byteorder))


_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _savez(fh: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` into ``fh`` as :func:`numpy.savez` does, at a fixed member time.

    The same uncompressed ``.npz`` layout (one ``<name>.npy`` member per array, zip64, no
    pickle), but every member dated 1980-01-01 rather than now: the same arrays and
    metadata give the same bytes, so an entry re-encoded for a release
    (:func:`stored_bytes`) packs into the same archive every time.
    """
    with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED,
                         allowZip64=True) as zf:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def _stored_form(results: Mapping[str, np.ndarray],
                 meta: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The members of an entry's ``.npz``: its arrays as stored, and the metadata array.

    ``meta`` gets the ``"widen"`` list of the float64 arrays stored as float32.
    """
    stored, widen = _narrow(results)
    stored[META_KEY] = np.array(json.dumps({**meta, "widen": widen}, sort_keys=True))
    return stored


def read_entry(path: Path | str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and verify a results cache entry, whatever its key: its arrays and metadata.

    For a tool that reads entries by file (comparing two caches, a record of the results)
    rather than by name and configuration (:func:`cached`). The arrays are returned as
    computed: those stored as float32 are widened back to float64.

    Parameters
    ----------
    path : path
        The entry's ``.npz`` file.

    Returns
    -------
    arrays : dict of str to numpy.ndarray
        The entry's results, without the metadata.
    meta : dict
        Its metadata (name, key, configuration, code fingerprint, ...).

    Raises
    ------
    EntryRejected
        If the file is not a valid entry (damaged, or its arrays do not match its checksum).
    OSError
        If it cannot be read.
    """
    data = Path(path).read_bytes()
    try:
        return _parse(data, None)
    except _Damaged as err:
        raise EntryRejected(f"results cache entry {path} is damaged: {err}") from None


def stored_bytes(path: Path | str) -> bytes:
    """Return an entry's bytes with every float32-exact float64 array stored as float32.

    An entry written before float32 storage (its metadata has no ``"widen"`` list) is
    verified and written anew in the current layout (same key, metadata and checksum,
    smaller arrays; the same bytes every time); any other entry is returned as it is on
    disk, verified.

    Parameters
    ----------
    path : path
        The entry's ``.npz`` file.

    Returns
    -------
    bytes
        The content of an ``.npz`` entry that :func:`store_entry` accepts as it accepts
        the original.

    Raises
    ------
    EntryRejected
        If the file is not a valid entry.
    OSError
        If it cannot be read.
    """
    data = Path(path).read_bytes()
    try:
        arrays, meta = _parse(data, None)
    except _Damaged as err:
        raise EntryRejected(f"results cache entry {path} is damaged: {err}") from None
    if "widen" in meta:
        return data
    buffer = io.BytesIO()
    _savez(buffer, _stored_form(arrays, meta))
    return buffer.getvalue()


def _read(path: Path, key: str) -> dict[str, np.ndarray]:
    """Read and verify the entry at ``path``.

    An error while reading the file (e.g. :class:`PermissionError`) propagates as it is;
    a file whose content is not a valid entry raises :class:`_Damaged`.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    return _parse(data, key)[0]


def _parse(data: bytes, key: str | None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Parse and verify the bytes of an entry: (arrays, metadata).

    ``key=None`` accepts the key the metadata holds. A content that is not a valid entry
    raises :class:`_Damaged`.
    """
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            if META_KEY not in npz.files:
                raise ValueError(f"no {META_KEY} array")
            meta = json.loads(str(npz[META_KEY][()]))
            if not isinstance(meta, dict) or (key is not None and meta.get("key") != key):
                raise ValueError("its key does not match")
            names = meta.get("arrays")
            stored = sorted(f for f in npz.files if f != META_KEY)
            if not isinstance(names, list) or sorted(names) != stored:
                raise ValueError(f"it holds arrays {stored}, its metadata lists {names}")
            # Reading every member checks its CRC, so a damaged member raises here.
            arrays = {name: npz[name] for name in names}
    except _READ_ERRORS as err:
        raise _Damaged(f"{type(err).__name__}: {err}") from err
    _widen(arrays, meta.get("widen", []))
    # Entries written before the checksum was added have none; their CRCs were checked.
    # The checksum is over the arrays as computed: verified after widening.
    if "sha256" in meta and meta["sha256"] != content_checksum(arrays):
        raise _Damaged("its arrays do not match the checksum in its metadata")
    return arrays, meta


def _umask_mode() -> int:
    """Return the permissions a new file gets under the process umask (0o644 under 022)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _temporary(path: Path) -> tuple[int, str]:
    """Open a temporary file next to ``path``, named after it, this host and this process."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_HOST}-{os.getpid()}.", suffix=".tmp",
                               dir=path.parent)
    try:
        os.fchmod(fd, _umask_mode())  # mkstemp makes it 0600
    except OSError:
        pass
    return fd, tmp


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: the process exists
        return True
    return True


def remove_stale_temporaries(
    directory: Path | str | None = None, max_age: float = STALE_TEMP_SECONDS
) -> list[Path]:
    """Remove the temporary files that killed writers of this package left in a directory.

    Only files named as this module names its temporaries
    (``.<name>.<host>-<pid>.<random>.tmp``, see :func:`cached` and :func:`write_json`)
    are ever considered; any other file, ``.tmp`` or not, is left alone, whatever its
    age, so a directory shared with other programs loses nothing of theirs. Such a file
    is removed when its writer, named in it, is a process of this host that no longer
    exists, or when it is older than ``max_age`` seconds (a writer of another host).

    Parameters
    ----------
    directory
        The directory (default :func:`cache_dir`). Missing: nothing to do.
    max_age
        Seconds since the last modification after which a temporary file is stale.

    Returns
    -------
    list of pathlib.Path
        The files removed (a file that cannot be removed is skipped).
    """
    directory = _cache_dir(directory)
    removed: list[Path] = []
    try:
        candidates = [(p, m) for p in directory.iterdir()
                      if (m := _TEMP_PATTERN.fullmatch(p.name)) is not None]
    except OSError:
        return removed
    now = time.time()
    for path, match in candidates:
        try:
            if not path.is_file() or path.is_symlink():
                continue
            stale = now - path.stat().st_mtime > max_age
            if not stale and match["host"] == _HOST:
                stale = not _pid_alive(int(match["pid"]))
            if stale:
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed


def write_json(path: Path | str, record: Any) -> None:
    """Write ``record`` as JSON to ``path`` atomically (temporary file, fsync, os.replace).

    Parameters
    ----------
    path
        The file; its directory must exist.
    record
        JSON-serialisable. If it is not, nothing is written and no file is left behind.
    """
    text = json.dumps(record, indent=1) + "\n"
    _atomic_write(Path(path), lambda fh: fh.write(text.encode("utf-8")))


class EntryRejected(ValueError):  # noqa: N818 - named after what happened to the entry
    """An entry failed its checks.

    One computed elsewhere (e.g. on a cluster worker, :func:`store_entry`), or one read by
    file (:func:`read_entry`, :func:`stored_bytes`).
    """


def store_entry(file_name: str, data: bytes, directory: Path | str | None = None,
                codes: Collection[str] | None = None) -> Path:
    """Check an entry computed elsewhere and write it atomically into the cache.

    The entry's bytes (an ``.npz`` file as :func:`cached` writes it, e.g. returned by a
    cluster worker that computed it in a cache of its own) must be a complete, valid
    entry: every member passes its CRC, its metadata is complete, its key is the SHA-256
    of its name, configuration, code fingerprint and layout version (:func:`cache_key`),
    its file name is ``<name>-<key[:20]>.npz``, the arrays its metadata lists under
    ``"widen"`` (if any: entries written before float32 storage list none) are float32,
    and its arrays, widened, match the SHA-256 of its metadata (:func:`content_checksum`).
    It is then written as it is (float32 arrays included) like every entry: to a
    temporary file in ``directory``, flushed to disk, and renamed into place (an entry
    already there is replaced).

    Parameters
    ----------
    file_name : str
        The entry's file name, ``<name>-<key[:20]>.npz``.
    data : bytes
        The file's content.
    directory : path, optional
        The cache directory (default :func:`cache_dir`); created when missing.
    codes : collection of str, optional
        The code fingerprints the entry may have (those of the code that reads it here,
        e.g. a fetched results release); an entry computed by other code is rejected.
        Default: any.

    Returns
    -------
    pathlib.Path
        The path of the entry written.

    Raises
    ------
    EntryRejected
        If the entry fails a check; nothing is written.
    OSError
        If it cannot be written; no temporary file is left behind.
    """
    try:
        arrays, meta = _parse(bytes(data), None)
        name, key = meta.get("name"), meta.get("key")
        if not isinstance(name, str) or not isinstance(key, str):
            raise _Damaged("its metadata has no name or key")
        _check_name(name)
        if "sha256" not in meta or "code" not in meta or not isinstance(meta.get("config"),
                                                                       dict):
            raise _Damaged("its metadata has no checksum, code fingerprint or configuration")
        expected = cache_key(name, meta["config"], fingerprint=meta["code"])
        if key != expected or meta.get("format") != FORMAT_VERSION:
            raise _Damaged("its key is not that of its name, configuration and code")
        if file_name != f"{name}-{key[:20]}.npz":
            raise _Damaged(f"it should be named {name}-{key[:20]}.npz")
        if codes is not None and meta["code"] not in codes:
            raise _Damaged(f"it was computed by other code (fingerprint {meta['code'][:12]}) "
                           "than this version of the book")
    except (_Damaged, ValueError, TypeError) as err:
        raise EntryRejected(f"entry {file_name!r} rejected: {err}") from None
    directory = _cache_dir(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / file_name
    _atomic_write(path, lambda fh: fh.write(data))
    return path


def _atomic_write(path: Path, write: Callable[[Any], object]) -> None:
    """``write(fh)`` into a temporary file in ``path``'s directory, fsync, then os.replace.

    On any failure the temporary file is removed and ``path`` is left as it was.
    """
    fd, tmp = _temporary(path.with_name(path.stem))
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write(path: Path, results: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Write an entry atomically: a temporary file in the same directory, then os.replace.

    Float64 arrays that float32 holds exactly are stored as float32 (:func:`_narrow`).
    """
    arrays = _stored_form(results, meta)
    _atomic_write(path, lambda fh: _savez(fh, arrays))


def cached(
    name: str,
    config: Mapping[str, Any],
    compute: Callable[[], Mapping[str, np.ndarray]],
    *,
    cache_dir: Path | None = None,
    fingerprint: str | None = None,
) -> dict[str, np.ndarray]:
    """Return the results of ``compute()``, from the cache when an entry exists.

    Parameters
    ----------
    name
        The entry's name, used in the file name (letters, digits, ``_``, ``.``, ``-``),
        for example the experiment and panel: ``"fig3_openloop"``.
    config
        Everything the results depend on besides the code (sizes, seeds,
        learning rates, ...); see :func:`canonical_json` for the allowed types.
    compute
        Called without arguments when there is no valid entry; must return a
        mapping of str to arrays (numbers are converted with :func:`numpy.asarray`).
    cache_dir
        The cache directory; the default is ``FA_CACHE_DIR`` or ``<repo>/_cache``
        (see :func:`fa_lib.cache.cache_dir`). It is created when missing.
    fingerprint
        The code fingerprint that keys the entry; the default is
        :func:`fingerprint_of` ``(compute)``. Give it only to file results that were
        computed elsewhere under the key of the code that computes them (for example
        ``module_fingerprint("fa_lib.training")`` for a checked training run).

    Returns
    -------
    dict of str to numpy.ndarray
        The results, read back from the entry or as computed.

    Raises
    ------
    ValueError
        If ``name`` or ``config`` is not valid, or ``compute()`` returns
        something other than a mapping of str to non-object arrays.

    OSError
        When an existing entry cannot be read for a reason that says nothing about its
        content (e.g. :class:`PermissionError`); the file is left in place.
    ComputeRefused
        Instead of computing, under an observer with ``refuse=True`` (:func:`observe`).

    Warns
    -----
    RuntimeWarning
        When an existing entry is damaged or does not match (it is deleted and
        the results are recomputed), or when the entry cannot be written (the
        computed results are still returned, and an observer counts the failed write).

    Notes
    -----
    With ``FA_CACHE=off`` the cache is neither read nor written. Two processes
    that miss the same entry at the same time both compute and both write; each
    writes its own temporary file and renames it into place, so the entry is
    always complete.
    """
    _check_name(name)
    config_text = canonical_json(config)
    observer = _OBSERVER.get()
    if observer is not None:
        observer.entries += 1
    if not cache_enabled():
        _note_compute(observer, name)
        return _check_results(compute())

    if fingerprint is None:
        fingerprint = fingerprint_of(compute)
    key = cache_key(name, config, fingerprint=fingerprint)
    directory = _cache_dir(cache_dir)
    path = directory / f"{name}-{key[:20]}.npz"

    if path.exists():
        try:
            arrays = _read(path, key)
            if observer is not None:
                observer.read.append((name, config_text, path))
            return arrays
        except FileNotFoundError:
            pass  # removed since exists(): compute it
        except _Damaged as err:
            if observer is not None:
                observer.damaged.append(f"{path}: {err}")
                if observer.refuse:
                    observer.refused = path.name
                if observer.refuse and observer.quiet:
                    raise ComputeRefused(name) from None
                if observer.refuse:
                    _report(path, f"The results cache entry {path} is damaged or does not match "
                            f"its key ({err}); it is left in place (a read-only check deletes "
                            "nothing).")
                    raise ComputeRefused(name) from None
            said = (f"The results cache entry {path.name} was damaged or did not match its "
                    f"key ({err})")
            _report(path, f"{said}; it is deleted and computed again.")
            try:
                path.unlink(missing_ok=True)
            except OSError as unlink_err:
                _LOG.warning(f"{said} and could not be deleted ({unlink_err}).")

    if observer is not None and observer.refuse:
        observer.refused = path.name
    _note_compute(observer, name)
    with backend.track() as used:
        results = _check_results(compute())
    meta = {
        "name": name,
        "key": key,
        "config": json.loads(config_text),
        "code": fingerprint,
        "format": FORMAT_VERSION,
        "arrays": sorted(results),
        "sha256": content_checksum(results),
        "numpy": np.__version__,
        # where the engine computed (FA_DEVICE); not part of the key
        "backend": ",".join(sorted(used)) or "numpy",
    }
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write(path, results, meta)
    except OSError as err:
        if observer is not None:
            observer.write_errors.append(f"{path}: {type(err).__name__}: {err}")
        warnings.warn(
            f"could not write results cache entry {path} ({err}); the results are not cached.",
            RuntimeWarning,
            stacklevel=2,
        )
    return results


def _report(path: Path, message: str) -> None:
    """Say ``message`` about the damaged file ``path`` once, in words, on a logger.

    The ``fa_lib.cache`` logger: with no logging configured (a notebook, the command
    line) Python prints the message alone on standard error, with no source line and no
    warning class. The same message about the same file, unchanged, is said once per
    process.
    """
    try:
        status = path.stat()
        seen = (message, status.st_ino, status.st_size, status.st_mtime_ns)
    except OSError:
        seen = (message,)
    if seen not in _REPORTED:
        _REPORTED.add(seen)
        _LOG.warning(message)


def _note_compute(observer: Observer | None, name: str) -> None:
    """Count a computation in ``observer``, or refuse it (:class:`ComputeRefused`)."""
    if observer is None:
        return
    if observer.refuse:
        raise ComputeRefused(name)
    observer.computed += 1
