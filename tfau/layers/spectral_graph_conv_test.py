"""SpectralGraphConv against the explicit [HW, HW] Laplacian, stability, and the shared harness."""

import keras
import numpy as np
import pytest

from tfau.layers.spectral_graph_conv import SpectralGraphConv
from tfau.testing.layer_harness import run_layer_checks


def _x(seed=0, shape=(2, 8, 8, 5), scale=1.0):
    return (scale * np.random.default_rng(seed).normal(size=shape)).astype("float32")


def _softplus(z):
    return np.logaddexp(0.0, z)


def brute_force(layer, x, activation=True):
    """Explicit A = Phi Lambda Phi^T, D, L = I - D^-1/2 A D^-1/2, X1 = ReLU(L X0 Theta)."""
    w = {v.name: v.numpy().astype(np.float64) for v in layer.weights}
    x = x.astype(np.float64)
    b, h, wd, c = x.shape
    outs, phis = [], []
    for i in range(b):
        x0 = x[i].reshape(h * wd, c)
        logits = x0 @ w["phi_kernel"] + w["phi_bias"]
        phi = _softplus(logits) if layer.phi_activation == "softplus" else np.maximum(logits, 0)
        lam = 1.0 / (1.0 + np.exp(-(x0.mean(0) @ w["lambda_kernel"] + w["lambda_bias"])))
        a = phi @ np.diag(lam) @ phi.T  # [HW, HW]
        d = a.sum(axis=1)
        d_inv_sqrt = np.diag(1.0 / np.sqrt(d))
        lap = np.eye(h * wd) - d_inv_sqrt @ a @ d_inv_sqrt
        y = lap @ x0 @ w["theta_kernel"]
        if layer.use_bias:
            y = y + w["theta_bias"]
        if activation:
            y = np.maximum(y, 0.0)
        outs.append(y.reshape(h, wd, -1))
        phis.append(phi.reshape(h, wd, -1))
    return np.stack(outs), np.stack(phis)


@pytest.mark.parametrize("phi_activation", ["softplus", "relu"])
@pytest.mark.parametrize("use_bias", [False, True])
def test_matches_explicit_laplacian(phi_activation, use_bias):
    x = _x(1)
    layer = SpectralGraphConv(
        3, units=4, phi_activation=phi_activation, use_bias=use_bias, return_phi=True,
        bias_initializer="random_normal",
    )
    if phi_activation == "relu":  # keep every pixel's Phi row non-zero for the explicit D^-1/2
        layer.build(x.shape)
        layer.phi_bias.assign(np.full(3, 5.0, "float32"))
    y, phi = (keras.ops.convert_to_numpy(t) for t in layer(x))
    want_y, want_phi = brute_force(layer, x)
    assert y.shape == (2, 8, 8, 4) and phi.shape == (2, 8, 8, 3)
    np.testing.assert_allclose(phi, want_phi, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(y, want_y, atol=1e-4, rtol=1e-4)
    assert np.any(y > 0) and np.any(y == 0)


def test_linear_activation_and_default_units():
    x = _x(2, (1, 4, 6, 3))
    layer = SpectralGraphConv(2, activation=None)
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (1, 4, 6, 3)
    np.testing.assert_allclose(y, brute_force(layer, x, activation=False)[0], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("phi_activation", ["softplus", "relu"])
@pytest.mark.parametrize("scale", [0.0, 1e6, 1e15])
def test_no_nan_on_zero_or_huge_inputs(phi_activation, scale):
    x = _x(3, (2, 4, 4, 5), scale=scale)
    layer = SpectralGraphConv(3, phi_activation=phi_activation, return_phi=True)
    for t in layer(x):
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(t))), "non-finite value"
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y, phi = layer(x)
        loss = tf.reduce_sum(y) + tf.reduce_sum(phi)
    grads = tape.gradient(loss, [x, *layer.trainable_variables])
    for t in (y, phi, *grads):
        assert np.all(np.isfinite(t.numpy())), "non-finite value"


def test_phi_all_zero_rows_keep_features():
    x = _x(4, (1, 4, 4, 3))
    layer = SpectralGraphConv(2, phi_activation="relu", activation=None, kernel_initializer="zeros")
    layer.build(x.shape)
    layer.theta.assign(np.eye(3, dtype="float32"))
    # Phi == 0 everywhere: P = 0, L X0 = X0.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), x, atol=1e-6)


def test_bad_arguments_and_parameter_count():
    with pytest.raises(ValueError):
        SpectralGraphConv(3, phi_activation="exp")
    layer = SpectralGraphConv(12, units=270)
    layer.build((None, 64, 64, 270))
    assert layer.count_params() == 2 * (270 * 12 + 12) + 270 * 270


@pytest.mark.parametrize(
    "kwargs",
    [{"n_nodes": 3}, {"n_nodes": 2, "units": 4, "return_phi": True, "phi_activation": "relu"}],
)
def test_harness(kwargs):
    units = kwargs.get("units", 5)
    expected = (2, 8, 8, units)
    if kwargs.get("return_phi"):
        expected = (expected, (2, 8, 8, kwargs["n_nodes"]))
    run_layer_checks(SpectralGraphConv, kwargs, _x(5), expected_output_shape=expected)


def _localised(hot2, background, lambda_bias):
    """A localised Phi on 24x24 (issue 11 item 8): column 0 hot (logit +10) on a 3x3 patch,
    column 1 hot (logit ``hot2``) on a 4x4 patch, ``background`` logit elsewhere."""
    rng = np.random.default_rng(0)
    x = np.zeros((1, 24, 24, 3), np.float32)
    x[0, 3:6, 3:6, 0] = 1.0
    x[0, 15:19, 14:18, 1] = 1.0
    x[..., 2] = rng.normal(size=(1, 24, 24))
    layer = SpectralGraphConv(2, units=3, activation=None)
    layer.build(x.shape)
    layer.phi_kernel.assign(np.array([[10 - background, 0], [0, hot2 - background], [0, 0]],
                                     np.float32))
    layer.phi_bias.assign(np.full(2, background, np.float32))
    layer.lambda_kernel.assign(np.zeros((3, 2), np.float32))
    layer.lambda_bias.assign(np.full(2, lambda_bias, np.float32))
    layer.theta.assign(np.eye(3, dtype=np.float32))
    return layer, x


@pytest.mark.parametrize("hot2,background,lambda_bias",
                         [(10.0, -12.0, 0.0), (10.0, -12.0, -8.0), (-4.0, -20.0, -4.0)])
def test_localised_phi_follows_equation_2(hot2, background, lambda_bias):
    # Degrees of the background pixels are ~1e-6 of the hot ones: an additive 1e-6 on the
    # degrees moved the output off eq. 2 by 8e-5 (second case) and 7% (nearly disconnected
    # groups, last case) of its range; a floor leaves them alone.
    layer, x = _localised(hot2, background, lambda_bias)
    y = keras.ops.convert_to_numpy(layer(x))
    want = brute_force(layer, x, activation=False)[0]
    assert np.abs(y - want).max() < 1e-5 * (want.max() - want.min())


def test_degree_floor_config():
    layer = SpectralGraphConv(2, epsilon=1e-8)  # older configs
    assert layer.degree_floor == 1e-8 and layer.get_config()["degree_floor"] == 1e-8
    with pytest.raises(ValueError, match="degree_floor"):
        SpectralGraphConv(2, degree_floor=0.0)


def test_weight_names_say_which_are_kernels():
    # Issue 11 item 10: an L2 on kernels finds Phi's, Lambda's and Theta's matrices by name.
    layer = SpectralGraphConv(2, units=3, use_bias=True)
    layer.build((None, 4, 4, 5))
    kernels = sorted(v.name for v in layer.weights if v.name.endswith("kernel"))
    assert kernels == ["lambda_kernel", "phi_kernel", "theta_kernel"]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="GradientTape")
def test_saturated_lambda_keeps_finite_gradients():
    # Weight seeds where Lambda's sigmoid saturates at huge inputs: dividing Lambda by its
    # maximum in linear space gave NaN gradients (0 * inf); in log space they stay finite.
    import tensorflow as tf

    for seed, scale in ((2, 1e6), (4, 1e15), (5, 1e15)):
        keras.utils.set_random_seed(seed)
        x = tf.constant(_x(3, (2, 4, 4, 5), scale=scale))
        layer = SpectralGraphConv(3, return_phi=True)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y, phi = layer(x)
            loss = tf.reduce_sum(y) + tf.reduce_sum(phi)
        for g in tape.gradient(loss, [x, *layer.trainable_variables]):
            assert np.all(np.isfinite(g.numpy())), "non-finite gradient"
