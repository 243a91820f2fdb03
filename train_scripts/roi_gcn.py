"""ROI-GCN (Zhang, Wang, Yin, ACM MM 2020): HRNetV2-W18 ROI maps + spectral graph convolution, AU occurrence.

Adam 1e-4, x0.1 every 10 epochs (30 epochs: the paper gives no count), weight decay 5e-4 (PyTorch-style
coupled, = Keras L2 2.5e-4), batch 32.

The recipe lives in tfau/recipes/ (tfau.recipes.get_recipe("roi_gcn")).
"""
from tfau.training import run_script

if __name__ == "__main__":
    run_script("roi_gcn")
