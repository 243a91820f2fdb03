"""SCC-Heatmap (Fan, Lam, Li, AAAI 2020) and its Baseline row, ResNet-Deconv (also G2RL's).

Adam 5e-4, /10 at epochs 5 and 10 of 10, batch 16 (paper 32), L2 5e-6 (Keras convention: the
official code's ``l2_regularizer(1e-5)``); no augmentation (the paper and the official code
train on the aligned faces as they are); Gaussian targets with sigma 2 map pixels.
"""
from tfau.recipes import presets as P
from tfau.recipes.base import Recipe, register_recipe
from tfau.training.optim import OptimizerSpec

HEATMAP_OPTIMIZER = OptimizerSpec(learning_rate=5e-4, decay_epochs=(5, 10), paper_epochs=10,
                                  l2=5e-6)
HEATMAP_CONFIGS = {"synthetic_au": "disfa_intensity", "disfa": "intensity", "bp4d": "intensity"}
HEATMAP_PRESETS = {"paper": P.PAPER_HEATMAP, "cpu": P.CPU_HEATMAP, "tiny": P.TINY}

SCC_HEATMAP = register_recipe(Recipe(
    method="scc_heatmap",
    task="intensity",
    configs=HEATMAP_CONFIGS,
    optimizer=HEATMAP_OPTIMIZER,
    presets=HEATMAP_PRESETS,
    heatmap_sigma=2.0,
    paper="Fan, Lam, Li, AAAI 2020",
    description="SCC-Heatmap (Fan, Lam, Li, AAAI 2020): AU intensity heatmaps with semantic "
                "correspondence convolutions.",
))

RESNET_DECONV = register_recipe(Recipe(
    method="resnet_deconv",
    task="intensity",
    configs=HEATMAP_CONFIGS,
    optimizer=HEATMAP_OPTIMIZER,
    presets=HEATMAP_PRESETS,
    heatmap_sigma=2.0,
    paper="Fan, Lam, Li, AAAI 2020 (Baseline row)",
    description="ResNet-Deconv heatmap regression: the Baseline row of SCC-Heatmap and G2RL.",
))
