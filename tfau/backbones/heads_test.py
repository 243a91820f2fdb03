"""Deconvolution head and the S/4 encoders for every backbone."""

import keras
import numpy as np
import pytest

from tfau.backbones import build_encoder, deconv_head, encoder_stride


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


def test_stage_hook_callable_and_sequence():
    calls = []

    def hook(i, x):
        calls.append((i, tuple(x.shape[1:])))
        return keras.layers.Activation("linear", name=f"hooked{i}")(x) if i == 1 else x

    x = keras.Input((2, 2, 64))
    model = keras.Model(x, deconv_head(x, width=0.25, stage_hook=hook))
    assert calls == [(0, (4, 4, 64)), (1, (8, 8, 32)), (2, (16, 16, 16))]
    assert "hooked1" in [l.name for l in model.layers]
    seq = [None, keras.layers.Activation("linear", name="second"), None]
    model = keras.Model(x, deconv_head(x, width=0.25, stage_hook=seq))
    names = [l.name for l in model.layers]
    assert names.index("second") == names.index("head_relu2") + 1
    with pytest.raises(ValueError, match="3 deconv stages"):
        deconv_head(x, stage_hook=[None, None])
    with pytest.raises(TypeError):
        deconv_head(x, stage_hook=[None, 3, None])


def test_two_stages_end_at_stride_8():
    # SCC-Heatmap Table 2: two deconvolutions give maps at S/8
    encoder = build_encoder("resnet18", image_size=64, width=0.125, head_filters=(256, 128))
    assert encoder.output.shape[1:] == (8, 8, 16)
    assert encoder_stride("resnet18", (256, 128)) == 8
    assert encoder_stride("resnet50") == 4 and encoder_stride("hrnetv2_w18", (1, 2)) == 4


def test_hrnet_neck_hook_gets_last_stage():
    seen = []
    build_encoder("hrnetv2_w18", 32, 0.125, stage_hook=lambda i, x: seen.append(i) or x)
    assert seen == [2]


def test_encoder_resnet18():
    encoder = build_encoder("resnet18", image_size=32, width=0.125)
    assert encoder.output.shape[1:] == (8, 8, 8)  # 64 * 0.125 channels at S/4


def test_encoder_errors():
    with pytest.raises(ValueError):
        build_encoder("vgg16", image_size=32)
    with pytest.raises(ValueError):
        build_encoder("resnet18", image_size=48)
    with pytest.raises(ValueError, match="hrnet_neck"):
        build_encoder("hrnetv2_w18", 32, 0.125, hrnet_neck=False, stage_hook=[None] * 3)
