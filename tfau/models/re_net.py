"""RE-Net (Yang & Yin, ACCV 2020) and its ResNet-18 baseline.

``resnet18``: ResNet-18 -> global average pooling -> a linear head per AU (one ``Dense`` with
A outputs, or A x 6 for intensity). Trained multi-label: masked cross-entropy over all AUs of
every sample (the usual baseline of the paper's tables).

``re_net``: the same network with every BatchNormalization replaced by ``GraphBatchNorm``
(per-AU statistics, per-AU affine parameters mixed over the AU relation graph, equations 4-5).
The network's features depend on the AU it is asked about, so:

- training (``single_au_training=True``, the paper's preferred strategy): the batch's
  ``au_index`` feature (int32 ``[B]``, the same AU repeated, or ``[]``) selects one AU; the
  batch runs once, normalised with that AU's statistics, and the loss is the cross-entropy of
  that AU only (equation 6 with one AU per batch). ``single_au_training=False`` is the paper's
  other strategy: every AU for every sample (A forward passes, folded into the batch).
- inference: all AUs in one pass by folding the AU axis into the batch (``fold_aus``): sample b
  conditioned on AU a is row ``a * B + b``; AU a's output is read from the rows conditioned on a.

The AU relation graph is the ``correlation`` constructor argument (``[A, A]``, e.g.
``pearson_correlation(train_labels)``; intensity labels for the intensity variant), stored in
the config. ``None`` gives the identity graph (AU-specific BN without relations, equation 3).

Intensity variant (``protocol.task == "intensity"``): 6-way softmax per AU (levels 0-5),
cross-entropy with the rounded label; ``au`` is the expected intensity ``sum_k k p_k``
(``intensity_output="expected"``, a continuous value, better for ICC/MAE) or the most likely
level (``"argmax"``).

In training mode with a single AU, ``au`` holds that AU's prediction in its column and 0 in the
others; ``au_logits`` the selected AU's logits ``[B]`` (or ``[B, 6]``).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfau.backbones import build_backbone, resnet18
from tfau.models.base import AUModel, binary_cross_entropy_with_logits, masked_mean, register_model

N_LEVELS = 6
INTENSITY_OUTPUTS = ("expected", "argmax")
LEARNABLE_GRAPH_INITS = ("random", "pearson")


@keras.saving.register_keras_serializable(package="tfau")
class FoldAUs(keras.layers.Layer):
    """``images [B, ...]`` -> ``(images [A*B, ...], au_index [A*B])`` (AU-major, ``fold_aus``)."""

    def __init__(self, n_aus, **kwargs):
        super().__init__(**kwargs)
        self.n_aus = int(n_aus)

    def call(self, images):
        from tfau.layers.graph_batch_norm import fold_aus

        return fold_aus(images, self.n_aus)

    def compute_output_spec(self, images):
        batch = None if images.shape[0] is None else images.shape[0] * self.n_aus
        return (
            keras.KerasTensor((batch,) + tuple(images.shape[1:]), dtype=images.dtype),
            keras.KerasTensor((batch,), dtype="int32"),
        )

    def get_config(self):
        config = super().get_config()
        config.update(n_aus=self.n_aus)
        return config


@keras.saving.register_keras_serializable(package="tfau")
class UnfoldDiagonal(keras.layers.Layer):
    """Folded per-AU outputs ``[A*B, A, n]`` -> ``[B, A, n]``: AU a read from the rows
    conditioned on AU a."""

    def __init__(self, n_aus, **kwargs):
        super().__init__(**kwargs)
        self.n_aus = int(n_aus)

    def call(self, logits):
        from tfau.layers.graph_batch_norm import unfold_aus

        unfolded = unfold_aus(logits, self.n_aus)  # [B, A (condition), A (output), n]
        eye = ops.eye(self.n_aus, dtype=logits.dtype)[None, :, :, None]
        return ops.sum(unfolded * eye, axis=2)

    def compute_output_spec(self, logits):
        batch = None if logits.shape[0] is None else logits.shape[0] // self.n_aus
        return keras.KerasTensor((batch,) + tuple(logits.shape[1:]), dtype=logits.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(n_aus=self.n_aus)
        return config


class _AUClassifier(AUModel):
    """ResNet-18 (optionally AU-conditioned) + GAP + per-AU linear head."""

    conditioned = False
    default_backbone = "resnet18"
    loss_names = ("au_loss",)

    def __init__(
        self,
        protocol,
        backbone=None,
        image_size=256,
        width=1.0,
        backbone_weights=None,
        correlation=None,
        learnable_graph=False,
        graph_norm="abs",
        single_au_training=None,
        intensity_output="expected",
        held_out_aus=(),
        learnable_graph_init="random",
        name=None,
        **kwargs,
    ):
        super().__init__(protocol, backbone, image_size, width, backbone_weights, name, **kwargs)
        self.held_out_aus = [int(a) for a in (held_out_aus or ())]
        unknown = [a for a in self.held_out_aus if a not in self.protocol.aus]
        if unknown or len(set(self.held_out_aus)) >= self.n_aus:
            raise ValueError(f"held_out_aus: AU numbers of {self.protocol.name} "
                             f"{list(self.protocol.aus)}, at least one left to train; got "
                             f"{list(held_out_aus)}")
        self.held_out_index = sorted(self.protocol.aus.index(a) for a in set(self.held_out_aus))
        # The AUs the pipeline draws for single-AU batches (the trainer reads this).
        self.sample_au_indices = [i for i in range(self.n_aus) if i not in self.held_out_index]
        if learnable_graph_init not in LEARNABLE_GRAPH_INITS:
            raise ValueError(f"learnable_graph_init must be one of {LEARNABLE_GRAPH_INITS}, got "
                             f"{learnable_graph_init!r}")
        self.learnable_graph_init = learnable_graph_init
        if intensity_output not in INTENSITY_OUTPUTS:
            raise ValueError(f"intensity_output must be one of {INTENSITY_OUTPUTS}")
        self.correlation = None if correlation is None else np.asarray(correlation, np.float32)
        if self.correlation is not None and self.correlation.shape != (self.n_aus, self.n_aus):
            raise ValueError(
                f"correlation must be [{self.n_aus}, {self.n_aus}], got {self.correlation.shape}"
            )
        self.learnable_graph = bool(learnable_graph)
        self.graph_norm = graph_norm
        if single_au_training is None:
            single_au_training = self.conditioned
        self.single_au_training = bool(single_au_training)
        self.intensity_output = intensity_output
        self.n_out = N_LEVELS if self.is_intensity else 1
        if self.single_au_training:
            self.required_features = ("image", "au_index")

        shape = (self.image_size, self.image_size, 3)
        if self.conditioned:
            if self.backbone_name != "resnet18":
                raise ValueError("RE-Net's GraphBatchNorm backbone is ResNet-18 only")
            from tfau.layers.graph_batch_norm import GraphBatchNorm

            def norm(layer_name):
                return GraphBatchNorm(
                    self.n_aus,
                    correlation=self.correlation,
                    learnable_graph=self.learnable_graph,
                    graph_norm=self.graph_norm,
                    unseen_aus=self.held_out_index,
                    name=layer_name,
                )

            self.backbone = resnet18(
                shape, width=self.width, norm=norm, conditioned=True, weights=backbone_weights
            )
            self.fold = FoldAUs(self.n_aus, name="fold_aus")
            self.unfold = UnfoldDiagonal(self.n_aus, name="unfold_aus")
        else:
            self.backbone = build_backbone(
                self.backbone_name, self.image_size, self.width, backbone_weights
            )
        self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
        self.head = keras.layers.Dense(self.n_aus * self.n_out, dtype="float32", name="au_head")
        self.serving_model()  # builds every layer
        self._finish_build()

    # -------------------------------------------------------------------------------- forward

    def _logits(self, image, au_index=None, training=None):
        """``[B', A, n]`` logits of every AU head for the (possibly folded) batch."""
        if self.conditioned:
            feats = self.backbone([image, au_index], training=training)
        else:
            feats = self.backbone(image, training=training)
        logits = self.head(self.pool(feats))
        return ops.reshape(ops.cast(logits, "float32"), (-1, self.n_aus, self.n_out))

    def _decode(self, logits):
        """``[..., n]`` logits -> AU value (probability or intensity)."""
        if not self.is_intensity:
            return ops.sigmoid(logits[..., 0])
        if self.intensity_output == "argmax":
            return ops.cast(ops.argmax(logits, axis=-1), "float32")
        levels = ops.arange(N_LEVELS, dtype="float32")
        return ops.sum(ops.softmax(logits, axis=-1) * levels, axis=-1)

    def _squeeze(self, logits):
        return logits if self.is_intensity else logits[..., 0]

    def all_au_logits(self, image, training=None):
        if self.conditioned:
            folded, au_index = self.fold(image)
            return self.unfold(self._logits(folded, au_index, training))
        return self._logits(image, training=training)

    def call(self, features, training=None):
        image = self._image(features)
        au_index = self._feature(features, "au_index")
        if training and self.single_au_training and au_index is not None:
            batch = ops.shape(image)[0]
            index = ops.broadcast_to(ops.reshape(ops.cast(au_index, "int32"), (-1,)), (batch,))
            logits = self._logits(image, index if self.conditioned else None, training)
            onehot = ops.one_hot(index, self.n_aus, dtype="float32")  # [B, A]
            selected = ops.sum(logits * onehot[:, :, None], axis=1)  # [B, n]
            return {
                "au": onehot * self._decode(selected)[:, None],
                "au_logits": self._squeeze(selected),
                "au_index": index,
            }
        logits = self.all_au_logits(image, training)
        return {"au": self._decode(logits), "au_logits": self._squeeze(logits)}

    def serving_model(self):
        image = self._symbolic_image()
        logits = self.all_au_logits(image)
        return keras.Model(image, {"au": self._decode(logits)}, name=f"{self.name}_serving")

    # -------------------------------------------------------------------------------- loss

    def _cross_entropy(self, labels, logits):
        """Per-element loss: sigmoid CE (occurrence) or 6-way softmax CE (intensity)."""
        labels = ops.cast(labels, "float32")
        if not self.is_intensity:
            return binary_cross_entropy_with_logits(labels, logits)
        levels = ops.cast(ops.clip(ops.round(labels), 0, N_LEVELS - 1), "int32")
        log_p = ops.log_softmax(logits, axis=-1)
        return -ops.sum(ops.one_hot(levels, N_LEVELS, dtype="float32") * log_p, axis=-1)

    def loss_terms(self, y, y_pred, training=True):
        labels = ops.cast(y["labels"], "float32")
        mask = y.get("label_mask")
        mask = ops.ones_like(labels) if mask is None else ops.cast(mask, "float32")
        if self.held_out_index:  # Table 6: these AUs' labels never reach the loss
            keep = np.ones(self.n_aus, np.float32)
            keep[self.held_out_index] = 0.0
            mask = mask * ops.convert_to_tensor(keep)[None]
        if "au_index" in y_pred:  # single-AU training pass
            onehot = ops.one_hot(y_pred["au_index"], self.n_aus, dtype="float32")
            labels = ops.sum(labels * onehot, axis=1)
            mask = ops.sum(mask * onehot, axis=1)
        return {"au_loss": masked_mean(self._cross_entropy(labels, y_pred["au_logits"]), mask)}

    def total_loss(self, terms):
        return terms["au_loss"]

    def get_config(self):
        config = super().get_config()
        config.update(
            correlation=None if self.correlation is None else self.correlation.tolist(),
            learnable_graph=self.learnable_graph,
            graph_norm=self.graph_norm,
            single_au_training=self.single_au_training,
            intensity_output=self.intensity_output,
            held_out_aus=list(self.held_out_aus),
            learnable_graph_init=self.learnable_graph_init,
        )
        return config


@register_model("resnet18")
@keras.saving.register_keras_serializable(package="tfau")
class ResNet18Baseline(_AUClassifier):
    """Plain ResNet-18 multi-label baseline (``resnet18``); any backbone by name works."""

    conditioned = False


@register_model("re_net")
@keras.saving.register_keras_serializable(package="tfau")
class RENet(_AUClassifier):
    """RE-Net (``re_net``): ResNet-18 with every BN a ``GraphBatchNorm``.

    Args (beyond the common ones):
      correlation: ``[A, A]`` AU relation graph (Pearson correlation of the training labels),
        or None (identity graph).
      learnable_graph: learn the graph (Table 7, "Ours+learnable").
      learnable_graph_init: ``"random"`` (default; the paper: "the omega_ij of AU relation G is
        first randomly initialized": identity + N(0, 0.01^2), no Pearson graph is derived) or
        ``"pearson"`` (start from the training labels' correlation). An explicit
        ``correlation`` is always the starting point.
      graph_norm: normalisation of equation 5 (``"abs"`` default, ``"sum"`` the paper's literal
        one, ``"positive"``); see ``GraphBatchNorm``.
      single_au_training: one AU per batch from ``features["au_index"]`` (default True).
      intensity_output: ``"expected"`` or ``"argmax"`` (intensity protocols).
      held_out_aus: AU numbers removed from training (Table 6, "recognize new AU"): their
        labels never reach the loss and single-AU batches never draw them
        (``sample_au_indices``); at test their gamma, beta come from eq. 4-5 and their BN
        statistics from the graph-weighted mixture of the trained AUs' (``GraphBatchNorm
        unseen_aus``). The graph still uses their training labels' correlation: eq. 5 needs
        w_ck for the new AU and the paper has no other source for it.
    """

    conditioned = True

    @classmethod
    def options_from_labels(cls, labels, label_mask, options):
        """The AU relation graph: Pearson correlation of the training labels (section 3.2),
        unless the user gave one."""
        if options.get("correlation") is not None:
            return {}
        if options.get("learnable_graph") and options.get("learnable_graph_init",
                                                          "random") == "random":
            return {}  # Table 7: randomly initialised, not from the Pearson graph
        from tfau.layers.graph_batch_norm import pearson_correlation

        return {"correlation": np.asarray(pearson_correlation(labels, label_mask), np.float32)}
