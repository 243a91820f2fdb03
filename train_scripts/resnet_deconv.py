"""ResNet-Deconv heatmap regression: the Baseline row of SCC-Heatmap and G2RL.

Same training recipe as SCC-Heatmap.

The recipe lives in tfau/recipes/ (tfau.recipes.get_recipe("resnet_deconv")).
"""
from tfau.training import run_script

if __name__ == "__main__":
    run_script("resnet_deconv")
