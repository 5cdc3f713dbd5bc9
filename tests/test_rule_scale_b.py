"""Tests of ``Rule.scale_b``: ``B`` scaled as a whole to the norm of a column-normalised ``B``."""

from __future__ import annotations

import numpy as np
import pytest

from fa_lib import ensembles, linalg
from fa_lib.network import init_network, normalise_columns
from fa_lib.rule import Rule, RuleStack, prepare, train_step

SIZES = (4, 6, 5, 3)  # W_0 4x6, W_1 6x5, W_2 5x3: B_1 5x6, B_2 3x5


def _net(seed: int = 0, reps: int = 2):
    return init_network(ensembles.streams(seed, reps), SIZES, "tanh_relu")


def test_scale_b_sets_the_norm_of_a_column_normalised_b_and_keeps_directions():
    gamma = 0.8
    net = _net(seed=3)
    w0 = [w.copy() for w in net.W]
    b0 = [None if b is None else b.copy() for b in net.B]
    prepare(net, Rule("fa", eta=0.01, scale_b=gamma))
    for w, w_start in zip(net.W, w0, strict=True):  # no WN on W
        np.testing.assert_array_equal(w, w_start)
    for ell in range(1, net.depth):
        b = net.B[ell]
        # the norm that B_l has once its columns are rescaled to gamma
        target = linalg.frobenius_norm(normalise_columns(b0[ell], gamma))
        np.testing.assert_allclose(target, gamma * np.sqrt(b.shape[-1]), rtol=1e-12)
        np.testing.assert_allclose(linalg.frobenius_norm(b), target, rtol=1e-12)
        # one factor per repetition and layer: every direction kept, columns not equalised
        factor = linalg.frobenius_norm(b) / linalg.frobenius_norm(b0[ell])
        np.testing.assert_allclose(b, b0[ell] * factor[:, None, None], rtol=1e-12)
        assert not np.allclose(np.sqrt(np.sum(b * b, axis=-2)), gamma)
    # B stays fixed during FA's learning
    b_start = [None if b is None else b.copy() for b in net.B]
    g = ensembles.streams(5, 2)
    train_step(net, Rule("fa", eta=0.01, scale_b=gamma),
               ensembles.normal(g, (7, SIZES[0])), ensembles.normal(g, (7, SIZES[-1])))
    for ell in range(1, net.depth):
        np.testing.assert_array_equal(net.B[ell], b_start[ell])


def test_scale_b_in_a_stack_scales_only_its_block():
    reps = 2
    net = init_network(ensembles.streams(4, 2 * reps), SIZES, "tanh_relu")
    b0 = [None if b is None else b.copy() for b in net.B]
    prepare(net, RuleStack([Rule("fa", eta=0.01), Rule("fa", eta=0.01, scale_b=1.5)], reps))
    for ell in range(1, net.depth):
        np.testing.assert_array_equal(net.B[ell][:reps], b0[ell][:reps])
        np.testing.assert_allclose(linalg.frobenius_norm(net.B[ell][reps:]),
                                   1.5 * np.sqrt(net.B[ell].shape[-1]), rtol=1e-12)


def test_as_dict_leaves_out_scale_b_by_default():
    plain = Rule("fa", eta=0.0005)
    assert "scale_b" not in plain.as_dict()
    assert plain.as_dict() == {"pathway": {"name": "fa"}, "eta": 0.0005, "wn_gamma": None,
                               "normalise_b": False, "layer_norm": None, "match_b": False}
    assert Rule("fa", eta=0.0005, scale_b=1).as_dict()["scale_b"] == 1.0


@pytest.mark.parametrize("value", [0.0, -1.0, np.nan, np.inf])
def test_scale_b_must_be_positive(value):
    with pytest.raises(ValueError, match="scale_b must be a finite number > 0"):
        Rule("fa", scale_b=value)


@pytest.mark.parametrize("value", ["1", True, None])
def test_scale_b_must_be_a_number(value):
    if value is None:
        assert Rule("fa", scale_b=None).scale_b is None
        return
    with pytest.raises(TypeError, match="scale_b must be a real number"):
        Rule("fa", scale_b=value)


def test_scale_b_rejects_what_it_cannot_mean():
    with pytest.raises(ValueError, match="normalise_b .*not both"):
        Rule("fa", wn_gamma=1.0, normalise_b=True, scale_b=1.0)
    with pytest.raises(ValueError, match="match_b .*not both"):
        Rule("fa", match_b=True, scale_b=1.0)
    with pytest.raises(ValueError, match="'usf' pathway.*computed from W"):
        Rule("usf", scale_b=1.0)
    with pytest.raises(ValueError, match="'bp' pathway.*not used"):
        Rule("bp", scale_b=1.0)
    assert Rule("fa", wn_gamma=1.0, scale_b=1.0).scale_b == 1.0  # with WN on W: allowed


def test_dfa_at_noklands_scale_keeps_its_draw_and_refuses_a_second_start_rescaling():
    """D uniform on ±1/sqrt(n_l): the same draw mapped through the normal CDF; keys kept."""
    import numpy as np
    import pytest

    from fa_lib import ensembles, network, pathways, rule
    from fa_lib.rule import Rule

    assert pathways.get("dfa").as_dict() == {"name": "dfa"}
    assert pathways.get("kp").as_dict() == {"name": "kp", "decay": 1e-3}
    net = network.init_network(ensembles.streams(3, 2), (12, 8, 8, 5), "tanh_relu", sd=0.1,
                               pathway="dfa")
    drawn = net.B[1].copy()
    rule.prepare(net, Rule(pathways.get("dfa", uniform_from=0.1), eta=0.01))
    bound = 1 / np.sqrt(8)
    assert np.all(np.abs(net.B[1]) < bound)
    assert np.array_equal(np.argsort(drawn, axis=None), np.argsort(net.B[1], axis=None))
    for kw in ({"wn_gamma": 1.0, "normalise_b": True}, {"scale_b": 1.0}):
        with pytest.raises(ValueError, match="uniform_from"):
            Rule(pathways.get("dfa", uniform_from=0.1), eta=0.01, **kw)


def test_kolen_pollack_b_follows_wns_rescaling():
    """With follow_wn, W^T - B is rescaled as W is: B stays W^T's when it started there."""
    import numpy as np

    from fa_lib import ensembles, linalg, network, pathways, rule
    from fa_lib.rule import Rule

    net = network.init_network(ensembles.streams(4, 2), (12, 8, 8, 5), "tanh_relu", sd=0.1,
                               pathway="kp")
    net.B = [None, *(linalg.transpose(w).copy() for w in net.W[1:])]
    r = Rule(pathways.get("kp", follow_wn=True), eta=0.05, wn_gamma=1.0)
    rule.prepare(net, r)
    net.B = [None, *(linalg.transpose(w).copy() for w in net.W[1:])]  # after WN's start
    x = np.random.default_rng(0).normal(size=(2, 16, 12))
    t = np.random.default_rng(1).normal(size=(2, 16, 5))
    for _ in range(20):
        rule.train_step(net, r, x, t)
    for ell in (1, 2):
        np.testing.assert_allclose(net.B[ell], linalg.transpose(net.W[ell]), atol=1e-12)
    plain = network.init_network(ensembles.streams(4, 2), (12, 8, 8, 5), "tanh_relu", sd=0.1,
                                 pathway="kp")
    r0 = Rule("kp", eta=0.05, wn_gamma=1.0)
    rule.prepare(plain, r0)
    plain.B = [None, *(linalg.transpose(w).copy() for w in plain.W[1:])]
    for _ in range(20):
        rule.train_step(plain, r0, x, t)
    assert not np.allclose(plain.B[1], linalg.transpose(plain.W[1]), atol=1e-6)  # WN drifts it
