"""SCC-Heatmap (Fan, Lam, Li, AAAI 2020): AU intensity heatmaps with semantic correspondence convolutions.

Adam 5e-4, batch 32, /10 at epochs 10 and 15 of 15 (--preset paper_b16: batch 16, /10 at 5 and
10 of 10), the code's L2 carried to unit targets (5e-6 / 255**2, last conv 5e-6).

The recipe lives in tfau/recipes/ (tfau.recipes.get_recipe("scc_heatmap")).
"""
from tfau.training import run_script

if __name__ == "__main__":
    run_script("scc_heatmap")
