"""Linear read-outs of the hidden layers of trained MNIST networks.

How much of the digit's identity does each hidden layer of a network trained by
:func:`fa_lib.training.run` hold in a linearly decodable form? For every repetition
and every hidden layer ``l = 1..d-1`` a multinomial logistic regression is fit to the
layer's activity ``L_l = f(Z_l)`` on a validation split of the training images and
scored on the test set:

- the network is the one the run ended with: the arrays ``final_w{l}`` (and
  ``final_b{l}``) that a run stores with ``TrainConfig(record_final=True)``; the
  activity comes from :func:`fa_lib.network.forward` (the one forward pass of the
  package) in the run's precision, then goes to float64 for the regression;
- fit set (the validation split): the **last** :func:`n_fit` training images with their
  digit labels 0-9 (not the n-hot codes): ``cfg.holdout`` images when the run held some
  out, else 10,000 at paper scale and 2,000 at quick scale (:data:`VALIDATION`; the
  ``holdout`` of :mod:`fa_lib.experiments.feedback_rules` at each scale). At quick scale
  the runs train on the first ``n_batches x batch_size`` images (10,000), so the last
  2,000 were never trained on; at paper scale the 60 mini-batches cover the whole
  training set, so the last 10,000 images were trained on (but never as a read-out's
  labels) unless the run held them out;
- test set: the first ``cfg.n_test`` test images (all 10,000 when None), the images of
  the runs' ``test_acc``; a run with ``holdout`` never read the test set, its read-out
  does;
- classifier: :class:`sklearn.preprocessing.StandardScaler` then
  :class:`sklearn.linear_model.LogisticRegression` (lbfgs, multinomial over the 10
  classes, the default of lbfgs; ``C`` = :data:`C`, ``random_state`` =
  :data:`RANDOM_STATE`, at most ``max_iter`` iterations) in one pipeline. Silent units
  (constant activity) are left at zero by the scaler.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from fa_lib import _checks, config, linalg, mnist, training
from fa_lib.activations import Activation
from fa_lib.network import Network, forward

VALIDATION = {"paper": 10_000, "quick": 2_000}
"""Images of the fit set at each scale (:func:`fa_lib.config.scale`) when the run held
none out: the last ones of the training set."""

C = 1.0
"""Inverse regularisation strength of the logistic regression (scikit-learn's default)."""

RANDOM_STATE = 0
"""``random_state`` of the logistic regression (lbfgs does not draw; fixed for safety)."""

MAX_ITER = 200
"""Default cap on the lbfgs iterations of one read-out (see :func:`readout_accuracy`)."""

__all__ = ["C", "MAX_ITER", "RANDOM_STATE", "VALIDATION", "final_weights", "hidden_activity",
           "n_fit", "readout_accuracy"]


def hidden_activity(
    weights: Sequence[np.ndarray],
    images: np.ndarray,
    activation: str | Activation = training.ACTIVATION,
    *,
    biases: Sequence[np.ndarray | None] | None = None,
    chunk: int = 2500,
) -> list[np.ndarray]:
    """Activity ``L_l = f(Z_l)`` of every hidden layer of ``R`` stacked networks.

    The network is built from the weights and run through :func:`fa_lib.network.forward`
    (in the weights' precision), ``chunk`` images at a time.

    Parameters
    ----------
    weights : sequence of ndarray
        ``W_0 .. W_{d-1}``, each ``R x n_l x n_{l+1}`` (``d >= 2``), e.g. a run's
        ``final_w{l}``.
    images : ndarray, shape (n, n_0)
        Inputs shared by all repetitions.
    activation : str or Activation
        The activation of every layer (the runs': :data:`fa_lib.training.ACTIVATION`).
    biases : sequence, optional
        ``b_0 .. b_d`` as :class:`fa_lib.network.Network` keeps them (``b[0]`` None,
        ``b[l]`` ``R x 1 x n_l``), e.g. ``[None, final_b1, ..., final_b{d}]``; None: no biases.
    chunk : int
        Images per forward pass (bounds the memory of the intermediate arrays).

    Returns
    -------
    list of ndarray
        ``d - 1`` arrays: item ``l - 1`` is ``L_l``, ``R x n x n_l``, for ``l = 1..d-1``
        (the output layer ``L_d`` is left out).

    Raises
    ------
    ValueError
        If the weights are fewer than two or their shapes do not chain, if the biases do not
        match them, or if ``images`` is not ``n x n_0`` with finite entries.
    """
    weights = [np.asarray(w) for w in weights]
    if len(weights) < 2:
        raise ValueError(f"need d >= 2 weight matrices (one hidden layer at least); "
                         f"got {len(weights)}.")
    images = np.asarray(images)
    if images.ndim != 2 or len(images) == 0:
        raise ValueError(f"images must be n x n_0 with n >= 1 (shared by all repetitions); "
                         f"got shape {images.shape}.")
    chunk = _checks.whole("chunk", chunk)
    # B is never read by the forward pass; W^T (a view) gives every layer a valid shape.
    feedback = [None] + [linalg.transpose(w) for w in weights[1:]]
    net = Network(weights, feedback, activation, None if biases is None else list(biases))
    d = net.depth
    parts: list[list[np.ndarray]] = [[] for _ in range(d - 1)]
    for start in range(0, len(images), chunk):
        _, L = forward(net, images[start:start + chunk])
        for ell in range(1, d):
            parts[ell - 1].append(L[ell])
    return [np.concatenate(p, axis=-2) for p in parts]


def final_weights(res: Mapping[str, np.ndarray], cfg: training.TrainConfig
                  ) -> tuple[list[np.ndarray], list[np.ndarray | None] | None]:
    """The weights (and biases) a run ended with, checked against its configuration.

    Parameters
    ----------
    res : mapping of str to ndarray
        The result of :func:`fa_lib.training.run` (or its cache entry) for ``cfg``.
    cfg : TrainConfig

    Returns
    -------
    weights : list of ndarray
        ``final_w0 .. final_w{d-1}``.
    biases : list or None
        ``[None, final_b1, ..., final_b{d}]`` when ``cfg.biases``, else None.

    Raises
    ------
    ValueError
        If ``res`` holds no final weights (a run without ``record_final=True``), if it holds
        other ones than ``cfg``'s depth and biases call for, or if their shapes are not
        those of ``cfg`` (``R x n_l x n_{l+1}``; biases ``R x 1 x n_l``).
    """
    if not isinstance(cfg, training.TrainConfig):
        raise ValueError(f"cfg must be a TrainConfig; got {type(cfg).__name__}.")
    d, r, sizes = cfg.depth, cfg.reps, cfg.sizes
    names = [f"final_w{ell}" for ell in range(d)]
    if cfg.biases:
        names += [f"final_b{ell}" for ell in range(1, d + 1)]
    held = sorted(k for k in res if k.startswith(("final_w", "final_b")))
    if not any(k.startswith("final_w") for k in held):
        raise ValueError("the result holds no final weights (final_w0, ...): train with "
                         "record_final=True (TrainConfig(record_final=True)) to read out its "
                         "hidden layers.")
    missing, extra = [n for n in names if n not in res], [k for k in held if k not in names]
    if missing or extra:
        raise ValueError(
            f"the result's final weights do not match the config (d = {d} weight layers, "
            f"{'with' if cfg.biases else 'no'} biases): "
            + "; ".join(f"{what} {', '.join(keys)}" for what, keys in
                        (("missing", missing), ("unexpected", extra)) if keys)
            + ". Was it trained with another config?"
        )
    weights = [np.asarray(res[f"final_w{ell}"]) for ell in range(d)]
    for ell, w in enumerate(weights):
        expected = (r, sizes[ell], sizes[ell + 1])
        if w.shape != expected:
            raise ValueError(f"final_w{ell} must have shape R x n_{ell} x n_{ell + 1} = "
                             f"{expected} for this config; got {w.shape}.")
    if not cfg.biases:
        return weights, None
    biases: list[np.ndarray | None] = [None]
    for ell in range(1, d + 1):
        b = np.asarray(res[f"final_b{ell}"])
        if b.shape != (r, 1, sizes[ell]):
            raise ValueError(f"final_b{ell} must have shape R x 1 x n_{ell} = "
                             f"{(r, 1, sizes[ell])} for this config; got {b.shape}.")
        biases.append(b)
    return weights, biases


def n_fit(cfg: training.TrainConfig) -> int:
    """Number of training images (the last ones) that the read-outs are fit on.

    ``cfg.holdout`` when the run held images out, else :data:`VALIDATION` at the
    current scale (:func:`fa_lib.config.scale`: 10,000 at paper scale, 2,000 at quick scale).
    """
    return int(cfg.holdout) if cfg.holdout else VALIDATION[config.scale()]


def readout_accuracy(
    res: Mapping[str, np.ndarray],
    cfg: training.TrainConfig,
    data: mnist.MNIST | None = None,
    *,
    max_iter: int = MAX_ITER,
    n_images: int | None = None,
    threads: int | None = 1,
) -> np.ndarray:
    """Test accuracy (%) of a linear read-out of each hidden layer, per repetition.

    See the module docstring for the fit set, the test set and the classifier. Each
    (repetition, layer) gets its own scaler and regression. ``ConvergenceWarning``
    from scikit-learn is silenced: a read-out that has not converged after
    ``max_iter`` lbfgs iterations is scored as it stands (with standardised inputs the
    default is ample: on quick-scale FA and FA+WN runs, 200 and 1000 iterations gave the
    same accuracies, 100 ones within 0.3 percentage point).

    Parameters
    ----------
    res : mapping of str to ndarray
        The result of :func:`fa_lib.training.run` with ``cfg.record_final`` (its
        ``final_w{l}``, and ``final_b{l}`` with biases).
    cfg : TrainConfig
        The run's configuration (sizes, ``n_test``, ``holdout``, dtype, image size).
    data : MNIST, optional
        Preprocessed MNIST; by default :func:`fa_lib.training.load_data` (``FA_MNIST_DIR``)
        at the run's image size and dtype.
    max_iter : int
        Cap on the lbfgs iterations of each regression.
    n_images : int, optional
        Fit on the last ``n_images`` training images instead of :func:`n_fit`'s number.
    threads : int or None
        OpenMP and BLAS threads during the read-outs, the hidden activities included (1 by
        default: the regressions are small, scikit-learn's OpenMP loops slow down by tens
        of times when their threads compete with other processes for the cores, and with
        one thread the accuracies do not depend on the machine's cores); None leaves them
        alone.

    Returns
    -------
    ndarray of float64, shape (R, d - 1)
        Column ``l - 1``: the accuracy (percent, 0-100) on the test images of the read-out
        of hidden layer ``l``. A repetition whose final weights are not all finite (a run
        stopped on a divergence) gets NaN in its whole row.

    Raises
    ------
    ValueError
        If ``res`` has no final weights (train with ``record_final=True``), if their shapes
        do not match ``cfg``, if the data do not have ``cfg``'s input size, or if the fit
        set asks for more images than the training set has.
    """
    import contextlib

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    weights, biases = final_weights(res, cfg)
    max_iter = _checks.whole("max_iter", max_iter)
    if data is None:
        data = training.load_data(cfg.image_size, cfg.dtype)
    if data.x_train.shape[1] != cfg.sizes[0]:
        raise ValueError(
            f"data have {data.x_train.shape[1]} features; the config needs {cfg.sizes[0]}."
        )
    n = n_fit(cfg) if n_images is None else _checks.whole("n_images", n_images)
    if n > len(data.x_train):
        raise ValueError(f"the read-outs are fit on the last {n} training images but the "
                         f"training set has {len(data.x_train)}.")
    x_fit, y_fit = data.x_train[-n:], data.y_train[-n:]
    x_test, y_test = data.x_test[: cfg.n_test], data.y_test[: cfg.n_test]

    out = np.full((cfg.reps, cfg.depth - 1), np.nan)
    arrays = weights + ([] if biases is None else biases[1:])
    finite = np.all([np.isfinite(a).reshape(cfg.reps, -1).all(axis=1) for a in arrays], axis=0)
    ok = np.flatnonzero(finite)
    if ok.size == 0:
        return out
    w_ok = [w[ok] for w in weights]
    b_ok = None if biases is None else [None] + [b[ok] for b in biases[1:]]
    if threads is None:
        limit = contextlib.nullcontext()
    else:
        from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

        limit = threadpool_limits(limits=_checks.whole("threads", threads))
    with limit, warnings.catch_warnings():
        # the activities too: a matrix product summed over more BLAS threads changes their
        # last bits, and so a read-out's accuracy (by 0.05-0.15 points at the quick scale)
        act_fit = hidden_activity(w_ok, x_fit, training.ACTIVATION, biases=b_ok)
        act_test = hidden_activity(w_ok, x_test, training.ACTIVATION, biases=b_ok)
        warnings.simplefilter("ignore", ConvergenceWarning)
        for i, rep in enumerate(ok):
            for ell in range(cfg.depth - 1):
                model = make_pipeline(
                    StandardScaler(),
                    LogisticRegression(C=C, solver="lbfgs", max_iter=max_iter,
                                       random_state=RANDOM_STATE),
                )
                model.fit(act_fit[ell][i].astype(np.float64), y_fit)
                predicted = model.predict(act_test[ell][i].astype(np.float64))
                out[rep, ell] = 100.0 * np.mean(predicted == y_test)
    return out
