"""HRNetV2-W18: parameter count of the paper network, shapes at a tiny width."""

import numpy as np
import pytest

from tfau.backbones import hrnet_v2_w18


def test_full_size_parameters_and_output():
    model = hrnet_v2_w18((64, 64, 3))
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert abs(trainable - 9.56e6) < 0.01e6, trainable  # HRNetV2-W18: about 9.56 M
    assert model.output.shape[1:] == (16, 16, 270)  # 18 + 36 + 72 + 144 at H/4
    bns = [l for l in model.layers if l.__class__.__name__ == "BatchNormalization"]
    assert all(l.momentum == 0.99 and l.epsilon == 1e-5 for l in bns)


def test_size_must_divide_by_32():
    with pytest.raises(ValueError):
        hrnet_v2_w18((48, 48, 3))
