"""The papers' training recipes, one module per paper, registered by method name.

    from tfau.recipes import get_recipe
    recipe = get_recipe("g2rl")          # what train_scripts/g2rl.py trains
    recipe.augmentation("bp4d"), recipe.presets["paper"], recipe.optimizer

``tfau.training.run(recipe_or_name, ...)`` trains one configuration; see ``tfau.training``.
"""
from tfau.recipes import g2rl, re_net, roi_gcn, scc_heatmap  # noqa: F401  (register)
from tfau.recipes.base import Preset, Recipe, get_recipe, recipe_names, register_recipe

__all__ = ["Preset", "Recipe", "get_recipe", "recipe_names", "register_recipe"]
