"""ResNet-Deconv heatmap regression: the Baseline row of SCC-Heatmap and G2RL.

Same training recipe as SCC-Heatmap."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfau.training import OptimizerSpec, Recipe, main  # noqa: E402
from tfau.training import presets as P  # noqa: E402

RECIPE = Recipe(
    method="resnet_deconv",
    task="intensity",
    configs={"synthetic_au": "disfa_intensity", "disfa": "intensity", "bp4d": "intensity"},
    optimizer=OptimizerSpec(learning_rate=5e-4, decay_epochs=(5, 10), paper_epochs=10, l2=5e-6),
    presets={"paper": P.PAPER_HEATMAP, "cpu": P.CPU_HEATMAP, "tiny": P.TINY},
    description="ResNet-Deconv heatmap regression: the Baseline row of SCC-Heatmap and G2RL.",
)

if __name__ == "__main__":
    main(RECIPE)
