"""Knowledge distillation: train a small student on a frozen teacher's softened outputs and the labels
(Hinton et al., 2015; the loss is :func:`kerazoo.losses.distillation_loss`).

    student = create_model("lenet5", ...)                      # any raw-pixel → logits model
    distiller = Distiller(student, teacher, temperature=4.0, alpha=0.9)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    distiller.fit(train_ds, epochs=5)                           # trains ``student`` in place

Only the student's weights train; the wrapper's outputs are the student's logits, so ``accuracy`` and
``evaluate`` measure the student. Keep ``student`` itself for export (the wrapper is not saved).
"""

from __future__ import annotations

import functools

import keras

from kerazoo.losses.distillation import check_distillation_options, distillation_loss
from kerazoo.training.tasks import register_trainer


class Distiller(keras.Model):
    """Teacher/student training wrapper.

    Args:
        student: model to train (raw pixels → logits).
        teacher: trained model (raw pixels → logits, same classes); frozen.
        temperature: softening temperature T of both distributions (T > 0; 1 = plain softmax).
        alpha: weight of the soft (teacher) term; 1 - alpha weights the cross-entropy on the labels.
    """

    def __init__(self, student, teacher, *, temperature: float = 4.0, alpha: float = 0.9, **kwargs):
        super().__init__(name=kwargs.pop("name", "distiller"), **kwargs)
        check_distillation_options(temperature, alpha)
        if student.output_shape[-1] != teacher.output_shape[-1]:
            raise ValueError(
                f"Student and teacher must predict the same classes: student has {student.output_shape[-1]} "
                f"outputs, teacher {teacher.output_shape[-1]}."
            )
        self.student, self.teacher = student, teacher
        self.teacher.trainable = False
        self.temperature, self.alpha = float(temperature), float(alpha)

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        teacher_logits = self.teacher(x, training=False)
        per_example = distillation_loss(y, y_pred, teacher_logits, self.temperature, self.alpha)
        if sample_weight is not None:
            per_example = per_example * keras.ops.cast(sample_weight, per_example.dtype)
        return keras.ops.mean(per_example)


@functools.partial(register_trainer, "distill")
def distill_trainer(student, config) -> Distiller:
    """The trainer ``train`` runs for ``config`` (a ``DistillConfig``: the teacher run, temperature, alpha)."""
    from kerazoo.runs import RunDir

    return Distiller(student, RunDir(config.teacher).load_model(), temperature=config.temperature, alpha=config.alpha)


def distill(student, teacher, train_ds, *, epochs: int = 5, temperature: float = 4.0, alpha: float = 0.9,
            lr: float = 1e-3, validation_data=None, verbose: int = 0):
    """Train ``student`` (in place) from ``teacher`` on ``train_ds``; returns the Keras history."""
    distiller = Distiller(student, teacher, temperature=temperature, alpha=alpha)
    distiller.compile(optimizer=keras.optimizers.Adam(lr),
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return distiller.fit(train_ds, epochs=epochs, validation_data=validation_data, verbose=verbose)
