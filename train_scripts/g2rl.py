"""G2RL (Fan & Lin, IJCAI 2020): ResNet-Deconv heatmaps + landmark-graph knowledge projection.

    python train_scripts/g2rl.py                  # offline: builds the synthetic dataset, CPU preset
    python train_scripts/g2rl.py --dataset disfa  # paper preset, 3-fold protocol
    python train_scripts/g2rl.py --help

Adam 5e-4, /10 at epochs 5 and 10 of 10, batch 16 (paper 32), L2 5e-6 (Keras convention),
loss lambda * L_G + (1 - lambda) * L_S with lambda = 0.05 (model default).

The recipe lives in tfau/recipes/ (tfau.recipes.get_recipe("g2rl")).
"""
from tfau.training import run_script

if __name__ == "__main__":
    run_script("g2rl")
