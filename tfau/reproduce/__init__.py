"""``tfau reproduce``: reruns a paper's ablation / sensitivity table and writes our numbers
beside the published ones (``papers`` holds the published numbers, ``study`` runs and reports)."""
from tfau.reproduce.papers import PAPERS
from tfau.reproduce.study import judge_claims, run_study, write_report

__all__ = ["PAPERS", "judge_claims", "run_study", "write_report"]
