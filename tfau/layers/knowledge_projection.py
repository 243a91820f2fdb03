"""G2RL's knowledge projection (Fan & Lin, IJCAI 2020, equations 6 and 8).

The backbone's feature maps ``M`` (the deconvolution head's output, just before the 1x1 conv that
makes the heatmaps) are mapped linearly into the 256-d space of the geometric vector ``G``
produced by ``LandmarkGCN``; the auxiliary loss ``L_G = ||G - W M||^2`` pushes geometric
knowledge into the backbone. ``W`` and the geometric module are training-only: G2RL's
``serving_model()`` drops them, so inference costs exactly the baseline's.

Pooling before ``W`` (the paper leaves it open): a dense ``W`` on the flattened 64x64x64 map has
64 * 64 * 64 * 256 = 67 M parameters, more than the ResNet-50 backbone. By default
(``pool="avg"``, ``pool_size=8``) ``M`` is first adaptively average-pooled to 8x8 (bins as
PyTorch's ``AdaptiveAvgPool2d``), giving 8 * 8 * 64 * 256 = 1 M parameters while keeping a
coarse spatial layout, which the geometry needs. ``pool="global"`` pools to 1x1 (C * dim
parameters); ``pool="none"`` flattens the full map (the literal reading of equation 6).
Pooling is linear, so ``W`` remains a linear projection of ``M`` in all cases. No bias
(``use_bias=False``) and no activation, as in ``W x M``.
"""

from __future__ import annotations

import numpy as np

import keras
from keras import ops

_POOLS = ("avg", "global", "none")
G2RL_LAMBDA = 0.05


def adaptive_pool_matrix(in_size, out_size):
    """``[out_size, in_size]`` averaging matrix with PyTorch ``AdaptiveAvgPool`` bins.

    Bin ``i`` covers ``[floor(i * in / out), ceil((i + 1) * in / out))``.
    """
    matrix = np.zeros((out_size, in_size), np.float32)
    for i in range(out_size):
        start = (i * in_size) // out_size
        end = -(-((i + 1) * in_size) // out_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


@keras.saving.register_keras_serializable(package="tfau")
class KnowledgeProjection(keras.layers.Layer):
    """Feature maps ``M [B, H, W, C]`` -> ``W M`` ``[B, dim]`` (linear, optionally pooled first).

    Args:
        dim: output size, the size of ``G`` (256 in the paper).
        pool: ``"avg"`` (adaptive average pool to ``pool_size x pool_size``), ``"global"``
            (1x1) or ``"none"`` (flatten the full map, 67 M parameters at 64x64x64).
        pool_size: output side of the adaptive pool (``pool="avg"`` only).
        use_bias: add a bias after ``W`` (default False: ``W x M``).
    """

    def __init__(
        self,
        dim=256,
        pool="avg",
        pool_size=8,
        use_bias=False,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if pool not in _POOLS:
            raise ValueError(f"pool must be one of {_POOLS}, got {pool!r}")
        self.dim = int(dim)
        self.pool = pool
        self.pool_size = int(pool_size)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def _pooled_hw(self, height, width):
        if self.pool == "avg":
            return self.pool_size, self.pool_size
        if self.pool == "global":
            return 1, 1
        return height, width

    def build(self, input_shape):
        if len(input_shape) != 4 or any(d is None for d in input_shape[1:]):
            raise ValueError(
                f"KnowledgeProjection expects [B, H, W, C] with static H, W, C, got {input_shape}"
            )
        height, width, channels = (int(d) for d in input_shape[1:])
        if self.pool == "avg" and (self.pool_size > height or self.pool_size > width):
            raise ValueError(
                f"pool_size {self.pool_size} larger than the feature map {height}x{width}"
            )
        ph, pw = self._pooled_hw(height, width)
        self._pooled_shape = (ph, pw, channels)
        if self.pool == "avg":
            # Constant pooling matrices (not weights): rebuilt from the config on load.
            self._pool_h = adaptive_pool_matrix(height, ph)
            self._pool_w = adaptive_pool_matrix(width, pw)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(ph * pw * channels, self.dim),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.dim,), initializer="zeros")

    def pool_features(self, feature_maps):
        """The pooled map ``[B, ph, pw, C]`` that ``W`` sees."""
        if self.pool == "global":
            return ops.mean(feature_maps, axis=(1, 2), keepdims=True)
        if self.pool == "none":
            return feature_maps
        dtype = feature_maps.dtype
        ph = ops.convert_to_tensor(self._pool_h, dtype=dtype)
        pw = ops.convert_to_tensor(self._pool_w, dtype=dtype)
        x = ops.einsum("ih,bhwc->biwc", ph, feature_maps)
        return ops.einsum("jw,biwc->bijc", pw, x)

    def call(self, feature_maps):
        pooled = self.pool_features(feature_maps)
        flat = ops.reshape(pooled, (-1, int(np.prod(self._pooled_shape))))
        out = ops.matmul(flat, self.kernel)
        if self.use_bias:
            out = out + self.bias
        return out

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "dim": self.dim,
                "pool": self.pool,
                "pool_size": self.pool_size,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


def knowledge_projection_loss(g, wm, reduction="mean"):
    """``L_G = ||G - W M||^2`` (equation 6), computed in float32.

    Args:
        g: geometric vectors ``[B, D]`` from ``LandmarkGCN``.
        wm: projected feature maps ``[B, D]`` from ``KnowledgeProjection``.
        reduction: ``"mean"`` (default): mean over batch and the D components (a per-element
            MSE, on the same scale as a per-pixel heatmap MSE, which is what lambda = 0.05
            weighs it against); ``"sum"``: squared L2 norm per sample, averaged over the batch
            (= D times ``"mean"``); ``"none"``: per-sample squared norm ``[B]``.

    Both ``G`` and ``W M`` are learnt, and the loss alone has the trivial minimum G = W M = 0;
    the paper trains it jointly with the heatmap loss (which keeps ``M`` informative) and so
    does tfau. Wrap ``g`` in ``keras.ops.stop_gradient`` to make the geometry a fixed teacher.
    """
    diff = ops.cast(g, "float32") - ops.cast(wm, "float32")
    per_sample = ops.sum(ops.square(diff), axis=-1)
    if reduction == "none":
        return per_sample
    if reduction == "sum":
        return ops.mean(per_sample)
    if reduction == "mean":
        return ops.mean(ops.square(diff))
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def g2rl_total_loss(geometric_loss, heatmap_loss, lam=G2RL_LAMBDA):
    """``lambda * L_G + (1 - lambda) * L_S`` (equation 8), lambda = 0.05 by default."""
    return lam * geometric_loss + (1.0 - lam) * heatmap_loss
