"""synthetic_au: offline rendered faces with known AU intensities (see README.md here).

Modules: ``render`` (the face renderer), ``generate`` (labels, folds, examples),
``synthetic_au_dataset_builder`` (the TFDS builder). Importing this package imports none of them.
"""
