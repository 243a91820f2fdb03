"""Shared base of the tfau models and the model registry (``build_model``).

Every model is a subclassed ``keras.Model`` whose parts are functional sub-models and layers
built in ``__init__`` (so ``.keras`` save/load and weight loading never need a sample batch).
``call(features)`` takes the pipeline's features dict (or a bare image tensor) and returns a
dict with at least ``au`` (float32 ``[B, A]``). Losses live in ``compute_loss`` (the Keras 3,
backend-agnostic hook ``fit``/``evaluate`` call), built from ``loss_terms`` which tests compare
with NumPy; each term is also reported as a metric (``heatmap_loss`` etc. in the fit logs).

Training-only branches (G2RL's geometric module, ROI-GCN's decomposition classifier) run in
``call`` whenever their inputs are there (so ``evaluate`` reports the training objective);
RE-Net's single-AU pass runs in training mode only. ``serving_model()`` returns a plain
functional ``keras.Model`` image -> ``{"au", "maps"}`` sharing the trained layers, with those
branches removed.
"""
from __future__ import annotations

import dataclasses

import keras
from keras import ops

from tfau import aus as aus_lib

# Filled by the @register_model decorators of the model modules. Python imports a package
# before any of its modules, and tfau/models/__init__.py imports every model, so the registry
# is complete whenever this module can be reached: no lookup needs to import the package
# (which would be an import cycle).
_REGISTRY = {}

# Small configuration for unit tests and CPU smoke runs (any model accepts it).
TINY_CONFIG = {"backbone": "resnet18", "width": 0.125, "image_size": 64}


def register_model(name):
    """Class decorator: registers a model class under ``name`` for ``build_model``."""

    def wrap(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} registered twice")
        _REGISTRY[name] = cls
        cls.registry_name = name
        return cls

    return wrap


def model_names():
    return tuple(sorted(_REGISTRY))


def model_class(name):
    """The class registered as ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {model_names()}") from None


def build_model(name, protocol, **kwargs):
    """Builds the model registered as ``name`` for ``protocol`` (name, Protocol or dict).

    Common keyword arguments: ``backbone`` (``"resnet50"``, ``"resnet18"``, ``"hrnetv2_w18"``;
    default: the paper's), ``image_size`` (256), ``width`` (1.0; ResNet-18/HRNet/head channels),
    ``backbone_weights`` (None, ``"imagenet"`` for ResNet-50, or a local weights file); the rest
    are the method's options (see each class).
    """
    return model_class(name)(protocol=protocol, **kwargs)


def build_tiny_model(name, protocol, **kwargs):
    """``build_model`` with :data:`TINY_CONFIG` (ResNet-18 x 0.125 at 64x64) as defaults."""
    return build_model(name, protocol, **{**TINY_CONFIG, **kwargs})


# The one protocol resolver (name, Protocol or dict form), re-exported for the models.
resolve_protocol = aus_lib.resolve_protocol


def protocol_to_config(protocol):
    config = dataclasses.asdict(protocol)
    config["aus"] = list(config["aus"])
    return config


def masked_mean(values, mask):
    """``sum(mask * values) / max(sum(mask), 1)`` in float32 (0 when everything is masked)."""
    values = ops.cast(values, "float32")
    mask = ops.cast(ops.broadcast_to(ops.cast(mask, "float32"), ops.shape(values)), "float32")
    return ops.sum(values * mask) / ops.maximum(ops.sum(mask), 1.0)


def masked_map_mse(pred, target, channel_mask):
    """MSE over every map value ``[B, h, w, C]`` of the channels ``channel_mask [B, C]`` keeps.

    Equals the plain mean over ``B * h * w * C`` when every channel is kept.
    """
    pred = ops.cast(pred, "float32")
    target = ops.cast(target, "float32")
    sq = ops.square(pred - target)
    mask = ops.cast(channel_mask, "float32")[:, None, None, :]
    per_channel = ops.sum(sq * mask, axis=(0, 1, 2))
    hw = ops.cast(ops.shape(pred)[1] * ops.shape(pred)[2], "float32")
    return ops.sum(per_channel) / ops.maximum(ops.sum(mask) * hw, 1.0)


def binary_cross_entropy_with_logits(labels, logits):
    """Element-wise sigmoid cross-entropy, numerically stable, float32."""
    labels = ops.cast(labels, "float32")
    logits = ops.cast(logits, "float32")
    return ops.maximum(logits, 0.0) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))


class AUModel(keras.Model):
    """Base class: protocol / backbone bookkeeping, feature parsing, config, loss metrics.

    Subclasses create their layers in ``__init__``, call ``self._finish_build()`` at the end,
    and implement ``call``, ``loss_terms``, ``total_loss`` and ``serving_model``.
    """

    registry_name = None
    default_backbone = "resnet50"
    # The AU tasks the model trains on (the trainer refuses a protocol of another task).
    supported_tasks = (aus_lib.INTENSITY, aus_lib.OCCURRENCE)
    # Constructor arguments the trainer sets itself (not user ``--model_option``s).
    common_options = ("protocol", "backbone", "image_size", "width", "backbone_weights", "name")
    required_targets = ("labels", "label_mask")
    required_features = ("image",)
    loss_names = ()
    # Output stride of the model's maps (image side / map side); models whose maps come out
    # elsewhere set it from their encoder (``ResNetDeconv``: two deconv stages -> 8). Data code
    # asks the model (``map_stride``) instead of assuming S/4.
    map_stride = 4

    def __init__(
        self,
        protocol,
        backbone=None,
        image_size=256,
        width=1.0,
        backbone_weights=None,
        name=None,
        **kwargs,
    ):
        super().__init__(name=name or self.registry_name, **kwargs)
        self.protocol = resolve_protocol(protocol)
        self.n_aus = self.protocol.n_aus
        self.backbone_name = backbone or self.default_backbone
        self.image_size = int(image_size)
        self.width = float(width)
        self.backbone_weights = backbone_weights
        self.map_size = self.image_size // self.map_stride
        # Features keep their dtype at the model boundary (landmarks stay float32 under a mixed
        # policy, au_index int32); every sub-layer casts for itself.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True  # NumPy scalars (au_index) in features
        self._loss_trackers = {
            n: keras.metrics.Mean(name=n) for n in self.loss_names
        }

    # ------------------------------------------------------------------------------ hooks

    @classmethod
    def options_from_labels(cls, labels, label_mask, options):
        """Constructor options derived from the training labels (``[N, A]`` values and masks)
        given the user's ``options``; the trainer passes them to ``build_model`` and stores them
        in the run file. Default: none."""
        del labels, label_mask, options
        return {}

    @classmethod
    def option_defaults(cls):
        """``{name: default}`` of the method's own constructor options (the keys
        ``--model_option`` accepts), collected over the class hierarchy."""
        import inspect

        out = {}
        for klass in reversed(cls.__mro__):
            if "__init__" not in vars(klass) or not issubclass(klass, AUModel):
                continue
            for p in inspect.signature(klass.__init__).parameters.values():
                if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                    continue
                if p.name in cls.common_options:
                    continue
                out[p.name] = None if p.default is inspect.Parameter.empty else p.default
        return out

    # ------------------------------------------------------------------------------ helpers

    @property
    def is_intensity(self):
        return self.protocol.task == aus_lib.INTENSITY

    def _finish_build(self):
        self.built = True

    @staticmethod
    def _image(features):
        image = features["image"] if isinstance(features, dict) else features
        return ops.convert_to_tensor(image)

    @staticmethod
    def _feature(features, key):
        if isinstance(features, dict) and features.get(key) is not None:
            return ops.convert_to_tensor(features[key])
        return None

    def _symbolic_image(self):
        return keras.Input((self.image_size, self.image_size, 3), name="image")

    def _track(self, terms):
        for name, value in terms.items():
            tracker = self._loss_trackers.get(name)
            if tracker is not None:
                tracker.update_state(value)

    # ------------------------------------------------------------------------------ training

    def loss_terms(self, y, y_pred, training=True):
        """Dict of the named loss terms (float32 scalars) for targets ``y``."""
        raise NotImplementedError

    def total_loss(self, terms):
        raise NotImplementedError

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        del sample_weight  # the targets carry their own masks
        if y_pred is None:
            y_pred = self(x, training=training)
        terms = self.loss_terms(y, y_pred, training=training)
        self._track(terms)
        loss = self.total_loss(terms)
        if self.losses:  # kernel regularizers, if a user adds any
            loss = loss + ops.cast(ops.sum(ops.stack([ops.sum(l) for l in self.losses])), "float32")
        return loss

    # ------------------------------------------------------------------------------ inference

    def serving_model(self):
        """Plain functional model image (float 0..255 ``[B, S, S, 3]``) -> ``{"au", "maps"}``."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------ config

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "protocol": protocol_to_config(self.protocol),
            "backbone": self.backbone_name,
            "image_size": self.image_size,
            "width": self.width,
            # Weights come from the saved file on reload: never download or read them again.
            "backbone_weights": None,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
