"""SCC-Heatmap (Fan, Lam, Li, AAAI 2020): ResNet-Deconv with semantic correspondence convolution.

An ``SCCLayer`` follows the chosen deconvolution stages (all three by default, as the paper's
Figure 3 and the official code), replacing the feature map; the encoder's per-stage hook
(``tfau.backbones.deconv_head(stage_hook=...)``) puts it there. Two layouts, each a consistent
bundle (issue 11 items 5-7):

- ``layout="paper"`` (default): what the paper writes. Nodes = feature channels; edge features
  eq. 3 with no batch norm (eq. 3 is ``ReLU(phi . f_i + omega . (f_j - f_i))``); k = 5 on
  BP4D/BP4D+, 7 otherwise ("k = 5 for the BP4D database and k = 7 for the DISFA database").
- ``layout="official"``: what the official code ran (the published numbers came from it). The
  NHWC -> [B, C, L] reshape without transpose (nodes are pixels / strips / rows), k = 7 for both
  datasets (hard-coded there), BN on the edge features with the code's epsilon (1e-9, run as TF
  1.14's fused-BN floor 1.001e-5) and the Bessel-corrected variance in the moving average.

Any part of a bundle can be set alone (``k``, ``scc_batch_norm``, ``scc_bn_epsilon``,
``scc_unbiased_variance``). Whenever BN is on its epsilon and moving variance are the code's
(the code is the only source of the BN). ``scc_edge_features`` selects Table 3's edge
functions: (e) ``"centre_offset"`` (eq. 3), (f) ``"centre_neighbour"``, (g) ``"offset"``.
Table 2's two-deconvolution rows: ``head_filters=(256, 128)`` (maps at S/8), SCC after both
with ``scc_stages=(0, 1)``; Fig. 6: ``k``.

With ResNet-50 at 256x256 and 10 BP4D heatmaps the head (deconvs + SCCs + 1x1 conv) has about
44.8 M parameters, 33.6 M of them in SCC-3.
"""
from __future__ import annotations

import keras

from tfau.backbones import DEFAULT_HEAD_FILTERS
from tfau.models.base import register_model
from tfau.models.resnet_deconv import ResNetDeconv

SCC_LAYOUTS = ("paper", "official")


OFFICIAL_K = 7  # the official code hard-codes k = 7 for both datasets


def default_k(protocol, layout="paper"):
    """Paper: 5 on BP4D / BP4D+, 7 otherwise (grid-searched per dataset); official code: 7."""
    if layout == "official":
        return OFFICIAL_K
    return 5 if protocol.dataset in ("bp4d", "bp4d_plus") else 7


@register_model("scc_heatmap")
@keras.saving.register_keras_serializable(package="tfau")
class SCCHeatmap(ResNetDeconv):
    """ResNet-Deconv + SCC layers (``scc_heatmap``).

    Args (beyond ``ResNetDeconv``'s):
      k: neighbours per node (``None``: the layout's: paper 5 for BP4D/BP4D+ and 7 otherwise,
        official 7).
      layout: ``"paper"`` (default) or ``"official"`` (module docstring).
      scc_stages: 0-based deconv stages followed by SCC (default all three; with HRNet only the
        S/4 neck can carry one).
      scc_filters: SCC output features per node (``None`` = L, required for the reshape back).
      scc_batch_norm: BN on the edge features (``None``: the layout's; paper False, eq. 3;
        official True).
      scc_bn_epsilon: the BN's epsilon (``None``: the code's 1.001e-5).
      scc_unbiased_variance: Bessel-corrected variance into the moving average (``None``: the
        code's, True).
      scc_edge_features: Table 3's edge function (``"centre_offset"``, ``"centre_neighbour"``,
        ``"offset"``).
    """

    def __init__(
        self,
        protocol,
        k=None,
        layout="paper",
        scc_stages=(0, 1, 2),
        scc_filters=None,
        scc_batch_norm=None,
        scc_bn_epsilon=None,
        scc_unbiased_variance=None,
        scc_edge_features="centre_offset",
        **kwargs,
    ):
        if layout not in SCC_LAYOUTS:
            raise ValueError(f"layout must be one of {SCC_LAYOUTS}, got {layout!r}")
        from tfau.layers.scc import EDGE_FEATURES, OFFICIAL_BN_EPSILON
        from tfau.models.base import resolve_protocol

        if scc_edge_features not in EDGE_FEATURES:
            raise ValueError(f"scc_edge_features must be one of {EDGE_FEATURES}, got "
                             f"{scc_edge_features!r}")
        official = layout == "official"
        self.k = int(k) if k is not None else default_k(resolve_protocol(protocol), layout)
        self.layout = layout
        self.scc_stages = tuple(int(s) for s in scc_stages)
        self.scc_filters = None if scc_filters is None else int(scc_filters)
        self.scc_batch_norm = official if scc_batch_norm is None else bool(scc_batch_norm)
        self.scc_bn_epsilon = (OFFICIAL_BN_EPSILON if scc_bn_epsilon is None
                               else float(scc_bn_epsilon))
        self.scc_unbiased_variance = (True if scc_unbiased_variance is None
                                      else bool(scc_unbiased_variance))
        self.scc_edge_features = scc_edge_features
        n_stages = len(kwargs.get("head_filters", DEFAULT_HEAD_FILTERS))
        bad = [s for s in self.scc_stages if not 0 <= s < n_stages]
        if bad:
            raise ValueError(f"scc_stages {bad} out of range for {n_stages} deconv stages")
        super().__init__(protocol, **kwargs)

    def _encoder_options(self):
        return {"stage_hook": self._scc_after_stage}

    def _scc_after_stage(self, stage, x):
        """The encoder's per-stage hook: an ``SCCLayer`` after the chosen deconv stages. With
        HRNet (no deconv stages) the hook runs once, on the S/4 neck, which carries an SCC
        whenever ``scc_stages`` is non-empty."""
        from tfau.backbones import backbone_stride
        from tfau.layers.scc import SCCLayer

        neck = backbone_stride(self.backbone_name) == 4
        if not (self.scc_stages if neck else stage in self.scc_stages):
            return x
        name = "neck_scc" if neck else f"head_scc{stage + 1}"
        return SCCLayer(
            k=self.k,
            filters=self.scc_filters,
            layout=self.layout,
            use_batch_norm=self.scc_batch_norm,
            epsilon=self.scc_bn_epsilon,
            unbiased_moving_variance=self.scc_unbiased_variance,
            edge_features=self.scc_edge_features,
            name=name,
        )(x)

    def get_config(self):
        config = super().get_config()
        config.update(
            k=self.k,
            layout=self.layout,
            scc_stages=list(self.scc_stages),
            scc_filters=self.scc_filters,
            scc_batch_norm=self.scc_batch_norm,
            scc_bn_epsilon=self.scc_bn_epsilon,
            scc_unbiased_variance=self.scc_unbiased_variance,
            scc_edge_features=self.scc_edge_features,
        )
        return config
