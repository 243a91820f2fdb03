"""RE-Net's AU-conditioned, relation-embedded batch normalisation (Yang & Yin, ACCV 2020).

Equation 4: ``BN(x, c, G) = gamma^G_c (x - mu_c) / sqrt(sigma^2_c + eps) + beta^G_c``, with
per-AU statistics ``mu_c, sigma^2_c`` and per-AU affine parameters mixed over the AU relation
graph (equation 5): ``gamma^G_c = sum_k w_ck gamma_k / norm_c`` (same for beta), ``w_cc = 1`` and
``w_ck`` the Pearson correlation of AU c and AU k labels over the training set.

Choices (the paper is silent or ill-posed on them):

* ``graph_norm`` - Pearson correlations can be negative, so the paper's literal
  ``norm_c = sum_k w_ck`` (``"sum"``) can be near zero or negative and blow up or flip
  ``gamma^G_c``. The default ``"abs"`` uses ``norm_c = sum_k |w_ck|`` (>= 1 because
  ``w_cc = 1``): bounded, never singular, and negative correlations still act with their sign
  (a negatively correlated AU pulls the parameters the other way). Side effect: with all gammas
  at their initial 1, ``gamma^G_c = sum_k w_ck / sum_k |w_ck| <= 1`` (= 1 when no correlation
  is negative); the per-AU gammas are trainable and absorb it. ``"positive"`` clips negative
  correlations to 0 (a convex combination, as in AdaGraph whose edge weights are positive).
* ``correlation=None`` and no learnable graph: identity graph, i.e. plain AU-specific BN
  (equation 3).
* ``learnable_graph=True``: ``w`` is a trainable ``[A, A]`` variable initialised from
  ``correlation`` if given, else identity + N(0, 0.01^2) off the diagonal (the paper:
  "randomly initialized"). Its diagonal is ignored and held at 1.
* ``momentum=0.9``: the paper trains in PyTorch with its default BN momentum 0.1, which in the
  Keras convention (``moving = momentum * moving + (1 - momentum) * batch``) is 0.9.
  Batch variance is the biased one (Keras convention) for both normalisation and moving
  average; ``epsilon=1e-5`` as PyTorch.
* Training statistics are computed per AU over the samples that carry that AU in the batch
  (one-hot segment sums): RE-Net batches carry one AU, mixed batches (the folded all-AU pass)
  also work and equal one pass per AU. Only the AUs present in the batch update their moving
  statistics (as AdaGraph: only the active domain's statistics move).
* Statistics are computed and stored in float32 whatever the dtype policy; the normalisation
  itself is ``x * scale + offset`` in the compute dtype with per-sample ``scale, offset``.

* ``unseen_aus`` (RE-Net Table 6, "recognize new AU": "the label of the colored AU is selected
  to remove during training. During testing, the AU-specific parameters (gamma, beta) are
  calculated by using Eq.(4) and Eq.(5)"): an AU never trained has no moving statistics of its
  own (they would stay at their initial 0 / 1). Its inference statistics are the moments of the
  mixture of the trained AUs' feature distributions weighted by the same graph,
  ``p_ck = |w_ck| / sum_k' |w_ck'|`` over trained ``k`` (uniform when all are 0):
  ``mu_c = sum_k p_ck mu_k``, ``var_c = sum_k p_ck (var_k + mu_k^2) - mu_c^2`` - what eq. 5
  does for gamma, beta, applied to the statistics. Its gamma, beta are eq. 5 as written (its own
  gamma_c, beta_c are trained only through the other AUs' mixtures).
* Weight decay: ``gamma``, ``beta`` ``[A, C]`` and ``graph`` ``[A, A]`` are not kernels; each
  carries ``variable.no_weight_decay = True`` (and ``layer.no_weight_decay_variables()`` lists
  them) so an L2 on "kernels of rank >= 2" can tell them apart (issue 11 item 10).

Call: ``layer(x, au_index, training=...)`` or ``layer([x, au_index], ...)``: ``x [B, ..., C]``
(normalised along ``axis``), ``au_index`` int ``[B]`` (also ``[]``/``[1]``: one AU for the
whole batch, or ``[B, 1]``). An index outside ``[0, A)`` selects no statistics (output 0).
All AUs in one inference pass: ``fold_aus`` the batch, run the model with the folded
``au_index``, ``unfold_aus`` the outputs.
"""

from __future__ import annotations

import numpy as np

import keras
from keras import ops

_GRAPH_NORMS = ("abs", "sum", "positive")


def pearson_correlation(labels, mask=None):
    """Pearson correlation between label columns: ``labels [N, A]`` -> ``[A, A]`` float32.

    ``mask [N, A]`` (1 = known, 0 = unknown; default: finite entries) restricts each pair to
    the rows where both labels are known (pairwise-complete). Pairs where either column is
    constant (or with fewer than 2 common rows) get 0; the diagonal is 1.
    """
    labels = np.asarray(labels, np.float64)
    if labels.ndim != 2:
        raise ValueError(f"labels must be [N, A], got shape {labels.shape}")
    if mask is None:
        mask = np.isfinite(labels)
    mask = np.asarray(mask, np.float64) * np.isfinite(labels)
    x = np.where(mask > 0, labels, 0.0)
    n = mask.T @ mask
    sx = x.T @ mask  # [i, j]: sum of column i over the rows where i and j are both known
    sy = sx.T
    sxx = (x * x).T @ mask
    syy = sxx.T
    sxy = x.T @ x
    with np.errstate(divide="ignore", invalid="ignore"):
        safe_n = np.maximum(n, 1.0)
        cov = sxy - sx * sy / safe_n
        var_x = sxx - sx * sx / safe_n
        var_y = syy - sy * sy / safe_n
        tol = 1e-12 * np.maximum(sxx, 1.0)
        valid = (n >= 2) & (var_x > tol) & (var_y > tol.T)
        r = np.where(valid, cov / np.sqrt(np.where(valid, var_x * var_y, 1.0)), 0.0)
    r = np.clip(r, -1.0, 1.0)
    np.fill_diagonal(r, 1.0)
    return r.astype(np.float32)


def mix_graph(params, weights, graph_norm="abs"):
    """Equation 5: ``params [A, C]`` mixed by edge ``weights [A, A]`` (diagonal forced to 1)."""
    if graph_norm not in _GRAPH_NORMS:
        raise ValueError(f"graph_norm must be one of {_GRAPH_NORMS}, got {graph_norm!r}")
    n = weights.shape[0]
    eye = ops.eye(n, dtype=weights.dtype)
    w = weights * (1.0 - eye) + eye
    if graph_norm == "positive":
        w = ops.maximum(w, 0.0)
    if graph_norm == "abs":
        norm = ops.sum(ops.abs(w), axis=1, keepdims=True)
    else:
        norm = ops.sum(w, axis=1, keepdims=True)
    return ops.matmul(w, ops.cast(params, w.dtype)) / norm


def fold_aus(images, n_aus):
    """``images [B, ...]`` -> ``(images [A * B, ...], au_index [A * B])``, AU-major order.

    Row ``a * B + b`` is sample ``b`` conditioned on AU ``a``.
    """
    rank = len(images.shape)
    batch = ops.shape(images)[0]
    folded = ops.tile(images, [n_aus] + [1] * (rank - 1))
    au_index = ops.broadcast_to(ops.arange(n_aus, dtype="int32")[:, None], (n_aus, batch))
    return folded, ops.reshape(au_index, (-1,))


def unfold_aus(outputs, n_aus):
    """``outputs [A * B, ...]`` (from ``fold_aus`` inputs) -> ``[B, A, ...]``."""
    rest = tuple(outputs.shape[1:])
    if any(d is None for d in rest):
        rest = tuple(ops.shape(outputs)[1:])
    unfolded = ops.reshape(outputs, (n_aus, -1) + rest)
    return ops.moveaxis(unfolded, 0, 1)


@keras.saving.register_keras_serializable(package="tfau")
class GraphBatchNorm(keras.layers.Layer):
    """AU-conditioned batch normalisation with relation-graph-mixed affine parameters.

    Args:
        n_aus: number of AUs ``A``.
        correlation: ``[A, A]`` AU relation (e.g. ``pearson_correlation(train_labels)``);
            its diagonal is ignored (``w_cc = 1``). ``None``: identity graph (or random init
            of a learnable graph).
        learnable_graph: make the graph a trainable ``[A, A]`` variable.
        graph_norm: ``"abs"`` (default), ``"sum"`` (paper's literal equation 5), ``"positive"``.
        momentum: moving-statistics momentum, Keras convention (0.9 = PyTorch 0.1).
        epsilon: variance epsilon.
        axis: channel axis.
    """

    def __init__(
        self,
        n_aus,
        correlation=None,
        learnable_graph=False,
        graph_norm="abs",
        momentum=0.9,
        epsilon=1e-5,
        axis=-1,
        gamma_initializer="ones",
        beta_initializer="zeros",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        gamma_regularizer=None,
        beta_regularizer=None,
        unseen_aus=(),
        **kwargs,
    ):
        super().__init__(**kwargs)
        if graph_norm not in _GRAPH_NORMS:
            raise ValueError(f"graph_norm must be one of {_GRAPH_NORMS}, got {graph_norm!r}")
        self.n_aus = int(n_aus)
        if correlation is not None:
            correlation = np.asarray(correlation, np.float32)
            if correlation.shape != (self.n_aus, self.n_aus):
                raise ValueError(
                    f"correlation must be [{self.n_aus}, {self.n_aus}], got {correlation.shape}"
                )
            if not np.all(np.isfinite(correlation)):
                raise ValueError("correlation contains non-finite values")
        self.correlation = correlation
        self.unseen_aus = sorted({int(a) for a in (unseen_aus or ())})
        if any(not 0 <= a < self.n_aus for a in self.unseen_aus):
            raise ValueError(f"unseen_aus must be AU indices in [0, {self.n_aus}), got {unseen_aus}")
        if len(self.unseen_aus) >= self.n_aus:
            raise ValueError("unseen_aus: at least one AU must be trained")
        self.learnable_graph = bool(learnable_graph)
        self.graph_norm = graph_norm
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.axis = int(axis)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.moving_mean_initializer = keras.initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = keras.initializers.get(moving_variance_initializer)
        self.gamma_regularizer = keras.regularizers.get(gamma_regularizer)
        self.beta_regularizer = keras.regularizers.get(beta_regularizer)
        self.supports_masking = True

    def _graph_init(self):
        if self.correlation is not None:
            return self.correlation.copy()
        if not self.learnable_graph:
            return np.eye(self.n_aus, dtype=np.float32)
        rng = np.random.default_rng(self.seed_for_graph())
        init = 0.01 * rng.standard_normal((self.n_aus, self.n_aus)).astype(np.float32)
        np.fill_diagonal(init, 1.0)
        return init

    def seed_for_graph(self):
        # Deterministic per layer name: layers of one model start from different graphs,
        # while a rebuilt model (same names) starts from the same one.
        return sum(ord(ch) * (i + 1) for i, ch in enumerate(self.name)) % (2**31)

    @staticmethod
    def _split_shapes(inputs_shape, au_index_shape):
        # ``layer([x, au_index])`` passes both shapes as the first argument.
        if au_index_shape is None and inputs_shape and isinstance(inputs_shape[0], (list, tuple)):
            return tuple(inputs_shape[0]), tuple(inputs_shape[1])
        return tuple(inputs_shape), au_index_shape

    def build(self, inputs_shape, au_index_shape=None):
        inputs_shape, au_index_shape = self._split_shapes(inputs_shape, au_index_shape)
        rank = len(inputs_shape)
        axis = self.axis % rank
        if axis == 0:
            raise ValueError("GraphBatchNorm cannot normalise along the batch axis")
        channels = inputs_shape[axis]
        if channels is None:
            raise ValueError(f"The channel axis must be static, got {inputs_shape}")
        self._axis = axis
        self._rank = rank
        self._reduce_axes = tuple(i for i in range(1, rank) if i != axis)
        self.channels = int(channels)
        shape = (self.n_aus, self.channels)
        self.gamma = self.add_weight(
            name="gamma",
            shape=shape,
            initializer=self.gamma_initializer,
            regularizer=self.gamma_regularizer,
            autocast=False,
        )
        self.beta = self.add_weight(
            name="beta",
            shape=shape,
            initializer=self.beta_initializer,
            regularizer=self.beta_regularizer,
            autocast=False,
        )
        self.moving_mean = self.add_weight(
            name="moving_mean",
            shape=shape,
            initializer=self.moving_mean_initializer,
            trainable=False,
            autocast=False,
        )
        self.moving_variance = self.add_weight(
            name="moving_variance",
            shape=shape,
            initializer=self.moving_variance_initializer,
            trainable=False,
            autocast=False,
        )
        graph_init = self._graph_init()
        self.graph = self.add_weight(
            name="graph",
            shape=(self.n_aus, self.n_aus),
            initializer=lambda shape, dtype=None: ops.convert_to_tensor(graph_init, dtype=dtype),
            trainable=self.learnable_graph,
            autocast=False,
        )
        for v in self.no_weight_decay_variables():
            v.no_weight_decay = True

    def no_weight_decay_variables(self):
        """``[gamma, beta, graph]``: per-AU affine parameters and the AU graph, not kernels
        (an L2 meant for kernels should skip them; issue 11 item 10)."""
        return [self.gamma, self.beta, self.graph]

    def inference_statistics(self):
        """``(mean, variance)`` ``[A, C]`` float32 used at inference: the moving statistics,
        with each unseen AU's replaced by the graph-weighted mixture of the trained AUs'."""
        mean = ops.cast(self.moving_mean, "float32")
        variance = ops.cast(self.moving_variance, "float32")
        if not self.unseen_aus:
            return mean, variance
        mix = self._unseen_mixing()  # [A, A]: identity rows for trained AUs
        mix_mean = ops.matmul(mix, mean)
        mix_var = ops.matmul(mix, variance + ops.square(mean)) - ops.square(mix_mean)
        return mix_mean, ops.maximum(mix_var, 0.0)

    def _unseen_mixing(self):
        trained = np.ones(self.n_aus, np.float32)
        trained[self.unseen_aus] = 0.0
        eye = ops.eye(self.n_aus, dtype="float32")
        w = ops.abs(ops.cast(self.graph, "float32")) * (1.0 - eye) * trained[None, :]
        total = ops.sum(w, axis=1, keepdims=True)
        uniform = ops.broadcast_to(ops.convert_to_tensor(trained / trained.sum())[None],
                                   (self.n_aus, self.n_aus))
        p = ops.where(total > 0, w / ops.maximum(total, 1e-12), uniform)
        unseen = ops.convert_to_tensor(1.0 - trained)[:, None]
        return unseen * p + (1.0 - unseen) * eye

    def mixed_affine(self):
        """``(gamma^G, beta^G)``, each ``[A, C]`` float32 (equation 5)."""
        weights = ops.cast(self.graph, "float32")
        return (
            mix_graph(self.gamma, weights, self.graph_norm),
            mix_graph(self.beta, weights, self.graph_norm),
        )

    def _one_hot(self, au_index, batch):
        au = ops.reshape(ops.cast(au_index, "int32"), (-1,))
        onehot = ops.one_hot(au, self.n_aus, dtype="float32")
        return ops.broadcast_to(onehot, (batch, self.n_aus))

    def _per_sample(self, x):
        """``[B, C]`` per-sample values -> broadcastable against the inputs."""
        shape = [1] * self._rank
        shape[self._axis] = self.channels
        shape[0] = -1
        return ops.reshape(x, shape)

    def call(self, inputs, au_index=None, training=None):
        if au_index is None:
            if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
                raise ValueError(
                    "GraphBatchNorm needs au_index: layer(x, au_index) or layer([x, au_index])"
                )
            inputs, au_index = inputs
        batch = ops.shape(inputs)[0]
        onehot = self._one_hot(au_index, batch)  # [B, A]
        if training and self.trainable:
            x32 = ops.cast(inputs, "float32")
            # Number of entries each sample contributes per channel.
            per_sample = 1
            for i in self._reduce_axes:
                per_sample = per_sample * ops.shape(inputs)[i]
            per_sample = ops.cast(per_sample, "float32")
            counts = ops.sum(onehot, axis=0) * per_sample  # [A]
            present = counts > 0.0
            safe_counts = ops.maximum(counts, 1.0)[:, None]
            sums = ops.sum(x32, axis=self._reduce_axes) if self._reduce_axes else x32
            mean = ops.matmul(ops.transpose(onehot), sums) / safe_counts  # [A, C]
            centred = x32 - self._per_sample(ops.matmul(onehot, mean))
            sq = ops.square(centred)
            sq_sums = ops.sum(sq, axis=self._reduce_axes) if self._reduce_axes else sq
            variance = ops.matmul(ops.transpose(onehot), sq_sums) / safe_counts
            m = self.momentum
            update = present[:, None]
            old_mean = ops.cast(self.moving_mean, "float32")
            old_var = ops.cast(self.moving_variance, "float32")
            self.moving_mean.assign(ops.where(update, m * old_mean + (1.0 - m) * mean, old_mean))
            self.moving_variance.assign(
                ops.where(update, m * old_var + (1.0 - m) * variance, old_var)
            )
        else:
            mean, variance = self.inference_statistics()
        gamma_g, beta_g = self.mixed_affine()
        scale_au = gamma_g * ops.rsqrt(variance + self.epsilon)  # [A, C]
        offset_au = beta_g - mean * scale_au
        scale = ops.matmul(onehot, scale_au)  # [B, C]
        offset = ops.matmul(onehot, offset_au)
        scale = ops.cast(self._per_sample(scale), self.compute_dtype)
        offset = ops.cast(self._per_sample(offset), self.compute_dtype)
        return ops.cast(inputs, self.compute_dtype) * scale + offset

    def compute_output_shape(self, inputs_shape, au_index_shape=None):
        return self._split_shapes(inputs_shape, au_index_shape)[0]

    def compute_mask(self, inputs, au_index=None, mask=None):
        if au_index is None and isinstance(mask, (list, tuple)):
            return mask[0]
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "n_aus": self.n_aus,
                "correlation": None if self.correlation is None else self.correlation.tolist(),
                "learnable_graph": self.learnable_graph,
                "graph_norm": self.graph_norm,
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "axis": self.axis,
                "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
                "beta_initializer": keras.initializers.serialize(self.beta_initializer),
                "moving_mean_initializer": keras.initializers.serialize(
                    self.moving_mean_initializer
                ),
                "moving_variance_initializer": keras.initializers.serialize(
                    self.moving_variance_initializer
                ),
                "gamma_regularizer": keras.regularizers.serialize(self.gamma_regularizer),
                "beta_regularizer": keras.regularizers.serialize(self.beta_regularizer),
                "unseen_aus": list(self.unseen_aus),
            }
        )
        return config
