import keras
import numpy as np
import pytest

from tfau.training.optim import AdamL2, OptimizerSpec, steps_for


def test_scc_schedule_decays_at_epochs_5_and_10_of_10():
    spec = OptimizerSpec(learning_rate=5e-4, decay_epochs=(5, 10), paper_epochs=10)
    assert spec.boundary_epochs(10) == (5,)  # epoch 10 is the end of training
    assert spec.boundary_epochs(20) == (10,)
    assert spec.boundary_epochs(4) == (2,)
    sched = spec.schedule(10, steps_per_epoch=7)
    lrs = [float(sched(s)) for s in (0, 34, 35, 36, 69)]
    np.testing.assert_allclose(lrs, [5e-4, 5e-4, 5e-4, 5e-5, 5e-5], rtol=1e-6)


def test_roi_gcn_schedule_every_10_of_30_epochs():
    spec = OptimizerSpec(learning_rate=1e-4, decay_every=10, paper_epochs=30)
    assert spec.boundary_epochs(30) == (10, 20)
    assert spec.boundary_epochs(6) == (2, 4)
    sched = spec.schedule(30, steps_per_epoch=1)
    np.testing.assert_allclose([float(sched(s)) for s in (9, 11, 21)], [1e-4, 1e-5, 1e-6],
                               rtol=1e-5)


def test_constant_schedule_when_no_boundaries():
    assert OptimizerSpec(learning_rate=1e-4).schedule(5, 3) == 1e-4
    assert OptimizerSpec(learning_rate=1e-4).schedule(5, 3, learning_rate=3e-3) == 3e-3


def test_adam_l2_adds_coupled_gradient_on_kernels_only():
    kernel = keras.Variable(np.full((2, 2), 3.0, np.float32), name="kernel")
    bias = keras.Variable(np.full((2,), 3.0, np.float32), name="bias")
    opt = AdamL2(learning_rate=0.1, l2=0.5)
    ref_kernel = keras.Variable(np.full((2, 2), 3.0, np.float32))
    ref = keras.optimizers.Adam(learning_rate=0.1)
    zero_k, zero_b = np.zeros((2, 2), np.float32), np.zeros((2,), np.float32)
    opt.apply([zero_k, zero_b], [kernel, bias])
    # Adam's first step moves by lr * sign(g); g = 2 * l2 * w = 3 > 0 on the kernel, 0 on the bias
    np.testing.assert_allclose(kernel.numpy(), 3.0 - 0.1, rtol=1e-5)
    np.testing.assert_allclose(bias.numpy(), 3.0)
    ref.apply([np.full((2, 2), 3.0, np.float32)], [ref_kernel])
    np.testing.assert_allclose(kernel.numpy(), ref_kernel.numpy(), rtol=1e-6)


def test_adam_l2_decays_kernels_not_graph_norm_parameters():
    # issue 11 item 10: GraphBatchNorm's [A, C] gamma / beta and [A, A] graph are not kernels
    from tfau.layers.graph_batch_norm import GraphBatchNorm

    layer = GraphBatchNorm(3, learnable_graph=True)
    layer.build((2, 4))
    dense = keras.layers.Dense(2)
    dense.build((None, 3))
    opt = AdamL2(learning_rate=0.1, l2=0.5)
    decayed = {v.name for v in layer.trainable_variables + dense.trainable_variables
               if opt.decays(v)}
    assert decayed == {"kernel"}
    rank2 = [v for v in layer.trainable_variables if len(v.shape) >= 2]
    assert rank2, "the test needs GraphBatchNorm's rank-2 parameters"
    before = [np.array(v) for v in rank2]
    opt.apply([np.zeros(v.shape, np.float32) for v in rank2], rank2)
    for b, v in zip(before, rank2):
        np.testing.assert_array_equal(np.array(v), b)  # zero gradient, no decay: unchanged


def test_adam_l2_config_roundtrip():
    opt = AdamL2(learning_rate=1e-3, l2=5e-6)
    again = AdamL2.from_config(opt.get_config())
    assert again.l2 == pytest.approx(5e-6) and again.decay_suffixes == ("kernel",)


def test_steps_for():
    assert steps_for(100, 16) == 6
    assert steps_for(3, 16) == 1
