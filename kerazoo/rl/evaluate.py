"""Evaluate and record trained kerazoo.rl policies: ``kerazoo rl eval RUN`` and ``kerazoo rl record RUN --out x.gif``.

Both load ``RUN/policy.keras`` and act deterministically: the argmax of the network's output (Q-values for DQN,
action logits for REINFORCE and A2C). Episode i is reset with seed ``seed + i``, so an evaluation repeats exactly.
"""

from __future__ import annotations

import math
import os

import numpy as np

from kerazoo.rl import common


def evaluate_policy(act, env_id: str, episodes: int = 20, seed: int = 0, *, max_steps: int | None = None) -> dict:
    """Run ``episodes`` episodes of ``act`` (a batch of observations → a batch of actions) on one environment.

    Returns ``{"mean", "std", "episodes", "returns", "lengths"}`` of the undiscounted episode returns.
    """
    if episodes < 1:
        raise ValueError(f"Argument 'episodes' must be >= 1; got {episodes}.")
    env = common.make_env(env_id)()
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
    return {**common.summarize(returns), "lengths": lengths}


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


def load_policy(run_dir: str):
    """(config, Keras model, deterministic act function) of a finished or checkpointed run."""
    import keras

    config = common.load_config(run_dir)
    path = os.path.join(run_dir, "policy.keras")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{run_dir} has no policy.keras yet: the run has not finished (resume it with `kerazoo rl train` "
            "and the same arguments).")
    model = keras.saving.load_model(path, safe_mode=True)
    forward = common.make_forward(model)
    return config, model, lambda obs: np.argmax(forward(obs), axis=-1)


def evaluate(run_dir: str, episodes: int = 20, seed: int | None = None) -> dict:
    """Deterministic evaluation of a run's policy; ``seed`` defaults to the one used at the end of training."""
    config, _, act = load_policy(run_dir)
    args = config["args"]
    seed = args["seed"] + 100_000 if seed is None else seed
    result = evaluate_policy(act, args["env"], episodes, seed=seed)
    return {"run": os.path.abspath(run_dir), "algorithm": config["algorithm"], "env": args["env"], "seed": seed,
            **result}


def record(run_dir: str, out: str, *, episodes: int = 1, seed: int | None = None, fps: int = 30,
           max_frames: int = 1_000, scale: float = 1.0) -> dict:
    """Play ``episodes`` deterministic episodes with rgb_array rendering and write the frames to the GIF ``out``."""
    from PIL import Image

    if not out.lower().endswith(".gif"):
        raise ValueError(f"Argument 'out' must be a .gif path; got {out!r}.")
    if fps < 1 or max_frames < 1 or scale <= 0:
        raise ValueError(f"Arguments fps, max_frames and scale must be positive; got {fps}, {max_frames}, {scale}.")
    config, _, act = load_policy(run_dir)
    args = config["args"]
    seed = args["seed"] + 100_000 if seed is None else seed
    import gymnasium as gym

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame renders off-screen; no display needed
    try:
        env = common.make_env(args["env"], render_mode="rgb_array")()
        env.reset(seed=seed)
        env.render()
    except gym.error.DependencyNotInstalled as error:
        raise ValueError(f"Rendering {args['env']!r} as rgb_array needs a package that is missing: {error}") from None
    frames, returns = [], []
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            frames.append(env.render())
            total, done = 0.0, False
            while not done and len(frames) < max_frames:
                obs, reward, terminated, truncated, _ = env.step(np.asarray(act(obs[None]))[0].item())
                frames.append(env.render())
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
            if len(frames) >= max_frames:
                break
    finally:
        env.close()
    images = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]
    if scale != 1.0:
        size = (max(1, round(images[0].width * scale)), max(1, round(images[0].height * scale)))
        images = [im.resize(size) for im in images]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = f"{out}.tmp.gif"
    images[0].save(tmp, save_all=True, append_images=images[1:], duration=max(1, round(1000 / fps)), loop=0)
    os.replace(tmp, out)
    return {"path": os.path.abspath(out), "frames": len(images), "returns": returns}
