"""BP4D+ (Zhang et al. 2016): 140 subjects, AU-coded tasks T1, T6, T7, T8, 12-AU occurrence.

No standard fold list exists for BP4D+; ``fold1``..``fold3`` are tfau's deterministic
subject-exclusive split ``common.BP4D_PLUS_FOLDS`` (subjects sorted, females then males, dealt
round-robin; the parts hold 47/47/46 subjects and 28+19 / 27+20 / 27+19 females+males).
"""
from __future__ import annotations

import tensorflow_datasets as tfds

from tfau_datasets import build_lib
from tfau_datasets.bp4d import bp4d_common
from tfau_datasets import common

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
BP4D+ (the Multimodal Spontaneous Emotion database) is licensed: request it from Binghamton
University (https://www.cs.binghamton.edu/~lijun/Research/3DFE/3DFE_Analysis.html) and place
(or link) what you received in the manual directory (or pass --manual_dir), the dataset root at
most two folder levels down:

  <root>/2D+3D/F001.zip                       (entries F001/T1/0000.jpg ...)
  <root>/2DFeatures/F001_T1.mat               (MATLAB v7.3, fit/pred: 49 landmarks per frame)
  <root>/AUCoding/AU_OCC/F001_T1.csv          (header row, 34 AU columns)

Names are matched case-insensitively; a subset of the 140 subjects is fine.
"""

FOLD_SPLITS = dict(zip(common.FOLD_SPLITS, common.BP4D_PLUS_FOLDS))
# The 34 AU columns of BP4D+'s AUCoding/AU_OCC files after the frame column, in file order.
# Public readers index them by position (frame, then these AUs); we read by header name and
# fall back to these positions (logged) when a header does not name the AUs.
OCCURRENCE_COLUMNS = (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 23,
                      24, 25, 26, 27, 28, 32, 38, 39, 43, 45, 46, 53, 54, 55)


class Builder(build_lib.BuilderMixin, tfds.core.GeneratorBasedBuilder):
    """BP4D+ aligned faces with 12-AU occurrence labels."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
    BUILDER_CONFIGS = [
        bp4d_common.Bp4dConfig(name="occurrence", protocol="bp4d_plus_occurrence", layout=bp4d_common.BINGHAMTON,
                       occurrence_columns=OCCURRENCE_COLUMNS,
                       description="12 AUs (as BP4D), occurrence 0/1 (9 = not coded -> "
                       "label_mask 0); splits fold1-3 (common.BP4D_PLUS_FOLDS)"),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=common.example_features(self.builder_config.get_protocol()),
            homepage="https://www.cs.binghamton.edu/~lijun/Research/3DFE/3DFE_Analysis.html",
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        plan = bp4d_common.Bp4dPlan.create(dl_manager.manual_dir, self.builder_config, "bp4d_plus",
                                   FOLD_SPLITS, "BP4D_PLUS_FOLDS")
        return {split: self._generate_examples(plan, subjects, split)
                for split, subjects in plan.members.items()}

    def _generate_examples(self, plan: bp4d_common.Bp4dPlan, subjects, split: str = ""):
        return self._run_units(split, bp4d_common.bp4d_units(plan, subjects, self.builder_config))
