"""BP4D-Spontaneous (Zhang et al. 2014): 41 subjects x 8 tasks, AU occurrence and intensity.

Splits ``fold1``..``fold3`` are the subject-exclusive parts of ``common.BP4D_FOLDS`` (the
JAA-Net / ROI-GCN / RE-Net 3-fold protocol); the ``intensity`` config adds the FERA 2015
``train`` / ``devel`` partition (``common.BP4D_FERA_TRAIN`` / ``BP4D_FERA_DEVEL``), which holds
the same frames as the folds, partitioned differently.
"""
from __future__ import annotations

import tensorflow_datasets as tfds

from tfau_datasets import build_lib
from tfau_datasets.bp4d import bp4d_common
from tfau_datasets import common

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
BP4D is licensed: request it from Binghamton University
(https://www.cs.binghamton.edu/~lijun/Research/3DFE/3DFE_Analysis.html) and place (or link) what
you received in the manual directory (or pass --manual_dir), the dataset root at most two folder
levels down. Either layout works (detected):

  Binghamton release                          FERA 2015 package (dlib detects every face)
  <root>/2D+3D/F001.zip  (F001/T1/0000.jpg)    <root>/BP4D-training/F001/T1/0000.jpg
  <root>/2DFeatures/F001_T1.mat                  (or one folder deeper: <root>/BP4D/BP4D-training)
  <root>/AUCoding/AU_OCC/F001_T1.csv           <root>/AUCoding/F001_T1.csv
  <root>/AUCoding/AU_INT/AU06/F001_T1_AU06.csv <root>/AU Intensity Codes3.0/AU06/F001_T1_AU06.csv
                                                 (or AU-Intensity-Codes3.0, BP4D-AUIntensityCodes3.0)
                                               <root>/BP4D-fpoints (found, reported, not used)

Names are matched case-insensitively; a subset of the 41 subjects is fine.
"""

FOLD_SPLITS = dict(zip(common.FOLD_SPLITS, common.BP4D_FOLDS))
FERA_SPLITS = {"train": common.BP4D_FERA_TRAIN, "devel": common.BP4D_FERA_DEVEL}


class Builder(build_lib.BuilderMixin, tfds.core.GeneratorBasedBuilder):
    """BP4D aligned faces with AU occurrence (12 AUs) or intensity (5 AUs) labels."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
    BUILDER_CONFIGS = [
        bp4d_common.Bp4dConfig(name="occurrence", protocol="bp4d_occurrence",
                       description="12 AUs, occurrence 0/1 (9 = not coded -> label_mask 0); "
                       "splits fold1-3"),
        bp4d_common.Bp4dConfig(name="intensity", protocol="bp4d_intensity",
                       description="5 AUs (FERA 2015), intensity 0-5 (9 = not coded -> "
                       "label_mask 0); splits fold1-3, train, devel"),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=common.example_features(self.builder_config.get_protocol()),
            homepage="https://www.cs.binghamton.edu/~lijun/Research/3DFE/3DFE_Analysis.html",
            metadata=tfds.core.MetadataDict(),
        )

    def _splits(self):
        splits = dict(FOLD_SPLITS)
        if self.builder_config.get_protocol().task == "intensity":
            splits.update(FERA_SPLITS)
        return splits

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        plan = bp4d_common.Bp4dPlan.create(dl_manager.manual_dir, self.builder_config, "bp4d",
                                   self._splits(), "BP4D_FOLDS / BP4D_FERA_TRAIN / BP4D_FERA_DEVEL")
        return {split: self._generate_examples(plan, subjects, split)
                for split, subjects in plan.members.items()}

    def _generate_examples(self, plan: bp4d_common.Bp4dPlan, subjects, split: str = ""):
        return self._run_units(split, bp4d_common.bp4d_units(plan, subjects, self.builder_config))
