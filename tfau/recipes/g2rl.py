"""G2RL (Fan & Lin, IJCAI 2020): ResNet-Deconv heatmaps + landmark-graph knowledge projection.

The training recipe of SCC-Heatmap (same authors' code base; ``tfau/recipes/scc_heatmap.py``):
Adam 5e-4, the ``paper`` preset batch 32 with /10 at epochs 10 and 15 of 15 (``paper_b16``: the
later official config, batch 16, /10 at 5 and 10 of 10), the code's weight decay carried to unit
targets (5e-6 / 255**2 on the kernels, 5e-6 on the last conv), no augmentation, heatmap sigma 2
(Fig. 6 varies it: ``--heatmap_sigma``); loss ``lambda * L_G + (1 - lambda) * L_S`` with the
model's lambda = 0.05 (Fig. 7: ``--model_option g2rl_lambda=...``).
"""
from tfau.recipes.base import Recipe, register_recipe
from tfau.recipes.scc_heatmap import (
    HEATMAP_CONFIGS,
    HEATMAP_MODEL_OPTIONS,
    HEATMAP_OPTIMIZER,
    HEATMAP_PRESETS,
)

G2RL = register_recipe(Recipe(
    method="g2rl",
    task="intensity",
    configs=HEATMAP_CONFIGS,
    optimizer=HEATMAP_OPTIMIZER,
    presets=HEATMAP_PRESETS,
    heatmap_sigma=2.0,
    model_options=HEATMAP_MODEL_OPTIONS,
    paper="Fan & Lin, IJCAI 2020",
    description="G2RL: AU intensity heatmaps with geometric knowledge (training-only landmark "
                "GCN).",
))
