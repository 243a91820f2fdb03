"""Deconvolution head and the S/4 encoders for every backbone."""

import keras
import numpy as np
import pytest

from tfau.backbones import build_encoder, deconv_head


def test_deconv_head_shapes_and_init():
    x = keras.Input((2, 2, 64))
    model = keras.Model(x, deconv_head(x, width=0.25))
    assert model.output.shape[1:] == (16, 16, 16)
    deconvs = [l for l in model.layers if isinstance(l, keras.layers.Conv2DTranspose)]
    assert [l.filters for l in deconvs] == [64, 32, 16]
    assert all(l.kernel_size == (4, 4) and l.strides == (2, 2) and not l.use_bias for l in deconvs)
    # Official SCC code without SCC: 2048*256*16 + 256*128*16 + 128*64*16 weights + BN.
    x = keras.Input((8, 8, 2048))
    full = keras.Model(x, deconv_head(x))
    assert full.count_params() == 2048 * 256 * 16 + 256 * 128 * 16 + 128 * 64 * 16 + 4 * 448
    kernel = np.asarray(full.get_layer("head_deconv3").kernel)
    assert abs(kernel.std() - 0.0088) < 0.001  # truncated normal, stddev 0.01 before truncation


def test_scc_stage_validation():
    x = keras.Input((2, 2, 64))
    with pytest.raises(ValueError):
        deconv_head(x, scc_stages=(3,))


def test_encoder_resnet18():
    encoder = build_encoder("resnet18", image_size=32, width=0.125)
    assert encoder.output.shape[1:] == (8, 8, 8)  # 64 * 0.125 channels at S/4


def test_encoder_errors():
    with pytest.raises(ValueError):
        build_encoder("vgg16", image_size=32)
    with pytest.raises(ValueError):
        build_encoder("resnet18", image_size=48)
    with pytest.raises(ValueError, match="hrnet_neck"):
        build_encoder("hrnetv2_w18", 32, 0.125, hrnet_neck=False, scc_stages=(2,))
