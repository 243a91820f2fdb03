"""G2RL (Fan & Lin, IJCAI 2020): ResNet-Deconv heatmaps + landmark-graph knowledge projection.

    python train_scripts/g2rl.py                  # offline: builds the synthetic dataset, CPU preset
    python train_scripts/g2rl.py --dataset disfa  # paper preset, 3-fold protocol
    python train_scripts/g2rl.py --help

Adam 5e-4, /10 at epochs 5 and 10 of 10, batch 16 (paper 32), L2 5e-6 (Keras convention),
loss lambda * L_G + (1 - lambda) * L_S with lambda = 0.05 (model default).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfau.training import OptimizerSpec, Recipe, main  # noqa: E402
from tfau.training import presets as P  # noqa: E402

RECIPE = Recipe(
    method="g2rl",
    task="intensity",
    configs={"synthetic_au": "disfa_intensity", "disfa": "intensity", "bp4d": "intensity"},
    optimizer=OptimizerSpec(learning_rate=5e-4, decay_epochs=(5, 10), paper_epochs=10, l2=5e-6),
    presets={"paper": P.PAPER_HEATMAP, "cpu": P.CPU_HEATMAP, "tiny": P.TINY},
    description="G2RL: AU intensity heatmaps with geometric knowledge (training-only landmark GCN).",
)

if __name__ == "__main__":
    main(RECIPE)
