"""ResNet-Deconv: the heatmap-regression baseline of SCC-Heatmap and G2RL ("Baseline" rows).

ResNet-50 -> three 4x4/2 deconvolutions (256, 128, 64 filters, BN, ReLU) -> 1x1 conv (bias,
linear) to P AU-point heatmaps at S/4 (P from ``tfau.geometry.heatmap_spec``). Loss: MSE over
every heatmap value, channels of AUs whose label is unknown (``label_mask`` 0) left out.
``au``: the intensity per AU = max of each heatmap / ``heatmap_scale``, averaged over the AU's
points (``tfau.targets.decode_heatmaps``, re-implemented with ``keras.ops`` in
``HeatmapDecoder``). ``heatmap_scale`` must match the peak factor of the targets (1 by default
in ``tfau.targets``: the peak equals the intensity; the official SCC code uses 255).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfau import aus as aus_lib
from tfau import geometry
from tfau.backbones import DEFAULT_HEAD_FILTERS, build_encoder, encoder_stride
from tfau.decoding import decode_heatmaps, points_to_aus_matrix
from tfau.models.base import AUModel, masked_map_mse, register_model

# The official SCC code's heatmap peak for intensity 1 (``render_gaussian_heatmap`` returns
# ``heatmap * 255.``; decoding divides by 255).
OFFICIAL_HEATMAP_SCALE = 255.0


def map_head_initializer(heatmap_scale=1.0):
    """The official code's init of the last 1x1 conv, carried to targets peaking at ``heatmap_scale``.

    The code initialises it with MSRA variance scaling (factor 2, fan-in, truncated normal; TF1's
    ``variance_scaling_initializer()``) against targets x255. Its model is ours with that conv
    multiplied by ``255 / heatmap_scale``, so the matching init has the variance divided by
    ``(255 / heatmap_scale)**2``: with unit targets and 64 input channels a standard deviation
    of 0.0008 (the ``RandomNormal(0.001)`` used before was close; at width 0.25, 16 channels,
    0.0016).
    """
    factor = (float(heatmap_scale) / OFFICIAL_HEATMAP_SCALE) ** 2
    return keras.initializers.VarianceScaling(
        scale=2.0 * factor, mode="fan_in", distribution="truncated_normal"
    )


@keras.saving.register_keras_serializable(package="tfau")
class HeatmapDecoder(keras.layers.Layer):
    """Heatmaps ``[B, h, w, P]`` -> intensities ``[B, A]``: per-map max / scale, averaged per AU
    (``tfau.decoding.decode_heatmaps``, the one decoder)."""

    def __init__(self, point_au, n_aus, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.point_au = [int(p) for p in np.asarray(point_au).reshape(-1)]
        self.n_aus = int(n_aus)
        self.scale = float(scale)
        points_to_aus_matrix(self.point_au, self.n_aus)  # a bad point_au fails here, named

    def call(self, maps):
        return decode_heatmaps(maps, self.point_au, self.n_aus, self.scale)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_aus)

    def compute_output_spec(self, maps):
        return keras.KerasTensor((maps.shape[0], self.n_aus), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(point_au=self.point_au, n_aus=self.n_aus, scale=self.scale)
        return config


@register_model("resnet_deconv")
@keras.saving.register_keras_serializable(package="tfau")
class ResNetDeconv(AUModel):
    """Heatmap-regression AU intensity model (``resnet_deconv``; base of SCC-Heatmap and G2RL).

    Args:
      protocol: intensity protocol (name, ``Protocol`` or dict); its AUs define the heatmap
        points through ``tfau.geometry.heatmap_spec``.
      backbone: ``"resnet50"`` (paper), ``"resnet18"`` or ``"hrnetv2_w18"``.
      image_size, width, backbone_weights: see ``build_model``.
      head_filters: deconvolution filters, one 4x4/2 stage each (official SCC code: 256, 128,
        64: maps at S/4; SCC-Heatmap Table 2's two-stage row: e.g. 256, 128, maps at S/8).
      heatmap_scale: heatmap peak for intensity 1; the pipeline asks the model for it, so the
        targets always match (tfau default 1; the official code's 255 with
        ``heatmap_scale=255``). The last conv's init follows it (``map_head_initializer``).
      map_head_l2: L2 (Keras convention, ``l2 * sum(w**2)`` added to the loss) on the last 1x1
        conv's kernel. The heatmap recipes set the code's 5e-6 here and 5e-6 / 255**2 on every
        other kernel: with unit targets that is the official code's balance of weight decay
        against the data loss, layer by layer (README, "Heatmap scale and weight decay").
    """

    supported_tasks = (aus_lib.INTENSITY,)

    loss_names = ("heatmap_loss",)
    required_targets = ("heatmaps", "labels", "label_mask")

    def __init__(
        self,
        protocol,
        backbone=None,
        image_size=256,
        width=1.0,
        backbone_weights=None,
        head_filters=DEFAULT_HEAD_FILTERS,
        heatmap_scale=1.0,
        map_head_l2=0.0,
        name=None,
        **kwargs,
    ):
        super().__init__(protocol, backbone, image_size, width, backbone_weights, name, **kwargs)
        self.head_filters = tuple(int(f) for f in head_filters)
        if not self.head_filters:
            raise ValueError("head_filters must name at least one deconvolution stage")
        # SCC-Heatmap Table 2: 3 deconv stages -> maps at S/4, 2 stages -> S/8.
        self.map_stride = encoder_stride(self.backbone_name, self.head_filters)
        self.map_size = self.image_size // self.map_stride
        self.heatmap_scale = float(heatmap_scale)
        if not self.heatmap_scale > 0:
            raise ValueError(f"heatmap_scale must be > 0, got {heatmap_scale!r}")
        self.map_head_l2 = float(map_head_l2)
        if self.map_head_l2 < 0:
            raise ValueError(f"map_head_l2 must be >= 0, got {map_head_l2!r}")
        self.spec = geometry.heatmap_spec(self.protocol)
        self.point_au = np.asarray(self.spec.point_au, np.int32)
        self.n_points = int(self.point_au.size)
        self.encoder = build_encoder(
            self.backbone_name,
            self.image_size,
            self.width,
            backbone_weights,
            head_filters=self.head_filters,
            name="encoder",
            **self._encoder_options(),
        )
        self.map_head = keras.layers.Conv2D(
            self.n_points,
            1,
            use_bias=True,
            kernel_initializer=map_head_initializer(self.heatmap_scale),
            kernel_regularizer=keras.regularizers.L2(self.map_head_l2) if self.map_head_l2 else None,
            dtype="float32",  # maps regress small values: keep the last conv in float32
            name="heatmaps",
        )
        self.decoder = HeatmapDecoder(self.point_au, self.n_aus, self.heatmap_scale, name="decode")
        self._build_extras()
        image = self._symbolic_image()
        self.decoder(self.map_head(self.encoder(image)))
        self._finish_build()

    def _encoder_options(self):
        return {}

    def _build_extras(self):
        """Hook for training-only modules (G2RL)."""

    # -------------------------------------------------------------------------------- forward

    def features_and_maps(self, image, training=None):
        features = self.encoder(image, training=training)
        return features, self.map_head(features)

    def call(self, features, training=None):
        _, maps = self.features_and_maps(self._image(features), training=training)
        maps = ops.cast(maps, "float32")
        return {"au": self.decoder(maps), "maps": maps}

    def serving_model(self):
        image = self._symbolic_image()
        maps = self.map_head(self.encoder(image))
        outputs = {"au": self.decoder(maps), "maps": ops.cast(maps, "float32")}
        return keras.Model(image, outputs, name=f"{self.name}_serving")

    # -------------------------------------------------------------------------------- loss

    def heatmap_loss(self, y, y_pred):
        """MSE over all heatmap values; a point's channel counts only if its AU label is known."""
        pred = y_pred["maps"]
        mask = y.get("label_mask")
        if mask is None:
            mask = ops.ones((ops.shape(pred)[0], self.n_aus), "float32")
        point_mask = ops.take(ops.cast(mask, "float32"), self.point_au, axis=1)
        return masked_map_mse(pred, y["heatmaps"], point_mask)

    def loss_terms(self, y, y_pred, training=True):
        return {"heatmap_loss": self.heatmap_loss(y, y_pred)}

    def total_loss(self, terms):
        return terms["heatmap_loss"]

    def get_config(self):
        config = super().get_config()
        config.update(head_filters=list(self.head_filters), heatmap_scale=self.heatmap_scale,
                      map_head_l2=self.map_head_l2)
        return config
