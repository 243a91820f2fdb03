"""ResNet-18 multi-label AU occurrence: the baseline row of RE-Net.

Same training recipe as RE-Net (Adam 1e-4, batch 100, early stopping).

The recipe lives in tfau/recipes/ (tfau.recipes.get_recipe("resnet18")).
"""
from tfau.training import run_script

if __name__ == "__main__":
    run_script("resnet18")
