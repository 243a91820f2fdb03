"""Spectral graph convolution with a learnt, factorised similarity matrix (ROI-GCN, ACM MM 2020).

X1 = act(L X0 Theta),  L = I - D^-1/2 A D^-1/2,  A = Phi Lambda Phi^T   (paper eqs. 2, 3, 5, 6)

over the H*W pixels of X0 [B, H, W, C]. Phi [B, HW, M] is a 1x1 convolution of X0 to M = n_nodes
channels (M = number of AUs), made non-negative so that the degrees are positive; Lambda is the
diagonal sigmoid(Dense(GAP(X0))) [B, M]. A ([HW, HW] per sample) is never formed:

    d = Phi (Lambda (Phi^T 1)),  P = D^-1/2 Phi,  L X0 = X0 - P (Lambda (P^T X0))

which costs O(HW * C * M). The normalised Laplacian does not change when A is scaled by a
constant, so Phi and Lambda are each divided by their per-sample maximum (no gradient through
those scales) before the degrees are formed; degrees then lie in [0, HW * M] whatever the input
magnitude. Before the rsqrt the degrees get a *floor* (``degree_floor``, 1e-12), not an additive
term: an additive epsilon changes every small degree (a localised Phi - background pixels with
Phi ~ 1e-6 of the hot ones - has degrees of that order, and the output then leaves eq. 2 by up to
14% of its range, issue 11 item 8), while the floor only touches rows that are disconnected for
float32 anyway (a pixel whose Phi row is all zero - possible with ``phi_activation="relu"`` -
gets a zero row of P and keeps its feature). The reference text asks for exactly this ("a floor
(not an additive epsilon) before rsqrt"). Phi, degrees and the Laplacian product run in float32;
the 1x1 convolution and Theta in the compute dtype.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["SpectralGraphConv"]

_PHI_ACTIVATIONS = ("softplus", "relu")


@keras.saving.register_keras_serializable(package="tfau")
class SpectralGraphConv(keras.layers.Layer):
    """ROI-GCN graph convolution over the pixels of a [B, H, W, C] map.

    Args:
        n_nodes: M, columns of Phi (= number of AUs, the paper's C_out).
        units: output channels of Theta; None (default) = C.
        phi_activation: "softplus" (default) or "relu", keeps Phi >= 0 so degrees are >= 0.
        activation: applied to L X0 Theta (paper: ReLU).
        use_bias: add a bias after Theta (paper: none).
        return_phi: also return Phi [B, H, W, M] (non-negative, before the scale normalisation),
            which the supervised-decomposition loss reads.
        degree_floor: lower bound of the degrees (after Phi and Lambda are divided by their
            per-sample maxima) before the rsqrt; only (numerically) disconnected pixels reach
            it. ``epsilon=`` (older configs) is read as this floor.
        kernel_initializer, bias_initializer, kernel_regularizer: for the Phi 1x1 conv, the Lambda
            Dense and Theta.

    Output: X1 [B, H, W, units], or the tuple (X1, Phi) with return_phi=True.
    """

    def __init__(
        self,
        n_nodes,
        units=None,
        phi_activation="softplus",
        activation="relu",
        use_bias=False,
        return_phi=False,
        degree_floor=1e-12,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        if "epsilon" in kwargs:  # configs saved before the floor (issue 11 item 8)
            degree_floor = kwargs.pop("epsilon")
        super().__init__(**kwargs)
        if not float(degree_floor) > 0:
            raise ValueError(f"degree_floor must be > 0, got {degree_floor}")
        if phi_activation not in _PHI_ACTIVATIONS:
            raise ValueError(f"phi_activation must be one of {_PHI_ACTIVATIONS}, got {phi_activation!r}")
        if int(n_nodes) < 1:
            raise ValueError(f"n_nodes must be >= 1, got {n_nodes}")
        self.n_nodes = int(n_nodes)
        self.units = None if units is None else int(units)
        self.phi_activation = phi_activation
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.return_phi = bool(return_phi)
        self.degree_floor = float(degree_floor)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"SpectralGraphConv needs a static channel count, got {input_shape}")
        channels = int(channels)
        units = channels if self.units is None else self.units
        self._units = units

        def kernel(name, shape):
            return self.add_weight(
                name=name,
                shape=shape,
                initializer=self.kernel_initializer,
                regularizer=self.kernel_regularizer,
            )

        def bias(name, size):
            return self.add_weight(name=name, shape=(size,), initializer=self.bias_initializer)

        self.phi_kernel = kernel("phi_kernel", (channels, self.n_nodes))
        self.phi_bias = bias("phi_bias", self.n_nodes)
        self.lambda_kernel = kernel("lambda_kernel", (channels, self.n_nodes))
        self.lambda_bias = bias("lambda_bias", self.n_nodes)
        # Named "..._kernel" so an L2 meant for kernels (AdamL2 decays names ending in
        # "kernel") decays Theta too; it is the graph convolution's weight matrix.
        self.theta = kernel("theta_kernel", (channels, units))
        self.theta_bias = bias("theta_bias", units) if self.use_bias else None
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: channels})

    def call(self, inputs):
        dtype = self.compute_dtype
        batch = ops.shape(inputs)[0]
        h, w, c = inputs.shape[1], inputs.shape[2], inputs.shape[3]
        if h is None or w is None:
            h, w = ops.shape(inputs)[1], ops.shape(inputs)[2]
        x = ops.reshape(inputs, (batch, -1, c))  # [B, n, C] compute dtype

        # Phi branch: 1x1 conv -> non-negative, in float32.
        phi_logits = ops.matmul(x, ops.cast(self.phi_kernel, dtype)) + ops.cast(self.phi_bias, dtype)
        phi_logits = ops.cast(phi_logits, "float32")
        if self.phi_activation == "softplus":
            phi = ops.softplus(phi_logits)
        else:
            phi = ops.relu(phi_logits)  # [B, n, M]

        # Lambda branch: sigmoid(Dense(GAP(X0))), float32.
        x32 = ops.cast(x, "float32")
        pooled = ops.mean(x32, axis=1)  # [B, C]
        lam_logits = (ops.matmul(pooled, ops.cast(self.lambda_kernel, "float32"))
                      + ops.cast(self.lambda_bias, "float32"))
        # Lambda = sigmoid(logits) [B, M], divided by its per-sample maximum (L is invariant to
        # it), formed in log space so that saturated sigmoids keep finite gradients.
        log_lam = -ops.softplus(-lam_logits)
        lam = ops.exp(log_lam - ops.stop_gradient(ops.max(log_lam, axis=1, keepdims=True)))

        # Degrees without forming A. Scale-normalise Phi (L is invariant to it).
        scale = ops.stop_gradient(ops.max(phi, axis=(1, 2), keepdims=True))
        phi_n = phi / ops.maximum(scale, 1e-30)
        col = ops.sum(phi_n, axis=1)  # Phi^T 1: [B, M]
        deg = ops.sum(phi_n * (lam * col)[:, None, :], axis=-1)  # Phi (Lambda Phi^T 1): [B, n]
        # A floor, not an additive epsilon (see the module docstring).
        p = phi_n * ops.rsqrt(ops.maximum(deg, self.degree_floor))[:, :, None]  # D^-1/2 Phi
        ptx = ops.matmul(ops.transpose(p, (0, 2, 1)), x32)  # P^T X0: [B, M, C]
        lx = x32 - ops.matmul(p, lam[:, :, None] * ptx)  # L X0: [B, n, C]

        out = ops.matmul(ops.cast(lx, dtype), ops.cast(self.theta, dtype))
        if self.theta_bias is not None:
            out = out + ops.cast(self.theta_bias, dtype)
        out = self.activation(out)
        out = ops.reshape(out, (batch, h, w, self._units))
        if not self.return_phi:
            return out
        return out, ops.reshape(ops.cast(phi, dtype), (batch, h, w, self.n_nodes))

    def compute_output_shape(self, input_shape):
        lead = tuple(input_shape[:-1])
        units = (input_shape[-1] if self.units is None else self.units)
        out = lead + (units,)
        if self.return_phi:
            return out, lead + (self.n_nodes,)
        return out

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "n_nodes": self.n_nodes,
                "units": self.units,
                "phi_activation": self.phi_activation,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "return_phi": self.return_phi,
                "degree_floor": self.degree_floor,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
