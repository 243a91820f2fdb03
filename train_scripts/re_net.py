"""RE-Net (Yang, Yin, ACCV 2020): ResNet-18 with AU-conditioned batch norm over the AU correlation graph.

Adam 1e-4, batch 100, early stopping on held-out training subjects; the correlation graph is computed
from the training labels. DISFA uses RE-Net's occurrence threshold (intensity > 0).

The recipe lives in tfau/recipes/ (tfau.recipes.get_recipe("re_net")).
"""
from tfau.training import run_script

if __name__ == "__main__":
    run_script("re_net")
