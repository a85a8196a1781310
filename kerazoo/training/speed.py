"""Fast training settings that leave the results alone, chosen per run and recorded in the run's ``config.yaml``.

Each field below is ``auto`` by default. ``speed: false`` (``kerazoo train --no-speed``) resolves every ``auto`` to
the plain setting, and an explicit value (``jit_compile=false``, ``steps_per_execution=1`` ...) always wins.

=====================  ==========================================================================  ============
field                  ``auto`` (with ``speed: true``)                                             plain
=====================  ==========================================================================  ============
``jit_compile``        on a GPU, XLA when the run is long enough to repay the compile and a probe   false
                       lowers one forward and backward pass to XLA (else the reason is logged);
                       off on CPUs, where TensorFlow 2.21's XLA measured slower (MobileNet v2 8x)
``steps_per_execution`` on a GPU, up to 32 steps per call (a divisor of the steps per epoch), so      1
                       Python's per-step overhead is paid once per call; 1 when a callback acts on
                       every batch, and on CPUs (measured slower there)
``precision``          mixed_bfloat16 on GPUs of compute capability >= 8.0, mixed_float16 on        float32
                       >= 7.0 (Micikevicius et al., 2018), float32 on CPUs and older GPUs
``threads``            intra-op threads = the cores this process may use (affinity and cgroup       TF's own
                       quota), inter-op 2; set before TensorFlow starts its thread pools
``fused_batch_norm``   BatchNormalization layers train with TensorFlow's fused kernel (one pass     false
                       forward and back) instead of Keras 3's separate moment and normalize ops:
                       ResNet-20 +23%, DenseNet-BC-100 +21%, MobileNet v2 +4% on 2 CPU cores
oneDNN (not a field)   the ``kerazoo`` command sets ``TF_ENABLE_ONEDNN_OPTS=1`` before TensorFlow     TF's own
                       loads (``kerazoo.runtime``): oneDNN's CPU kernels, which TensorFlow picks by
                       itself only on AVX-512/AMX CPUs; an explicit variable wins
=====================  ==========================================================================  ============

None of them changes what is computed: XLA fuses the same operations (float rounding may differ in the last bits),
``steps_per_execution`` runs the same steps in one ``tf.function`` call, and the thread count only splits the same
work; the fused batch norm computes the same statistics and gradients in one kernel (equal up to float rounding,
``tests/training/test_speed.py``). Mixed precision does change the arithmetic, which is why it is only chosen on
GPUs, where it is the usual practice and roughly doubles throughput.
"""

from __future__ import annotations

import contextlib
import logging
import warnings

from kerazoo import runtime
from kerazoo.runtime import usable_cores

log = logging.getLogger("kerazoo.training")

MAX_STEPS_PER_EXECUTION = 32
"""Enough to hide Keras' per-call Python overhead (a few ms) behind even a small model's GPU step."""
MIN_STEPS_FOR_XLA = 200
"""XLA's compile takes seconds to a minute on CPU (ResNet-20: ~35 s on a loaded 2-core machine), so shorter runs
(quick checks, tests) would be slower with it."""


def is_auto(value) -> bool:
    return isinstance(value, str) and value == "auto"


# ----------------------------------------------------------------------------------------------------- threads
def configure_threads(threads, speed: bool = True) -> dict:
    """Set TensorFlow's intra-/inter-op thread pools (``threads``: auto, 0 = TensorFlow's choice, or N intra-op).

    TensorFlow sizes its pools from the host's core count, which oversubscribes a container limited to fewer cores;
    the pools can only be sized before TensorFlow creates them, so when it already has (an earlier run in the same
    process) the settings are left as they are and the record says so.
    """
    import tensorflow as tf

    if threads == 0 or (is_auto(threads) and not speed):
        return {"intra_op": 0, "inter_op": 0, "applied": False, "reason": "TensorFlow's own choice"}
    intra = usable_cores() if is_auto(threads) else int(threads)
    inter = min(2, intra)
    current = (tf.config.threading.get_intra_op_parallelism_threads(),
               tf.config.threading.get_inter_op_parallelism_threads())
    if current == (intra, inter):
        return {"intra_op": intra, "inter_op": inter, "applied": True, "reason": "already set"}
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:
        return {"intra_op": current[0], "inter_op": current[1], "applied": False,
                "reason": "TensorFlow was already initialized in this process; its pools were kept"}
    return {"intra_op": intra, "inter_op": inter, "applied": True, "reason": f"{usable_cores()} usable cores"}


# --------------------------------------------------------------------------------------------------- precision
def gpu_compute_capability() -> tuple | None:
    """The lowest compute capability of the visible GPUs, or None without one."""
    import tensorflow as tf

    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability:
            capabilities.append(tuple(capability))
    return min(capabilities) if capabilities else None


def resolve_precision(precision: str, speed: bool = True, capability=None) -> tuple[str, str]:
    """The dtype policy for ``precision`` (auto → by GPU generation) and why. ``capability``: for tests."""
    if not is_auto(precision):
        return precision, "set in the config"
    if not speed:
        return "float32", "speed off"
    capability = gpu_compute_capability() if capability is None else capability
    if not capability:
        return "float32", "no GPU: mixed precision pays off only on GPUs with tensor cores"
    if capability >= (8, 0):
        return "mixed_bfloat16", f"GPU compute capability {capability[0]}.{capability[1]} has bfloat16 tensor cores"
    if capability >= (7, 0):
        return "mixed_float16", f"GPU compute capability {capability[0]}.{capability[1]} has float16 tensor cores"
    return "float32", f"GPU compute capability {capability[0]}.{capability[1]} has no tensor cores"


# -------------------------------------------------------------------------------------------- steps per execution
def per_batch_callbacks(callbacks) -> list[str]:
    """Names of the callbacks that act on every batch, which ``steps_per_execution > 1`` would call less often.

    Keras' TensorBoard (``update_freq="epoch"``), BackupAndRestore (``save_freq="epoch"``) and the run's heartbeat
    (a file touch at most every few seconds) only look at batches, so they do not count.
    """
    import keras

    from kerazoo.training.callbacks import Heartbeat

    names = []
    for callback in callbacks:
        if isinstance(callback, (keras.callbacks.TensorBoard, Heartbeat)):
            continue
        if isinstance(callback, keras.callbacks.BackupAndRestore) and callback.save_freq == "epoch":
            continue
        kind = type(callback)
        if any(getattr(kind, hook) is not getattr(keras.callbacks.Callback, hook)
               for hook in ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")):
            names.append(kind.__name__)
    return names


def resolve_steps_per_execution(value, steps_per_epoch: int, callbacks=(), speed: bool = True,
                                gpu: bool | None = None, replicas: int = 1) -> tuple[int, str]:
    """Steps run per ``tf.function`` call: ``auto`` on a GPU picks the largest divisor of ``steps_per_epoch`` up to
    :data:`MAX_STEPS_PER_EXECUTION` (a divisor, because Keras runs whole executions: a partial last one would take
    extra batches and change the run). On CPU ``auto`` is 1: a step takes far longer than Keras' per-call overhead
    there, and 10 steps per execution measured slower (ResNet-20 85 vs 112, MobileNet v2 172 vs 249 images/s).
    ``gpu``: for tests."""
    if not is_auto(value):
        return int(value), "set in the config"
    if not speed:
        return 1, "speed off"
    if not (on_gpu() if gpu is None else gpu):
        return 1, "CPU: more steps per execution measured slower (docs/performance.md)"
    if replicas > 1:
        return 1, (f"{replicas} replicas: Keras 3.15's multi-step loop fails under MirroredStrategy "
                   "(\"You must feed a value for placeholder tensor\")")
    hooks = per_batch_callbacks(callbacks)
    if hooks:
        return 1, f"callbacks act on every batch: {', '.join(hooks)}"
    if steps_per_epoch < 2:
        return 1, "one step per epoch"
    best = max(d for d in range(1, min(MAX_STEPS_PER_EXECUTION, steps_per_epoch) + 1) if steps_per_epoch % d == 0)
    return best, f"largest divisor of {steps_per_epoch} steps per epoch up to {MAX_STEPS_PER_EXECUTION}"


# ---------------------------------------------------------------------------------------------------------- XLA
def probe_xla(model, input_spec) -> str | None:
    """Lower the model's forward and backward pass (training mode) to XLA HLO; None when it lowers, else the reason.

    Lowering is where an operation without an XLA kernel fails, and it neither runs the step nor touches a variable
    (BatchNorm statistics, dropout seeds), so probing never changes the run. ``input_spec``: ``tf.TensorSpec``
    structure of one batch of inputs (batch dimension may be None).
    """
    import tensorflow as tf

    inputs = tf.nest.map_structure(
        lambda spec: tf.zeros([1 if d is None else d for d in spec.shape], spec.dtype), input_spec)

    @tf.function(jit_compile=True)
    def forward_backward(batch):
        with tf.GradientTape() as tape:
            outputs = model(batch, training=True)
            total = tf.add_n([tf.reduce_sum(tf.cast(t, tf.float32)) for t in tf.nest.flatten(outputs)])
        return tape.gradient(total, model.trainable_variables)

    try:
        forward_backward.experimental_get_compiler_ir(inputs)(stage="hlo")
    except Exception as error:  # noqa: BLE001 - any failure means: do not compile this model with XLA
        first = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
        return f"{type(error).__name__}: {first[:300]}"
    return None


def on_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def deterministic_gpu() -> bool:
    from tensorflow.python.framework.config import is_op_determinism_enabled  # as Keras' own check does

    return on_gpu() and is_op_determinism_enabled()


def resolve_compile_settings(config, model, train_ds, steps_per_epoch: int, callbacks=(), replicas: int = 1):
    """``config`` with ``jit_compile`` and ``steps_per_execution`` resolved to the values Keras takes (``auto`` →
    this device's choice), plus their (value, reason) records: what ``train`` and ``search`` compile with."""
    import dataclasses

    steps = resolve_steps_per_execution(config.steps_per_execution, steps_per_epoch, callbacks, config.speed,
                                        replicas=replicas)
    spec = train_ds.element_spec
    jit = resolve_jit_compile(config.jit_compile, model, spec[0] if isinstance(spec, tuple) else spec,
                              steps_per_epoch * config.epochs, replicas, config.speed)
    return dataclasses.replace(config, jit_compile=jit[0], steps_per_execution=steps[0]), jit, steps


def resolve_jit_compile(value, model, input_spec, total_steps: int, replicas: int = 1,
                        speed: bool = True, gpu: bool | None = None) -> tuple[bool, str]:
    """Whether to train with XLA: explicit values win; ``auto`` probes the model on one GPU (see :func:`probe_xla`).

    On CPU ``auto`` stays off: measured with op determinism on, as ``kerazoo train`` runs (2 loaded cores, TensorFlow
    2.21), XLA trained MobileNet v2 at 31 vs 249 images/s and ResNet-20 at 37 vs 45 (102 vs 112 with determinism
    off). ``gpu``: for tests.
    """
    if not is_auto(value):
        return bool(value), "set in the config"
    if not speed:
        return False, "speed off"
    if replicas > 1:
        return False, f"{replicas} replicas: Keras' distributed step is not XLA-compiled"
    if not (on_gpu() if gpu is None else gpu):
        return False, "CPU: XLA measured slower (MobileNet v2 8x, ResNet-20 10-20%; docs/performance.md)"
    if deterministic_gpu():  # (only reached on a GPU)
        return False, "op determinism on a GPU: some XLA GPU kernels are not deterministic (set deterministic=false)"
    if total_steps < MIN_STEPS_FOR_XLA:
        return False, f"{total_steps} steps: too few to repay XLA's compile time (needs >= {MIN_STEPS_FOR_XLA})"
    reason = probe_xla(model, input_spec)
    if reason:
        log.warning("XLA is off for this run: the model does not compile with XLA (%s)", reason)
        return False, f"XLA probe failed: {reason}"
    return True, "XLA probe lowered the training step"


def force_jit_compile(trainer, jit_compile: bool) -> None:
    """Keep ``jit_compile=True`` on a compiled CPU trainer under ``enable_op_determinism``.

    Keras turns XLA off whenever op determinism is on, because some XLA GPU kernels are not deterministic. XLA on CPU
    is deterministic (``tests/training/test_speed.py`` checks that two seeded XLA runs give the same losses), so on
    CPU the setting is restored; on GPUs Keras' choice stands (``deterministic=false`` enables XLA there).
    """
    import tensorflow as tf

    if jit_compile and not trainer.jit_compile and not tf.config.list_physical_devices("GPU"):
        trainer._jit_compile = True  # the public setter refuses under op determinism (see above)


@contextlib.contextmanager
def quiet_jit_warning():
    """Silence Keras' "Model doesn't support jit_compile=True" at compile time: :func:`force_jit_compile` follows."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Model doesn't support `jit_compile=True`")
        yield


# ------------------------------------------------------------------------------------------------ fused batch norm
def batch_norm_layers(model) -> list:
    """The model's BatchNormalization layers, nested models and layers included."""
    import keras

    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, keras.layers.BatchNormalization)]


def use_fused_batch_norm(value, model, speed: bool = True) -> tuple[bool, str]:
    """Train the model's BatchNormalization layers with TensorFlow's fused kernel (``auto``: whenever it has some).

    Keras 3 normalizes with separate ops (mean, variance, normalize: several passes over the activations, and as
    many back), where TensorFlow's ``FusedBatchNormV3`` does one pass each way; on this project's 2 CPU cores that
    trained ResNet-20 23% faster and DenseNet-BC-100, which is mostly batch norm, 21% (docs/performance.md). Only
    the training call changes, on this model object: inference, saved ``.keras`` files and exports are Keras' own.
    Layers the kernel cannot serve (renorm, synchronized, masks, another axis than the last, float64) keep Keras'
    path call by call.
    """
    if not is_auto(value):
        enabled, reason = bool(value), "set in the config"
    elif not speed:
        return False, "speed off"
    else:
        enabled, reason = True, "one kernel per BatchNormalization forward and back (docs/performance.md)"
    layers = batch_norm_layers(model)
    if not layers:
        return False, "the model has no BatchNormalization layer"
    if enabled:
        for layer in layers:
            fuse_batch_norm(layer)
    return enabled, f"{len(layers)} layers: {reason}" if enabled else reason


def fuse_batch_norm(layer) -> None:
    """Route ``layer``'s training calls through :func:`fused_batch_norm_training` (idempotent)."""
    if getattr(layer, "_kerazoo_keras_call", None) is not None:
        return
    keras_call = layer.call

    def call(inputs, training=None, mask=None):
        if training and layer.trainable and fusable(layer, inputs, mask):
            return fused_batch_norm_training(layer, inputs)
        return keras_call(inputs, training=training, mask=mask)

    layer._kerazoo_keras_call = keras_call
    layer.call = call


def fusable(layer, inputs, mask) -> bool:
    import keras

    rank = len(inputs.shape)
    return (mask is None and not layer.renorm and not layer.synchronized and rank >= 2
            and layer.axis % rank == rank - 1
            and keras.backend.standardize_dtype(inputs.dtype) in ("float16", "bfloat16", "float32"))


def fused_batch_norm_training(layer, inputs):
    """What ``keras.layers.BatchNormalization.call`` computes in training, in TensorFlow's fused kernel: the output
    normalized by the batch's statistics, and the moving averages updated as Keras does (with the biased variance)."""
    import tensorflow as tf

    x = tf.cast(inputs, tf.float32)  # as Keras: statistics in float32 whatever the compute dtype
    channels = layer.moving_mean.shape[0]
    reshaped = len(inputs.shape) != 4  # the kernel takes NHWC; any last-axis layout reshapes to it for free
    if reshaped:
        x = tf.reshape(x, [-1, 1, 1, channels])
    gamma = tf.cast(layer.gamma, tf.float32) if layer.scale else tf.ones([channels])
    beta = tf.cast(layer.beta, tf.float32) if layer.center else tf.zeros([channels])
    y, mean, variance = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=layer.epsilon, is_training=True)
    count = tf.cast(tf.size(x) // channels, tf.float32)
    variance = variance * ((count - 1.0) / tf.maximum(count, 1.0))  # the kernel returns the unbiased variance
    momentum = layer.momentum
    layer.moving_mean.assign(layer.moving_mean * momentum + mean * (1.0 - momentum))
    layer.moving_variance.assign(layer.moving_variance * momentum + variance * (1.0 - momentum))
    if reshaped:
        y = tf.reshape(y, tf.shape(inputs))
    return tf.cast(y, layer.compute_dtype)


def speed_record(threads: dict, precision: tuple, jit: tuple, steps: tuple, batch_norm: tuple) -> dict:
    """What ``config.yaml``'s ``resolved.speed`` says: each setting used, and why."""
    return {
        "jit_compile": jit[0], "jit_compile_reason": jit[1],
        "steps_per_execution": steps[0], "steps_per_execution_reason": steps[1],
        "precision": precision[0], "precision_reason": precision[1],
        "fused_batch_norm": batch_norm[0], "fused_batch_norm_reason": batch_norm[1],
        "threads": threads,
        "onednn": runtime.onednn_state(),
    }
