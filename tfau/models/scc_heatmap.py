"""SCC-Heatmap (Fan, Lam, Li, AAAI 2020): ResNet-Deconv with semantic correspondence convolution.

An ``SCCLayer`` follows the chosen deconvolution stages (all three by default, as the official
code), replacing the feature map. Defaults follow the paper where it speaks:

- ``k``: neighbours per node including the node itself; paper 5 on BP4D, 7 on DISFA (``None``
  picks by the protocol's dataset: 5 for BP4D/BP4D+, 7 otherwise); the official code
  hard-codes 7 (``k=7``).
- ``layout``: ``"paper"`` (nodes = feature channels, default) or ``"official"`` (the official
  code's NHWC -> [B, C, L] reshape without transpose: nodes are pixels / strips / rows; the
  published numbers came from it).
- ``scc_filters``: K, ``None`` = L = H * W (official code).

With ResNet-50 at 256x256 and 10 BP4D heatmaps the head (deconvs + SCCs + 1x1 conv) has about
44.8 M parameters, 33.6 M of them in SCC-3.
"""
from __future__ import annotations

import keras

from tfau.backbones import DEFAULT_HEAD_FILTERS
from tfau.models.base import register_model
from tfau.models.resnet_deconv import ResNetDeconv

SCC_LAYOUTS = ("paper", "official")


def default_k(protocol):
    return 5 if protocol.dataset in ("bp4d", "bp4d_plus") else 7


@register_model("scc_heatmap")
@keras.saving.register_keras_serializable(package="tfau")
class SCCHeatmap(ResNetDeconv):
    """ResNet-Deconv + SCC layers (``scc_heatmap``).

    Args (beyond ``ResNetDeconv``'s):
      k: neighbours per node (``None``: 5 for BP4D/BP4D+, 7 otherwise, as the paper).
      layout: ``"paper"`` (default) or ``"official"``.
      scc_stages: 0-based deconv stages followed by SCC (default all three; with HRNet only the
        S/4 neck can carry one).
      scc_filters: SCC output features per node (``None`` = L, required for the reshape back).
      scc_batch_norm: BN on the edge features (official code: True).
    """

    def __init__(
        self,
        protocol,
        k=None,
        layout="paper",
        scc_stages=(0, 1, 2),
        scc_filters=None,
        scc_batch_norm=True,
        **kwargs,
    ):
        if layout not in SCC_LAYOUTS:
            raise ValueError(f"layout must be one of {SCC_LAYOUTS}, got {layout!r}")
        from tfau.models.base import resolve_protocol

        self.k = int(k) if k is not None else default_k(resolve_protocol(protocol))
        self.layout = layout
        self.scc_stages = tuple(int(s) for s in scc_stages)
        self.scc_filters = None if scc_filters is None else int(scc_filters)
        self.scc_batch_norm = bool(scc_batch_norm)
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
        )
        return config
