"""SCC-Heatmap (Fan, Lam, Li, AAAI 2020): AU intensity heatmaps with semantic correspondence convolutions.

Adam 5e-4, /10 at epochs 5 and 10 of 10, batch 16 (paper 32), L2 5e-6 (Keras convention).

The recipe lives in tfau/recipes/ (tfau.recipes.get_recipe("scc_heatmap")).
"""
from tfau.training import run_script

if __name__ == "__main__":
    run_script("scc_heatmap")
