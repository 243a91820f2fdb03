import numpy as np
import pytest

from tfau.layers.landmark_gcn import LandmarkGCN, landmark_adjacency, normalize_landmarks
from tfau.testing.layer_harness import run_layer_checks

SMALL = dict(units=(4, 5, 6), conv_units=3, fc_units=(7, 5, 4))


def _landmarks(batch=2, seed=0):
    rng = np.random.default_rng(seed)
    # A face-sized cloud of 68 points in a 256x256 frame.
    return (128 + 40 * rng.standard_normal((batch, 68, 2))).astype(np.float32)


def _numpy_gcn(layer, p):
    """Equations 3-5 with dense NumPy matrix products."""
    p = p.astype(np.float64)
    if layer.input_normalization == "rms":
        p = p - p.mean(axis=1, keepdims=True)
        p = p / np.sqrt((p**2).sum(-1).mean(-1))[:, None, None]
    sigma = layer.effective_sigma
    out = []
    for pts in p:
        n = len(pts)
        d = np.array([[np.linalg.norm(pts[i] - pts[j]) for j in range(n)] for i in range(n)])
        if layer.adjacency == "gaussian":
            a = np.exp(-(d**2) / (2 * sigma**2))
        else:
            a = 1.0 / (1.0 + d / sigma)
        deg = a.sum(1)
        if layer.normalize == "symmetric":
            a = np.diag(deg**-0.5) @ a @ np.diag(deg**-0.5)
        elif layer.normalize == "row":
            a = np.diag(1.0 / deg) @ a
        weights = [np.asarray(w, np.float64) for w in layer.get_weights()]
        n_gcn = len(layer.units)
        f, feats = pts, []
        for w in weights[:n_gcn]:
            f = np.maximum(a @ f @ w, 0.0)
            feats.append(f)
        conv = np.maximum(np.concatenate(feats, -1) @ weights[n_gcn] + weights[n_gcn + 1], 0.0)
        x = conv.reshape(-1)
        fc = weights[n_gcn + 2 :]
        for i in range(0, len(fc), 2):
            x = x @ fc[i] + fc[i + 1]
            if i + 2 < len(fc):
                x = np.maximum(x, 0.0)
        out.append(x)
    return np.stack(out)


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(adjacency="inverse", normalize="row", sigma=0.5),
        dict(normalize="none", input_normalization="none", sigma=30.0),
    ],
)
def test_matches_numpy(options):
    layer = LandmarkGCN(**SMALL, bias_initializer="random_normal", **options)
    p = _landmarks()
    got = np.asarray(layer(p))
    np.testing.assert_allclose(got, _numpy_gcn(layer, p), rtol=1e-4, atol=1e-5)
    assert got.shape == (2, 4)


def test_similarity_invariant_with_rms_normalisation():
    layer = LandmarkGCN(**SMALL)
    p = _landmarks()
    moved = 1.7 * p + np.array([12.0, -30.0], np.float32)
    np.testing.assert_allclose(np.asarray(layer(moved)), np.asarray(layer(p)), atol=1e-4)


def test_adjacency_properties():
    p = normalize_landmarks(_landmarks(3))
    p_np = np.asarray(p)
    np.testing.assert_allclose(np.sqrt((p_np**2).sum(-1).mean(-1)), 1.0, rtol=1e-5)
    sym = np.asarray(landmark_adjacency(p, normalize="symmetric"))
    np.testing.assert_allclose(sym, np.swapaxes(sym, 1, 2), atol=1e-6)
    # D^-1/2 A D^-1/2 of a positive kernel has spectral radius 1.
    np.testing.assert_allclose(np.abs(np.linalg.eigvalsh(sym)).max(-1), 1.0, atol=1e-4)
    row = np.asarray(landmark_adjacency(p, adjacency="inverse", normalize="row"))
    np.testing.assert_allclose(row.sum(-1), 1.0, atol=1e-5)
    raw = np.asarray(landmark_adjacency(p, normalize="none"))
    np.testing.assert_allclose(np.diagonal(raw, axis1=1, axis2=2), 1.0)  # self loops


def test_rejects_bad_options():
    with pytest.raises(ValueError):
        LandmarkGCN(adjacency="knn")
    with pytest.raises(ValueError):
        LandmarkGCN(normalize="laplacian")


def test_default_sizes():
    layer = LandmarkGCN()
    g = layer(_landmarks(1))
    assert tuple(g.shape) == (1, 256)
    # 3 GCN kernels, conv kernel + bias, 3 FC kernels + biases.
    assert len(layer.trainable_weights) == 3 + 2 + 6


def test_harness(tmp_path):
    run_layer_checks(
        LandmarkGCN,
        dict(SMALL, adjacency="gaussian", sigma=0.3),
        _landmarks(2),
        expected_output_shape=(2, 4),
        atol=1e-4,
        rtol=1e-4,
        tmp_path=tmp_path,
    )
