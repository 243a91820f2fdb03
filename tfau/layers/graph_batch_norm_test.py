import keras
import numpy as np
import pytest

from tfau.layers.graph_batch_norm import (
    GraphBatchNorm,
    fold_aus,
    mix_graph,
    pearson_correlation,
    unfold_aus,
)
from tfau.testing.layer_harness import run_layer_checks

A, C = 3, 4
CORR = np.array([[1.0, 0.6, -0.4], [0.6, 1.0, 0.1], [-0.4, 0.1, 1.0]], np.float32)


def _x(batch=6, seed=0):
    rng = np.random.default_rng(seed)
    return (2.0 + 3.0 * rng.standard_normal((batch, 3, 3, C))).astype(np.float32)


def _randomise(layer, seed=1):
    """Non-trivial gamma, beta and moving statistics (the graph is left as it is)."""
    rng = np.random.default_rng(seed)
    shape = (layer.n_aus, layer.channels)
    layer.gamma.assign(1.0 + 0.5 * rng.standard_normal(shape))
    layer.beta.assign(rng.standard_normal(shape))
    layer.moving_mean.assign(rng.standard_normal(shape))
    layer.moving_variance.assign(0.5 + rng.random(shape))


def _values(layer):
    variables = (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance)
    return [np.asarray(v.numpy()) for v in variables]


# ----------------------------------------------------------------------- NumPy references


def _np_mix(params, w, graph_norm):
    """Equation 5, element by element."""
    n = len(w)
    out = np.zeros_like(params, dtype=np.float64)
    for c in range(n):
        wc = [1.0 if k == c else float(w[c, k]) for k in range(n)]
        if graph_norm == "positive":
            wc = [max(v, 0.0) for v in wc]
        norm = sum(abs(v) for v in wc) if graph_norm == "abs" else sum(wc)
        out[c] = sum(wc[k] * params[k] for k in range(n)) / norm
    return out


def _np_forward(x, au, gamma, beta, w, graph_norm, mean=None, var=None, eps=1e-5):
    """Equation 4 with per-AU batch statistics (mean is None) or the given statistics."""
    g_mix, b_mix = _np_mix(gamma, w, graph_norm), _np_mix(beta, w, graph_norm)
    x = x.astype(np.float64)
    y = np.zeros_like(x)
    stats = {}
    for a in np.unique(au):
        sel = au == a
        if mean is None:
            mu = x[sel].reshape(-1, x.shape[-1]).mean(0)
            v = x[sel].reshape(-1, x.shape[-1]).var(0)
            stats[a] = (mu, v)
        else:
            mu, v = mean[a], var[a]
        y[sel] = g_mix[a] * (x[sel] - mu) / np.sqrt(v + eps) + b_mix[a]
    return y, stats


# ----------------------------------------------------------------------- Pearson


def test_pearson_matches_corrcoef_and_handles_constants():
    rng = np.random.default_rng(0)
    labels = (rng.random((200, 4)) < [0.3, 0.5, 0.2, 0.0]).astype(np.float32)
    labels[:, 1] = np.maximum(labels[:, 1], labels[:, 0])  # correlated pair
    r = pearson_correlation(labels)
    want = np.corrcoef(labels[:, :3].T)
    np.testing.assert_allclose(r[:3, :3], want, atol=1e-5)
    np.testing.assert_array_equal(r[3, :3], 0.0)  # constant column
    np.testing.assert_array_equal(r[:3, 3], 0.0)
    np.testing.assert_array_equal(np.diag(r), 1.0)
    assert r.dtype == np.float32 and r[0, 1] > 0.3


def test_pearson_pairwise_complete_mask():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 6, (100, 3)).astype(np.float32)
    mask = (rng.random((100, 3)) > 0.2).astype(np.float32)
    labels_9 = np.where(mask > 0, labels, 9.0)  # BP4D's unknown code
    r = pearson_correlation(labels_9, mask)
    for i in range(3):
        for j in range(3):
            if i != j:
                rows = (mask[:, i] > 0) & (mask[:, j] > 0)
                want = np.corrcoef(labels[rows, i], labels[rows, j])[0, 1]
                np.testing.assert_allclose(r[i, j], want, atol=1e-5)
    with_nan = np.where(mask > 0, labels, np.nan)
    np.testing.assert_allclose(pearson_correlation(with_nan), r, atol=1e-6)


# ----------------------------------------------------------------------- equation 5


@pytest.mark.parametrize("graph_norm", ["abs", "sum", "positive"])
def test_mix_graph_matches_equation_5(graph_norm):
    rng = np.random.default_rng(2)
    params = rng.standard_normal((A, C)).astype(np.float32)
    w = CORR.copy()
    w[np.diag_indices(A)] = 7.0  # the diagonal is ignored: w_cc = 1
    got = np.asarray(mix_graph(params, keras.ops.convert_to_tensor(w), graph_norm))
    np.testing.assert_allclose(got, _np_mix(params, CORR, graph_norm), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------- equation 4, training


@pytest.mark.parametrize("graph_norm", ["abs", "sum", "positive"])
def test_training_matches_numpy_and_updates_only_present_aus(graph_norm):
    layer = GraphBatchNorm(A, correlation=CORR, graph_norm=graph_norm)
    x = _x()
    au = np.array([0, 0, 2, 0, 2, 2], np.int32)  # AU 1 absent
    layer(x, au)  # build
    _randomise(layer)
    gamma, beta, mean0, var0 = _values(layer)
    y = np.asarray(layer(x, au, training=True))
    want, stats = _np_forward(x, au, gamma, beta, CORR, graph_norm)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
    mean1, var1 = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    for a in (0, 2):
        np.testing.assert_allclose(mean1[a], 0.9 * mean0[a] + 0.1 * stats[a][0], rtol=1e-5)
        np.testing.assert_allclose(var1[a], 0.9 * var0[a] + 0.1 * stats[a][1], rtol=1e-5)
    np.testing.assert_array_equal(mean1[1], mean0[1])
    np.testing.assert_array_equal(var1[1], var0[1])


def test_inference_uses_moving_statistics_and_channels_first():
    layer = GraphBatchNorm(A, correlation=CORR, axis=1)
    x = np.moveaxis(_x(), -1, 1)  # [B, C, H, W]
    au = np.array([1, 0, 2, 2, 1, 0], np.int32)
    layer(x, au)
    _randomise(layer)
    gamma, beta, mean, var = _values(layer)
    before = layer.get_weights()
    y = np.asarray(layer(x, au, training=False))
    want, _ = _np_forward(np.moveaxis(x, 1, -1), au, gamma, beta, CORR, "abs", mean, var)
    np.testing.assert_allclose(y, np.moveaxis(want, -1, 1), rtol=1e-4, atol=1e-4)
    for a, b in zip(layer.get_weights(), before):
        np.testing.assert_array_equal(a, b)  # inference moves nothing


def test_identity_graph_without_correlation_is_au_specific_bn():
    layer = GraphBatchNorm(A)
    x, au = _x(), np.array([0, 1, 2, 0, 1, 2], np.int32)
    layer(x, au)
    _randomise(layer)
    gamma, beta, mean, var = _values(layer)
    np.testing.assert_array_equal(layer.graph.numpy(), np.eye(A))
    assert not layer.graph.trainable
    y = np.asarray(layer(x, au))
    want = gamma[au][:, None, None] * (x - mean[au][:, None, None]) / np.sqrt(
        var[au][:, None, None] + 1e-5
    ) + beta[au][:, None, None]
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)


def test_scalar_au_index_broadcasts_to_the_batch():
    layer = GraphBatchNorm(A, correlation=CORR)
    x = _x()
    full = np.asarray(layer(x, np.full(6, 2, np.int32), training=True))
    scalar = np.asarray(layer(x, np.int32(2), training=True))
    listed = np.asarray(layer([x, np.full(6, 2, np.int32)], training=True))
    np.testing.assert_allclose(scalar, full, atol=1e-6)
    np.testing.assert_allclose(listed, full, atol=1e-6)


# ----------------------------------------------------------------------- all AUs in one pass


@pytest.mark.parametrize("training", [False, True])
def test_folded_pass_equals_per_au_loop(training):
    def make():
        layer = GraphBatchNorm(A, correlation=CORR)
        layer(_x(), np.zeros(6, np.int32))
        _randomise(layer)
        return layer

    x = _x()
    folded_layer, loop_layer = make(), make()
    xf, auf = fold_aus(x, A)
    assert tuple(xf.shape) == (A * 6, 3, 3, C)
    np.testing.assert_array_equal(np.asarray(auf), np.repeat(np.arange(A), 6))
    folded = np.asarray(unfold_aus(folded_layer(xf, auf, training=training), A))
    assert folded.shape == (6, A, 3, 3, C)
    for a in range(A):
        per_au = np.asarray(loop_layer(x, np.full(6, a, np.int32), training=training))
        np.testing.assert_allclose(folded[:, a], per_au, rtol=1e-5, atol=1e-5)
    # Each AU's statistics moved once, by the same amount, either way.
    np.testing.assert_allclose(
        folded_layer.moving_mean.numpy(), loop_layer.moving_mean.numpy(), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        folded_layer.moving_variance.numpy(),
        loop_layer.moving_variance.numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


# ----------------------------------------------------------------------- learnable graph


def test_learnable_graph_trains_and_keeps_its_diagonal():
    layer = GraphBatchNorm(A, learnable_graph=True, name="gbn_learn")
    x, au = _x(), np.array([0, 1, 2, 0, 1, 2], np.int32)
    layer(x, au)
    graph = layer.graph.numpy()
    assert layer.graph.trainable
    np.testing.assert_array_equal(np.diag(graph), 1.0)
    off = graph[~np.eye(A, dtype=bool)]
    assert np.all(off != 0) and np.all(np.abs(off) < 0.1)  # identity + small noise
    # The diagonal is held at 1 whatever the variable says.
    y = np.asarray(layer(x, au))
    layer.graph.assign(graph + 5.0 * np.eye(A, dtype=np.float32))
    np.testing.assert_allclose(np.asarray(layer(x, au)), y, atol=1e-6)
    # Initialised from the correlation when given; gradients reach the graph.
    layer = GraphBatchNorm(A, correlation=CORR, learnable_graph=True)
    x_in = keras.Input((3, 3, C))
    au_in = keras.Input((), dtype="int32")
    h = layer(x_in, au_in)
    model = keras.Model([x_in, au_in], keras.layers.GlobalAveragePooling2D()(h))
    _randomise(layer)
    np.testing.assert_allclose(layer.graph.numpy(), CORR)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit([x, au], np.ones((6, C), np.float32), batch_size=6, epochs=1, verbose=0)
    assert np.abs(layer.graph.numpy() - CORR).max() > 1e-6


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        GraphBatchNorm(A, graph_norm="softmax")
    with pytest.raises(ValueError):
        GraphBatchNorm(A, correlation=np.eye(A + 1))
    with pytest.raises(ValueError):
        GraphBatchNorm(A)(_x())


# ----------------------------------------------------------------------- shared harness


@pytest.mark.parametrize("training", [True, False])
def test_harness(training, tmp_path):
    run_layer_checks(
        GraphBatchNorm,
        dict(
            n_aus=A,
            correlation=CORR.tolist(),
            graph_norm="abs",
            gamma_initializer="random_normal",
            beta_initializer="random_normal",
            moving_mean_initializer="random_normal",
        ),
        [_x(4), np.array([0, 2, 2, 1], np.int32)],
        call_kwargs=dict(training=training),
        expected_output_shape=(4, 3, 3, C),
        atol=1e-4,
        rtol=1e-4,
        tmp_path=tmp_path,
    )


# ----------------------------------------------------------------------- Table 6, item 10


def test_unseen_au_statistics_are_the_graph_weighted_mixture():
    # RE-Net Table 6: AU 2 never trained; its statistics mix the trained AUs' by |w_2k|.
    layer = GraphBatchNorm(A, correlation=CORR, unseen_aus=[2])
    x, au = _x(), np.array([0, 2, 1, 2, 0, 2], np.int32)
    layer(x, au)
    _randomise(layer)
    gamma, beta, mean, var = _values(layer)
    p = np.array([0.4, 0.1]) / 0.5  # |w_20|, |w_21| normalised
    mu = p[0] * mean[0] + p[1] * mean[1]
    second = p[0] * (var[0] + mean[0] ** 2) + p[1] * (var[1] + mean[1] ** 2)
    want_mean, want_var = mean.copy(), var.copy()
    want_mean[2], want_var[2] = mu, second - mu ** 2
    got_mean, got_var = (np.asarray(t) for t in layer.inference_statistics())
    np.testing.assert_allclose(got_mean, want_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_var, want_var, rtol=1e-5, atol=1e-6)
    y = np.asarray(layer(x, au, training=False))
    want, _ = _np_forward(x, au, gamma, beta, CORR, "abs", want_mean, want_var)  # eq. 4-5
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
    # Without the option the unseen AU would use its own (never updated) statistics.
    plain = GraphBatchNorm(A, correlation=CORR)
    plain(x, au)
    plain.set_weights(layer.get_weights())
    assert not np.allclose(np.asarray(plain(x, au)), y, atol=1e-3)
    # No correlation to the trained AUs: their plain average.
    iso = GraphBatchNorm(A, unseen_aus=[0])
    iso(x, au)
    _randomise(iso)
    m, v = (np.asarray(t) for t in iso.inference_statistics())
    _, _, mean, var = _values(iso)
    np.testing.assert_allclose(m[0], mean[1:].mean(0), rtol=1e-5, atol=1e-6)
    assert GraphBatchNorm.from_config(layer.get_config()).unseen_aus == [2]
    with pytest.raises(ValueError, match="unseen_aus"):
        GraphBatchNorm(A, unseen_aus=[3])


def test_affine_parameters_and_graph_are_marked_no_weight_decay():
    # Issue 11 item 10: gamma/beta [A, C] and the graph [A, A] have rank 2 but are no kernels.
    layer = GraphBatchNorm(A, correlation=CORR, learnable_graph=True)
    layer(_x(), np.zeros(6, np.int32))
    marked = {v.name for v in layer.weights if getattr(v, "no_weight_decay", False)}
    assert marked == {"gamma", "beta", "graph"}
    assert [v.name for v in layer.no_weight_decay_variables()] == ["gamma", "beta", "graph"]
