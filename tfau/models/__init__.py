"""tfau models and their registry: ``build_model(name, protocol, **options)``.

Names: ``resnet_deconv``, ``scc_heatmap``, ``g2rl``, ``roi_gcn``, ``resnet18``, ``re_net``
(``re_net`` on an intensity protocol is the 6-way variant). ``build_tiny_model`` builds any of
them with ``TINY_CONFIG`` (ResNet-18 x 0.125 at 64x64) for tests and CPU smoke runs.
"""
from tfau.models.base import (
    TINY_CONFIG,
    AUModel,
    build_model,
    build_tiny_model,
    model_class,
    model_names,
    register_model,
)
from tfau.models.g2rl import G2RL
from tfau.models.re_net import FoldAUs, RENet, ResNet18Baseline, UnfoldDiagonal
from tfau.models.resnet_deconv import HeatmapDecoder, ResNetDeconv
from tfau.models.roi_gcn import ROIGCN, DecompositionClassifier, RoiDecoder
from tfau.models.scc_heatmap import SCCHeatmap

__all__ = [
    "TINY_CONFIG",
    "AUModel",
    "DecompositionClassifier",
    "FoldAUs",
    "G2RL",
    "HeatmapDecoder",
    "RENet",
    "ROIGCN",
    "ResNet18Baseline",
    "ResNetDeconv",
    "RoiDecoder",
    "SCCHeatmap",
    "UnfoldDiagonal",
    "build_model",
    "build_tiny_model",
    "model_class",
    "model_names",
    "register_model",
]
