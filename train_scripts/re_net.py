"""RE-Net (Yang, Yin, ACCV 2020): ResNet-18 with AU-conditioned batch norm over the AU correlation graph.

Adam 1e-4, batch 100, early stopping on held-out training subjects; the correlation graph is computed
from the training labels. DISFA uses RE-Net's occurrence threshold (intensity > 0)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfau.training import OptimizerSpec, Recipe, main  # noqa: E402
from tfau.training import presets as P  # noqa: E402

RECIPE = Recipe(
    method="re_net",
    task="occurrence",
    configs={"synthetic_au": "bp4d_occurrence", "disfa": "occurrence_gt0", "bp4d": "occurrence", "bp4d_plus": "occurrence"},
    optimizer=OptimizerSpec(learning_rate=1e-4, paper_epochs=20),
    presets={"paper": P.PAPER_RENET, "cpu": P.CPU_RESNET18, "tiny": P.TINY},
    early_stopping_patience=3,
    label_graph=True,
    any_task=True,
    description="RE-Net (Yang, Yin, ACCV 2020): ResNet-18 with AU-conditioned batch norm over the AU correlation graph.",
)

if __name__ == "__main__":
    main(RECIPE)
