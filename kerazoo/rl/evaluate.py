"""Evaluate and record trained kerazoo.rl policies: ``kerazoo rl eval RUN`` and ``kerazoo rl record RUN --out x.gif``.

Both load ``RUN/policy.keras`` and act deterministically: the argmax of the network's output (Q-values for DQN,
action logits for REINFORCE and A2C). Episode i is reset with seed ``seed + i``, so an evaluation repeats exactly.
"""

from __future__ import annotations

import os

import numpy as np

from kerazoo.rl.environments import make_env
from kerazoo.rl.networks import make_forward
from kerazoo.rl.run import evaluate_policy, load_config


def load_policy(run_dir: str):
    """(config, Keras model, deterministic act function) of a finished or checkpointed run."""
    import keras

    config = load_config(run_dir)
    path = os.path.join(run_dir, "policy.keras")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{run_dir} has no policy.keras yet: the run has not finished (resume it with `kerazoo rl train` "
            "and the same arguments).")
    model = keras.saving.load_model(path, safe_mode=True)
    forward = make_forward(model)
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
        env = make_env(args["env"], render_mode="rgb_array")()
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
