"""Training speed: kerazoo's default training step against the same network in PyTorch, side by side in one run.

    python bench/train_speed.py                     # CPU: 4 training twins at Fashion-MNIST size + ResNet-50 inference
    python bench/train_speed.py --quick             # ResNet-20 and MobileNet v2, 3 short windows (~2 min)
    KERAS_BACKEND=jax python bench/train_speed.py --backend jax   # GPU machine: ResNet-50 training, bf16, batch 256

Rows (CPU): ResNet-20, VGG-11-BN, MobileNet v2 and DenseNet-BC-100 trained with SGD (momentum 0.9) on batches of 128
Fashion-MNIST-sized images (28x28x1; VGG-11-BN and MobileNet v2 need 32x32, the Fashion-MNIST images padded), and
ResNet-50 inference at 224x224x3. Each row times three things on the same cached batch, in interleaved windows so
machine noise hits all of them, each in a process of its own set up as that side runs: kerazoo with the training
service's defaults (the ``kerazoo`` command's oneDNN, then ``kerazoo.training.speed``: XLA, steps per execution,
threads, fused batch norm; op determinism on, as in ``kerazoo train``), the same Keras model as
``kerazoo train --no-speed`` runs it, and a PyTorch twin written here (eager, ``torch.set_num_threads`` = the same
cores). Warm-up (tracing, XLA compile) is excluded; each figure is the median images/s over the windows; ratio =
kerazoo / torch.

PyTorch is a bench-only extra, not in .venv: ``pip install torch==2.13.0`` (the ``rl-bench`` extra pins it; the CPU
wheel). Without it the torch columns are skipped and said so. The twins' parameter counts are printed beside
kerazoo's, so a twin that drifted from the zoo's architecture shows.

``--backend jax`` (GPU machine, where torch with CUDA is installed): Keras on JAX, ResNet-50 at 224x224x3, mixed
bfloat16, batch 256, synthetic data, against PyTorch eager and ``torch.compile`` with bf16 autocast and channels-last.
Writes bench/results/train_speed.json (train_speed_quick.json with --quick, train_speed_jax.json with --backend jax).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import multiprocessing
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

INSTALL_TORCH = "pip install torch==2.13.0  (bench-only extra; the CPU wheel here, the CUDA one on a GPU machine)"
CPU_ROWS = {  # model: input side
    "resnet20": 28, "vgg11_bn": 32, "mobilenetv2": 32, "densenetbc100": 28,
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="ResNet-20 and MobileNet v2, 3 short windows")
    p.add_argument("--backend", choices=["tensorflow", "jax"], default="tensorflow")
    p.add_argument("--windows", type=int, help="timed windows per figure (default 7, quick 3)")
    p.add_argument("--steps", type=int, help="steps per window (default 20, quick 4)")
    p.add_argument("--models", nargs="*", help="subset of " + ", ".join(CPU_ROWS))
    return p.parse_args()


def try_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


# ------------------------------------------------------------------------------------------------ kerazoo side
class KerasStep:
    """One compiled Keras training (or inference) step on a fixed cached batch."""

    def __init__(self, model, batch, *, fast: bool, steps_per_epoch_hint: int = 430, dtype="float32"):
        import keras
        import numpy as np
        import tensorflow as tf

        from kerazoo.training import speed

        self.model, self.batch = model, batch
        shape = (batch, *model.input_shape[1:])
        x = np.random.default_rng(0).uniform(0, 255, size=shape).astype(dtype)
        y = (np.arange(batch) % model.output_shape[-1]).astype("int32")
        self.x = x
        from kerazoo.datasets import pipeline_options

        self.data = tf.data.Dataset.from_tensors((x, y)).repeat().with_options(pipeline_options())  # as kerazoo's
        if fast:  # what kerazoo train resolves for a full-length run of this model
            spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
            self.jit = speed.resolve_jit_compile("auto", model, spec, total_steps=10**6)[0]
            self.spe = speed.resolve_steps_per_execution("auto", steps_per_epoch_hint)[0]
        else:
            self.jit, self.spe = False, 1
        self.fused_batch_norm = speed.use_fused_batch_norm("auto", model, speed=fast)[0]
        with speed.quiet_jit_warning():
            model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          jit_compile=self.jit, steps_per_execution=self.spe)
        speed.force_jit_compile(model, self.jit)

    def train_window(self, steps):
        steps = max(self.spe, steps - steps % self.spe)
        start = time.perf_counter()
        self.model.fit(self.data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
        return self.batch * steps / (time.perf_counter() - start)

    def infer_window(self, steps):
        start = time.perf_counter()
        for _ in range(steps):
            self.model.predict_on_batch(self.x)
        return self.batch * steps / (time.perf_counter() - start)


# -------------------------------------------------------------------------------------------------- torch twins
def torch_twin(name, torch, in_channels, classes):
    """The zoo architecture ``name`` in PyTorch (He et al. 2016; Simonyan & Zisserman 2015; Sandler et al. 2018;
    Huang et al. 2017), BatchNorm after every convolution as in the Keras builders."""
    nn = torch.nn

    def conv_bn(cin, cout, k=3, stride=1, groups=1, act=True, relu6=False, bias=False):
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=bias), nn.BatchNorm2d(cout)]
        if act:
            layers.append(nn.ReLU6() if relu6 else nn.ReLU())
        return nn.Sequential(*layers)

    class Basic(nn.Module):
        """CIFAR ResNet block with the option-A shortcut (subsample, zero-pad the new channels), as kerazoo's."""

        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(conv_bn(cin, cout, 3, stride), conv_bn(cout, cout, 3, 1, act=False))
            self.stride, self.extra = stride, cout - cin

        def forward(self, x):
            short = x[:, :, :: self.stride, :: self.stride]
            if self.extra:
                short = torch.nn.functional.pad(short, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
            return torch.relu(self.body(x) + short)

    class Bottleneck(nn.Module):
        def __init__(self, cin, width, stride):
            super().__init__()
            self.body = nn.Sequential(conv_bn(cin, width, 1, bias=True), conv_bn(width, width, 3, stride, bias=True),
                                      conv_bn(width, 4 * width, 1, act=False, bias=True))  # biases, as kerazoo's v1
            self.short = (conv_bn(cin, 4 * width, 1, stride, act=False, bias=True) if stride != 1 or cin != 4 * width
                          else nn.Identity())

        def forward(self, x):
            return torch.relu(self.body(x) + self.short(x))

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, stride, expand):
            super().__init__()
            hidden = cin * expand
            layers = [conv_bn(cin, hidden, 1, relu6=True)] if expand != 1 else []
            layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden, relu6=True), conv_bn(hidden, cout, 1, act=False)]
            self.body, self.residual = nn.Sequential(*layers), stride == 1 and cin == cout

        def forward(self, x):
            return x + self.body(x) if self.residual else self.body(x)

    class DenseLayer(nn.Module):
        def __init__(self, cin, growth):
            super().__init__()
            self.body = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, 4 * growth, 1, bias=False),
                                      nn.BatchNorm2d(4 * growth), nn.ReLU(), nn.Conv2d(4 * growth, growth, 3, 1, 1, bias=False))

        def forward(self, x):
            return torch.cat([x, self.body(x)], 1)

    head = lambda channels: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, classes))  # noqa: E731
    if name == "resnet20":
        layers, cin = [conv_bn(in_channels, 16)], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                layers.append(Basic(cin, cout, stride if i == 0 else 1))
                cin = cout
        return nn.Sequential(*layers, head(64))
    if name == "vgg11_bn":
        layers, cin = [], in_channels
        for v in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"):
            layers.append(nn.MaxPool2d(2) if v == "M" else conv_bn(cin, v, bias=True))  # biased, as kerazoo's
            cin = cin if v == "M" else v
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, 4096), nn.ReLU(), nn.Dropout(0.5),
                             nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, classes))
    if name == "mobilenetv2":
        layers, cin = [conv_bn(in_channels, 32, 3, 2, relu6=True)], 32
        for expand, cout, repeat, stride in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                                             (6, 160, 3, 2), (6, 320, 1, 1)):
            for i in range(repeat):
                layers.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expand))
                cin = cout
        return nn.Sequential(*layers, conv_bn(320, 1280, 1, relu6=True), head(1280))
    if name == "densenetbc100":
        growth, per_block = 12, 16  # depth 100: (100 - 4) / 6
        layers, cin = [nn.Conv2d(in_channels, 2 * growth, 3, 1, 1, bias=False)], 2 * growth
        for block in range(3):
            for _ in range(per_block):
                layers.append(DenseLayer(cin, growth))
                cin += growth
            if block < 2:  # transition, compression 0.5
                layers += [nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, cin // 2, 1, bias=False), nn.AvgPool2d(2)]
                cin //= 2
        return nn.Sequential(*layers, nn.BatchNorm2d(cin), nn.ReLU(), head(cin))
    if name == "resnet50":
        layers, cin = [conv_bn(in_channels, 64, 7, 2, bias=True), nn.MaxPool2d(3, 2, 1)], 64
        for width, repeat, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for i in range(repeat):
                layers.append(Bottleneck(cin, width, stride if i == 0 else 1))
                cin = 4 * width
        return nn.Sequential(*layers, head(2048))
    raise ValueError(f"Invalid model: no PyTorch twin for {name!r}. Twins: {', '.join([*CPU_ROWS, 'resnet50'])}.")


class TorchStep:
    """The twin's training (or inference) step on a fixed batch, eager or ``torch.compile``-d."""

    def __init__(self, torch, model, batch, side, channels, *, device="cpu", compile_=False, bf16=False):
        self.torch, self.batch, self.device, self.bf16 = torch, batch, device, bf16
        self.model = model.to(device, memory_format=torch.channels_last if device == "cuda" else torch.contiguous_format)
        self.x = torch.rand(batch, channels, side, side, device=device) * 255
        self.y = torch.arange(batch, device=device) % 10
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.loss = torch.nn.CrossEntropyLoss()
        self.step = torch.compile(self._step) if compile_ else self._step

    def _step(self):
        with self.torch.autocast(self.device, dtype=self.torch.bfloat16, enabled=self.bf16):
            loss = self.loss(self.model(self.x), self.y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def _sync(self):
        if self.device == "cuda":
            self.torch.cuda.synchronize()

    def train_window(self, steps):
        self.model.train()
        self._sync()
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        self._sync()
        return self.batch * steps / (time.perf_counter() - start)

    def infer_window(self, steps):
        self.model.eval()
        start = time.perf_counter()
        with self.torch.no_grad():
            for _ in range(steps):
                self.model(self.x)
        return self.batch * steps / (time.perf_counter() - start)


def params(torch_model):
    return sum(p.numel() for p in torch_model.parameters())


# ------------------------------------------------------------------------------------------------------- timing
def interleaved(timers: dict, kind: str, windows: int, steps: int) -> dict:
    """Median images/s of each timer over ``windows`` windows taken in turn, the order rotating (after one warm-up
    window each)."""
    for timer in timers.values():
        getattr(timer, f"{kind}_window")(max(1, steps // 4))
    figures = {name: [] for name in timers}
    names = list(timers)
    for window in range(windows):
        shift = window % len(names)  # rotate who goes first: the window after another framework's runs slower
        for name in names[shift:] + names[:shift]:
            figures[name].append(getattr(timers[name], f"{kind}_window")(steps))
    return {name: round(statistics.median(values), 2) for name, values in figures.items()}


# ------------------------------------------------------------------------------------- one process per timer
class TimerProcess:
    """A timer in a process of its own, set up as that side really runs. In one process, TensorFlow's and PyTorch's
    thread pools slowed each other: a window taken right after the other framework's ran up to 1.7x slower (MobileNet
    v2 trained at 250 images/s there, 435 alone), which made the medians swing between runs."""

    def __init__(self, setup, **spec):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve_timer, args=(child, setup, spec), daemon=True)
        self.process.start()
        self.info = self.conn.recv()
        if isinstance(self.info, Exception):
            raise self.info

    def _ask(self, method, steps):
        self.conn.send((method, steps))
        return self.conn.recv()

    def train_window(self, steps):
        return self._ask("train_window", steps)

    def infer_window(self, steps):
        return self._ask("infer_window", steps)

    def close(self):
        self.conn.send(None)
        self.process.join(timeout=60)


def serve_timer(conn, setup, spec):
    """The child's loop: build the timer, then time windows on request until told to stop."""
    try:
        timer, info = {"keras": keras_timer, "torch": torch_timer}[setup](**spec)
    except Exception as error:  # the parent raises it
        conn.send(RuntimeError(f"{setup} timer: {error!r}"))
        return
    conn.send(info)
    for method, steps in iter(conn.recv, None):
        conn.send(getattr(timer, method)(steps))


def keras_timer(name, side, channels, classes, batch, fast):
    """The process of `kerazoo train` (fast) or `kerazoo train --no-speed`: oneDNN, threads, seed, op determinism."""
    from kerazoo import runtime

    runtime.prefer_onednn(fast)  # before TensorFlow loads, as the kerazoo command does
    from kerazoo.training import speed

    threads = speed.configure_threads("auto", fast)
    import keras
    import numpy as np
    import tensorflow as tf

    from kerazoo.applications import create_model

    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()  # kerazoo train's default (deterministic: true), both ways
    model = create_model(name, input_shape=(side, side, channels), classes=classes, classifier_activation=None)
    step = KerasStep(model, batch, fast=fast)
    settings = {"jit_compile": step.jit, "steps_per_execution": step.spe, "fused_batch_norm": step.fused_batch_norm,
                "threads": threads, "onednn": runtime.onednn_state()}
    return step, {"params": sum(int(np.prod(w.shape)) for w in model.trainable_weights), "settings": settings}


def torch_timer(name, side, channels, classes, batch, threads):
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    twin = torch_twin(name, torch, channels, classes)
    return TorchStep(torch, twin, batch, side, channels), {"params": params(twin)}


def cpu_row(name, side, with_torch, cores, windows, steps, kind="train", batch=128, channels=1, classes=10):
    spec = {"name": name, "side": side, "channels": channels, "classes": classes, "batch": batch}
    timers = {"kerazoo": TimerProcess("keras", fast=True, **spec)}
    try:
        timers["keras_plain"] = TimerProcess("keras", fast=False, **spec)
        if with_torch:
            timers["torch_eager"] = TimerProcess("torch", threads=cores, **spec)
        fast = timers["kerazoo"].info
        row = {"model": name, "kind": kind, "input": [side, side, channels], "batch": batch,
               "kerazoo_params": fast["params"],  # trainable only: torch counts no BN statistics
               "kerazoo_settings": fast["settings"], "keras_plain_settings": timers["keras_plain"].info["settings"]}
        if with_torch:
            row["torch_params"] = timers["torch_eager"].info["params"]
        row["images_per_s"] = figures = interleaved(timers, kind, windows, steps)
    finally:
        for timer in timers.values():
            timer.close()
    if with_torch:
        row["ratio_vs_torch_eager"] = round(figures["kerazoo"] / figures["torch_eager"], 3)
    row["ratio_vs_keras_plain"] = round(figures["kerazoo"] / figures["keras_plain"], 3)
    return row


def run_cpu(args):
    from kerazoo.training import speed

    cores, with_torch = speed.usable_cores(), importlib.util.find_spec("torch") is not None
    if not with_torch:
        print(f"PyTorch is not installed: torch columns skipped. To compare, {INSTALL_TORCH}")
    windows = args.windows or (3 if args.quick else 7)
    steps = args.steps or (4 if args.quick else 20)
    names = args.models or (["resnet20", "mobilenetv2"] if args.quick else list(CPU_ROWS))
    rows = []
    for name in names:
        rows.append(cpu_row(name, CPU_ROWS[name], with_torch, cores, windows, steps))
        print(format_row(rows[-1]), flush=True)
    if not args.quick:
        rows.append(cpu_row("resnet50", 224, with_torch, cores, windows, max(2, steps // 4), kind="infer", batch=32,
                            channels=3, classes=1000))
        print(format_row(rows[-1]), flush=True)
    return {"backend": "tensorflow", "cores": cores, "windows": windows, "steps_per_window": steps, "rows": rows,
            "torch": importlib.metadata.version("torch") if with_torch else "not installed"}


def run_jax(args, torch):
    """Keras on JAX vs torch eager and torch.compile: ResNet-50 training, bf16, batch 256, synthetic data."""
    import keras

    from kerazoo.applications import create_model

    if keras.backend.backend() != "jax":
        raise SystemExit("--backend jax needs KERAS_BACKEND=jax in the environment (set before Keras is imported).")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    batch, side = 256, 224
    windows, steps = args.windows or (3 if args.quick else 7), args.steps or (5 if args.quick else 20)
    model = create_model("resnet50", input_shape=(side, side, 3), classes=1000, classifier_activation=None)
    timers = {"kerazoo_jax": KerasJaxStep(model, batch)}
    row = {"model": "resnet50", "kind": "train", "input": [side, side, 3], "batch": batch, "precision": "bfloat16"}
    if torch is not None and torch.cuda.is_available():
        for label, compiled in (("torch_eager", False), ("torch_compile", True)):
            twin = torch_twin("resnet50", torch, 3, 1000)
            timers[label] = TorchStep(torch, twin, batch, side, 3, device="cuda", compile_=compiled, bf16=True)
    else:
        row["torch"] = "skipped: torch with CUDA not found (" + INSTALL_TORCH + ")"
    row["images_per_s"] = figures = interleaved(timers, "train", windows, steps)
    for label in ("torch_eager", "torch_compile"):
        if label in figures:
            row[f"ratio_vs_{label}"] = round(figures["kerazoo_jax"] / figures[label], 3)
    print(format_row(row), flush=True)
    return {"backend": "jax", "windows": windows, "steps_per_window": steps, "rows": [row]}


class KerasJaxStep(KerasStep):
    """On JAX every Keras step is jit-compiled; the speed defaults add steps per execution."""

    def __init__(self, model, batch):
        import keras
        import numpy as np
        import tensorflow as tf  # only for the input pipeline, as kerazoo's datasets

        from kerazoo.training import speed

        self.model, self.batch = model, batch
        self.x = np.random.default_rng(0).uniform(0, 255, size=(batch, *model.input_shape[1:])).astype("float32")
        self.data = tf.data.Dataset.from_tensors((self.x, (np.arange(batch) % 1000).astype("int32"))).repeat()
        self.spe = speed.resolve_steps_per_execution("auto", 5000, gpu=True)[0]  # the GPU run
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), steps_per_execution=self.spe)


def format_row(row):
    figures = "  ".join(f"{k} {v:9.1f}" for k, v in row["images_per_s"].items())
    ratios = "  ".join(f"{k.removeprefix('ratio_vs_')} x{v}" for k, v in row.items() if k.startswith("ratio_vs_"))
    twin = f"  params kerazoo {row['kerazoo_params']:,} / torch {row['torch_params']:,}" if "torch_params" in row else ""
    return f"{row['model']:>14} {row['kind']:>5} img/s: {figures}  |  {ratios}{twin}"


def main():
    args = parse_args()
    if args.backend == "jax":
        os.environ.setdefault("KERAS_BACKEND", "jax")
        torch = try_torch()
        if torch is None:
            print(f"PyTorch is not installed: torch columns skipped. To compare, {INSTALL_TORCH}")
        figures = run_jax(args, torch)
        figures["torch"] = torch.__version__ if torch is not None else "not installed"
    else:
        figures = run_cpu(args)
    from common import write_results

    suffix = "_jax" if args.backend == "jax" else ("_quick" if args.quick else "")
    print("wrote", write_results(f"train_speed{suffix}", figures))


if __name__ == "__main__":
    main()
