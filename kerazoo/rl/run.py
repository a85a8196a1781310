"""The run directory of kerazoo.rl (``runs/NAME/``): config and resume check, logging, checkpoints, evaluation
bookkeeping, the exported policy and the summary.

Run directory, written by every algorithm:
    config.yaml        ``algorithm``, the resolved ``args`` and the environment's spaces
    metrics.jsonl      one JSON line per log interval (step, SPS, episodic return, losses) and one per evaluation
    tb/                TensorBoard: ``charts/`` (episodic_return, episodic_length, SPS, epsilon), ``losses/``, ``eval/``
    checkpoints/last/  ``arrays.npz`` + ``meta.json``: networks, optimizer, replay buffer, RNG, counters, how many
                       metrics.jsonl lines were written (a folder written under a temporary name, then renamed);
                       ``train`` resumes from it, first cutting an interrupted run's metrics.jsonl back to those lines
    policy.keras       the trained policy network (what ``evaluate``/``record`` load)
    saved_model/       the policy as a SavedModel: ``serving_default(observations)`` → ``q_values`` or
                       ``probabilities``, and ``actions`` (greedy)
    returns.png        episodic return and evaluations against steps (``kerazoo.rl.plots``; ``kerazoo rl plot`` overlays
                       several runs, e.g. seeds)
    summary.json       written last: its presence means the run completed

config.yaml, metrics.jsonl (torn last lines repaired on append), checkpoints/last (``RunDir.save_state``) and
summary.json are written through ``kerazoo.runs.RunDir``, the owner of run directories; the resume rule stays
kerazoo.rl's (``steps`` may grow, a complete run is trained further), and so do the exported policy and returns.png.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time

import keras
import numpy as np
from kerazoo.io import atomic_file, replaced_folder
from kerazoo.rl.arguments import RESUMABLE_FIELDS, Args, default_run_dir
from kerazoo.rl.environments import check_discrete_actions, make_env, make_vector_env
from kerazoo.rl.networks import observation_kind
from kerazoo.runs import CONFIG, SUMMARY, RunDir


def prepare_run_dir(algorithm: str, args: Args, spaces: dict) -> tuple[str, bool]:
    """Create (or check, for a resume) the run directory; write config.yaml. Returns (run_dir, resuming).

    A run resumes when its directory holds a checkpoint and the same algorithm arguments (``steps`` may grow:
    that is how a finished run is trained further). A finished run with ``steps`` not larger is an error unless
    ``overwrite``.
    """
    run = RunDir(args.out or default_run_dir(args))
    config = {"algorithm": algorithm, "args": {**dataclasses.asdict(args), "out": run.path}, "spaces": spaces}
    resuming = False
    if run.exists() and not args.overwrite:
        # kerazoo.rl's own resume rule (RunDir.prepare compares whole configs): ``steps`` and the RESUMABLE_FIELDS
        # may change, and a complete run may be trained further
        saved = load_config(run.path)
        if saved["algorithm"] != algorithm:
            raise ValueError(f"Run {run.path} is a {saved['algorithm']} run, not {algorithm}; choose another --out.")
        new = dataclasses.asdict(args)
        changed = sorted(k for k in set(saved["args"]) | set(new)
                         if k not in RESUMABLE_FIELDS and saved["args"].get(k) != new.get(k))
        if changed:
            raise ValueError(
                f"Run {run.path} was started with different arguments ({', '.join(changed)} differ). "
                "Rerun with the same arguments to resume, pass --overwrite to restart, or choose another --out."
            )
        meta = load_checkpoint_meta(run.path)
        done = meta["global_step"] if meta else 0
        if run.complete and args.steps <= done:
            raise FileExistsError(
                f"Run {run.path} is complete ({done} steps). Pass a larger --steps to train it further, "
                "--overwrite to replace it, or choose another --out."
            )
        resuming = meta is not None
    else:
        run.prepare(config, overwrite=args.overwrite)  # a new run, or --overwrite: a fresh folder
    run.write_config(config)
    return run.path, resuming


def run_training(args: Args, train_fn) -> str:
    """The frame of every algorithm's ``train``: open ``args.num_envs`` copies of ``args.env``, run
    ``train_fn(args, envs)``, close the environments whatever happens; returns the run directory."""
    envs = make_vector_env(args.env, args.num_envs)
    try:
        return train_fn(args, envs)
    finally:
        envs.close()


def start_run(algorithm: str, label: str, args: Args, envs) -> tuple[int, str, bool]:
    """Check that ``envs`` suit the algorithm (discrete actions, observations its networks take) and prepare the run
    directory. Returns (number of actions, run directory, resuming)."""
    n_actions = check_discrete_actions(envs.single_action_space, args.env, label)
    observation_kind(envs.single_observation_space, args.env)  # raises on shapes the networks cannot take
    run_dir, resuming = prepare_run_dir(algorithm, args, describe_spaces(envs))
    return n_actions, run_dir, resuming


def load_config(run_dir: str) -> dict:
    run = RunDir(run_dir)
    if not run.exists():
        raise FileNotFoundError(f"{run_dir} is not a kerazoo.rl run directory: it has no config.yaml.")
    config = run.read_config()
    if not isinstance(config, dict) or "algorithm" not in config:
        raise ValueError(f"{run.file(CONFIG)} is not a kerazoo.rl config (no 'algorithm' field); is {run_dir} an RL "
                         "run?")
    return config


def describe_spaces(envs) -> dict:
    return {"observation": str(envs.single_observation_space), "action": str(envs.single_action_space)}


class RunLogger:
    """TensorBoard scalars (CleanRL's tag groups), metrics.jsonl lines and a printed line per log interval.

    Episode results are buffered and written at each interval, so logging costs nothing per step.
    """

    def __init__(self, run_dir: str, args: Args, start_step: int = 0):
        import tensorflow as tf

        self.tf = tf
        self.args = args
        self.writer = tf.summary.create_file_writer(os.path.join(run_dir, "tb"))
        self.run = RunDir(run_dir)
        self.returns: list[float] = []
        self.lengths: list[int] = []
        self.episode_points: list[tuple[int, float, int]] = []
        self.start_time = time.perf_counter()
        self.start_step = start_step
        self.last_time, self.last_step = self.start_time, start_step
        self.next_log = start_step + args.log_every
        if start_step and not self.run.complete:
            cut_metrics_to_checkpoint(run_dir)
        if start_step == 0:
            table = "\n".join(f"|{k}|{v}|" for k, v in dataclasses.asdict(args).items())
            with self.writer.as_default():
                tf.summary.text("hyperparameters", f"|param|value|\n|-|-|\n{table}", step=0)

    def episodes(self, step: int, returns, lengths) -> None:
        for r, l in zip(returns, lengths):
            self.returns.append(float(r))
            self.lengths.append(int(l))
            self.episode_points.append((step, float(r), int(l)))

    def due(self, step: int) -> bool:
        return step >= self.next_log

    def log(self, step: int, scalars: dict | None = None) -> dict:
        """Write an interval: SPS, episodes since the last one, and ``scalars`` ({"losses/td_loss": 0.1, ...})."""
        now = time.perf_counter()
        sps = (step - self.last_step) / max(now - self.last_time, 1e-9)
        record = {"step": step, "time": round(now - self.start_time, 3), "sps": round(sps, 1)}
        if self.returns:
            record["episodic_return"] = round(float(np.mean(self.returns)), 3)
            record["episodic_length"] = round(float(np.mean(self.lengths)), 1)
            record["episodes"] = len(self.returns)
        for tag, value in (scalars or {}).items():
            record[tag.split("/")[-1]] = round(float(value), 6)
        with self.writer.as_default():
            for s, r, l in self.episode_points:
                self.tf.summary.scalar("charts/episodic_return", r, step=s)
                self.tf.summary.scalar("charts/episodic_length", l, step=s)
            self.tf.summary.scalar("charts/SPS", sps, step=step)
            for tag, value in (scalars or {}).items():
                self.tf.summary.scalar(tag, float(value), step=step)
        self._append(record)
        if self.args.verbose:
            parts = [f"{k}={v}" for k, v in record.items() if k not in ("time",)]
            print(f"[{self.args.exp_name} {self.args.env}] " + " ".join(parts), flush=True)
        self.returns, self.lengths, self.episode_points = [], [], []
        self.last_time, self.last_step = now, step
        while self.next_log <= step:
            self.next_log += self.args.log_every
        return record

    def log_eval(self, step: int, result: dict, kind: str = "final") -> None:
        """An evaluation: ``kind`` "final" (the exported policy, at the end) or "periodic"."""
        with self.writer.as_default():
            self.tf.summary.scalar(f"eval/{kind}_episodic_return", result["mean"], step=step)
        self._append({"step": step, "eval": kind, "eval_mean": result["mean"], "eval_std": result["std"],
                      "eval_episodes": result["episodes"]})
        if self.args.verbose:
            print(f"[{self.args.exp_name} {self.args.env}] {kind} eval over {result['episodes']} episodes: "
                  f"{result['mean']:.1f} +- {result['std']:.1f}", flush=True)

    def _append(self, record: dict) -> None:
        self.run.append_metrics(record)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def save_checkpoint(run_dir: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """checkpoints/last (``arrays.npz`` + ``meta.json``, :meth:`kerazoo.runs.RunDir.save_state`), recording how
    many metrics.jsonl lines precede it."""
    run = RunDir(run_dir)
    run.save_state(arrays, {**meta, "metrics_lines": len(run.read_metrics())})


def cut_metrics_to_checkpoint(run_dir: str) -> None:
    """Drop the metrics.jsonl lines an interrupted run wrote after its last checkpoint (that checkpoint records how
    many there were): the resumed run logs those steps, and its final evaluation, again, so each appears once."""
    meta = load_checkpoint_meta(run_dir)
    if meta is not None and "metrics_lines" in meta:
        RunDir(run_dir).keep_metrics_lines(meta["metrics_lines"])


def load_checkpoint_meta(run_dir: str) -> dict | None:
    return RunDir(run_dir).read_state_meta()


def load_checkpoint(run_dir: str) -> tuple[dict[str, np.ndarray], dict]:
    return RunDir(run_dir).load_state()


def weights_to_arrays(prefix: str, variables) -> dict[str, np.ndarray]:
    """Variables (a model's ``weights``, an optimizer's ``variables``) as ``{prefix/i: array}``."""
    return {f"{prefix}/{i}": np.array(v) for i, v in enumerate(variables)}


def arrays_to_weights(prefix: str, variables, arrays: dict[str, np.ndarray]) -> None:
    for i, v in enumerate(variables):
        v.assign(arrays[f"{prefix}/{i}"])


def rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def set_rng_state(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state


def export_policy(model: keras.Model, path: str, kind: str) -> str:
    """Write ``model`` as a SavedModel at ``path`` (temp folder, then rename) with a ``serving_default`` signature.

    ``kind="q"``: takes ``observations``, returns ``q_values`` and greedy ``actions``.
    ``kind="logits"``: returns ``probabilities`` (softmax) and their argmax ``actions``.
    """
    import tensorflow as tf

    if kind not in ("q", "logits"):
        raise ValueError(f"Argument 'kind' must be 'q' or 'logits'; got {kind!r}.")
    spec = tf.TensorSpec((None, *model.input_shape[1:]), model.inputs[0].dtype, name="observations")

    def serve(observations):
        out = model(observations, training=False)
        actions = tf.argmax(out, axis=-1, output_type=tf.int64)
        if kind == "q":
            return {"q_values": out, "actions": actions}
        return {"probabilities": tf.nn.softmax(out, axis=-1), "actions": actions}

    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    with replaced_folder(path) as tmp:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(name="serving_default", fn=serve, input_signature=[spec])
        archive.write_out(tmp, verbose=False)
    return path


def save_policy(model: keras.Model, run_dir: str, kind: str) -> None:
    """policy.keras (for evaluate/record) and saved_model/ (for serving), both written atomically."""
    with atomic_file(os.path.join(run_dir, "policy.keras")) as tmp:
        model.save(tmp)
    export_policy(model, os.path.join(run_dir, "saved_model"), kind)

def summarize(returns) -> dict:
    returns = [float(r) for r in returns]
    return {"mean": float(np.mean(returns)) if returns else math.nan,
            "std": float(np.std(returns)) if returns else math.nan, "episodes": len(returns), "returns": returns}


def write_summary(run_dir: str, summary: dict) -> None:
    RunDir(run_dir).write_json(SUMMARY, summary)

def evaluate_policy(act, env_id: str, episodes: int = 20, seed: int = 0, *, max_steps: int | None = None) -> dict:
    """Run ``episodes`` episodes of ``act`` (a batch of observations → a batch of actions) on one environment.

    Returns ``{"mean", "std", "episodes", "returns", "lengths"}`` of the undiscounted episode returns.
    """
    if episodes < 1:
        raise ValueError(f"Argument 'episodes' must be >= 1; got {episodes}.")
    env = make_env(env_id)()
    returns, lengths = [], []
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            total, length, done = 0.0, 0, False
            while not done:
                action = np.asarray(act(obs[None]))[0]
                obs, reward, terminated, truncated, _ = env.step(action.item() if action.ndim == 0 else action)
                total += float(reward)
                length += 1
                done = terminated or truncated or (max_steps is not None and length >= max_steps)
            returns.append(total)
            lengths.append(length)
    finally:
        env.close()
    return {**summarize(returns), "lengths": lengths}


class PeriodicEval:
    """Evaluates the greedy policy every ``args.eval_every`` steps and at the end, and keeps a copy of the weights of
    the best evaluation (ties go to the later one). ``train`` exports that best policy; its checkpoints keep the
    last weights (for resuming) and the best ones.
    """

    SEED_OFFSET = 200_000

    def __init__(self, model, act, args, start_step: int = 0):
        self.model, self.act, self.args = model, act, args
        self.best_mean, self.best_step, self.best_weights, self.last_step = -math.inf, None, None, None
        self.next = (start_step // args.eval_every + 1) * args.eval_every if args.eval_every else math.inf

    def __call__(self, step: int, logger, final: bool = False) -> None:
        if not self.args.eval_every or (step < self.next and not final) or step == self.last_step:
            return
        self.last_step = step
        while self.next <= step:
            self.next += self.args.eval_every
        result = evaluate_policy(self.act, self.args.env, self.args.eval_every_episodes,
                                 seed=self.args.seed + self.SEED_OFFSET)
        logger.log_eval(step, result, kind="periodic")
        if result["mean"] >= self.best_mean:
            self.best_mean, self.best_step = result["mean"], step
            self.best_weights = [np.array(w) for w in self.model.weights]

    def state(self) -> tuple[dict, dict]:
        arrays = {} if self.best_weights is None else {f"best/{i}": w for i, w in enumerate(self.best_weights)}
        return arrays, {"best_mean": self.best_mean if self.best_weights is not None else None,
                        "best_step": self.best_step, "last_eval_step": self.last_step}

    def load_state(self, arrays: dict, meta: dict) -> None:
        self.last_step = meta.get("last_eval_step")  # a run resumed at its final evaluation does not log this one twice
        if meta.get("best_mean") is not None:
            self.best_mean, self.best_step = meta["best_mean"], meta["best_step"]
            self.best_weights = [arrays[f"best/{i}"] for i in range(len(self.model.weights))]

    def summary(self) -> dict:
        return {"step": self.best_step, "mean": self.best_mean} if self.best_weights is not None else {}

    def export_weights(self):
        """The weights to export: the best evaluated ones, or the model's own when there were no evaluations."""
        return self.best_weights if self.best_weights is not None else [np.array(w) for w in self.model.weights]


def finish_run(run_dir: str, args, *, algorithm: str, network: keras.Model, act, kind: str, periodic, logger,
               checkpoint, global_step: int, start_step: int, train_seconds: float, counts: dict) -> str:
    """End of every algorithm's run: final periodic evaluation, last checkpoint, export of the best evaluated policy
    (the checkpoint keeps the last weights), a deterministic evaluation, summary.json. Returns the run directory."""
    periodic(global_step, logger, final=True)
    checkpoint()
    network.set_weights(periodic.export_weights())
    act.refresh()
    save_policy(network, run_dir, kind=kind)
    summary = {"algorithm": algorithm, "env": args.env, "steps": global_step, **counts,
               "train_seconds": round(train_seconds, 3),
               "sps": round((global_step - start_step) / max(train_seconds, 1e-9), 1),
               "best_periodic_eval": periodic.summary()}
    if args.eval_episodes:
        result = evaluate_policy(lambda o: np.argmax(act(o), axis=-1), args.env, args.eval_episodes,
                                 seed=args.seed + 100_000)
        logger.log_eval(global_step, result)
        summary["eval"] = result
    logger.close()
    from kerazoo.rl.plots import write_run_plot

    write_run_plot(run_dir)
    write_summary(run_dir, summary)
    return run_dir
