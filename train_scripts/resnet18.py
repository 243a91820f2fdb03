"""ResNet-18 multi-label AU occurrence: the baseline row of RE-Net.

Same training recipe as RE-Net (Adam 1e-4, batch 100, early stopping)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfau.training import OptimizerSpec, Recipe, main  # noqa: E402
from tfau.training import presets as P  # noqa: E402

RECIPE = Recipe(
    method="resnet18",
    task="occurrence",
    configs={"synthetic_au": "bp4d_occurrence", "disfa": "occurrence_gt0", "bp4d": "occurrence", "bp4d_plus": "occurrence"},
    optimizer=OptimizerSpec(learning_rate=1e-4, paper_epochs=20),
    presets={"paper": P.PAPER_RENET, "cpu": P.CPU_RESNET18, "tiny": P.TINY},
    early_stopping_patience=3,
    any_task=True,
    description="ResNet-18 multi-label AU occurrence: the baseline row of RE-Net.",
)

if __name__ == "__main__":
    main(RECIPE)
