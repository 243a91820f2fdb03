"""The papers' optimisers and learning-rate schedules.

Schedules are step-based ``keras.optimizers.schedules`` (boundaries in optimizer steps), so a run
restored by ``BackupAndRestore`` continues at the right learning rate: the optimizer's
``iterations`` counter is part of the backup.

L2 regularisation is applied by the optimiser (``AdamL2``), coupled to the gradient as in the
papers' TF1 / PyTorch code: ``g <- g + 2 * l2 * w`` for every kernel, i.e. every variable whose
name ends with ``kernel`` (Keras' ``kernel`` / ``depthwise_kernel``, tfau's ``phi_kernel``,
``gcn_0_kernel``...), as TF1's ``weights_regularizer`` / PyTorch weight decay on conv and linear
weights. Biases, batch-norm parameters and graph parameters are not decayed, whatever their rank
(GraphBatchNorm's ``[A, C]`` gamma/beta and ``[A, A]`` graph were, by a rank >= 2 rule, before
issue 11 item 10). ``l2`` follows the Keras convention
(``keras.regularizers.L2(l2)`` adds ``l2 * sum(w**2)`` to the loss), so TF1's
``l2_regularizer(1e-5)`` (``1e-5 * sum(w**2) / 2``) is ``l2=5e-6`` and PyTorch's
``Adam(weight_decay=5e-4)`` (``g + 5e-4 * w``) is ``l2=2.5e-4``.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence, Tuple

import keras
from keras import ops


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """Adam + a piecewise-constant schedule, as the papers describe them.

    Attributes:
      learning_rate: initial learning rate.
      decay_epochs: epochs (counted at ``paper_epochs``) after which the LR is multiplied by
        ``decay_factor``; scaled linearly when a run uses another number of epochs.
      decay_every: alternatively, decay every N epochs (at ``paper_epochs`` scale).
      decay_factor: multiplier applied at each boundary.
      paper_epochs: the epoch count the boundaries refer to.
      l2: coupled L2 coefficient in the Keras convention (see module docstring).
    """

    learning_rate: float = 1e-4
    decay_epochs: Tuple[float, ...] = ()
    decay_every: Optional[float] = None
    decay_factor: float = 0.1
    paper_epochs: int = 10
    l2: float = 0.0

    def boundary_epochs(self, epochs: int) -> Tuple[int, ...]:
        """Decay boundaries (in epochs) for a run of ``epochs`` epochs; only those < epochs."""
        scale = epochs / float(self.paper_epochs)
        if self.decay_every:
            raw = []
            k = 1
            while self.decay_every * k * scale < epochs:
                raw.append(self.decay_every * k * scale)
                k += 1
        else:
            raw = [b * scale for b in self.decay_epochs]
        out = []
        for b in raw:
            e = max(1, int(round(b)))
            if e < epochs and e not in out:
                out.append(e)
        return tuple(out)

    def schedule(self, epochs: int, steps_per_epoch: int, learning_rate: Optional[float] = None):
        lr = float(learning_rate if learning_rate is not None else self.learning_rate)
        bounds = [e * int(steps_per_epoch) for e in self.boundary_epochs(epochs)]
        if not bounds:
            return lr
        values = [lr * self.decay_factor ** i for i in range(len(bounds) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)

    def build(self, epochs: int, steps_per_epoch: int, learning_rate: Optional[float] = None):
        return AdamL2(learning_rate=self.schedule(epochs, steps_per_epoch, learning_rate),
                      l2=self.l2)


@keras.saving.register_keras_serializable(package="tfau")
class AdamL2(keras.optimizers.Adam):
    """Adam with L2 regularisation coupled to the gradient (``g + 2 * l2 * w`` on kernels).

    Args:
      l2: coefficient, Keras convention (module docstring).
      decay_suffixes: a variable is decayed when its name ends with one of these.
    """

    def __init__(self, learning_rate=1e-3, l2: float = 0.0, decay_suffixes=("kernel",), **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.l2 = float(l2)
        self.decay_suffixes = tuple(str(x) for x in decay_suffixes)

    def decays(self, variable) -> bool:
        """Whether ``variable`` gets the L2 term (its name ends with a decay suffix)."""
        name = str(getattr(variable, "name", "")).split("/")[-1].split(":")[0]
        return name.endswith(self.decay_suffixes)

    def update_step(self, gradient, variable, learning_rate):
        if self.l2 and self.decays(variable):
            gradient = ops.add(ops.cast(gradient, variable.dtype),
                               ops.multiply(ops.cast(2.0 * self.l2, variable.dtype), variable))
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["l2"] = self.l2
        config["decay_suffixes"] = list(self.decay_suffixes)
        return config


def current_learning_rate(optimizer) -> float:
    """The learning rate the optimizer applies at its current step (for logs and tests)."""
    lr = optimizer.learning_rate
    return float(ops.convert_to_numpy(lr))


def steps_for(n_examples: int, batch_size: int) -> int:
    """Optimizer steps per epoch (the last partial batch is dropped)."""
    return max(1, int(n_examples) // int(batch_size))


__all__: Sequence[str] = ("OptimizerSpec", "AdamL2", "current_learning_rate", "steps_for")
