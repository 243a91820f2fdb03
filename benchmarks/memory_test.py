"""The memory section's explicit-A oracle and its per-variant child."""
import numpy as np
import tensorflow as tf

from benchmarks import memory


def test_explicit_a_reference_matches_layer():
    from tfau.layers import SpectralGraphConv

    x = tf.constant(np.random.default_rng(0).uniform(0, 1, (2, 4, 4, 6)).astype("float32"))
    layer = SpectralGraphConv(n_nodes=3)
    expected = layer(x).numpy()
    np.testing.assert_allclose(memory.explicit_a_sgc(layer, x).numpy(), expected, rtol=1e-4,
                               atol=1e-5)


def test_memory_child_counts_the_explicit_laplacian():
    job = {"h": 8, "c": 8, "m": 3, "batch": 1}
    sgc = memory.memory_child({**job, "variant": "sgc"})
    explicit = memory.memory_child({**job, "variant": "explicit_a"})
    dense = memory.memory_child({**job, "variant": "dense"})
    assert sgc["rss_method"] in ("VmHWM", "ru_maxrss")
    # [64, 64] A, D^-1/2 A D^-1/2, L and their gradients dwarf the [64, 3] factors.
    assert explicit["analytic_mb"] > 2 * sgc["analytic_mb"] > 2 * dense["analytic_mb"]


def test_memory_child_runs_in_its_own_process():
    # `python -m benchmarks --memory-child` from the repository root, whatever the caller's cwd
    res = memory.run_memory_child({"variant": "dense", "h": 4, "c": 8, "m": 3, "batch": 1})
    assert "error" not in res, res.get("error")
    assert res["analytic_mb"] > 0 and res["rss_method"] in ("VmHWM", "ru_maxrss")
