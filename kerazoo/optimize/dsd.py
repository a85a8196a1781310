"""Dense-sparse-dense training (Han et al., 2017, "DSD: Dense-Sparse-Dense Training for Deep Neural Networks").

A trained (dense) model is pruned to ``sparsity`` by weight magnitude and trained with the mask held (sparse phase:
the surviving weights settle without the small ones); then the mask is dropped, the pruned weights come back at
zero and the whole network trains again at a lower learning rate (re-dense phase). The result is a dense model of
the same size, usually more accurate than the same epochs of plain training: the sparse phase acts as a regularizer
that moves the weights out of the first solution's saddle.

    result = dsd_train(model, train_ds, sparsity=0.3, sparse_epochs=2, redense_epochs=2, lr=1e-3)
    result.model          # the re-dense model (Keras 3); result.sparse: the model the re-dense phase started from

The sparse phase is :func:`kerazoo.optimize.prune.prune_model` (tfmot through the tf_keras bridge, a constant
schedule: the whole ``sparsity`` at the first step, as in the paper); the other phases are plain Keras 3 fine-tuning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kerazoo.optimize.finetune import fine_tune, kernel_of, without_optimizer

REDENSE_LR_FACTOR = 0.1  # the paper retrains dense at a tenth of the sparse phase's learning rate


@dataclass
class DSDResult:
    """The models of the phases: ``sparse`` is the pruned model at the start of the re-dense phase (its pruned
    weights exactly zero), ``model`` the re-dense one; ``masks`` marks the pruned kernel entries by layer name."""

    model: object
    sparse: object
    masks: dict[str, np.ndarray]


def check_epochs(sparse_epochs: int, redense_epochs: int, dense_epochs: int = 0) -> None:
    if sparse_epochs < 1 or redense_epochs < 1 or dense_epochs < 0:
        raise ValueError(f"Invalid DSD epochs: expected sparse_epochs >= 1, redense_epochs >= 1, dense_epochs >= 0. "
                         f"Received: sparse_epochs={sparse_epochs}, redense_epochs={redense_epochs}, "
                         f"dense_epochs={dense_epochs}")


def pruned_masks(model) -> dict[str, np.ndarray]:
    """True where a kernel entry is exactly zero, by layer name (the entries the sparse phase removed)."""
    masks = {}
    for layer in model.layers:
        kernel = kernel_of(layer)
        if kernel is not None:
            masks[layer.name] = np.asarray(kernel) == 0
    return masks


def dsd_train(model, train_ds, *, sparsity: float, sparse_epochs: int = 2, redense_epochs: int = 2,
              dense_epochs: int = 0, lr: float = 1e-3, redense_lr: float | None = None, exclude=(),
              steps_per_epoch: int | None = None, verbose: int = 0) -> DSDResult:
    """Dense → sparse → dense training of a Keras 3 raw-pixel → logits model on ``train_ds``.

    Args:
        model: the dense model (a trained run's checkpoint; ``dense_epochs`` trains it further first). Not modified.
        sparsity: fraction of each prunable kernel removed in the sparse phase (the paper uses 0.3-0.5).
        sparse_epochs / redense_epochs: epochs of the two later phases (>= 1 each).
        lr: learning rate (Adam) of the dense and sparse phases.
        redense_lr: learning rate of the re-dense phase (default ``lr * 0.1``).
        exclude: layer names kept dense in the sparse phase.
    """
    from kerazoo.optimize.prune import check_sparsity, prune_model

    check_sparsity(sparsity)
    check_epochs(sparse_epochs, redense_epochs, dense_epochs)
    if redense_lr is None:
        redense_lr = lr * REDENSE_LR_FACTOR
    if not redense_lr > 0:
        raise ValueError(f"Invalid redense_lr: expected a positive learning rate. Received: redense_lr={redense_lr}")
    dense = without_optimizer(model)
    if dense_epochs:
        fine_tune(dense, train_ds, epochs=dense_epochs, lr=lr, steps_per_epoch=steps_per_epoch, verbose=verbose)
    sparse = prune_model(dense, train_ds, sparsity=sparsity, epochs=sparse_epochs, schedule="constant",
                         exclude=exclude, lr=lr, steps_per_epoch=steps_per_epoch, verbose=verbose)
    masks = pruned_masks(sparse)
    # Dropping the mask: the stripped model is plain Keras 3, so its pruned weights start at zero and train again.
    redensed = without_optimizer(sparse)
    fine_tune(redensed, train_ds, epochs=redense_epochs, lr=redense_lr, steps_per_epoch=steps_per_epoch,
              verbose=verbose)
    return DSDResult(model=redensed, sparse=without_optimizer(sparse), masks=masks)
