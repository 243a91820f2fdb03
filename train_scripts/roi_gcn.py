"""ROI-GCN (Zhang, Wang, Yin, ACM MM 2020): HRNetV2-W18 ROI maps + spectral graph convolution, AU occurrence.

Adam 1e-4, x0.1 every 10 epochs (30 epochs: the paper gives no count), weight decay 5e-4 (PyTorch-style
coupled, = Keras L2 2.5e-4), batch 32."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfau.training import OptimizerSpec, Recipe, main  # noqa: E402
from tfau.training import presets as P  # noqa: E402

RECIPE = Recipe(
    method="roi_gcn",
    task="occurrence",
    configs={"synthetic_au": "bp4d_occurrence", "disfa": "occurrence", "bp4d": "occurrence", "bp4d_plus": "occurrence"},
    optimizer=OptimizerSpec(learning_rate=1e-4, decay_every=10, paper_epochs=30, l2=2.5e-4),
    presets={"paper": P.PAPER_ROI, "cpu": P.CPU_ROI, "tiny": P.TINY},
    description="ROI-GCN (Zhang, Wang, Yin, ACM MM 2020): HRNetV2-W18 ROI maps + spectral graph convolution, AU occurrence.",
)

if __name__ == "__main__":
    main(RECIPE)
