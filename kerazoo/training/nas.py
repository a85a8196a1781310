"""Neural architecture search with a recurrent controller trained by REINFORCE (Zoph and Le, ICLR 2017), and the
random-search baseline with the same budget of child trainings.

    from kerazoo.training import load_config
    from kerazoo.training.nas import nas_search
    config = load_config(overrides=["data.augment=[]", "optimizer.name=adam", "optimizer.lr=0.003"])
    result = nas_search(config, method="nas", children=20, child_steps=150, out="runs/nas")
    print(result.table())        # results.json, controller.npz, best.yaml and rewards.png in ``out``

The controller is an LSTM that takes the decisions of ``kerazoo.training.nas_space.SearchSpace`` one after the
other: at each it reads a softmax over the decision's choices from its hidden state, samples one, and feeds that
choice's embedding back as its next input, so later decisions depend on earlier ones. Each sampled architecture
(a ``nas_cnn`` child) trains ``child_steps`` steps on the training split and its accuracy on the validation split
(held out from train) is the reward R. The controller then takes one REINFORCE step on
``-(R - b) * log p(architecture) - entropy_weight * H``, where ``b`` is an exponential moving average of the rewards
so far (it starts at the first reward) and the entropy bonus ``H`` keeps it from settling too early.

Resume: after every child, ``results.json`` (every child's choices, architecture and figures) and then
``controller.npz`` (the controller's weights, its optimizer's state and the baseline) are written, each to a
temporary name and renamed. Child ``k`` is sampled with ``numpy.random.default_rng([seed, k])``, so a search killed
at any point and started again with the same arguments restores the controller, samples the same architectures and
reuses the children already trained (also one whose controller update the kill cut off: it is replayed from the
saved reward). ``children`` may differ between attempts: child ``k`` never depends on how many follow, so a larger
number extends a finished search and a smaller one takes its first children. Other arguments with the same ``out``
are an error rather than a silent restart.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import time

import keras
import numpy as np

from kerazoo.training.nas_space import SearchSpace
from kerazoo.training.search import finished_rows

log = logging.getLogger(__name__)  # stage lines; the kerazoo command prints them on stderr (not with --quiet)

__all__ = ["Controller", "NasResult", "nas_search", "run_child", "METHODS"]

METHODS = ("nas", "nas_random")
"""nas: the REINFORCE-trained controller; nas_random: choices drawn uniformly (the baseline)."""


class Controller(keras.Model):
    """The LSTM that samples architectures, one softmax per decision kind and one embedding of its choices."""

    def __init__(self, kinds: dict, *, units: int = 32, name: str = "nas_controller"):
        super().__init__(name=name)
        self.kinds = dict(kinds)
        self.units = units
        init = keras.initializers.RandomUniform(-0.1, 0.1)  # Zoph and Le: uniform in [-0.08, 0.08]; near enough
        self.cell = keras.layers.LSTMCell(units, kernel_initializer=init, recurrent_initializer=init, name="lstm")
        self.go = self.add_weight(shape=(1, units), initializer=init, name="go")  # the first step's input
        self.embeddings = [keras.layers.Embedding(n, units, embeddings_initializer=init, name=f"embed_{kind}")
                           for kind, n in self.kinds.items()]
        self.heads = [keras.layers.Dense(n, kernel_initializer=init, name=f"logits_{kind}")
                      for kind, n in self.kinds.items()]
        self._index = {kind: i for i, kind in enumerate(self.kinds)}
        states = self._zero_states()
        for kind in self.kinds:  # create every weight now, in a fixed order (saved and restored by position)
            h, _ = self.cell(self.go, states)
            self.heads[self._index[kind]](h)
            self.embeddings[self._index[kind]](np.zeros((1,), "int32"))

    def _zero_states(self):
        return [keras.ops.zeros((1, self.units)), keras.ops.zeros((1, self.units))]

    def walk(self, space: SearchSpace, *, choices=None, rng: np.random.Generator | None = None):
        """Run the decisions of ``space``: sample them with ``rng`` (``choices`` None) or follow ``choices``.
        Returns (choices, sum of their log-probabilities, sum of the softmaxes' entropies)."""
        x, states = self.go, self._zero_states()
        taken, log_probs, entropies = [], [], []
        while (decision := space.decisions(taken)) is not None:
            h, states = self.cell(x, states)
            log_p = keras.ops.log_softmax(self.heads[self._index[decision.kind]](h)[0])
            if choices is None:
                p = np.exp(keras.ops.convert_to_numpy(log_p).astype("float64"))
                choice = int(rng.choice(len(p), p=p / p.sum()))
            else:
                choice = int(choices[len(taken)])
            taken.append(choice)
            log_probs.append(log_p[choice])
            entropies.append(-keras.ops.sum(keras.ops.exp(log_p) * log_p))
            x = self.embeddings[self._index[decision.kind]](np.array([choice], "int32"))
        return taken, keras.ops.sum(keras.ops.stack(log_probs)), keras.ops.sum(keras.ops.stack(entropies))

    def log_prob(self, space: SearchSpace, choices) -> float:
        return float(keras.ops.convert_to_numpy(self.walk(space, choices=choices)[1]))

    def next_probabilities(self, space: SearchSpace, prefix=()) -> np.ndarray:
        """The softmax of the decision that follows the choices ``prefix`` (the first decision's by default)."""
        x, states = self.go, self._zero_states()
        for step in range(len(prefix) + 1):
            decision = space.decisions(list(prefix[:step]))
            h, states = self.cell(x, states)
            if step == len(prefix):
                return keras.ops.convert_to_numpy(keras.ops.softmax(self.heads[self._index[decision.kind]](h)[0]))
            x = self.embeddings[self._index[decision.kind]](np.array([prefix[step]], "int32"))


def reinforce_step(controller: Controller, optimizer, space: SearchSpace, choices, advantage: float,
                   entropy_weight: float) -> None:
    """One REINFORCE step: raise log p(choices) in proportion to ``advantage`` (reward minus baseline)."""
    import tensorflow as tf

    variables = controller.trainable_variables
    with tf.GradientTape() as tape:
        _, log_p, entropy = controller.walk(space, choices=choices)
        loss = -advantage * log_p - entropy_weight * entropy
    grads = tape.gradient(loss, variables)
    # Heads a short architecture never used get no gradient; zeros keep the optimizer's slots in step.
    grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) for g, v in zip(grads, variables)]
    optimizer.apply_gradients(zip(grads, variables))


def run_child(config, verbose: int = 0) -> dict:
    """Train one child (``config`` names nas_cnn and its architecture) for its budget; its validation figures."""
    from kerazoo.training.search import run_trial

    return run_trial(config, verbose)


@dataclasses.dataclass
class NasResult:
    rows: list
    """One dict per child: child, choices, architecture, val_accuracy, val_loss, diverged, seconds."""
    method: str

    @property
    def best(self) -> dict:
        return max(self.rows, key=lambda r: (not r["diverged"], r["val_accuracy"], -r["child"]))

    def table(self) -> str:
        lines = [f"{'child':>5} {'val_acc':>8} {'val_loss':>9} {'sec':>6}  "
                 "architecture (filters/kernel[+skips], | = pool)"]
        for r in self.rows:
            arch = " ".join(f"{l['filters']}/{l['kernel_size']}" + (f"+{l['skips']}" if l["skips"] else "")
                            + (" |" if l["pool"] else "") for l in r["architecture"])
            note = "  diverged" if r["diverged"] else ""
            lines.append(f"{r['child']:>5} {r['val_accuracy']:>8.4f} {r['val_loss']:>9.4f} "
                         f"{r.get('seconds', 0):>6.1f}  {arch}{note}")
        return "\n".join(lines)

    def plot(self, path: str) -> str:
        """Reward per child and the best so far."""
        return plot_rewards({self.method: self.rows}, path)


def plot_rewards(results: dict, path: str) -> str:
    """Validation accuracy per child (dots) and the best so far (line), one colour per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kerazoo.io import save_figure

    fig, ax = plt.subplots(figsize=(7, 4))
    for method, rows in results.items():
        children = [r["child"] for r in rows]
        rewards = [r["val_accuracy"] for r in rows]
        dots = ax.scatter(children, rewards, s=14, alpha=0.6, label=f"{method}: reward")
        ax.plot(children, np.maximum.accumulate(rewards), color=dots.get_facecolor()[0][:3], label=f"{method}: best")
    ax.set_xlabel("child")
    ax.set_ylabel("validation accuracy (reward)")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path, "Architecture search: reward per child")


def _check_args(method, children, child_steps, controller_lr, entropy_weight, baseline_decay, units):
    if method not in METHODS:
        import difflib

        close = difflib.get_close_matches(str(method), METHODS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Invalid method: expected one of {', '.join(METHODS)}.{hint} Received: method={method!r}")
    for arg, value in (("children", children), ("child_steps", child_steps), ("units", units)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Invalid {arg}: expected an integer >= 1. Received: {arg}={value!r}")
    if not (isinstance(controller_lr, (int, float)) and controller_lr > 0):
        raise ValueError(f"Invalid controller_lr: expected a number > 0. Received: controller_lr={controller_lr!r}")
    if not (isinstance(entropy_weight, (int, float)) and entropy_weight >= 0):
        raise ValueError(f"Invalid entropy_weight: expected a number >= 0. Received: entropy_weight={entropy_weight!r}")
    if not (isinstance(baseline_decay, (int, float)) and 0 <= baseline_decay < 1):
        raise ValueError(f"Invalid baseline_decay: expected a number in [0, 1). Received: "
                         f"baseline_decay={baseline_decay!r}")


def child_config_dict(base: dict, architecture: list, *, child_steps: int | None) -> dict:
    """The training config (as a dict) of one child: ``base`` with model nas_cnn and ``architecture``; with
    ``child_steps``, one epoch of that many steps (the search's budget), else ``base``'s own schedule."""
    data = json.loads(json.dumps(base))
    data["model"]["name"] = "nas_cnn"
    data["model"]["kwargs"] = {**data["model"].get("kwargs", {}), "architecture": architecture}
    if child_steps is not None:
        data["epochs"], data["steps_per_epoch"] = 1, child_steps
    return data


def nas_search(config, *, method: str = "nas", children: int = 20, child_steps: int = 150,
               space: SearchSpace | None = None, seed: int = 0, out: str | None = None, controller_lr: float = 0.01,
               entropy_weight: float = 1e-3, baseline_decay: float = 0.8, units: int = 32,
               verbose: int = 0) -> NasResult:
    """Search architectures of ``space`` with ``children`` child trainings of ``child_steps`` steps each.

    Args:
        config: the base ``TrainConfig`` of every child (data, batch size, optimizer; ``model`` is replaced by
            nas_cnn with the sampled architecture, the schedule by one epoch of ``child_steps`` steps).
        method: "nas" (the controller) or "nas_random" (uniform choices: the baseline at the same budget).
        children: child networks trained (the search's budget).
        child_steps: training steps of each child.
        space: the ``SearchSpace``; default ``SearchSpace()``.
        seed: seed of the controller's initialization and of the sampling.
        out: folder for results.json, controller.npz (method nas), best.yaml and rewards.png; a search killed
            and started again with the same arguments resumes there (see the module docstring).
        controller_lr: Adam learning rate of the controller.
        entropy_weight: weight of the entropy bonus in the controller's loss.
        baseline_decay: decay of the moving-average baseline (b ← decay * b + (1 - decay) * R).
        units: the controller's LSTM width.
        verbose: 1 logs a line per child (a stage line of this module's logger), 2 also shows each child's Keras
            progress.
    """
    from kerazoo.training.config import config_from_dict, config_to_dict

    _check_args(method, children, child_steps, controller_lr, entropy_weight, baseline_decay, units)
    space = space or SearchSpace()
    base = config_to_dict(config)
    config_from_dict(child_config_dict(base, [dict(l) for l in space.architecture(space.sample_uniform(
        np.random.default_rng(0)))], child_steps=child_steps))  # fields the children need are valid
    settings = json.loads(json.dumps({
        "method": method, "config": base, "space": space.to_dict(), "child_steps": child_steps, "seed": seed,
        **({"controller": {"lr": controller_lr, "entropy_weight": entropy_weight, "baseline_decay": baseline_decay,
                           "units": units}} if method == "nas" else {}),
    }))
    done = finished_rows(out, settings, key="child")
    controller = optimizer = None
    baseline, start = None, 0
    if method == "nas":
        keras.utils.set_random_seed(seed)
        controller = Controller(space.kinds, units=units)
        optimizer = keras.optimizers.Adam(controller_lr)
        optimizer.build(controller.trainable_variables)
        baseline, start = _load_controller(out, controller, optimizer, done)
    if start > children:
        raise ValueError(f"{os.path.join(out, 'controller.npz')} has learned from {start} children already; ask for "
                         f"at least as many (a controller cannot unlearn). Received: children={children}")
    rows = [done[k] for k in range(1, start + 1)]
    for child in range(start + 1, children + 1):
        rng = np.random.default_rng([seed, child])
        choices = controller.walk(space, rng=rng)[0] if controller is not None else space.sample_uniform(rng)
        architecture = space.architecture(choices)
        saved = done.get(child)
        if saved is not None and saved["choices"] == choices:
            row = saved
        else:
            began = time.perf_counter()
            figures = run_child(config_from_dict(child_config_dict(base, architecture, child_steps=child_steps)),
                                max(verbose - 1, 0))
            row = {"child": child, "choices": choices, "architecture": architecture, **figures,
                   "seconds": round(time.perf_counter() - began, 2)}
        rows.append(row)
        if controller is not None:
            reward = float(row["val_accuracy"])
            baseline = reward if baseline is None else baseline  # the first child only moves the entropy term
            reinforce_step(controller, optimizer, space, choices, reward - baseline, entropy_weight)
            baseline = baseline_decay * baseline + (1 - baseline_decay) * reward
        if verbose:
            log.info(f"child {child}/{children}: val accuracy {row['val_accuracy']:.4f} ({row['seconds']:.1f} s)")
        result = NasResult(rows, method)
        _write_results(out, settings, result)  # results first: a kill between the two writes replays one update
        if controller is not None:
            _save_controller(out, controller, optimizer, baseline, child)
    result = NasResult(rows, method)
    if out:
        result.plot(os.path.join(out, "rewards.png"))
    return result


def _save_controller(out: str | None, controller: Controller, optimizer, baseline: float, children: int) -> None:
    if not out:
        return
    from kerazoo.io import atomic_file

    buffer = io.BytesIO()
    arrays = {f"weight{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(controller.weights)}
    arrays.update({f"optimizer{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(optimizer.variables)})
    np.savez(buffer, baseline=np.float64(baseline), children=np.int64(children), **arrays)
    with atomic_file(os.path.join(out, "controller.npz")) as tmp:
        with open(tmp, "wb") as f:
            f.write(buffer.getvalue())


def _load_controller(out: str | None, controller: Controller, optimizer, done: dict) -> tuple:
    """Restore ``controller.npz``: (baseline, children it has learned from); (None, 0) when there is none."""
    path = os.path.join(out, "controller.npz") if out else None
    if path is None or not os.path.exists(path):
        return None, 0
    with np.load(path) as saved:
        children = int(saved["children"])
        if any(k not in done for k in range(1, children + 1)):
            raise ValueError(f"{path} has learned from {children} children but results.json beside it lists fewer; "
                             "it belongs to another search. Remove it or choose another --out.")
        for i, v in enumerate(controller.weights):
            v.assign(saved[f"weight{i}"])
        for i, v in enumerate(optimizer.variables):
            v.assign(saved[f"optimizer{i}"])
        return float(saved["baseline"]), children


def _write_results(out: str | None, settings: dict, result: NasResult) -> None:
    if not out:
        return
    import yaml

    from kerazoo.io import atomic_write_text

    os.makedirs(out, exist_ok=True)
    best = result.best
    record = {"method": result.method, "rows": result.rows, "best": best, "settings": settings}
    atomic_write_text(os.path.join(out, "results.json"), json.dumps(record, indent=1) + "\n")
    # The best architecture as a full training config: the base config's own schedule, not the child budget.
    config = child_config_dict(settings["config"], best["architecture"], child_steps=None)
    header = (f"# Best of {len(result.rows)} children ({result.method}): child {best['child']}, validation accuracy "
              f"{best['val_accuracy']:.4f} after {settings['child_steps']} steps.\n"
              f"#   kerazoo train --config {os.path.join(out, 'best.yaml')} --out runs/nas_best\n")
    atomic_write_text(os.path.join(out, "best.yaml"), header + yaml.safe_dump(config, sort_keys=False))
