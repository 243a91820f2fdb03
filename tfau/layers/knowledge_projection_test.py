import numpy as np
import pytest

from tfau.layers.knowledge_projection import (
    G2RL_LAMBDA,
    KnowledgeProjection,
    adaptive_pool_matrix,
    g2rl_total_loss,
    knowledge_projection_loss,
)
from tfau.testing.layer_harness import run_layer_checks


def _maps(batch=2, size=8, channels=3, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, size, size, channels)).astype(
        np.float32
    )


def _numpy_adaptive_pool(m, out):
    """Brute-force adaptive average pool with PyTorch's bin rule."""
    b, h, w, c = m.shape
    res = np.zeros((b, out, out, c))
    for i in range(out):
        h0, h1 = int(np.floor(i * h / out)), int(np.ceil((i + 1) * h / out))
        for j in range(out):
            w0, w1 = int(np.floor(j * w / out)), int(np.ceil((j + 1) * w / out))
            res[:, i, j] = m[:, h0:h1, w0:w1].mean(axis=(1, 2))
    return res


def test_adaptive_pool_matrix_bins():
    np.testing.assert_allclose(
        adaptive_pool_matrix(7, 3),
        [
            [1 / 3, 1 / 3, 1 / 3, 0, 0, 0, 0],
            [0, 0, 1 / 3, 1 / 3, 1 / 3, 0, 0],
            [0, 0, 0, 0, 1 / 3, 1 / 3, 1 / 3],
        ],
        rtol=1e-6,
    )
    block = adaptive_pool_matrix(64, 8)
    assert np.allclose(block.sum(1), 1.0) and np.count_nonzero(block) == 64


@pytest.mark.parametrize(
    "pool,size,pool_size", [("avg", 8, 4), ("avg", 7, 3), ("global", 6, 1), ("none", 4, 1)]
)
def test_matches_numpy(pool, size, pool_size):
    m = _maps(size=size)
    layer = KnowledgeProjection(dim=5, pool=pool, pool_size=pool_size, use_bias=True)
    out = np.asarray(layer(m))
    kernel, bias = layer.get_weights()
    if pool == "avg":
        pooled = _numpy_adaptive_pool(m, pool_size)
    elif pool == "global":
        pooled = m.mean(axis=(1, 2), keepdims=True)
    else:
        pooled = m
    want = pooled.reshape(len(m), -1) @ kernel + bias
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    assert kernel.shape[0] == {"avg": pool_size**2, "global": 1, "none": size**2}[pool] * 3


def test_default_parameter_count():
    layer = KnowledgeProjection()
    layer.build((None, 64, 64, 64))
    assert layer.count_params() == 8 * 8 * 64 * 256  # 1 M, against 67 M unpooled
    assert not layer.use_bias


def test_losses():
    rng = np.random.default_rng(1)
    g, wm = rng.standard_normal((2, 4, 6)).astype(np.float32)
    sq = ((g - wm) ** 2).sum(-1)
    np.testing.assert_allclose(knowledge_projection_loss(g, wm), sq.mean() / 6, rtol=1e-5)
    np.testing.assert_allclose(knowledge_projection_loss(g, wm, "sum"), sq.mean(), rtol=1e-5)
    np.testing.assert_allclose(knowledge_projection_loss(g, wm, "none"), sq, rtol=1e-5)
    with pytest.raises(ValueError):
        knowledge_projection_loss(g, wm, "max")
    assert G2RL_LAMBDA == 0.05
    np.testing.assert_allclose(g2rl_total_loss(2.0, 1.0), 0.05 * 2.0 + 0.95 * 1.0)
    np.testing.assert_allclose(g2rl_total_loss(2.0, 1.0, lam=0.5), 1.5)


def test_rejects_bad_options():
    with pytest.raises(ValueError):
        KnowledgeProjection(pool="max")
    with pytest.raises(ValueError):
        KnowledgeProjection(pool_size=16)(_maps(size=8))


@pytest.mark.parametrize("pool", ["avg", "none"])
def test_harness(pool, tmp_path):
    run_layer_checks(
        KnowledgeProjection,
        dict(dim=5, pool=pool, pool_size=4),
        _maps(size=8),
        expected_output_shape=(2, 5),
        atol=1e-4,
        rtol=1e-4,
        tmp_path=tmp_path,
    )
