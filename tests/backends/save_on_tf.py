"""Run by ``backends_test.py`` in the main (TensorFlow) environment: saves every registered model
(tiny, with non-trivial weights) as ``.keras`` plus its inputs and TF outputs into ``argv[1]``."""
import json
import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"
import keras  # noqa: E402
import numpy as np  # noqa: E402

from tfau.models import build_model, model_class, model_names  # noqa: E402
from tfau.testing import model_harness as tu  # noqa: E402


def main(out_dir):
    assert keras.backend.backend() == "tensorflow"
    index = {}
    for name in model_names():
        keras.utils.set_random_seed(1)
        model = build_model(name, f"bp4d_{model_class(name).supported_tasks[0]}",
                            **tu.tiny_kwargs())
        features, _ = tu.batch(model, n=2, seed=3)
        features = {"image": features["image"]}  # what a loaded model is served
        model(features, training=False)
        rng = np.random.default_rng(0)  # move BN statistics and heads off their init
        model.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype) if w.ndim else w
                           for w in model.get_weights()])
        out = model(features, training=False)
        model.save(os.path.join(out_dir, f"{name}.keras"))
        arrays = {f"f_{k}": v for k, v in features.items()}
        arrays.update({f"o_{k}": np.asarray(v) for k, v in out.items()})
        np.savez(os.path.join(out_dir, f"{name}.npz"), **arrays)
        index[name] = {"file": f"{name}.keras", "arrays": f"{name}.npz",
                       "class": type(model).__name__, "outputs": sorted(out)}
    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump(index, f)


if __name__ == "__main__":
    main(sys.argv[1])
