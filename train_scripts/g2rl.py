"""G2RL (Fan & Lin, IJCAI 2020): ResNet-Deconv heatmaps + landmark-graph knowledge projection.

    python train_scripts/g2rl.py                  # offline: builds the synthetic dataset, CPU preset
    python train_scripts/g2rl.py --dataset disfa  # paper preset, 3-fold protocol
    python train_scripts/g2rl.py --help

Adam 5e-4, batch 32, /10 at epochs 10 and 15 of 15 (--preset paper_b16: batch 16, /10 at 5 and
10 of 10), the code's L2 carried to unit targets (5e-6 / 255**2, last conv 5e-6),
loss lambda * L_G + (1 - lambda) * L_S with lambda = 0.05 (model default).

The recipe lives in tfau/recipes/ (tfau.recipes.get_recipe("g2rl")).
"""
from tfau.training import run_script

if __name__ == "__main__":
    run_script("g2rl")
