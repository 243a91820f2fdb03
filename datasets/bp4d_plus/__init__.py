"""TFDS builder folder for bp4d_plus: `bp4d_plus_dataset_builder.Builder`.

Build with `tfds build datasets/bp4d_plus --manual_dir ...`. Deliberately imports nothing: pytest
(importlib mode) and `tfds build` import this package under other names, and importing the
builder here would register the dataset twice.
"""
