"""Benchmark 5: the floating-point budget of every experiment of the book at paper scale.

For every experiment: its work (matrix-product flops, counted analytically from its
paper-scale configuration, :mod:`benchmarks.common`), its time extrapolated from a short
measured run of the same configuration through the book's own functions (one core, one
BLAS thread), and the fraction of the one-core matmul peak it reaches. Element-wise work
(activations, angles, random draws) is not counted as work, but its time is measured.

The paper-scale configurations are read from the chapter modules, which must therefore
be imported with ``FA_SCALE=paper`` (``benchmarks.run`` sets it).
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # one BLAS thread and the paper's configurations, set before NumPy
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"
    os.environ["FA_SCALE"] = "paper"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks import common  # noqa: E402
from fa_lib import catalogue, config, ensembles, training  # noqa: E402
from fa_lib.network import init_network  # noqa: E402
from fa_lib.openloop import CONSTANT, Signal, run_openloop  # noqa: E402
from fa_lib.rule import Rule  # noqa: E402
from fa_lib.training import TrainConfig  # noqa: E402

UPDATE = Path(__file__).resolve().parent / "results" / "budget_update.json"
"""Budget rows of some chapters timed after ``latest.json`` (``python -m benchmarks.budget
--only ...``); :func:`fa_lib.build_plan.benchmark_times` prefers them to that file's rows."""


def _seconds(func: Callable[[], object]) -> float:
    t0 = common.clock()
    func()
    return common.clock() - t0


# --------------------------------------------------------------------------- training runs


def _signature(cfg: TrainConfig) -> tuple:
    """What the cost of an iteration depends on (runs with equal signatures cost the same)."""
    r = cfg.rule
    return (cfg.sizes, cfg.batch_size, cfg.reps, r.name, cfg.record_bp, cfg.record_terms,
            cfg.terms_every, cfg.n_traces, r.wn_gamma is not None, r.layer_norm is not None,
            r.match_b, cfg.dtype, cfg.label_smoothing is not None, cfg.record_products)


def _iteration_seconds(cfg: TrainConfig, short: int, long: int, epochs: int = 1,
                       repeat: int = 2) -> float:
    """Seconds per iteration of ``cfg`` from runs of ``short`` and ``long`` batches per epoch.

    ``(min t(long) - min t(short)) / (epochs (long - short))`` over ``repeat`` runs of each,
    so that the set-up and the (100-image) test evaluations cancel.
    """
    cut = {"epochs": epochs, "relabel_epoch": None, "snapshot_epoch": None, "n_test": 100}
    t = [min(_seconds(lambda n=n: training.run(cfg.replace(n_batches=n, **cut), progress=False,
                                               stop_on_divergence=True))
             for _ in range(repeat))
         for n in (short, long)]
    return max((t[1] - t[0]) / (epochs * (long - short)), 1e-9)


def _test_seconds(cfg: TrainConfig) -> float:
    """Seconds of one test-set evaluation of ``cfg`` (all its repetitions)."""
    data = training.load_data(cfg.image_size, cfg.dtype)
    dt = np.dtype(cfg.dtype)
    subs = ensembles.streams(0, cfg.reps)
    net = init_network(subs, cfg.sizes, "tanh_relu", sd=cfg.init_sd, dtype=dt)
    codes = np.stack([ensembles.n_hot_codes(g, 10, cfg.width, cfg.hot) for g in subs]).astype(dt)
    x = data.x_test[: cfg.n_test].astype(dt)
    y = data.y_test[: cfg.n_test]
    return common.best_time(lambda: training.accuracy(net, codes, x, y), repeat=2)


def training_rows(chapter: str, configs: dict[str, TrainConfig], quick: bool) -> list[dict]:
    """Budget rows of a chapter's training runs (one timing per cost signature)."""
    timed: dict[tuple, tuple[float, float, str]] = {}
    rows = []
    for name, cfg in configs.items():
        sig = _signature(cfg)
        if sig not in timed:
            # With the terms, 2 epochs of >= 31 batches: the extra iterations all lie
            # after iteration 60, where the order-60 term is computed too.
            short, long, epochs = ((31, 36, 2) if quick else (31, 41, 2)) if cfg.record_terms \
                else ((2, 12, 1) if quick else (2, 22, 1))
            t_it = _iteration_seconds(cfg, short, long, epochs)
            timed[sig] = (t_it, _test_seconds(cfg), f"{epochs * (long - short)} iterations")
        t_it, t_test, basis = timed[sig]
        flops = common.training_run_flops(cfg)
        evals = cfg.epochs + 1 + (cfg.relabel_epoch is not None)
        seconds = cfg.n_iter * t_it + evals * t_test
        rows.append({"chapter": chapter, "experiment": name, "dtype": cfg.dtype,
                     "work_flop": flops["total"], "seconds": seconds, "kind": "training",
                     "how": f"extrapolated from {basis} (+ one test evaluation) of the same "
                            f"configuration ({cfg.reps} reps)"})
    return rows


# --------------------------------------------------------------------------- the other figures


def _draw_row(chapter: str, name: str, flop_per_unit: float, units: int, measured_units: int,
              func: Callable[[], object], dtype: str = "float64") -> dict:
    t = _seconds(func)
    return {"chapter": chapter, "experiment": name, "dtype": dtype,
            "work_flop": flop_per_unit * units, "seconds": t * units / measured_units,
            "kind": "draws", "how": f"extrapolated from {measured_units:,} of {units:,} units"}


def persistent_error_rows(quick: bool) -> list[dict]:
    """Fig. 1: draws of the six conditions (random and fixed E, X), and the open loop."""
    from fa_lib.experiments import persistent_error as pe

    cfg = pe.PAPER
    n = 50 if quick else 300
    rows = []
    for c, dims in pe.CONDITIONS.items():
        n_i, n_h, n_o, n_b = dims
        cost_p = n_b * n_i * n_o + n_i * n_o * n_o
        cost_g = n_b * n_b * n_i + n_b * n_b * n_o + n_b * n_o * n_o
        per_b = common.mm(n_h, n_o, n_o) + 2 * common.mm(n_o, n_o, n_h)
        per_draw = 2 * min(cost_p, cost_g) + per_b
        rows.append(_draw_row("persistent_error", f"fig1_cond{c}", per_draw, cfg.n_draws, n,
                              lambda d=dims: pe.draw_condition(1, d, n)))
        rows.append(_draw_row("persistent_error", f"fig1_cond{c}_fixedEX", per_b, cfg.n_draws, n,
                              lambda d=dims: pe.draw_condition(1, d, n, fixed_ex=True)))
    s = cfg.sim_dims
    it = 100 if quick else 400
    rows.append(_draw_row(
        "persistent_error", "openloop_sim",
        cfg.sim_reps * common.openloop_iteration_flops(s.n_i, s.n_h, s.n_o, s.n_b),
        cfg.sim_iter, it,
        lambda: pe.openloop_linear(1, cfg.sim_reps, it, s, cfg.sim_eta)))
    return rows


def autocorrelation_rows(quick: bool) -> list[dict]:
    """Fig. 2 draws (six conditions) and the Fig. 3 open loops (two etas, and the extra run)."""
    from fa_lib.experiments import autocorrelation as ac

    f2: ac.Fig2Config = ac.PAPER["fig2"]
    n_i, n_h, n_o, n_b = f2.n_i, f2.n_h, f2.n_o, f2.n_b
    masked = (common.mm(n_b, n_o, n_h) + common.mm(n_b, n_i, n_b) + common.mm(n_h, n_b, n_b)
              + common.mm(n_h, n_b, n_o))
    per_draw = (2 * common.mm(n_o, n_b, n_i) + common.mm(n_o, n_i, n_o)
                + 3 * common.mm(n_h, n_o, n_o) + 2 * masked)
    n = 200 if quick else 1000
    rows = []
    t = _seconds(lambda: ac.fig2_condition(1, dataclasses.replace(f2, draws=n, chunk=n)))
    for c in range(1, 7):
        rows.append({"chapter": "autocorrelation", "experiment": f"fig2_cond{c}",
                     "dtype": "float64", "work_flop": per_draw * f2.draws,
                     "seconds": t * f2.draws / n, "kind": "draws",
                     "how": f"extrapolated from {n:,} of {f2.draws:,} draws (condition 1)"})
    f3: ac.Fig3Config = ac.PAPER["fig3"]
    it = 100 if quick else 300
    per_it = common.openloop_iteration_flops(f3.n_i, f3.n_h, f3.n_o, f3.n_b)
    rule = Rule("fa", eta=f3.eta)
    t30 = _seconds(lambda: run_openloop(1, f3.reps, it, (f3.n_i, f3.n_h, f3.n_o), f3.n_b, rule,
                                        e=Signal(every=1)))
    for eta_name in ("eta", "eta_text"):
        for case in ac.CASES:
            rows.append({"chapter": "autocorrelation", "experiment": f"fig3_{case.key}_{eta_name}",
                         "dtype": "float64", "work_flop": per_it * f3.reps * f3.n_iter,
                         "seconds": t30 * f3.n_iter / it, "kind": "open loop",
                         "how": f"extrapolated from {it} of {f3.n_iter} iterations "
                                f"({f3.reps} reps, case 2)"})
    rows.append({"chapter": "autocorrelation", "experiment": "fig3_e_every_1_extra",
                 "dtype": "float64", "work_flop": per_it * f3.reps_extra * f3.n_iter,
                 "seconds": t30 * f3.reps_extra / f3.reps * f3.n_iter / it, "kind": "open loop",
                 "how": f"extrapolated from {it} iterations of {f3.reps} reps (x reps)"})
    return rows


def acf_rows(quick: bool) -> list[dict]:
    """Fig. 4 sweeps (all variants stacked), their text-eta variant, and Fig. S1."""
    from fa_lib.experiments import acf_weight_normalisation as acf

    cfg = acf.PAPER
    f4 = cfg.fig4
    n_i, n_h, n_o = f4.sizes
    per_it = common.openloop_iteration_flops(n_i, n_h, n_o, f4.n_b)
    it = 10 if quick else 40
    rows = []
    for label, reps in (("fig4", f4.reps), ("fig4_text_eta", f4.text_reps)):
        nets = len(acf.VARIANTS) * len(f4.betas) * reps
        for sweep in acf.SWEEPS:
            s = f4.sweep(sweep)
            x, e = acf._signals(s, f4.betas, reps)
            variants = [acf.variant(v, s.eta, f4.gamma) for v in acf.VARIANTS]
            t = _seconds(lambda x=x, e=e, variants=variants, reps=reps: run_openloop(
                f4.seed, len(f4.betas) * reps, it, f4.sizes, f4.n_b, variants, x=x, e=e,
                dtype=f4.dtype))
            rows.append({"chapter": "acf_weight_normalisation", "experiment": f"{label}_{sweep}",
                         "dtype": f4.dtype, "work_flop": per_it * nets * s.n_iter,
                         "seconds": t * s.n_iter / it, "kind": "open loop",
                         "how": f"extrapolated from {it} of {s.n_iter} iterations ({nets} nets)"})
    s1 = cfg.s1
    per_it = common.openloop_iteration_flops(*s1.sizes, s1.n_b, record_terms=True)
    for every, vs in acf.s1_variants(s1).items():
        t = _seconds(lambda every=every, vs=vs: run_openloop(
            s1.seed, s1.reps, it, s1.sizes, s1.n_b, list(vs.values()), x=CONSTANT,
            e=Signal(every=every), record_terms=True))
        nets = len(vs) * s1.reps
        rows.append({"chapter": "acf_weight_normalisation", "experiment": f"s1_every{every}",
                     "dtype": "float64", "work_flop": per_it * nets * s1.n_iter,
                     "seconds": t * s1.n_iter / it, "kind": "open loop",
                     "how": f"extrapolated from {it} of {s1.n_iter} iterations ({nets} nets)"})
    return rows


def depth_rows(quick: bool) -> list[dict]:
    """Fig. 5: the heat-map and histogram ensembles."""
    from fa_lib.experiments import depth

    cfg = depth.PAPER
    (p, q), (_, r) = cfg.shape_b2, cfg.shape_b1
    per_draw = 4 * common.mm(p, q, r)  # B2 B1 and W2^T W1^T, linear and masked
    n = 4000 if quick else 20_000
    rows = []
    for name, units, acute in (("heatmap", cfg.n_heatmap, False), ("histograms", cfg.n_hist, True)):
        rows.append(_draw_row("depth", name, per_draw, units, n,
                              lambda a=acute: depth.sample(n, 3, cfg.chunk, acute=a)))
    return rows


TRAINING_CHAPTERS = ("mnist_alignment", "flexibility", "feedback_rules", "deep_networks")
"""The chapters whose experiments are training runs (:func:`training_configs`)."""


def training_configs(chapter: str) -> dict[str, TrainConfig]:
    """The paper-scale training runs of a chapter of :data:`TRAINING_CHAPTERS`, by name.

    The cost of a run does not depend on its learning rate: where a chapter chooses its
    rates from earlier runs, the smallest rate of its grid (the book's rates for the deep
    networks) stands in, rather than computing the learning-rate runs that choose it.
    ``FA_SCALE`` must be ``paper``.
    """
    from fa_lib.experiments import deep_networks, feedback_rules, flexibility, mnist_alignment

    if chapter == "mnist_alignment":
        return mnist_alignment.configs()
    if chapter == "flexibility":
        return flexibility.configs()
    if chapter == "feedback_rules":
        return feedback_rules.own_configs(
            {p: feedback_rules.ETA_GRID[0] for p in feedback_rules.TUNED})
    if chapter == "deep_networks":
        return deep_networks.own_configs(
            {(r, h): deep_networks.BOOK_ETA[r] for r in deep_networks.BOOK_ETA
             for h in deep_networks.config()["hidden"]})
    raise ValueError(f"{chapter!r} is not one of {TRAINING_CHAPTERS}.")


def run(quick: bool, chapters: Sequence[str] | None = None) -> list[dict]:
    """Every budget row, or those of ``chapters`` (``FA_SCALE`` must be ``paper``)."""
    if config.scale() != "paper":
        raise RuntimeError("the budget needs FA_SCALE=paper (set by benchmarks.run).")
    makers: dict[str, Callable[[bool], list[dict]]] = {
        "persistent_error": persistent_error_rows,
        "autocorrelation": autocorrelation_rows,
        "acf_weight_normalisation": acf_rows,
        "depth": depth_rows,
        **{chapter: (lambda q, c=chapter: training_rows(c, training_configs(c), q))
           for chapter in TRAINING_CHAPTERS},
    }
    missing = [c for c in catalogue.CHAPTERS if c not in makers]
    if missing:
        raise RuntimeError(f"the budget has no rows for the chapter(s) {', '.join(missing)} of "
                           "the table of contents; add them to benchmarks/budget.py.")
    chosen = catalogue.CHAPTERS if chapters is None else catalogue.check_chapters(
        chapters, list(makers))
    return [row for chapter in chosen for row in makers[chapter](quick)]


def main(argv: list[str] | None = None) -> int:
    """Time the budget rows of some chapters into ``results/budget_update.json``.

    For chapters whose experiments changed since the last full run of the benchmarks
    (``latest.json``): their rows are timed now and kept apart, with the machine, so that
    the build plan's and the CI matrix's estimates cover them without mixing the totals
    of two runs.
    """
    p = argparse.ArgumentParser(prog="python -m benchmarks.budget",
                                description=main.__doc__.split("\n")[0])
    p.add_argument("--only", nargs="+", metavar="CHAPTER", required=True)
    p.add_argument("--note", default="", help="what else the machine ran (kept in the JSON)")
    args = p.parse_args(argv)
    rows = run(False, args.only)
    old = json.loads(UPDATE.read_text()) if UPDATE.is_file() else {}
    kept = [r for r in old.get("rows", []) if r["chapter"] not in args.only]
    command = " ".join(["python -m benchmarks.budget", *sys.argv[1:]])
    UPDATE.write_text(json.dumps({"machine": common.machine(command), "note": args.note,
                                  "rows": kept + rows}, indent=1) + "\n")
    for chapter in args.only:
        mine = [r for r in rows if r["chapter"] == chapter]
        print(f"{chapter}: {len(mine)} rows, {sum(r['seconds'] for r in mine) / 3600:.2f} h "
              "on one core")
    print(f"wrote {UPDATE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
