"""The four papers' results tables and sensitivity figures as data, one file per paper
(``scc_heatmap.py``, ``g2rl.py``, ``roi_gcn.py``, ``re_net.py``), in the compact form of
``schema.py``, expanded on import into ``PAPERS[paper]["tables"][table]``."""
from tfau.reproduce.papers.g2rl import G2RL
from tfau.reproduce.papers.re_net import RE_NET
from tfau.reproduce.papers.roi_gcn import ROI_GCN
from tfau.reproduce.papers.scc_heatmap import SCC_HEATMAP

PAPERS = {"scc_heatmap": SCC_HEATMAP, "g2rl": G2RL, "roi_gcn": ROI_GCN, "re_net": RE_NET}

__all__ = ["PAPERS", "SCC_HEATMAP", "G2RL", "ROI_GCN", "RE_NET"]
