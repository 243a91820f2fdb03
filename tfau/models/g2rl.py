"""G2RL (Fan & Lin, IJCAI 2020): ResNet-Deconv guided by geometric knowledge.

Training adds two modules on top of the ResNet-Deconv heatmap model:

- ``LandmarkGCN``: landmarks ``[B, 68, 2]`` -> geometric vector ``G`` ``[B, 256]``;
- ``KnowledgeProjection`` ``W``: the feature maps ``M`` before the final 1x1 conv -> ``W M``
  ``[B, 256]`` (pooled to 8x8 first by default; see ``tfau.layers.knowledge_projection``),

and the loss ``lambda * L_G + (1 - lambda) * L_S`` with ``L_G = ||G - W M||^2``
(``knowledge_projection_loss``, per-element mean by default) and ``L_S`` the heatmap MSE,
lambda = 0.05. ``call`` runs both modules whenever the features carry ``landmarks`` (in
training and in ``evaluate``, so ``val_loss`` is the same objective as ``loss``; without
landmarks the loss is ``(1 - lambda) * L_S``). ``serving_model()`` has neither module:
inference costs exactly the baseline's.

Collapse (issue 11 item 9): ``L_S`` has no gradient path to the GCN or to ``W`` (it depends on
the backbone and the heatmap head only), so nothing but ``L_G`` trains them, and ``L_G`` has
the trivial minimum ``G = W M = 0``, towards which the coupled L2 on the GCN and ``W`` pulls as
well. Joint training does not prevent it; it only keeps ``M`` informative. The fit logs carry
``geometry_norm`` (mean ``||G||``) and ``projection_norm`` (mean ``||W M||``) so a collapse is
visible, and ``geometry_teacher="stop_gradient"`` makes ``G`` a fixed teacher (the GCN then
keeps its initial weights: a random nonlinear embedding of the landmark graph, which ``W M``
must reproduce; ``G`` cannot shrink).
"""
from __future__ import annotations

import keras
from keras import ops

from tfau.models.base import register_model
from tfau.models.resnet_deconv import ResNetDeconv

G2RL_LAMBDA = 0.05


@register_model("g2rl")
@keras.saving.register_keras_serializable(package="tfau")
class G2RL(ResNetDeconv):
    """ResNet-Deconv + geometric knowledge module + knowledge projection (``g2rl``).

    Args (beyond ``ResNetDeconv``'s):
      g2rl_lambda: weight of ``L_G`` (0.05).
      gcn_options: kwargs for ``LandmarkGCN`` (GCN widths, adjacency kernel, ...); its output
        size (``fc_units[-1]``, 256 by default) sets the projection's ``dim``.
      projection_options: kwargs for ``KnowledgeProjection`` (``pool``, ``pool_size``, ...).
      geometry_loss_reduction: ``"mean"`` (per element) or ``"sum"`` (squared norm per sample).
      geometry_teacher: ``"joint"`` (the paper: both G and W M learn from L_G) or
        ``"stop_gradient"`` (G is a fixed teacher; see the module docstring).
    """

    loss_names = ("heatmap_loss", "geometry_loss", "geometry_norm", "projection_norm")
    GEOMETRY_TEACHERS = ("joint", "stop_gradient")
    required_targets = ("heatmaps", "labels", "label_mask")
    required_features = ("image", "landmarks")

    def __init__(
        self,
        protocol,
        g2rl_lambda=G2RL_LAMBDA,
        gcn_options=None,
        projection_options=None,
        geometry_loss_reduction="mean",
        geometry_teacher="joint",
        **kwargs,
    ):
        if geometry_teacher not in self.GEOMETRY_TEACHERS:
            raise ValueError(f"geometry_teacher must be one of {self.GEOMETRY_TEACHERS}, got "
                             f"{geometry_teacher!r}")
        self.geometry_teacher = geometry_teacher
        self.g2rl_lambda = float(g2rl_lambda)
        self.gcn_options = dict(gcn_options or {})
        self.projection_options = dict(projection_options or {})
        self.geometry_loss_reduction = geometry_loss_reduction
        super().__init__(protocol, **kwargs)

    def _build_extras(self):
        from tfau.layers.knowledge_projection import KnowledgeProjection
        from tfau.layers.landmark_gcn import LandmarkGCN

        self.geometry = LandmarkGCN(name="geometry", **self.gcn_options)
        dim = self.geometry.fc_units[-1]
        self.projection = KnowledgeProjection(dim=dim, name="projection", **self.projection_options)
        landmarks = keras.Input((68, 2), name="landmarks")
        self.geometry(landmarks)
        self.projection(self.encoder.output)

    def call(self, features, training=None):
        m, maps = self.features_and_maps(self._image(features), training=training)
        maps = ops.cast(maps, "float32")
        out = {"au": self.decoder(maps), "maps": maps}
        landmarks = self._feature(features, "landmarks")
        if landmarks is not None:
            out["geometry"] = ops.cast(self.geometry(landmarks, training=training), "float32")
            out["projection"] = ops.cast(self.projection(m, training=training), "float32")
        return out

    def loss_terms(self, y, y_pred, training=True):
        from tfau.layers.knowledge_projection import knowledge_projection_loss

        terms = {"heatmap_loss": self.heatmap_loss(y, y_pred)}
        if "geometry" in y_pred and "projection" in y_pred:
            g, wm = y_pred["geometry"], y_pred["projection"]
            if self.geometry_teacher == "stop_gradient":
                g = ops.stop_gradient(g)
            terms["geometry_loss"] = knowledge_projection_loss(
                g, wm, reduction=self.geometry_loss_reduction
            )
            # monitors (not in the loss): a collapse G = W M -> 0 shows in the fit logs
            terms["geometry_norm"] = ops.stop_gradient(_mean_norm(g))
            terms["projection_norm"] = ops.stop_gradient(_mean_norm(wm))
        return terms

    def total_loss(self, terms):
        loss = (1.0 - self.g2rl_lambda) * terms["heatmap_loss"]
        if "geometry_loss" in terms:
            loss = loss + self.g2rl_lambda * terms["geometry_loss"]
        return loss

    def get_config(self):
        config = super().get_config()
        config.update(
            g2rl_lambda=self.g2rl_lambda,
            gcn_options=_jsonable(self.gcn_options),
            projection_options=_jsonable(self.projection_options),
            geometry_loss_reduction=self.geometry_loss_reduction,
            geometry_teacher=self.geometry_teacher,
        )
        return config


def _mean_norm(v):
    """Mean over the batch of the L2 norm of each row of ``v`` ``[B, D]`` (float32)."""
    v = ops.cast(v, "float32")
    return ops.mean(ops.sqrt(ops.sum(ops.square(v), axis=-1)))


def _jsonable(options):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}
