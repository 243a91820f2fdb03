"""Semantic Correspondence Convolution (SCC), the graph layer of SCC-Heatmap (Fan, Lam, Li, AAAI 2020).

Each of the C channels of a feature map [B, H, W, C] is a graph node whose feature is the channel's
H x W map flattened to a vector of length L = H * W. For every node i the layer finds its k nearest
nodes j (Euclidean distance, the node itself included), forms the edge features

    e_ijk = phi_k . f_i + omega_k . (f_j - f_i)             (paper eq. 3, k = 1..K)

applies batch normalisation (statistics over all edges, as the official code) and ReLU, and takes
the maximum over the neighbours (eq. 4). The K = L outputs per node are reshaped back to the map,
so SCC replaces the feature map.

Edge functions (``edge_features``, SCC-Heatmap Table 3): ``"centre_offset"`` is eq. 3, setting (e)
``(f_i, f_j - f_i)``; ``"centre_neighbour"`` is setting (f) ``(f_i, f_j)``, e = phi . f_i + omega . f_j;
``"offset"`` is setting (g) ``f_j - f_i`` alone, e = omega . (f_j - f_i) with an [L, K] kernel.
All three are ``a_i + b_j`` with a_i = (phi - omega) f_i, phi f_i or -omega f_i and b_j = omega f_j,
so the decomposed form below serves all of them.

Efficient form. phi . f_i + omega . (f_j - f_i) = (phi - omega) . f_i + omega . f_j, so each node is
projected once, a_i = (phi - omega) f_i and b_j = omega f_j ([B, C, L] x [L, K]), and
e_ij = a_i + b_j; the [B, C, k, 2L] edge tensor is never built. BN is an affine map per output
feature with scale s = gamma / sqrt(var + eps) whose sign is the sign of gamma, so
max_j ReLU(s e_ij + t) = ReLU(s (a_i + max_j b_j) + t) for s >= 0 and uses min_j b_j for s < 0;
with sgn = sign(gamma) both are sgn * max_j (sgn * b_j). The training-mode edge statistics come
from per-node sums: sum_j e_ij = k a_i + sum_j b_j and
sum_j e_ij^2 = k a_i^2 + 2 a_i sum_j b_j + sum_j b_j^2. A loop over the k neighbours accumulates
max / sum / sum of squares at [B, C, K] memory. `naive=True` computes the explicit edge tensor
instead (for the benchmark and the tests); both give the same function.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["SCCLayer", "knn_indices"]

_LAYOUTS = ("paper", "official")
EDGE_FEATURES = ("centre_offset", "centre_neighbour", "offset")
# The official code's BN: epsilon 1e-9 in its config, which TF 1.14's fused batch norm raises to
# its floor of 1.001e-5 (issue 11 item 5); SCCHeatmap passes it with layout="official".
OFFICIAL_BN_EPSILON = 1.001e-5


def knn_indices(nodes, k):
    """Indices [B, N, k] of the k nearest nodes (Euclidean) of every node of `nodes` [B, N, L].

    The node itself is always the first neighbour (its distance is forced below every other,
    so ties with duplicate nodes cannot push it out). Distances are computed in float32 and
    carry no gradient.
    """
    f = ops.cast(ops.stop_gradient(nodes), "float32")
    sq = ops.sum(ops.square(f), axis=-1)  # [B, N]
    gram = ops.matmul(f, ops.transpose(f, (0, 2, 1)))  # [B, N, N]
    dist = sq[:, :, None] - 2.0 * gram + sq[:, None, :]
    dist = ops.maximum(dist, 0.0)
    n = ops.shape(f)[1]
    eye = ops.eye(n, dtype="float32")
    dist = dist * (1.0 - eye) - eye  # self at -1, everything else >= 0
    _, idx = ops.top_k(-dist, k=k, sorted=True)
    return ops.stop_gradient(idx)


@keras.saving.register_keras_serializable(package="tfau")
class SCCLayer(keras.layers.Layer):
    """Semantic correspondence convolution over the channels of a [B, H, W, C] map.

    Args:
        k: neighbours per node, the node itself included (paper: 5 BP4D / 7 DISFA; code: 7).
        filters: output features per node K; None (default) = L = H * W, as the official code.
            The output is reshaped back to [B, H, W, C], so K must equal H * W.
        layout: "paper" (nodes are the C channels, node feature = the channel's H*W map) or
            "official" (the official TF code's raw reshape of NHWC to [B, C, H*W] without
            transposing: nodes are then consecutive runs of H*W values, i.e. pixels / strips /
            rows; the output is reshaped back the same way).
        use_batch_norm: BN on the edge features before the ReLU (official code: True; the paper's
            eq. 3 has none).
        momentum, epsilon: BN moving-average momentum and variance epsilon (the official
            code ran with 1.001e-5, ``OFFICIAL_BN_EPSILON``; Keras' default 1e-3 here).
        unbiased_moving_variance: feed the Bessel-corrected edge variance (n / (n - 1), n =
            B * nodes * k edges) to the moving average, as TF1's fused batch norm in the
            official code does; False: the biased one, as Keras' BatchNormalization. The
            training-mode normalisation uses the biased variance either way.
        edge_features: ``"centre_offset"`` (eq. 3, Table 3 (e), default), ``"centre_neighbour"``
            (Table 3 (f): ``(f_i, f_j)``) or ``"offset"`` (Table 3 (g): ``f_j - f_i``, kernel
            [L, K]).
        naive: build the explicit [B, C, k, 2L] edge tensor (benchmark reference) instead of the
            decomposed form. Same weights, same outputs.
        kernel_initializer, kernel_regularizer: for the [2L, K] kernel (rows 0..L-1 = phi,
            rows L..2L-1 = omega, as the code's 1x1 conv over the concat [f_i, f_j - f_i];
            ``edge_features="offset"``: [L, K], omega only).

    Input [B, H, W, C] with static H, W, C and C >= k; output [B, H, W, C].
    """

    # Static node count B*C from which the decomposed form uses the transposed product.
    TRANSPOSED_FORM_MIN_ROWS = 256

    def __init__(
        self,
        k=7,
        filters=None,
        layout="paper",
        use_batch_norm=True,
        momentum=0.99,
        epsilon=1e-3,
        naive=False,
        unbiased_moving_variance=False,
        edge_features="centre_offset",
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        gamma_initializer="ones",
        beta_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if layout not in _LAYOUTS:
            raise ValueError(f"layout must be one of {_LAYOUTS}, got {layout!r}")
        if edge_features not in EDGE_FEATURES:
            raise ValueError(f"edge_features must be one of {EDGE_FEATURES}, got {edge_features!r}")
        if int(k) < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = int(k)
        self.filters = None if filters is None else int(filters)
        self.layout = layout
        self.use_batch_norm = bool(use_batch_norm)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.naive = bool(naive)
        self.unbiased_moving_variance = bool(unbiased_moving_variance)
        self.edge_features = edge_features
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    # ------------------------------------------------------------------------------------ build

    def build(self, input_shape):
        _, h, w, c = input_shape
        if h is None or w is None or c is None:
            raise ValueError(f"SCCLayer needs static H, W, C; got input shape {input_shape}")
        length = int(h) * int(w)
        units = length if self.filters is None else self.filters
        if units != length:
            raise ValueError(
                f"SCCLayer replaces the map, so filters must equal H*W = {length}; got {units}"
            )
        if int(c) < self.k:
            raise ValueError(f"SCCLayer needs at least k = {self.k} nodes, got {c}")
        self._length = length
        self._units = units
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self._parts * length, units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        if self.use_batch_norm:
            # BN parameters and statistics are read in float32 (autocast=False), as keras BN.
            self.gamma = self.add_weight(
                name="gamma", shape=(units,), initializer=self.gamma_initializer, autocast=False
            )
            self.beta = self.add_weight(
                name="beta", shape=(units,), initializer=self.beta_initializer, autocast=False
            )
            self.moving_mean = self.add_weight(
                name="moving_mean", shape=(units,), initializer="zeros", trainable=False,
                autocast=False,
            )
            self.moving_variance = self.add_weight(
                name="moving_variance", shape=(units,), initializer="ones", trainable=False,
                autocast=False,
            )
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={1: h, 2: w, 3: c})

    @property
    def _parts(self):
        """Blocks of the kernel: phi and omega (2), or omega alone for ``"offset"`` (1)."""
        return 1 if self.edge_features == "offset" else 2

    # ------------------------------------------------------------------------------ layouts

    def _to_nodes(self, x):
        b = ops.shape(x)[0]
        _, h, w, c = x.shape
        if self.layout == "paper":
            x = ops.transpose(x, (0, 3, 1, 2))
        return ops.reshape(x, (b, c, h * w))

    def _from_nodes(self, nodes, like):
        b = ops.shape(like)[0]
        _, h, w, c = like.shape
        if self.layout == "paper":
            return ops.transpose(ops.reshape(nodes, (b, c, h, w)), (0, 2, 3, 1))
        return ops.reshape(nodes, (b, h, w, c))

    # ------------------------------------------------------------------------------ BN helpers

    def _update_moving(self, mean, var, count):
        if self.unbiased_moving_variance:
            var = var * (count / ops.maximum(count - 1.0, 1.0))
        m = self.momentum
        self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
        self.moving_variance.assign(self.moving_variance * m + var * (1.0 - m))

    def _scale_shift(self, mean, var):
        """Float32 per-feature affine map of BN: s * e + t."""
        s = ops.cast(self.gamma, "float32") * ops.rsqrt(var + self.epsilon)
        t = ops.cast(self.beta, "float32") - mean * s
        return s, t

    # ------------------------------------------------------------------------------------ call

    def call(self, inputs, training=None):
        nodes = self._to_nodes(inputs)  # [B, N, L] compute dtype
        idx = knn_indices(nodes, self.k)  # [B, N, k]
        if self.naive:
            out = self._call_naive(nodes, idx, bool(training))
        else:
            out = self._call_decomposed(nodes, idx, bool(training))
        return self._from_nodes(out, inputs)

    def _call_decomposed(self, nodes, idx, training):
        dtype = self.compute_dtype
        kernel = ops.cast(self.kernel, dtype)
        length, units = self._length, self._units
        batch = ops.shape(nodes)[0]
        n = nodes.shape[1]
        # Both projections in one batched product with the kernel viewed as [2, L, K]
        # (phi, omega): y[0] = f phi, y[1] = f omega, so the kernel gradient is one [2, L, K]
        # product. (Slicing kernel[:L] - kernel[L:] instead makes an [L, K] temporary and pads each
        # slice's gradient back to [2L, K]: 2.3x the memory at 64x64x64.) Two equal forms: Eigen's
        # CPU matmul rate depends on the operand shapes, and with many nodes the transposed
        # product K^T F^T is faster (64x64x64 forward + backward, batch 4: 0.49-0.76 s against
        # 0.87-1.03 s; batch 16: 2.6 against 3.1 s), with few it is slower (batch 1: 0.41 against
        # 0.22-0.28 s). XLA (JAX, GPU) picks its own layouts either way.
        parts = self._parts
        kernel3 = ops.reshape(kernel, (parts, length, units))
        rows = batch * n if isinstance(batch, int) else None  # None: batch unknown when traced
        if rows is not None and rows >= self.TRANSPOSED_FORM_MIN_ROWS:
            flat_t = ops.transpose(ops.reshape(nodes, (-1, length)))  # [L, B*N]
            y = ops.matmul(ops.transpose(kernel3, (0, 2, 1)), ops.stack([flat_t] * parts))
            y = ops.transpose(y, (0, 2, 1))  # [parts, B*N, K]
        else:
            flat = ops.reshape(nodes, (-1, length))  # [B*N, L]
            y = ops.matmul(ops.stack([flat] * parts), kernel3)  # [parts, B*N, K]
        node_shape = (batch, n, units)
        flat_b = y[-1]  # [B*N, K]  omega . f_j, neighbour term
        if self.edge_features == "centre_offset":
            centre = y[0] - y[1]  # (phi - omega) . f_i
        elif self.edge_features == "centre_neighbour":
            centre = y[0]  # phi . f_i
        else:
            centre = -y[0]  # -omega . f_i
        a = ops.reshape(centre, node_shape)  # centre term
        offsets = ops.reshape(ops.arange(batch, dtype=idx.dtype) * n, (-1, 1))

        if self.use_batch_norm:
            sgn = ops.where(ops.cast(self.gamma, "float32") >= 0, 1.0, -1.0)
        else:
            sgn = ops.ones((self._units,), "float32")
        sgn_c = ops.cast(sgn, dtype)
        need_stats = self.use_batch_norm and training
        bmax = s1 = s2 = None
        for j in range(self.k):
            gidx = ops.reshape(idx[:, :, j] + offsets, (-1,))
            bj = ops.reshape(ops.take(flat_b, gidx, axis=0), node_shape)
            sb = bj * sgn_c
            bmax = sb if bmax is None else ops.maximum(bmax, sb)
            if need_stats:
                bj32 = ops.cast(bj, "float32")
                s1 = bj32 if s1 is None else s1 + bj32
                s2 = ops.square(bj32) if s2 is None else s2 + ops.square(bj32)
        sel = bmax * sgn_c  # max_j b_j where gamma >= 0, min_j b_j where gamma < 0

        if not self.use_batch_norm:
            return ops.relu(a + sel)
        if need_stats:
            a32 = ops.cast(a, "float32")
            count = ops.cast(ops.shape(a)[0] * n * self.k, "float32")
            # Shift by a detached estimate of the edge mean for a well-conditioned variance.
            shift = ops.stop_gradient(ops.mean(a32, axis=(0, 1)) + ops.mean(s1, axis=(0, 1)) / self.k)
            ac = a32 - shift
            sum_e = ops.sum(self.k * ac + s1, axis=(0, 1))
            sum_e2 = ops.sum(self.k * ops.square(ac) + 2.0 * ac * s1 + s2, axis=(0, 1))
            mean_c = sum_e / count
            var = ops.maximum(sum_e2 / count - ops.square(mean_c), 0.0)
            mean = mean_c + shift
            self._update_moving(mean, var, count)
        else:
            mean = ops.cast(self.moving_mean, "float32")
            var = ops.cast(self.moving_variance, "float32")
        s, t = self._scale_shift(mean, var)
        return ops.relu(ops.cast(s, dtype) * (a + sel) + ops.cast(t, dtype))

    def _call_naive(self, nodes, idx, training):
        """Explicit edge tensor [B, N, k, 2L] x [2L, K] (reference / benchmark path)."""
        dtype = self.compute_dtype
        batch = ops.shape(nodes)[0]
        n, length = nodes.shape[1], nodes.shape[2]
        flat = ops.reshape(nodes, (-1, length))
        offsets = ops.reshape(ops.arange(batch, dtype=idx.dtype) * n, (-1, 1, 1))
        neigh = ops.take(flat, ops.reshape(idx + offsets, (-1,)), axis=0)
        neigh = ops.reshape(neigh, (batch, n, self.k, length))  # f_j
        centre = ops.broadcast_to(nodes[:, :, None, :], ops.shape(neigh))  # f_i
        if self.edge_features == "centre_offset":
            edges = ops.concatenate([centre, neigh - centre], axis=-1)  # [B, N, k, 2L]
        elif self.edge_features == "centre_neighbour":
            edges = ops.concatenate([centre, neigh], axis=-1)
        else:
            edges = neigh - centre  # [B, N, k, L]
        e = ops.matmul(edges, ops.cast(self.kernel, dtype))  # [B, N, k, K]
        if self.use_batch_norm:
            if training:
                mean, var = ops.moments(ops.cast(e, "float32"), axes=(0, 1, 2))
                count = ops.cast(ops.shape(e)[0] * ops.shape(e)[1] * ops.shape(e)[2], "float32")
                self._update_moving(mean, var, count)
            else:
                mean = ops.cast(self.moving_mean, "float32")
                var = ops.cast(self.moving_variance, "float32")
            s, t = self._scale_shift(mean, var)
            e = ops.cast(s, dtype) * e + ops.cast(t, dtype)
        return ops.max(ops.relu(e), axis=2)

    # ------------------------------------------------------------------------------- keras API

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "k": self.k,
                "filters": self.filters,
                "layout": self.layout,
                "use_batch_norm": self.use_batch_norm,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "naive": self.naive,
                "unbiased_moving_variance": self.unbiased_moving_variance,
                "edge_features": self.edge_features,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
                "beta_initializer": keras.initializers.serialize(self.beta_initializer),
            }
        )
        return config
