"""The ways readers run the book: the README's commands, CI workflows, Binder and Colab.

- The GitHub workflows (``.github/workflows/*.yml``) are valid YAML with the structure
  GitHub Actions expects; the test workflow runs the README's install and test commands
  (found in the README's fenced code blocks) with the README's environment, and the book
  workflow runs its build command at paper scale and publishes ``_build/html``; only its
  deploy job may write (``pages``, ``id-token``), the test workflow only reads, and every
  action is pinned to a full commit SHA with its tag in a comment.
- ``runtime.txt`` (Binder, repo2docker) pins a Python version that ``pyproject.toml``
  allows and that the workflows use; the ``start`` script sets no ``FA_SCALE`` (the
  chapters' set-up cells choose it, :mod:`fa_lib.chapter_setup`).
- Every notebook of the book is committed without outputs, uses the ``python3`` kernel
  and starts with the same Colab cell of at most 8 lines, which installs ``fa_lib`` at a
  pinned release (tag ``v<fa_lib.__version__>``, never a branch) from the repository
  named in ``_config.yml`` when it is not importable, uses a checkout that is not
  installed, and does nothing in an installed checkout; the report page is executed on
  every build.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from fa_lib import catalogue

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
README = ROOT / "README.md"
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


# ---------------------------------------------------------------------------- helpers


def split_command(line: str) -> tuple[dict[str, str], list[str]]:
    """Split a shell command line into its leading ``NAME=value`` assignments and its words."""
    words = shlex.split(line, comments=True)
    env = {}
    while words and ENV_ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return env, words


def readme_commands() -> dict[str, tuple[dict[str, str], list[str]]]:
    """The README's install, build and test commands, from its fenced shell code blocks."""
    text = README.read_text()
    blocks = re.findall(r"^```(?:bash|sh|shell|console)\s*\n(.*?)^```", text, re.M | re.S)
    found: dict[str, tuple[dict[str, str], list[str]]] = {}
    for block in blocks:
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if not line or line.startswith("#"):
                continue
            env, words = split_command(line)
            if words[:2] == ["pip", "install"] or words[:4] == ["python", "-m", "pip", "install"]:
                kind = "install"
            elif words[:2] == ["jupyter-book", "build"]:
                kind = "build"
            elif words[:1] == ["pytest"] or words[:3] == ["python", "-m", "pytest"]:
                kind = "test"
            else:
                continue
            found.setdefault(kind, (env, words))
    return found


def load_workflow(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name} is not a YAML mapping"
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def workflow(name: str) -> dict:
    path = WORKFLOWS / f"{name}.yml"
    assert path.is_file(), f"missing workflow {path.relative_to(ROOT)}"
    return load_workflow(path)


def run_steps(wf: dict) -> list[tuple[str, int, dict[str, str], list[str], dict]]:
    """Every command line of every ``run`` step: (job, step index, env, words, step)."""
    out = []
    for job_name, job in wf["jobs"].items():
        for i, step in enumerate(job.get("steps", [])):
            for line in str(step.get("run", "")).splitlines():
                if line.strip() and not line.strip().startswith("#"):
                    env, words = split_command(line.strip())
                    out.append((job_name, i, env, words, step))
    return out


def effective_env(wf: dict, job: str, step: dict, inline: dict[str, str]) -> dict[str, str]:
    """The environment of a command: workflow, job and step ``env`` and inline assignments."""
    env = {}
    for layer in (wf.get("env"), wf["jobs"][job].get("env"), step.get("env"), inline):
        env.update({k: str(v) for k, v in (layer or {}).items()})
    return env


def find_command(wf: dict, words: list[str]):
    """The first (job, step index, env, step) whose run step has the command ``words``."""
    for job, i, env, w, step in run_steps(wf):
        if w == words:
            return job, i, env, step
    return None


def is_placeholder(value: str) -> bool:
    return value.startswith(("/path/to", "<", "path/to"))


def notebook(path: Path) -> dict:
    return json.loads(path.read_text())


def toc_notebooks() -> list[Path]:
    """The notebooks in the table of contents, plus the report page."""

    names = [*catalogue.notebooks(ROOT / "_toc.yml"), "report"]
    return [ROOT / "book" / f"{name}.ipynb" for name in names]


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return text if isinstance(text, str) else "".join(text)


# ---------------------------------------------------------------------------- workflows


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_workflow_is_valid(path):
    wf = load_workflow(path)
    assert isinstance(wf.get("name"), str) and wf["name"], f"{path.name}: no name"
    assert wf.get("on"), f"{path.name}: no trigger ('on')"
    jobs = wf.get("jobs")
    assert isinstance(jobs, dict) and jobs, f"{path.name}: no jobs"
    text = path.read_text()
    assert text.count("${{") == text.count("}}"), f"{path.name}: unbalanced ${{{{ }}}}"
    for name, job in jobs.items():
        where = f"{path.name}, job {name!r}"
        assert isinstance(job, dict), f"{where}: not a mapping"
        assert job.get("runs-on"), f"{where}: no runs-on"
        for need in [job["needs"]] if isinstance(job.get("needs"), str) else job.get("needs", []):
            assert need in jobs, f"{where}: needs the unknown job {need!r}"
        if "timeout-minutes" in job:
            assert isinstance(job["timeout-minutes"], int) and job["timeout-minutes"] > 0, where
        steps = job.get("steps")
        assert isinstance(steps, list) and steps, f"{where}: no steps"
        for i, step in enumerate(steps):
            assert isinstance(step, dict), f"{where}, step {i}: not a mapping"
            assert ("uses" in step) != ("run" in step), (
                f"{where}, step {i}: needs exactly one of 'uses' and 'run'"
            )
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[\w.-]+", step["uses"]), (
                    f"{where}, step {i}: 'uses: {step['uses']}' is not owner/repo@ref"
                )
            assert "working-directory" not in step, (
                f"{where}, step {i}: the README's commands run from the repository root"
            )


def test_readme_has_install_build_and_test_commands():
    commands = readme_commands()
    assert set(commands) == {"install", "build", "test"}, (
        f"README's fenced code blocks give {sorted(commands)}; expected an install "
        "(pip install ...), a build (jupyter-book build ...) and a test (pytest) command"
    )


@pytest.mark.parametrize("kind", ["install", "test"])
def test_test_workflow_runs_readme_command(kind):
    env, words = readme_commands()[kind]
    wf = workflow("tests")
    hit = find_command(wf, words)
    assert hit, f"tests.yml does not run the README's {kind} command {shlex.join(words)!r}"
    job, index, inline, step = hit
    actual = effective_env(wf, job, step, inline)
    for name, value in env.items():
        assert name in actual, f"tests.yml runs {shlex.join(words)!r} without {name} set"
        if not is_placeholder(value):
            assert actual[name] == value, (
                f"tests.yml runs {shlex.join(words)!r} with {name}={actual[name]}; "
                f"the README says {name}={value}"
            )
    if kind == "test":
        install = find_command(wf, readme_commands()["install"][1])
        assert install and install[0] == job and install[1] < index, (
            "tests.yml must install before it tests, in the same job"
        )


def test_book_workflow_builds_at_paper_scale_and_publishes_html():
    wf = workflow("book")
    env, words = readme_commands()["build"]
    hit = find_command(wf, words)
    assert hit, f"book.yml does not run the README's build command {shlex.join(words)!r}"
    job, index, inline, step = hit
    actual = effective_env(wf, job, step, inline)
    assert actual.get("FA_SCALE", "paper") == "paper", "the published book is built at paper scale"
    assert actual.get("MPLBACKEND", "module://matplotlib_inline.backend_inline") == (
        "module://matplotlib_inline.backend_inline"
    ), (
        f"book.yml sets MPLBACKEND={actual['MPLBACKEND']}: the notebooks' glued figures then "
        "render as '<Figure size ...>' text instead of images"
    )
    installs = [i for j, i, _, w, _ in run_steps(wf)
                if j == job and w == readme_commands()["install"][1]]
    assert installs and installs[0] < index, "install before the build, in the same job"
    steps = wf["jobs"][job]["steps"]
    uploads = [
        s for s in steps[index + 1:]
        if str(s.get("uses", "")).startswith("actions/upload-pages-artifact@")
    ]
    assert uploads, "book.yml does not upload the built book (actions/upload-pages-artifact)"
    assert str(uploads[0].get("with", {}).get("path", "")).rstrip("/") == "_build/html"
    deploys = [
        s for j in wf["jobs"].values() for s in j.get("steps", [])
        if str(s.get("uses", "")).startswith("actions/deploy-pages@")
    ]
    assert deploys, "book.yml does not deploy to GitHub Pages (actions/deploy-pages)"


WRITE_SCOPES = {"pages", "id-token"}


def job_permissions(wf: dict) -> dict[str, dict[str, str]]:
    """Each job's effective permissions: its own block, else the workflow's."""
    top = wf.get("permissions")
    assert isinstance(top, dict), "set the workflow's permissions explicitly (a mapping)"
    return {name: job.get("permissions", top) for name, job in wf["jobs"].items()}


def test_book_workflow_grants_pages_writes_to_the_deploy_job_only():
    wf = workflow("book")
    assert wf.get("permissions") == {"contents": "read"}, (
        f"book.yml's workflow permissions are {wf.get('permissions')}; expected contents: read"
    )
    deploy_jobs = {
        name for name, job in wf["jobs"].items()
        if any(str(s.get("uses", "")).startswith("actions/deploy-pages@")
               for s in job.get("steps", []))
    }
    assert deploy_jobs == {"deploy"}, f"jobs that deploy to Pages: {sorted(deploy_jobs)}"
    for name, perms in job_permissions(wf).items():
        granted = {k for k, v in perms.items() if v == "write"}
        if name in deploy_jobs:
            assert perms == {"pages": "write", "id-token": "write"}, (
                f"book.yml job {name!r} has permissions {perms}; the deploy job needs exactly "
                "pages: write and id-token: write"
            )
        else:
            assert not granted, f"book.yml job {name!r} may write {sorted(granted)}"


def test_tests_workflow_only_reads_the_repository():
    wf = workflow("tests")
    assert wf.get("permissions") == {"contents": "read"}, (
        f"tests.yml's permissions are {wf.get('permissions')}; expected contents: read"
    )
    for name, perms in job_permissions(wf).items():
        assert perms == {"contents": "read"}, f"tests.yml job {name!r} has permissions {perms}"


USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_actions_are_pinned_to_commit_shas_with_their_tag(path):
    lines = [USES_LINE.match(line) for line in path.read_text().splitlines()]
    uses = [(m.group(1), m.group(2).strip()) for m in lines if m]
    assert uses, f"{path.name} uses no actions"
    for ref, comment in uses:
        action, _, sha = ref.partition("@")
        assert re.fullmatch(r"[0-9a-f]{40}", sha), (
            f"{path.name}: 'uses: {ref}' is not pinned to a full commit SHA"
        )
        assert re.fullmatch(r"#\s*v\d+(\.\d+){0,2}", comment), (
            f"{path.name}: 'uses: {ref}' needs the tag it pins in a comment, e.g. '# v4.2.2'"
        )


def test_each_pinned_sha_carries_one_tag():
    seen: dict[str, set[str]] = {}
    for path in WORKFLOWS.glob("*.yml"):
        for line in path.read_text().splitlines():
            m = USES_LINE.match(line)
            if m:
                seen.setdefault(m.group(1), set()).add(m.group(2).strip())
    mixed = {ref: sorted(tags) for ref, tags in seen.items() if len(tags) > 1}
    assert not mixed, f"one commit pinned under different tags: {mixed}"
    by_action: dict[str, set[str]] = {}
    for ref in seen:
        by_action.setdefault(ref.partition("@")[0], set()).add(ref)
    several = {a: sorted(r) for a, r in by_action.items() if len(r) > 1}
    assert not several, f"the workflows pin different commits of the same action: {several}"


def test_release_workflow_checks_packs_and_uploads_the_paper_results():
    wf = load_workflow(WORKFLOWS / "release.yml")
    assert wf["on"] == {"push": {"tags": ["v*"]}}
    assert wf["permissions"] == {"contents": "write"}
    (job,) = wf["jobs"].values()
    assert job["env"]["FA_SCALE"] == "paper"
    runs = [step.get("run", "") for step in job["steps"]]
    uses = [step.get("uses", "") for step in job["steps"]]

    def index(text: str) -> int:
        return next(i for i, r in enumerate(runs) if text in r)

    tag = index("tools/release.py check-tag")
    restore = next(i for i, u in enumerate(uses) if u.startswith("actions/cache/restore@"))
    check = index("--check-record results/paper_record.json")
    pack = index("fa_lib results pack --scale paper")
    same = index("tools/release.py check-manifest release/manifest.json "
                 "results/paper_manifest.json")
    upload = index("gh release create")
    assert tag < restore < check < pack < same < upload
    assert job["steps"][restore]["with"]["fail-on-cache-miss"] is True
    assert "release/*.tar.xz" in runs[upload] and "release/manifest.json" in runs[upload]
    assert "releases/download/$GITHUB_REF_NAME" in runs[pack]


def test_book_workflow_deploys_the_configured_branch():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    branch = config["repository"]["branch"]
    push = workflow("book")["on"].get("push", {})
    assert branch in push.get("branches", []), (
        f"book.yml does not build on pushes to {branch!r} (_config.yml repository.branch)"
    )


def book_job(name: str) -> dict:
    return workflow("book")["jobs"][name]


def needs(job: dict) -> set[str]:
    value = job.get("needs", [])
    return {value} if isinstance(value, str) else set(value)


def steps_using(job: dict, action: str) -> list[tuple[int, dict]]:
    """(index, step) of the steps of ``job`` that use ``action`` (``owner/repo[/path]``)."""
    return [(i, s) for i, s in enumerate(job["steps"])
            if str(s.get("uses", "")).partition("@")[0] == action]


def step_running(job: dict, text: str) -> tuple[int, dict]:
    """The first (index, step) of ``job`` whose ``run`` holds ``text``."""
    found = [(i, s) for i, s in enumerate(job["steps"]) if text in str(s.get("run", ""))]
    assert found, f"no step runs {text!r}"
    return found[0]


def substitute(command: str, values: dict[str, str]) -> list[str]:
    """A run step's command as words, its ``${{ ... }}`` expressions replaced by ``values``."""
    def value(match: re.Match) -> str:
        expression = match.group(1).strip()
        assert expression in values, f"unexpected expression {expression!r} in {command!r}"
        return values[expression]

    return shlex.split(re.sub(r"\$\{\{(.*?)\}\}", value, command))


def test_book_workflow_plans_then_computes_in_a_matrix_then_builds():
    wf = workflow("book")
    jobs = wf["jobs"]
    assert set(jobs) == {"plan", "compute", "keep", "build", "deploy"}
    assert needs(jobs["plan"]) == set()
    assert needs(jobs["compute"]) == {"plan"}
    assert needs(jobs["keep"]) == {"plan", "compute"}
    assert needs(jobs["build"]) == {"plan", "compute"}
    assert needs(jobs["deploy"]) == {"build"}
    # the matrix is the plan's output, and nothing runs when nothing is missing
    plan, compute, build = jobs["plan"], jobs["compute"], jobs["build"]
    assert compute["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert compute["strategy"]["fail-fast"] is False
    assert compute["if"].replace(" ", "") == "needs.plan.outputs.any=='true'"
    i_plan, plan_step = step_running(plan, "fa_lib plan-matrix")
    assert plan["outputs"]["matrix"] == f"${{{{ steps.{plan_step['id']}.outputs.matrix }}}}"
    assert plan["outputs"]["any"] == f"${{{{ steps.{plan_step['id']}.outputs.any }}}}"
    assert '--github-output "$GITHUB_OUTPUT"' in plan_step["run"]
    # the plan lists the cache after restoring it and fetching the published results
    (i_restore, restore), = [
        (i, s) for i, s in steps_using(plan, "actions/cache/restore")
        if s["with"]["path"] == "_cache"]
    i_fetch, fetch = step_running(plan, "python -m fa_lib results fetch --scale paper")
    assert i_restore < i_fetch < i_plan
    assert 'if [ "$status" -gt 2 ]; then exit "$status"; fi' in fetch["run"], (
        "the plan goes on when nothing is published for this code (fetch exits 1 or 2)")
    # the build runs when the compute jobs succeeded or were skipped, never on a failure
    condition = build["if"].replace(" ", "")
    assert "!cancelled()" in condition and "needs.plan.result=='success'" in condition
    assert ("(needs.compute.result=='success'||needs.compute.result=='skipped')"
            in condition)


def test_the_plan_and_compute_commands_are_those_of_fa_lib():
    """The workflow's plan-matrix and reproduce command lines parse, with a matrix entry."""
    from fa_lib import ci_matrix, reproduce

    _, plan_step = step_running(book_job("plan"), "fa_lib plan-matrix")
    words = substitute(plan_step["run"], {})
    assert words[:3] == ["python", "-m", "fa_lib"] and words[3] == "plan-matrix"
    args = ci_matrix._parser().parse_args(words[4:])
    assert (args.scale, args.github_output) == ("paper", "$GITHUB_OUTPUT")
    _, step = step_running(book_job("compute"), "fa_lib reproduce")
    for shard in ("2/3", ""):
        words = substitute(step["run"], {
            "matrix.chapter": "flexibility",
            "matrix.shard && format('--shard {0}', matrix.shard) || ''":
                f"--shard {shard}" if shard else ""})
        assert words[:4] == ["python", "-m", "fa_lib", "reproduce"]
        args = reproduce._parser().parse_args(words[4:])
        assert (args.scale, args.only, args.shard, args.no_progress) == (
            "paper", ["flexibility"], shard or None, True)


def test_compute_jobs_keep_their_work_when_they_fail_or_time_out():
    compute = book_job("compute")
    index, step = step_running(compute, "fa_lib reproduce")
    assert step["timeout-minutes"] < compute["timeout-minutes"], (
        "the compute step must time out before its job, so that the steps after it run")
    assert not steps_using(compute, "actions/cache"), (
        "actions/cache saves only on success: use actions/cache/restore and /save")
    for job_name in ("compute", "keep"):
        job = book_job(job_name)
        saves = [*steps_using(job, "actions/cache/save"),
                 *steps_using(job, "actions/upload-artifact")]
        assert saves, f"the {job_name} job keeps nothing"
        for _, save in saves:
            assert "always()" in str(save.get("if", "")), (
                f"book.yml job {job_name!r}: {save.get('name', save['uses'])} needs "
                "'if: always()'")
    (i_save, save), = [(i, s) for i, s in steps_using(compute, "actions/cache/save")
                       if s["with"]["path"] == "_cache"]
    (i_upload, upload), = steps_using(compute, "actions/upload-artifact")
    assert index < i_save and index < i_upload
    key = save["with"]["key"]
    assert "matrix.id" in key and "github.run_id" in key, (
        f"the compute jobs' caches need a key per shard and run; got {key!r}")
    assert upload["with"]["name"] == "results-${{ matrix.id }}"
    # every compute job starts from the cache the plan listed: the same shares
    (_, restore), = [(i, s) for i, s in steps_using(compute, "actions/cache/restore")
                     if s["with"]["path"] == "_cache"]
    assert restore["with"]["key"] == "${{ needs.plan.outputs.cache-key }}"
    assert "restore-keys" not in restore["with"]


def test_the_build_merges_the_compute_jobs_results_into_the_cache():
    wf = workflow("book")
    build = wf["jobs"]["build"]
    (i_download, download), = steps_using(build, "actions/download-artifact")
    assert download["with"]["merge-multiple"] is True
    assert download["with"]["pattern"] == "results-*"
    assert wf["env"]["FA_CACHE_DIR"].endswith("/" + download["with"]["path"])
    i_build, _ = step_running(build, "jupyter-book build .")
    (i_restore, _), = [(i, s) for i, s in steps_using(build, "actions/cache/restore")
                       if s["with"]["path"] == "_cache"]
    assert i_restore < i_download < i_build
    # the complete cache is saved under the key the release workflow restores
    release = load_workflow(WORKFLOWS / "release.yml")
    (_, restore), = steps_using(next(iter(release["jobs"].values())), "actions/cache/restore")
    (i_save, save), = steps_using(build, "actions/cache/save")
    assert i_save > i_build and save["with"]["path"] == restore["with"]["path"] == "_cache"
    code = "hashFiles('fa_lib/**/*.py', 'book/*.ipynb')"
    assert save["with"]["key"] == "results-${{ needs.plan.outputs.code }}"
    assert restore["with"]["key"] == f"results-${{{{ {code} }}}}"
    _, code_step = step_running(book_job("plan"), "code=")
    assert code in code_step["run"]


# ---------------------------------------------------------------------------- Binder


def runtime_version() -> Version:
    text = (ROOT / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", text)
    assert match, f"runtime.txt holds {text!r}; repo2docker expects 'python-X.Y'"
    return Version(match.group(1))


def test_runtime_python_is_allowed_by_pyproject():
    import tomllib

    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    version = runtime_version()
    assert version in SpecifierSet(requires), (
        f"runtime.txt pins Python {version}, which pyproject.toml's requires-python "
        f"{requires!r} does not allow"
    )


@pytest.mark.parametrize("name", ["tests", "book"])
def test_workflows_use_the_runtime_python(name):
    versions = {
        str(step["with"]["python-version"])
        for job in workflow(name)["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith("actions/setup-python@")
    }
    assert versions == {str(runtime_version())}, (
        f"{name}.yml sets up Python {sorted(versions)}; runtime.txt pins {runtime_version()}"
    )


def test_start_leaves_the_scale_to_the_chapters():
    """Binder's start script sets no FA_SCALE: each chapter's set-up cell chooses it."""
    start = ROOT / "start"
    assert start.is_file() and os.access(start, os.X_OK), "'start' must be an executable file"
    text = start.read_text()
    assert text.startswith("#!"), "'start' needs a shebang line"
    assert re.search(r'^exec "\$@"\s*$', text, re.M), "'start' must end by exec-ing its arguments"
    probe = [sys.executable, "-c", "import os; print(os.environ.get('FA_SCALE'))"]
    env = {k: v for k, v in os.environ.items() if k != "FA_SCALE"}
    out = subprocess.run([str(start), *probe], env=env, capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "None", (
        f"'start' sets FA_SCALE={out.stdout.strip()!r}; the set-up cells choose the scale "
        "(fa_lib.chapter_setup), fetching the published paper-scale results")
    out = subprocess.run([str(start), *probe], env={**env, "FA_SCALE": "quick"},
                         capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "quick", "'start' must keep an FA_SCALE the user has set"


# ---------------------------------------------------------------------------- notebooks


@pytest.mark.parametrize("path", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_committed_without_outputs(path):
    nb = notebook(path)
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3", (
        f"{path.name}: kernel name must be python3"
    )
    dirty = [
        i for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; commit notebooks without them"


def test_report_is_executed_on_every_build():
    nb = notebook(ROOT / "book" / "report.ipynb")
    assert nb["metadata"].get("mystnb", {}).get("execution_mode") == "force", (
        "book/report.ipynb needs the notebook metadata {'mystnb': {'execution_mode': 'force'}}"
    )


def colab_cells() -> dict[str, str]:
    cells = {}
    for path in toc_notebooks():
        code = [c for c in notebook(path)["cells"] if c["cell_type"] == "code"]
        first = code[0] if code else {}
        assert "remove-cell" in first.get("metadata", {}).get("tags", []), (
            f"{path.name}: the first code cell (the Colab cell) must be tagged remove-cell"
        )
        cells[path.name] = source(first)
    return cells


COLAB_PIN = re.compile(r"git\+(\S+?)@(\S+)")
"""``git+<url>@<ref>`` in a Colab cell's install command."""


def colab_ref() -> str:
    """The release tag the Colab cells install: ``v`` and the package version."""
    import fa_lib

    return f"v{fa_lib.__version__}"


def python_code(cell: str) -> str:
    """A cell's source as plain Python, IPython magics (``%pip``) turned into calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell)


def test_colab_cell_is_short_and_installs_a_pinned_release():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url, branch = config["repository"]["url"], config["repository"]["branch"]
    cells = colab_cells()
    for name, cell in cells.items():
        lines = cell.rstrip("\n").splitlines()
        assert len(lines) <= 8, f"{name}: the Colab cell has {len(lines)} lines; at most 8"
        assert 'find_spec("fa_lib")' in cell, f"{name}: the Colab cell must test for fa_lib"
        pins = COLAB_PIN.findall(cell)
        assert pins, f"{name}: the Colab cell installs no git+{url}@<ref>"
        for repo, ref in pins:
            assert repo == url, f"{name}: installs from {repo}; _config.yml names {url}"
            assert ref != branch and re.fullmatch(r"v\d+(\.\d+)*|[0-9a-f]{40}", ref), (
                f"{name}: installs @{ref}; pin a release tag or a full commit SHA, not a branch"
            )
            assert ref == colab_ref(), (
                f"{name}: installs @{ref}, but fa_lib.__version__ is the release {colab_ref()}"
            )
    assert len(set(cells.values())) == 1, (
        f"the Colab cells differ between notebooks: {sorted(cells)}; keep them identical"
    )


def test_the_published_results_are_those_of_the_release_the_colab_cells_install():
    """The committed manifests (results/<scale>_manifest.json) are of fa_lib.__version__.

    The Colab cells install the tag v<version> (above), the release workflow checks that
    the tag is v<version> and uploads the archives of the committed paper manifest, so
    the three agree: a reader's set-up cell fetches the results of the code it installed.
    """
    from fa_lib import results

    for path in sorted(results.MANIFEST_DIR.glob("*_manifest.json")):
        manifest = results.load_manifest(path)
        assert f"v{manifest['version']}" == colab_ref(), (
            f"{path.name} is of version {manifest['version']}, the Colab cells install "
            f"{colab_ref()}: pack the results again (README, 'Making a release')")
        assert manifest["base_url"].endswith(f"/releases/download/{colab_ref()}"), (
            f"{path.name}: its archives must be published with the release {colab_ref()}")


def run_colab_cell(tmp_path: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the Colab cell as a script (magics as calls to a stub that prints them)."""
    cell = next(iter(colab_cells().values()))
    script = tmp_path / "colab_cell.py"
    script.write_text(
        "class _Shell:\n"
        "    def run_line_magic(self, name, line):\n"
        "        print('MAGIC', name, line)\n"
        "def get_ipython():\n"
        "    return _Shell()\n"
        + python_code(cell)
        + "\nimport os\nprint('ENV', os.environ.get('FA_SCALE'), os.environ.get('FA_CACHE_DIR'))"
        "\nimport importlib.util\nspec = importlib.util.find_spec('fa_lib')"
        "\nprint('FA_LIB', spec.origin if spec else None)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("FA_SCALE", "FA_CACHE_DIR",
                                                            "PYTHONPATH")}
    out = subprocess.run([sys.executable, *args, str(script)], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out


def test_colab_cell_installs_and_keeps_the_results_beside_the_notebook(tmp_path):
    # python -S: no site-packages, so fa_lib is not importable, as on a fresh Colab.
    work = tmp_path / "content"
    work.mkdir()
    lines = run_colab_cell(tmp_path, work, "-S").stdout.splitlines()
    magics = [line for line in lines if line.startswith("MAGIC ")]
    assert len(magics) == 1 and magics[0].startswith("MAGIC pip install "), lines
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert f"git+{config['repository']['url']}@{colab_ref()}" in magics[0].split()
    # No scale is set: the chapter's set-up cell (fa_lib.chapter_setup) chooses it.
    assert f"ENV None {work / 'fa_cache'}" in lines


def test_colab_cell_uses_a_checkout_without_installing(tmp_path):
    # A checkout without `pip install -e .`: the cell puts the checkout on sys.path.
    lines = run_colab_cell(tmp_path, ROOT / "book", "-S").stdout.splitlines()
    assert not [line for line in lines if line.startswith("MAGIC")], lines
    assert "ENV None None" in lines
    origin = next(line for line in lines if line.startswith("FA_LIB ")).split(" ", 1)[1]
    assert Path(origin).resolve() == ROOT / "fa_lib" / "__init__.py"


def test_colab_cell_does_nothing_in_a_checkout(tmp_path):
    cell = next(iter(colab_cells().values()))
    script = tmp_path / "colab_cell.py"
    script.write_text(
        python_code(cell)
        + "\nimport fa_lib, os\nprint(os.environ.get('FA_SCALE'), fa_lib.__file__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("FA_SCALE", "PYTHONPATH")}
    out = subprocess.run([sys.executable, str(script)], cwd=ROOT / "book", env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    scale, _, location = out.stdout.strip().rpartition("\n")[2].partition(" ")
    assert scale == "None", "in a checkout the Colab cell must not set FA_SCALE"
    assert Path(location).resolve().is_relative_to(ROOT), (
        f"in a checkout fa_lib must come from the checkout, not {location}"
    )
    assert out.stdout.strip().count("\n") == 0, f"the cell printed: {out.stdout!r}"
