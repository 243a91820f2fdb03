"""G2RL's external geometric knowledge module (Fan & Lin, IJCAI 2020, equations 3-5).

A graph convolutional network over the 68 facial landmarks that summarises the face shape into a
latent vector ``G`` (256-d in the paper). The module is training-only: G2RL's model uses ``G`` as
the target of the knowledge projection loss (see ``tfau.layers.knowledge_projection``) and drops
it from the serving graph, so it costs nothing at inference.

Pipeline, for landmarks ``P`` of shape ``[B, N, 2]`` (N = 68, pixel coordinates):

1. **Input normalisation** (``input_normalization="rms"``, our choice; the paper feeds raw Dlib
   coordinates): centre every face on its landmark centroid and divide by its RMS radius
   ``s = sqrt(mean_i ||p_i - c||^2)``. Translation and scale of the face in the image then no
   longer matter, coordinates are O(1), and the adjacency below is defined in face-relative
   units. ``"none"`` feeds the coordinates unchanged (the kernel width is then in pixels).
2. **Dynamic adjacency** from the Euclidean distances between nodes of each sample (the paper:
   "the adjacency matrix determined by the Euclidean distances between the nodes", kernel left
   open). ``adjacency="gaussian"`` (default): ``A_ij = exp(-d_ij^2 / (2 sigma^2))``;
   ``"inverse"``: ``A_ij = 1 / (1 + d_ij / sigma)``. Both give ``A_ii = 1``, i.e. self loops are
   part of the kernel (no extra identity is added). ``sigma`` is in units of the face's RMS
   radius (default 0.25: a node's neighbourhood is its facial part: an eye, a brow, the mouth);
   with ``input_normalization="none"`` it is in pixels.
3. **Normalisation** of A (``normalize``): ``"symmetric"`` (default, Kipf & Welling)
   ``D^-1/2 A D^-1/2``; ``"row"`` ``D^-1 A`` (neighbour averaging); ``"none"``. D = row sums of A
   (>= 1 since A_ii = 1, so never singular). The same A serves all three layers (A depends only
   on P, and P is the only geometric input).
4. Three GCN layers ``F^l = ReLU(A F^{l-1} W^{l-1})``, ``F^0 = P`` (no bias, as in equation 3),
   widths ``units`` (default 64, 64, 64; the paper gives none).
5. Concatenation of the three layers' outputs ``[B, N, sum(units)]`` (equation 4), a 1x1
   convolution = a per-node dense layer with ReLU (``conv_units``, default 64), flatten
   ``[B, N * conv_units]``, three fully-connected layers ``fc_units`` (default 512, 256, 256):
   ReLU after all but the last, the last is linear, because ``G`` is a regression target for
   ``W M`` (equation 5).

The geometry (normalisation, distances, A) is computed in float32 whatever the dtype policy
(pixel coordinates squared overflow float16); the matrix products run in the compute dtype.
"""

from __future__ import annotations

import keras
from keras import ops

_ADJACENCIES = ("gaussian", "inverse")
_NORMALIZATIONS = ("symmetric", "row", "none")
_INPUT_NORMALIZATIONS = ("rms", "none")
DEFAULT_SIGMA = 0.25


def normalize_landmarks(points, epsilon=1e-6):
    """Centres ``points [..., N, 2]`` on their centroid and divides by their RMS radius."""
    points = ops.cast(points, "float32")
    centred = points - ops.mean(points, axis=-2, keepdims=True)
    radius2 = ops.mean(ops.sum(ops.square(centred), axis=-1), axis=-1)
    scale = ops.sqrt(ops.maximum(radius2, epsilon))
    return centred / scale[..., None, None]


def landmark_adjacency(points, adjacency="gaussian", sigma=DEFAULT_SIGMA, normalize="symmetric"):
    """Dense per-sample adjacency ``[..., N, N]`` (float32) from node coordinates ``[..., N, D]``.

    See the module docstring for the kernels and normalisations.
    """
    if adjacency not in _ADJACENCIES:
        raise ValueError(f"adjacency must be one of {_ADJACENCIES}, got {adjacency!r}")
    if normalize not in _NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {_NORMALIZATIONS}, got {normalize!r}")
    points = ops.cast(points, "float32")
    diff = points[..., :, None, :] - points[..., None, :, :]
    dist2 = ops.sum(ops.square(diff), axis=-1)
    if adjacency == "gaussian":
        a = ops.exp(-dist2 / (2.0 * float(sigma) ** 2))
    else:
        # sqrt has an infinite derivative at 0 (the diagonal): the coordinates are inputs,
        # but keep A differentiable anyway by flooring the squared distance.
        dist = ops.sqrt(ops.maximum(dist2, 1e-12))
        a = 1.0 / (1.0 + dist / float(sigma))
    if normalize == "none":
        return a
    degree = ops.sum(a, axis=-1)
    if normalize == "row":
        return a / degree[..., :, None]
    inv_sqrt = ops.rsqrt(degree)
    return a * inv_sqrt[..., :, None] * inv_sqrt[..., None, :]


@keras.saving.register_keras_serializable(package="tfau")
class LandmarkGCN(keras.layers.Layer):
    """Landmarks ``[B, N, 2]`` -> geometric knowledge vector ``G`` ``[B, fc_units[-1]]``.

    Args:
        units: widths of the three (or any number of) GCN layers.
        conv_units: output width of the 1x1 convolution over the concatenated GCN features.
        fc_units: widths of the fully connected layers; the last one is linear.
        adjacency: ``"gaussian"`` or ``"inverse"`` distance kernel.
        sigma: kernel width in face-RMS-radius units (pixels with
            ``input_normalization="none"``); ``None`` means 0.25.
        normalize: ``"symmetric"``, ``"row"`` or ``"none"`` normalisation of the adjacency.
        input_normalization: ``"rms"`` (centre + divide by RMS radius) or ``"none"``.
        kernel_initializer, bias_initializer, kernel_regularizer: for all weights.
    """

    def __init__(
        self,
        units=(64, 64, 64),
        conv_units=64,
        fc_units=(512, 256, 256),
        adjacency="gaussian",
        sigma=None,
        normalize="symmetric",
        input_normalization="rms",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if adjacency not in _ADJACENCIES:
            raise ValueError(f"adjacency must be one of {_ADJACENCIES}, got {adjacency!r}")
        if normalize not in _NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {_NORMALIZATIONS}, got {normalize!r}")
        if input_normalization not in _INPUT_NORMALIZATIONS:
            raise ValueError(
                f"input_normalization must be one of {_INPUT_NORMALIZATIONS}, "
                f"got {input_normalization!r}"
            )
        self.units = tuple(int(u) for u in units)
        self.conv_units = int(conv_units)
        self.fc_units = tuple(int(u) for u in fc_units)
        if not self.units or not self.fc_units:
            raise ValueError("units and fc_units must be non-empty")
        self.adjacency = adjacency
        self.sigma = None if sigma is None else float(sigma)
        self.normalize = normalize
        self.input_normalization = input_normalization
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    @property
    def effective_sigma(self):
        return DEFAULT_SIGMA if self.sigma is None else self.sigma

    def _kernel(self, name, shape):
        return self.add_weight(
            name=name,
            shape=shape,
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"LandmarkGCN expects [B, N, D] landmarks, got {input_shape}")
        num_nodes, coord_dim = input_shape[1], input_shape[2]
        if num_nodes is None or coord_dim is None:
            raise ValueError(f"LandmarkGCN needs static N and D, got {input_shape}")
        self.num_nodes = int(num_nodes)
        self.gcn_kernels = []
        fan_in = int(coord_dim)
        for i, width in enumerate(self.units):
            self.gcn_kernels.append(self._kernel(f"gcn_{i}_kernel", (fan_in, width)))
            fan_in = width
        self.conv_kernel = self._kernel("conv_kernel", (sum(self.units), self.conv_units))
        self.conv_bias = self.add_weight(
            name="conv_bias", shape=(self.conv_units,), initializer=self.bias_initializer
        )
        self.fc_kernels, self.fc_biases = [], []
        fan_in = self.num_nodes * self.conv_units
        for i, width in enumerate(self.fc_units):
            self.fc_kernels.append(self._kernel(f"fc_{i}_kernel", (fan_in, width)))
            self.fc_biases.append(
                self.add_weight(
                    name=f"fc_{i}_bias", shape=(width,), initializer=self.bias_initializer
                )
            )
            fan_in = width

    def adjacency_matrix(self, landmarks):
        """The (normalised) per-sample adjacency ``[B, N, N]`` in float32, and the node inputs."""
        points = ops.cast(landmarks, "float32")
        if self.input_normalization == "rms":
            points = normalize_landmarks(points)
        a = landmark_adjacency(points, self.adjacency, self.effective_sigma, self.normalize)
        return a, points

    def call(self, landmarks):
        a, points = self.adjacency_matrix(landmarks)
        a = ops.cast(a, self.compute_dtype)
        features = ops.cast(points, self.compute_dtype)
        outputs = []
        for kernel in self.gcn_kernels:
            # A (F W): same result as (A F) W, cheaper when the width grows.
            features = ops.relu(ops.matmul(a, ops.matmul(features, kernel)))
            outputs.append(features)
        concat = ops.concatenate(outputs, axis=-1)
        conv = ops.relu(ops.matmul(concat, self.conv_kernel) + self.conv_bias)
        x = ops.reshape(conv, (-1, self.num_nodes * self.conv_units))
        last = len(self.fc_kernels) - 1
        for i, (kernel, bias) in enumerate(zip(self.fc_kernels, self.fc_biases)):
            x = ops.matmul(x, kernel) + bias
            if i < last:
                x = ops.relu(x)
        return x

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.fc_units[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": list(self.units),
                "conv_units": self.conv_units,
                "fc_units": list(self.fc_units),
                "adjacency": self.adjacency,
                "sigma": self.sigma,
                "normalize": self.normalize,
                "input_normalization": self.input_normalization,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
