"""G2RL (Fan & Lin, IJCAI 2020): ResNet-Deconv heatmaps + landmark-graph knowledge projection.

The training recipe of SCC-Heatmap (same authors' code base): Adam 5e-4, /10 at epochs 5 and 10
of 10, batch 16 (paper 32), L2 5e-6, no augmentation, heatmap sigma 2 (Fig. 6 varies it:
``--heatmap_sigma``); loss ``lambda * L_G + (1 - lambda) * L_S`` with the model's lambda = 0.05
(Fig. 7: ``--model_option`` on the model's lambda argument).
"""
from tfau.recipes.base import Recipe, register_recipe
from tfau.recipes.scc_heatmap import HEATMAP_CONFIGS, HEATMAP_OPTIMIZER, HEATMAP_PRESETS

G2RL = register_recipe(Recipe(
    method="g2rl",
    task="intensity",
    configs=HEATMAP_CONFIGS,
    optimizer=HEATMAP_OPTIMIZER,
    presets=HEATMAP_PRESETS,
    heatmap_sigma=2.0,
    paper="Fan & Lin, IJCAI 2020",
    description="G2RL: AU intensity heatmaps with geometric knowledge (training-only landmark "
                "GCN).",
))
