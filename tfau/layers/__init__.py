"""Graph layers of the four papers (Keras 3, backend-agnostic `keras.ops`)."""

from tfau.layers.scc import SCCLayer
from tfau.layers.spectral_graph_conv import SpectralGraphConv
from tfau.layers.landmark_gcn import LandmarkGCN
from tfau.layers.knowledge_projection import (
    G2RL_LAMBDA,
    KnowledgeProjection,
    g2rl_total_loss,
    knowledge_projection_loss,
)
from tfau.layers.graph_batch_norm import (
    GraphBatchNorm,
    fold_aus,
    pearson_correlation,
    unfold_aus,
)
