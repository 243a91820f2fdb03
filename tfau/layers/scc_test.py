"""SCCLayer against an explicit NumPy brute force, naive vs decomposed, and the shared harness."""

import keras
import numpy as np
import pytest

from tfau.layers.scc import SCCLayer, knn_indices
from tfau.testing.layer_harness import dtype_policy, run_layer_checks

B, H, W, C, K_NN = 2, 3, 3, 6, 3
L = H * W


def _x(seed=0, shape=(B, H, W, C)):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _nodes_np(x, layout):
    b, h, w, c = x.shape
    if layout == "paper":
        return x.transpose(0, 3, 1, 2).reshape(b, c, h * w)
    return x.reshape(b, c, h * w)


def _map_np(nodes, like_shape, layout):
    b, h, w, c = like_shape
    if layout == "paper":
        return nodes.reshape(b, c, h, w).transpose(0, 2, 3, 1)
    return nodes.reshape(b, h, w, c)


def _edge(fi, fj, edge_features):
    """SCC-Heatmap Table 3: (e) [f_i, f_j - f_i] (eq. 3), (f) [f_i, f_j], (g) f_j - f_i."""
    if edge_features == "centre_offset":
        return np.concatenate([fi, fj - fi])
    if edge_features == "centre_neighbour":
        return np.concatenate([fi, fj])
    assert edge_features == "offset"
    return fj - fi


def brute_force(x, kernel, k, layout, training, bn=None, eps=1e-3, edge_features="centre_offset"):
    """Explicit loops over nodes and neighbours, explicit edge vector (e.g. the concat
    [f_i, f_j - f_i]) @ the kernel."""
    x = x.astype(np.float64)
    kernel = kernel.astype(np.float64)
    f = _nodes_np(x, layout)
    nb, n, _ = f.shape
    units = kernel.shape[1]
    edges = np.zeros((nb, n, k, units))
    for b in range(nb):
        for i in range(n):
            dist = np.array([np.sum((f[b, i] - f[b, j]) ** 2) for j in range(n)])
            dist[i] = -1.0
            neighbours = np.argsort(dist, kind="stable")[:k]
            for jj, j in enumerate(neighbours):
                edge = _edge(f[b, i], f[b, j], edge_features)
                edges[b, i, jj] = edge @ kernel
    stats = None
    if bn is not None:
        gamma, beta, mm, mv = (np.asarray(v, np.float64) for v in bn)
        if training:
            mean = edges.reshape(-1, units).mean(0)
            var = edges.reshape(-1, units).var(0)
            stats = (mean, var)
        else:
            mean, var = mm, mv
        edges = (edges - mean) / np.sqrt(var + eps) * gamma + beta
    out = np.maximum(edges, 0.0).max(axis=2)
    return _map_np(out, x.shape, layout), stats


def _set_bn(layer, seed=1):
    rng = np.random.default_rng(seed)
    gamma = rng.normal(size=L).astype("float32")  # about half negative
    gamma[0] = -abs(gamma[0]) - 0.5
    beta = rng.normal(size=L).astype("float32")
    mm = rng.normal(size=L).astype("float32")
    mv = rng.uniform(0.5, 2.0, size=L).astype("float32")
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    layer.moving_mean.assign(mm)
    layer.moving_variance.assign(mv)
    return gamma, beta, mm, mv


@pytest.mark.parametrize("layout", ["paper", "official"])
@pytest.mark.parametrize("naive", [False, True, "transposed"])
@pytest.mark.parametrize("training", [False, True])
def test_matches_brute_force(layout, naive, training):
    x = _x()
    layer = SCCLayer(k=K_NN, layout=layout, naive=naive is True, momentum=0.9)
    if naive == "transposed":  # the decomposed form's K^T F^T product (used for many nodes)
        layer.TRANSPOSED_FORM_MIN_ROWS = 1
    layer.build(x.shape)
    bn = _set_bn(layer)
    got = keras.ops.convert_to_numpy(layer(x, training=training))
    want, stats = brute_force(x, layer.kernel.numpy(), K_NN, layout, training, bn)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    if training:  # moving statistics moved towards the edge statistics
        np.testing.assert_allclose(layer.moving_mean.numpy(), 0.9 * bn[2] + 0.1 * stats[0], atol=1e-4)
        np.testing.assert_allclose(layer.moving_variance.numpy(), 0.9 * bn[3] + 0.1 * stats[1], atol=1e-4)
    else:
        np.testing.assert_array_equal(layer.moving_mean.numpy(), bn[2])


@pytest.mark.parametrize("edge_features", ["centre_neighbour", "offset"])
@pytest.mark.parametrize("naive", [False, True, "transposed"])
@pytest.mark.parametrize("training", [False, True])
def test_table3_edge_functions_match_brute_force(edge_features, naive, training):
    # SCC-Heatmap Table 3 settings (f) (f_i, f_j) and (g) f_j - f_i
    x = _x(4)
    layer = SCCLayer(k=K_NN, naive=naive is True, momentum=0.9, edge_features=edge_features)
    if naive == "transposed":
        layer.TRANSPOSED_FORM_MIN_ROWS = 1
    layer.build(x.shape)
    assert layer.kernel.shape == ((1 if edge_features == "offset" else 2) * L, L)
    bn = _set_bn(layer)
    got = keras.ops.convert_to_numpy(layer(x, training=training))
    want, _ = brute_force(x, layer.kernel.numpy(), K_NN, "paper", training, bn,
                          edge_features=edge_features)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    # without BN too, and the three functions differ on the same phi / omega
    plain = SCCLayer(k=K_NN, use_batch_norm=False, edge_features=edge_features)
    got = keras.ops.convert_to_numpy(plain(x))
    want, _ = brute_force(x, plain.kernel.numpy(), K_NN, "paper", False, None,
                          edge_features=edge_features)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_edge_functions_differ_and_round_trip():
    x = _x(6)
    outs = [keras.ops.convert_to_numpy(SCCLayer(k=K_NN, use_batch_norm=False, edge_features=e,
                                                kernel_initializer="ones")(x))
            for e in ("centre_offset", "centre_neighbour", "offset")]
    assert not np.allclose(outs[0], outs[1]) and not np.allclose(outs[0], outs[2])
    layer = SCCLayer(k=K_NN, edge_features="offset", unbiased_moving_variance=True)
    again = SCCLayer.from_config(layer.get_config())
    assert again.edge_features == "offset" and again.unbiased_moving_variance
    with pytest.raises(ValueError, match="edge_features"):
        SCCLayer(edge_features="f_i")


@pytest.mark.parametrize("naive", [False, True])
def test_unbiased_moving_variance(naive):
    # issue 11 item 5: TF1's fused BN (the official code) feeds n / (n - 1) x the batch variance
    x = _x(8)
    layer = SCCLayer(k=K_NN, naive=naive, momentum=0.9, unbiased_moving_variance=True)
    layer.build(x.shape)
    bn = _set_bn(layer)
    got = keras.ops.convert_to_numpy(layer(x, training=True))
    want, (mean, var) = brute_force(x, layer.kernel.numpy(), K_NN, "paper", True, bn)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)  # normalised by the biased one
    n = B * C * K_NN
    np.testing.assert_allclose(layer.moving_variance.numpy(),
                               0.9 * bn[3] + 0.1 * var * n / (n - 1), rtol=1e-4)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.9 * bn[2] + 0.1 * mean, atol=1e-4)


@pytest.mark.parametrize("layout", ["paper", "official"])
def test_without_batch_norm_is_paper_eq3(layout):
    x = _x(3)
    layer = SCCLayer(k=K_NN, layout=layout, use_batch_norm=False)
    got = keras.ops.convert_to_numpy(layer(x))
    want, _ = brute_force(x, layer.kernel.numpy(), K_NN, layout, False, None)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    assert len(layer.weights) == 1


@pytest.mark.parametrize("min_rows", [10**9, 1])
def test_decomposed_equals_naive_values_and_gradients(min_rows):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradient check uses tf.GradientTape")
    import tensorflow as tf
    x = tf.constant(_x(5))
    fast = SCCLayer(k=4, naive=False)
    fast.TRANSPOSED_FORM_MIN_ROWS = min_rows  # both forms of the decomposed product
    slow = SCCLayer(k=4, naive=True)
    fast.build(x.shape)
    slow.build(x.shape)
    _set_bn(fast)
    slow.set_weights(fast.get_weights())
    grads = []
    for layer in (fast, slow):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * tf.reshape(tf.sin(tf.range(tf.size(y), dtype=tf.float32)), y.shape))
        grads.append((y, *tape.gradient(loss, [x, *layer.trainable_variables])))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(fast.moving_variance.numpy(), slow.moving_variance.numpy(), rtol=1e-5)


def test_knn_self_first_and_duplicates():
    nodes = np.zeros((1, 5, 4), "float32")  # all-duplicate nodes (dead channels)
    nodes[0, 3] = 1.0
    idx = keras.ops.convert_to_numpy(knn_indices(nodes, 3))
    assert idx.shape == (1, 5, 3)
    np.testing.assert_array_equal(idx[0, :, 0], np.arange(5))
    assert 3 not in idx[0, [0, 1, 2, 4], :]  # the zero nodes' neighbours are zero nodes
    x = np.zeros((1, 2, 2, 8), "float32")
    y = keras.ops.convert_to_numpy(SCCLayer(k=7)(x, training=True))
    assert np.all(np.isfinite(y))


def test_parameter_count():
    layer = SCCLayer(k=3)
    layer.build((None, 4, 5, 8))
    assert layer.kernel.shape == (2 * 20, 20)
    assert layer.count_params() == 2 * 20 * 20 + 4 * 20
    # Official SCC-3: 64x64 maps, L = K = 4096 -> 2 * 4096 * 4096 = 33.6 M kernel weights.
    big = SCCLayer(k=7, kernel_initializer="zeros")
    big.build((None, 64, 64, 64))
    assert int(np.prod(big.kernel.shape)) == 2 * 4096 * 4096 == 33_554_432


def test_layouts_differ_and_bad_arguments():
    x = _x(7)
    a = SCCLayer(k=K_NN, layout="paper", kernel_initializer="ones", use_batch_norm=False)(x)
    b = SCCLayer(k=K_NN, layout="official", kernel_initializer="ones", use_batch_norm=False)(x)
    assert not np.allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    with pytest.raises(ValueError):
        SCCLayer(layout="nchw")
    with pytest.raises(ValueError):
        SCCLayer(k=7).build((None, 4, 4, 3))  # fewer nodes than k
    with pytest.raises(ValueError):
        SCCLayer(filters=10).build((None, 4, 4, 8))


def test_mixed_precision_close_to_float32():
    x = _x(9)
    ref_layer = SCCLayer(k=K_NN)
    ref = keras.ops.convert_to_numpy(ref_layer(x, training=True))
    with dtype_policy("mixed_bfloat16"):
        layer = SCCLayer(k=K_NN)
        layer.build(x.shape)
        layer.set_weights(ref_layer.get_weights())
        # moving stats were updated by ref_layer's call: compare training-mode outputs
        got = layer(x, training=True)
    assert keras.backend.standardize_dtype(got.dtype) == "bfloat16"
    assert layer.moving_mean.dtype == "float32"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got).astype("float32"), ref, atol=0.15, rtol=0.1)


@pytest.mark.parametrize(
    "kwargs,call",
    [({"k": 3}, {}), ({"k": 3, "layout": "official"}, {"training": True}), ({"k": 3, "naive": True}, {})],
)
def test_harness(kwargs, call):
    run_layer_checks(SCCLayer, kwargs, _x(11, (2, 4, 4, 5)), call, expected_output_shape=(2, 4, 4, 5))
