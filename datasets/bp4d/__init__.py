"""TFDS builder folder for bp4d: `bp4d_dataset_builder.Builder`.

Build with `tfds build datasets/bp4d --manual_dir ...`. Deliberately imports nothing: pytest
(importlib mode) and `tfds build` import this package under other names, and importing the
builder here would register the dataset twice.
"""
