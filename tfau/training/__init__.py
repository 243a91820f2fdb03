"""The one trainer: ``Recipe`` + presets + ``main(recipe, argv)`` (see ``trainer``)."""
from tfau.training.optim import AdamL2, OptimizerSpec
from tfau.training.recipe import Preset, Recipe, fold_list, protocol_for, protocol_of_builder
from tfau.training.trainer import main, run_script

__all__ = ["AdamL2", "OptimizerSpec", "Preset", "Recipe", "fold_list", "main", "protocol_for",
           "protocol_of_builder", "run_script"]
