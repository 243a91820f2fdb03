"""ROI-GCN (Zhang, Wang, Yin, ACM MM 2020): ROI-map regression with supervised spectral GCN.

HRNetV2-W18 -> ``X0`` ``[B, S/4, S/4, 270]`` -> ``SpectralGraphConv`` (``X1 = ReLU(L X0 Theta)``,
``L`` from ``A = Phi Lambda Phi^T``, ``Phi = 1x1 conv(X0)`` with one column per AU) -> 1x1 conv to
A ROI maps. Losses: ``Loss0`` = MSE over every ROI-map value against the signed two-window
targets (``tfau.targets.roi_maps``), ``Loss1`` = per AU a linear layer over the ``H' W'``
entries of ``Phi``'s column, sigmoid cross-entropy with the occurrence label, averaged over AUs;
``L = Loss0 + alpha1 Loss1``, alpha1 = 0.001. Channels / labels with ``label_mask`` 0 are left
out of both.

Decoding (paper): AU active when the mean of the predicted map inside either of its two 7x7
windows is > 0 (``tfau.targets.decode_roi``). ``au`` is a probability-like score
``sigmoid(logit_scale * (score - threshold))`` so that ``au > 0.5`` is exactly the paper's
decision (threshold 0, or 0.5 for the positive-only "Heatmap" ablation); it is monotone in the
score but not a calibrated probability. The windows come from the ``landmarks`` feature when
given (the paper uses the dataset's landmarks), else from the 68-point template of the aligned
face (``tfau.geometry.TEMPLATE_68``), which is what ``serving_model()`` always uses: aligned
faces put most ROIs within a pixel or two of the template's, mouth and chin ROIs not always.
``evaluation_outputs`` (the trainer's generic evaluation hook) decodes the held-out faces both
ways, per-face windows first (the reported result), so the gap is in the results table.

Ablation switches (the paper's Table 3, ``--model_option KEY=VALUE`` from the train script;
Table 4: ``weighted_loss=True``): ``use_negatives=False`` (positive-only "Heatmap"
baseline: targets ``max(R, 0)``, decoding by the window maximum > 0.5), ``use_gcn=False`` (no graph
convolution, hence no decomposition loss), ``use_supervision=False`` (GCN without Loss1).

``call`` returns ``au``, ``maps``, ``score`` (the decision score) and, with supervision,
``decomposition_logits`` (cheap, so ``evaluate`` reports Loss1 too); ``serving_model()`` returns
``au`` and ``maps`` without the decomposition classifier.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfau import aus as aus_lib
from tfau import decoding
from tfau import geometry
from tfau.backbones import DEFAULT_HEAD_FILTERS, build_encoder
from tfau.models.base import (
    AUModel,
    binary_cross_entropy_with_logits,
    masked_map_mse,
    masked_mean,
    register_model,
)

ROI_ALPHA1 = 0.001
ROI_WINDOW = 7


def inverse_occurrence_weights(labels, label_mask=None):
    """Per-AU ``1 / occurrence rate`` over a training set's ``labels [N, A]`` (ROI-GCN Table 4),
    normalised to mean 1; rates are floored at 1 / N so an AU that never occurs stays finite."""
    labels = np.asarray(labels, np.float64)
    mask = np.ones_like(labels) if label_mask is None else np.asarray(label_mask, np.float64)
    if labels.ndim != 2 or mask.shape != labels.shape:
        raise ValueError(f"labels: need [N, A] (and label_mask of the same shape), got "
                         f"{labels.shape} / {mask.shape}")
    n = np.maximum(mask.sum(0), 1.0)
    rate = np.maximum(((labels > 0) * mask).sum(0) / n, 1.0 / n)
    w = 1.0 / rate
    return [float(v) for v in w / w.mean()]


def template_roi_windows(aus, image_size, map_size, window=ROI_WINDOW, eac_au10=False,
                         eac_brows=False):
    """``[h, w, 2A]`` window masks of the ROI centres of the template face (NumPy, float32)."""
    spec = geometry.roi_spec(tuple(aus), eac_au10=eac_au10, eac_brows=eac_brows)
    template = np.asarray(geometry.TEMPLATE_68, np.float32)
    # The template lives in the 256x256 frame; rescale it to the model's image, pixel-centre
    # aligned as tfau.targets.to_map_coords.
    landmarks = (template + 0.5) * (image_size / geometry.TEMPLATE_SIZE) - 0.5
    points = geometry.roi_points(landmarks, spec)
    return _windows_numpy(points, image_size, map_size, window)


def _windows_numpy(points, image_size, map_size, window):
    """``[..., h, w, 2A]`` window masks (``tfau.decoding.window_masks``) as float32 NumPy."""
    return np.asarray(ops.convert_to_numpy(
        decoding.window_masks(_map_centres(points, image_size, map_size), map_size, window)),
        np.float32)


def _map_centres(points, image_size, map_size):
    """Image pixels -> map pixels, pixel-centre aligned (as ``tfau.targets.to_map_coords``)."""
    return (points + 0.5) * (map_size / image_size) - 0.5


@keras.saving.register_keras_serializable(package="tfau")
class RoiDecoder(keras.layers.Layer):
    """ROI maps ``[B, h, w, A]`` (+ optional landmarks ``[B, 68, 2]``) -> ``(score, au)``.

    ``score[b, a]``: max over AU a's two windows of the ``reduce`` ("mean", the paper's
    decision with negatives, or "max", its positive-only rule) of the predicted values inside
    the window (windows without a pixel on the map are skipped; an AU with neither scores 0).
    ``au = sigmoid(logit_scale * (score - threshold))``.
    """

    def __init__(
        self,
        aus,
        image_size,
        window=ROI_WINDOW,
        threshold=0.0,
        logit_scale=10.0,
        eac_au10=False,
        eac_brows=False,
        reduce="mean",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if reduce not in ("mean", "max"):
            raise ValueError(f"reduce must be 'mean' or 'max', got {reduce!r}")
        self.reduce = reduce
        self.eac_brows = bool(eac_brows)
        self.aus = [int(a) for a in aus]
        self.image_size = int(image_size)
        self.map_size = self.image_size // 4
        self.window = int(window)
        self.threshold = float(threshold)
        self.logit_scale = float(logit_scale)
        self.eac_au10 = bool(eac_au10)
        spec = geometry.roi_spec(tuple(self.aus), eac_au10=self.eac_au10,
                                 eac_brows=self.eac_brows)
        self._weights = np.asarray(spec.weights, np.float32)  # [2A, 68]
        self._offsets = np.asarray(spec.offsets, np.float32)  # [2A, 2]
        self._template = template_roi_windows(
            self.aus, self.image_size, self.map_size, self.window, self.eac_au10, self.eac_brows
        )

    def windows_from_landmarks(self, landmarks):
        """Per-sample window masks ``[B, h, w, 2A]`` (keras.ops version of
        ``tfau.targets.roi_window_masks(to_map_coords(roi_points_tf(...)))``)."""
        lm = ops.cast(landmarks, "float32")
        s = ops.abs(lm[:, 39, 0] - lm[:, 42, 0])[:, None, None]
        points = ops.einsum("pk,bkc->bpc", ops.convert_to_tensor(self._weights), lm)
        points = points + ops.convert_to_tensor(self._offsets)[None] * s
        return decoding.window_masks(
            _map_centres(points, self.image_size, self.map_size), self.map_size, self.window)

    def scores(self, maps, windows):
        return decoding.decode_roi(maps, windows, self.reduce)

    def call(self, maps, landmarks=None):
        if landmarks is None:
            windows = ops.convert_to_tensor(self._template)[None]
        else:
            windows = self.windows_from_landmarks(landmarks)
        score = self.scores(maps, windows)
        return score, ops.sigmoid(self.logit_scale * (score - self.threshold))

    def get_config(self):
        config = super().get_config()
        config.update(
            aus=self.aus,
            image_size=self.image_size,
            window=self.window,
            threshold=self.threshold,
            logit_scale=self.logit_scale,
            eac_au10=self.eac_au10,
            eac_brows=self.eac_brows,
            reduce=self.reduce,
        )
        return config


@keras.saving.register_keras_serializable(package="tfau")
class DecompositionClassifier(keras.layers.Layer):
    """``Phi [B, h, w, A]`` -> logits ``[B, A]``: per AU a linear layer over the ``h * w``
    entries of ``Phi``'s column ``a`` (Loss1 of ROI-GCN, equation 4)."""

    def __init__(self, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        _, h, w, a = input_shape
        self.n_aus = int(a)
        self.kernel = self.add_weight(
            name="kernel", shape=(int(h) * int(w), self.n_aus), initializer=self.kernel_initializer
        )
        self.bias = self.add_weight(name="bias", shape=(self.n_aus,), initializer="zeros")

    def call(self, phi):
        flat = ops.reshape(ops.cast(phi, "float32"), (ops.shape(phi)[0], -1, self.n_aus))
        kernel = ops.cast(self.kernel, "float32")
        return ops.sum(flat * kernel[None], axis=1) + ops.cast(self.bias, "float32")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(kernel_initializer=keras.initializers.serialize(self.kernel_initializer))
        return config


@register_model("roi_gcn")
@keras.saving.register_keras_serializable(package="tfau")
class ROIGCN(AUModel):
    """ROI-map regression with supervised spectral graph convolution (``roi_gcn``).

    Args (beyond the common ones; default backbone HRNetV2-W18, ResNets get the deconv head):
      use_negatives: encode absent AUs as -1 windows (default True; False = positive-only maps).
      use_gcn: spectral graph convolution between X0 and the ROI maps (default True).
      use_supervision: Loss1 on the decomposition (default True; needs ``use_gcn``).
      alpha1: weight of Loss1 (0.001).
      gcn_options: extra kwargs for ``SpectralGraphConv`` (``units``: X0's channels by default).
      decode_with_landmarks: use the ``landmarks`` feature for the decoding windows when
        present (default True); else / in ``serving_model()`` the template face's windows.
      logit_scale: slope of the sigmoid that maps the decision score to ``au``.
      eac_au10: EAC-Net's AU10 centres (49, 53) instead of the paper table's (61, 63).
      eac_brows: EAC-Net's shifted AU1 / AU2 decoding centres instead of ROI-GCN's brow
        landmarks (section 3.1). Decoding only: the pipeline's targets use ROI-GCN's rule.
      positive_decode: how the positive-only ablation (``use_negatives=False``) decodes:
        "max" (default: the window maximum > 0.5, which a perfect map with peak 1 passes; the
        paper: "active if max/mean(R_c^pred) is larger than a certain threshold") or "mean"
        (the window mean > 0.5, which a perfect sigma-1 window, mean 0.128, never reaches).
      au_loss_weights: per-AU weights for Loss0 and Loss1 (Table 4's "weighted loss": inverse
        occurrence rates, see ``inverse_occurrence_weights``), normalised to mean 1; None =
        unweighted.
      weighted_loss: Table 4's weighted loss from the command line
        (``--model_option weighted_loss=true``): the trainer derives ``au_loss_weights`` from
        the training labels (``options_from_labels``). "For both Eq. 4 and Eq. 7, we multiply
        with inverse occurrence rates before they average over AUs" (section 4.3.2).
    """

    supported_tasks = (aus_lib.OCCURRENCE,)
    benchmark_baseline = {"use_gcn": False}  # benchmarks/ratios.py: the HRNet + 1x1 conv head

    default_backbone = "hrnetv2_w18"
    required_targets = ("roi_maps", "labels", "label_mask")

    def __init__(
        self,
        protocol,
        backbone=None,
        image_size=256,
        width=1.0,
        backbone_weights=None,
        use_negatives=True,
        use_gcn=True,
        use_supervision=True,
        alpha1=ROI_ALPHA1,
        gcn_options=None,
        decode_with_landmarks=True,
        logit_scale=10.0,
        eac_au10=False,
        eac_brows=False,
        positive_decode="max",
        au_loss_weights=None,
        weighted_loss=False,
        head_filters=DEFAULT_HEAD_FILTERS,
        name=None,
        **kwargs,
    ):
        self.use_negatives = bool(use_negatives)
        self.use_gcn = bool(use_gcn)
        # Loss1 supervises the GCN's Phi: without the GCN there is nothing to supervise.
        self.use_supervision = bool(use_supervision) and self.use_gcn
        self.loss_names = ("roi_loss", "decomposition_loss") if self.use_supervision else (
            "roi_loss",
        )
        super().__init__(protocol, backbone, image_size, width, backbone_weights, name, **kwargs)
        self.alpha1 = float(alpha1)
        self.gcn_options = dict(gcn_options or {})
        self.decode_with_landmarks = bool(decode_with_landmarks)
        self.logit_scale = float(logit_scale)
        self.eac_au10 = bool(eac_au10)
        self.eac_brows = bool(eac_brows)
        self.positive_decode = str(positive_decode)
        if au_loss_weights is not None:
            w = np.asarray(au_loss_weights, np.float64).reshape(-1)
            if w.shape != (self.n_aus,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
                raise ValueError(f"au_loss_weights: need {self.n_aus} positive finite values "
                                 f"(one per AU of {self.protocol.name}), got {au_loss_weights!r}")
            au_loss_weights = [float(v) for v in w / w.mean()]
        self.au_loss_weights = au_loss_weights
        self.weighted_loss = bool(weighted_loss)
        self.head_filters = tuple(int(f) for f in head_filters)
        if self.decode_with_landmarks:
            self.required_features = ("image", "landmarks")
        self.encoder = build_encoder(
            self.backbone_name,
            self.image_size,
            self.width,
            backbone_weights,
            head_filters=self.head_filters,
            hrnet_neck=False,
            name="encoder",
        )
        if self.use_gcn:
            from tfau.layers.spectral_graph_conv import SpectralGraphConv

            self.gcn = SpectralGraphConv(
                n_nodes=self.n_aus, return_phi=True, name="spectral_gcn", **self.gcn_options
            )
        self.map_head = keras.layers.Conv2D(
            self.n_aus, 1, use_bias=True, dtype="float32", name="roi_maps"
        )
        if self.use_supervision:
            self.decomposition = DecompositionClassifier(name="decomposition")
        self.decoder = RoiDecoder(
            self.protocol.aus,
            self.image_size,
            threshold=0.0 if self.use_negatives else 0.5,
            logit_scale=self.logit_scale,
            eac_au10=self.eac_au10,
            eac_brows=self.eac_brows,
            reduce="mean" if self.use_negatives else self.positive_decode,
            name="decode",
        )
        image = self._symbolic_image()
        x1, phi = self._refine(self.encoder(image))
        maps = self.map_head(x1)
        self.decoder(maps)
        self.decoder(maps, keras.Input((68, 2), name="landmarks"))
        if self.use_supervision:
            self.decomposition(phi)
        self._finish_build()

    @classmethod
    def options_from_labels(cls, labels, label_mask, options):
        """Table 4: ``au_loss_weights`` = inverse occurrence rates of the training labels when
        ``weighted_loss`` is set (and no weights were given)."""
        if not options.get("weighted_loss") or options.get("au_loss_weights") is not None:
            return {}
        return {"au_loss_weights": inverse_occurrence_weights(labels, label_mask)}

    # -------------------------------------------------------------------------------- forward

    def _refine(self, x0, training=None):
        if not self.use_gcn:
            return x0, None
        x1, phi = self.gcn(x0)
        return x1, phi

    def call(self, features, training=None):
        x1, phi = self._refine(self.encoder(self._image(features), training=training), training)
        maps = ops.cast(self.map_head(x1), "float32")
        landmarks = self._feature(features, "landmarks") if self.decode_with_landmarks else None
        score, au = self.decoder(maps, landmarks)
        out = {"au": au, "maps": maps, "score": score}
        if self.use_supervision:  # cheap; also gives val_decomposition_loss
            out["decomposition_logits"] = self.decomposition(phi)
        return out

    # Held-out evaluation (the trainer's generic hook): the paper's decision uses each face's
    # landmark mask M ("mean(M . R_c^pred) > 0", section 3.3); serving has no landmarks and uses
    # the template face's windows. Both are evaluated, the paper's first, so the gap is visible.
    evaluation_features = ("image", "landmarks")
    EVAL_LANDMARKS = "landmark windows (M, reported)"
    EVAL_TEMPLATE = "template windows (serving)"

    def evaluation_outputs(self, features):
        """``{name: au [B, A]}``: decoded with per-face windows from ``features["landmarks"]``
        (when given) and with the template windows of ``serving_model()``."""
        x1, _ = self._refine(self.encoder(self._image(features), training=False))
        maps = ops.cast(self.map_head(x1), "float32")
        out = {}
        landmarks = self._feature(features, "landmarks")
        if landmarks is not None:
            out[self.EVAL_LANDMARKS] = self.decoder(maps, landmarks)[1]
        out[self.EVAL_TEMPLATE] = self.decoder(maps)[1]
        return out

    def serving_model(self):
        image = self._symbolic_image()
        x1, _ = self._refine(self.encoder(image))
        maps = self.map_head(x1)
        score, au = self.decoder(maps)
        return keras.Model(
            image, {"au": au, "maps": ops.cast(maps, "float32")}, name=f"{self.name}_serving"
        )

    # -------------------------------------------------------------------------------- loss

    def roi_targets(self, roi_maps):
        roi_maps = ops.cast(roi_maps, "float32")
        return roi_maps if self.use_negatives else ops.maximum(roi_maps, 0.0)

    def loss_terms(self, y, y_pred, training=True):
        mask = y.get("label_mask")
        if mask is None:
            mask = ops.ones_like(ops.cast(y["labels"], "float32"))
        if self.au_loss_weights is not None:
            # Table 4: weight each AU before averaging over AUs (the denominators keep the
            # plain counts, so the loss scale is that of the unweighted loss).
            return self._weighted_terms(y, y_pred, ops.cast(mask, "float32"))
        terms = {
            "roi_loss": masked_map_mse(y_pred["maps"], self.roi_targets(y["roi_maps"]), mask)
        }
        if "decomposition_logits" in y_pred:
            bce = binary_cross_entropy_with_logits(
                ops.cast(y["labels"] > 0, "float32"), y_pred["decomposition_logits"]
            )
            terms["decomposition_loss"] = masked_mean(bce, mask)
        return terms

    def _weighted_terms(self, y, y_pred, mask):
        w = ops.convert_to_tensor(np.asarray(self.au_loss_weights, np.float32))[None]
        sq = ops.square(ops.cast(y_pred["maps"], "float32") - self.roi_targets(y["roi_maps"]))
        hw = ops.cast(ops.shape(sq)[1] * ops.shape(sq)[2], "float32")
        per_au = ops.sum(sq, axis=(1, 2))  # [B, A]
        terms = {"roi_loss": ops.sum(per_au * mask * w) / ops.maximum(ops.sum(mask) * hw, 1.0)}
        if "decomposition_logits" in y_pred:
            bce = binary_cross_entropy_with_logits(
                ops.cast(y["labels"] > 0, "float32"), y_pred["decomposition_logits"]
            )
            terms["decomposition_loss"] = ops.sum(bce * mask * w) / ops.maximum(ops.sum(mask), 1.0)
        return terms

    def total_loss(self, terms):
        loss = terms["roi_loss"]
        if "decomposition_loss" in terms:
            loss = loss + self.alpha1 * terms["decomposition_loss"]
        return loss

    def get_config(self):
        config = super().get_config()
        config.update(
            use_negatives=self.use_negatives,
            use_gcn=self.use_gcn,
            use_supervision=self.use_supervision,
            alpha1=self.alpha1,
            gcn_options=dict(self.gcn_options),
            decode_with_landmarks=self.decode_with_landmarks,
            logit_scale=self.logit_scale,
            eac_au10=self.eac_au10,
            eac_brows=self.eac_brows,
            positive_decode=self.positive_decode,
            au_loss_weights=self.au_loss_weights,
            weighted_loss=self.weighted_loss,
            head_filters=list(self.head_filters),
        )
        return config
