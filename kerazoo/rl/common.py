"""What the kerazoo.rl agents share: base ``Args``, environments, networks, acting in NumPy, the run directory.

Each algorithm module (``dqn.py``, ``reinforce.py``, ``a2c.py``) reads top to bottom and keeps its algorithm logic to
itself; the plumbing that would otherwise be copied into each of them lives here.

Run directory (``runs/NAME/``), written by every algorithm:
    config.yaml        ``algorithm``, the resolved ``args`` and the environment's spaces
    metrics.jsonl      one JSON line per log interval (step, SPS, episodic return, losses) and one for the final eval
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

Speed: one call of a ``tf.function`` costs ~0.6 ms on a laptop-class CPU, a NumPy forward pass of a small MLP ~0.013 ms.
So per-step action selection runs in NumPy on a copy of the network's weights (``NumpyMLP``, refreshed after each
update), and the updates are XLA-compiled functions called as rarely as the algorithm allows.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import json
import math
import os
import shutil
import time
import typing
from dataclasses import dataclass

import gymnasium as gym
import keras
import numpy as np
import yaml

from kerazoo.io import atomic_file, atomic_write_text, replaced_folder, temporary_folder

PACKAGE = "kerazoo.rl"


# ----------------------------------------------------------------------------------------------------------------------
# Args: the fields every algorithm has. Algorithm modules subclass it and add an "Algorithm specific arguments" block.
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class Args:
    exp_name: str = ""
    """Name of the experiment (default: the algorithm's name); part of the default run directory name."""
    env: str = "CartPole-v1"
    """Gymnasium environment id, e.g. CartPole-v1, Acrobot-v1, ALE/Pong-v5 (needs ale-py)."""
    seed: int = 0
    """Seed of NumPy, Keras/TensorFlow and the environments."""
    steps: int = 50_000
    """Total environment steps (summed over the vectorized environments)."""
    num_envs: int = 1
    """Number of environments stepped together (gymnasium SyncVectorEnv)."""
    out: typing.Optional[str] = None
    """Run directory; default runs/ENV__EXP__SEED__UNIXTIME."""
    overwrite: bool = False
    """Replace an existing run directory instead of resuming it."""
    log_every: int = 5_000
    """Print and log SPS, returns and losses every this many environment steps."""
    checkpoint_every: int = 25_000
    """Save checkpoints/last every this many environment steps (and always at the end); 0: only at the end."""
    eval_episodes: int = 20
    """Deterministic evaluation episodes at the end of training (0: skip)."""
    eval_every: int = 5_000
    """Evaluate the greedy policy every this many environment steps and at the end (0: never); the best of these
    evaluations is the policy exported (rl-baselines3-zoo's EvalCallback protocol)."""
    eval_every_episodes: int = 5
    """Episodes per periodic evaluation (always the same seeds: seed + 200000 onwards)."""
    jit: bool = True
    """XLA-compile the update step."""
    verbose: bool = True
    """Print a line per log interval."""


# Fields that may change between a run and its resumption without changing the algorithm.
RESUMABLE_FIELDS = {"steps", "out", "overwrite", "log_every", "checkpoint_every", "eval_episodes", "verbose",
                    "eval_every", "eval_every_episodes"}


def field_docs(cls) -> dict[str, str]:
    """The attribute docstrings of a dataclass and its bases (the string right after each field), for --help."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body
        for node, nxt in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr)
                    and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def resolve_args(cls, presets: dict, **overrides) -> Args:
    """``cls``'s defaults, then the preset for the environment (tuned hyperparameters, if any), then ``overrides``.

    Presets are keyed by environment id; the key ``"atari"`` applies to every ALE environment.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        close = difflib.get_close_matches(unknown[0], names, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown argument {unknown[0]!r} for {cls.__module__}.Args.{hint}")
    env_id = overrides.get("env", cls.env)
    preset = presets.get(env_id) or (presets.get("atari", {}) if is_atari(env_id) else {})
    return cls(**{**preset, **overrides})


def default_run_dir(args: Args) -> str:
    return os.path.join("runs", f"{args.env.replace('/', '_')}__{args.exp_name}__{args.seed}__{int(time.time())}")


# ----------------------------------------------------------------------------------------------------------------------
# Environments
# ----------------------------------------------------------------------------------------------------------------------
def is_atari(env_id: str) -> bool:
    return env_id.startswith("ALE/") or "NoFrameskip" in env_id


def check_env_id(env_id: str) -> None:
    """Raise a ValueError naming ``env_id`` (with the closest registered ids) unless gymnasium knows it."""
    if is_atari(env_id):
        try:
            import ale_py
        except ImportError:
            raise ValueError(
                f"Environment {env_id!r} is an Atari game and needs ale-py, which is not installed: "
                "pip install 'kerazoo[atari]'."
            ) from None
        gym.register_envs(ale_py)
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown environment id {env_id!r}: gymnasium has no such environment.{hint}")


def make_env(env_id: str, *, render_mode: str | None = None, atari_wrappers: bool | None = None):
    """A thunk that builds one environment; Atari games get the Nature DQN preprocessing.

    Atari: the ALE environment with frameskip=1, then ``AtariPreprocessing`` (30 no-op starts, frame skip 4 with
    max-pooling, 84x84 grayscale) and ``FrameStackObservation(4)``: observations are uint8 arrays of shape (4, 84, 84).
    """
    check_env_id(env_id)
    atari = is_atari(env_id) if atari_wrappers is None else atari_wrappers

    kwargs = {"render_mode": render_mode} if render_mode else {}

    def thunk():
        if atari:
            env = gym.make(env_id, frameskip=1, **kwargs)
            env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84)
            return gym.wrappers.FrameStackObservation(env, 4)
        return gym.make(env_id, **kwargs)

    return thunk


def make_vector_env(env_id: str, num_envs: int, **kwargs) -> gym.vector.VectorEnv:
    """``num_envs`` copies of ``make_env(env_id)`` in a SyncVectorEnv with SAME_STEP autoreset, and episode statistics.

    SAME_STEP autoreset: the step that ends an episode returns the next episode's first observation, and the true last
    observation in ``infos["final_obs"][i]`` (masked by ``infos["_final_obs"]``), so every step is a real transition.
    Finished episodes' return and length are in ``infos["episode"]["r"|"l"]``, masked by ``infos["_episode"]``.
    """
    if num_envs < 1:
        raise ValueError(f"Argument 'num_envs' must be >= 1; got {num_envs}.")
    envs = gym.vector.SyncVectorEnv(
        [make_env(env_id, **kwargs) for _ in range(num_envs)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    return gym.wrappers.vector.RecordEpisodeStatistics(envs)


def check_discrete_actions(space: gym.Space, env_id: str, algo: str) -> int:
    """The number of actions of a Discrete space, else a ValueError naming the space."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    kind = "a continuous" if isinstance(space, gym.spaces.Box) else "a non-Discrete"
    raise ValueError(
        f"{algo} needs a discrete action space, but {env_id!r} has {kind} action space {space}. "
        f"kerazoo.rl's {algo} picks one of n actions; use an environment with a Discrete action space."
    )


def final_observations(next_obs: np.ndarray, infos: dict, dones: np.ndarray) -> np.ndarray:
    """``next_obs`` with the rows of finished episodes replaced by their true last observation (SAME_STEP)."""
    if not dones.any():
        return next_obs
    real = next_obs.copy()
    for i in np.flatnonzero(dones):
        real[i] = infos["final_obs"][i]
    return real


def finished_episodes(infos: dict):
    """(returns, lengths) of the episodes that ended this step (RecordEpisodeStatistics' ``_episode`` mask)."""
    mask = infos.get("_episode")
    if mask is None or not mask.any():
        return (), ()
    return infos["episode"]["r"][mask].tolist(), infos["episode"]["l"][mask].tolist()


# ----------------------------------------------------------------------------------------------------------------------
# Networks: pure Keras. Vector observations get an MLP; image observations the Nature CNN (Mnih et al., 2015).
# Layer names are fixed: hidden_{i} for the MLP torso, conv{1,2,3} and fc for the CNN; heads name their own layers.
# ----------------------------------------------------------------------------------------------------------------------
NATURE_CNN_MIN_SIZE = 36  # 8x8/4 → 4x4/2 → 3x3/1 needs at least 36 pixels per side for a 1x1 output


def observation_kind(space: gym.Space, env_id: str) -> str:
    """``"vector"`` or ``"pixels"`` for the observation spaces the networks can take; else a ValueError naming it."""
    if not isinstance(space, gym.spaces.Box):
        raise ValueError(
            f"Environment {env_id!r} has observation space {space}; kerazoo.rl's networks take a Box of rank 1 "
            "(an MLP) or rank 3 (uint8 images, the Nature CNN)."
        )
    shape = tuple(space.shape)
    if len(shape) == 1:
        return "vector"
    if len(shape) == 3:
        if space.dtype != np.uint8:
            raise ValueError(
                f"Environment {env_id!r} has image-shaped observations {shape} of dtype {space.dtype}; "
                "the Nature CNN takes uint8 pixels (0-255)."
            )
        h, w = _image_hw(shape)
        if min(h, w) < NATURE_CNN_MIN_SIZE:
            raise ValueError(
                f"Environment {env_id!r} has observations of shape {shape} ({h}x{w} pixels); the Nature CNN needs "
                f"at least {NATURE_CNN_MIN_SIZE}x{NATURE_CNN_MIN_SIZE} (Atari preprocessing gives 4x84x84)."
            )
        return "pixels"
    raise ValueError(
        f"Environment {env_id!r} has observations of shape {shape} (rank {len(shape)}); kerazoo.rl's networks take "
        "rank 1 (vectors, an MLP) or rank 3 (stacked uint8 frames, the Nature CNN). Flatten or wrap the environment."
    )


def _channels_first(shape) -> bool:
    # Frame stacks from FrameStackObservation are (stack, H, W); ordinary images are (H, W, C).
    return shape[0] <= 4 and shape[-1] > 4


def _image_hw(shape):
    return (shape[1], shape[2]) if _channels_first(shape) else (shape[0], shape[1])


def observation_input(space: gym.Space, env_id: str):
    """The Keras Input for ``space`` and the torso on top of it: an MLP (``hidden_sizes``) or the Nature CNN."""
    kind = observation_kind(space, env_id)
    return keras.Input(shape=tuple(space.shape), dtype="uint8" if kind == "pixels" else "float32", name="observations")


def torso(inputs, hidden_sizes, activation: str = "relu"):
    """MLP (rank-1 inputs): Dense layers ``hidden_{i}``. Pixels (rank 3): the Nature CNN and a 512-unit ``fc``."""
    if len(inputs.shape) == 2:
        x = inputs
        for i, units in enumerate(hidden_sizes):
            x = keras.layers.Dense(units, activation=activation, name=f"hidden_{i}")(x)
        return x
    x = inputs
    if _channels_first(tuple(inputs.shape[1:])):
        x = keras.layers.Permute((2, 3, 1), name="to_channels_last")(x)
    x = keras.layers.Rescaling(1.0 / 255.0, name="scale")(x)
    x = keras.layers.Conv2D(32, 8, strides=4, activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(64, 4, strides=2, activation="relu", name="conv2")(x)
    x = keras.layers.Conv2D(64, 3, strides=1, activation="relu", name="conv3")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.layers.Dense(512, activation="relu", name="fc")(x)


def policy_network(space, n_actions: int, env_id: str, hidden_sizes=(64, 64), activation="tanh") -> keras.Model:
    """Observations → action ``logits`` (a softmax policy). Output layer scaled down at init, as in SB3/PPO."""
    inputs = observation_input(space, env_id)
    x = torso(inputs, hidden_sizes, activation)
    logits = keras.layers.Dense(
        n_actions, kernel_initializer=keras.initializers.Orthogonal(0.01), name="logits")(x)
    return keras.Model(inputs, logits, name="policy")


def value_network(space, env_id: str, hidden_sizes=(64, 64), activation="tanh") -> keras.Model:
    """Observations → state value V(s), shape (batch,)."""
    inputs = observation_input(space, env_id)
    x = torso(inputs, hidden_sizes, activation)
    v = keras.layers.Dense(1, name="value")(x)
    v = keras.layers.Reshape((), name="squeeze")(v)
    return keras.Model(inputs, v, name="value")


@keras.saving.register_keras_serializable(package=PACKAGE)
class DuelingHead(keras.layers.Layer):
    """Q(s, a) = V(s) + A(s, a) - mean_a A(s, a) (Wang et al., 2016). Inputs: [value (B, 1), advantages (B, n)]."""

    def call(self, inputs):
        value, advantages = inputs
        return value + advantages - keras.ops.mean(advantages, axis=-1, keepdims=True)


# ----------------------------------------------------------------------------------------------------------------------
# Acting: a NumPy copy of an MLP's weights (no TensorFlow call per step), or one compiled call for CNNs.
# ----------------------------------------------------------------------------------------------------------------------
_NP_ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
}


class NumpyMLP:
    """The forward pass of a kerazoo.rl MLP (Dense layers, optionally a DuelingHead, optionally a trailing Reshape)
    in NumPy float32. Call ``refresh()`` after the Keras weights change."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
        self.dueling = any(isinstance(l, DuelingHead) for l in model.layers)
        self.squeeze = isinstance(model.layers[-1], keras.layers.Reshape)
        self.refresh()

    @staticmethod
    def supports(model: keras.Model) -> bool:
        allowed = (keras.layers.InputLayer, keras.layers.Dense, DuelingHead, keras.layers.Reshape)
        return all(isinstance(l, allowed) for l in model.layers)

    def refresh(self) -> None:
        self.params = [
            (np.array(l.kernel), np.array(l.bias), _NP_ACTIVATIONS[keras.activations.serialize(l.activation)])
            for l in self.dense
        ]

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        layers = self.params[:-2] if self.dueling else self.params[:-1]
        for kernel, bias, act in layers:
            x = act(x @ kernel + bias)
        if self.dueling:
            (wv, bv, _), (wa, ba, _) = self.params[-2:]
            value, adv = x @ wv + bv, x @ wa + ba
            return value + adv - adv.mean(axis=-1, keepdims=True)
        kernel, bias, act = self.params[-1]
        out = act(x @ kernel + bias)
        return out[..., 0] if self.squeeze else out


class CompiledForward:
    """One XLA-compiled call per batch of observations (CNNs, where NumPy would be slower)."""

    def __init__(self, model: keras.Model, jit: bool = True):
        import tensorflow as tf

        spec = tf.TensorSpec((None, *model.input_shape[1:]), model.inputs[0].dtype)
        self.fn = tf.function(lambda x: model(x, training=False), input_signature=[spec], jit_compile=jit)

    def refresh(self) -> None:
        pass

    def __call__(self, x) -> np.ndarray:
        return self.fn(x).numpy()


def make_forward(model: keras.Model, jit: bool = True):
    return NumpyMLP(model) if NumpyMLP.supports(model) else CompiledForward(model, jit)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sample_categorical(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One action per row of ``logits`` (inverse-CDF sampling)."""
    cdf = np.cumsum(softmax(logits.astype(np.float64)), axis=-1)
    u = rng.random((logits.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((u > cdf).sum(axis=-1), logits.shape[-1] - 1)


# ----------------------------------------------------------------------------------------------------------------------
# Returns and advantages (unit-tested against hand-computed values)
# ----------------------------------------------------------------------------------------------------------------------
def discounted_returns(rewards, ends, gamma: float, bootstrap=None) -> np.ndarray:
    """G_t = r_t + gamma * G_{t+1}, restarting after every step with ``ends[t]`` set.

    Args:
        rewards: (T, ...) rewards.
        ends: (T, ...) booleans, True where an episode ended at step t (terminated or truncated).
        gamma: discount factor.
        bootstrap: optional (T, ...) values added as gamma * bootstrap[t] at ends (the value of the last
            observation of a truncated episode; zero for terminated ones).
    """
    rewards = np.asarray(rewards, np.float64)
    ends = np.asarray(ends, bool)
    returns = np.zeros_like(rewards)
    running = np.zeros_like(rewards[0])
    for t in range(len(rewards) - 1, -1, -1):
        tail = np.where(ends[t], 0.0 if bootstrap is None else np.asarray(bootstrap[t], np.float64), running)
        running = rewards[t] + gamma * tail
        returns[t] = running
    return returns


def gae_advantages(rewards, values, next_values, terminated, ends, gamma: float, lam: float):
    """Generalized advantage estimation (Schulman et al., 2016) over a (T, N) rollout, in TensorFlow ops.

    delta_t = r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t);  A_t = delta_t + gamma * lam * (1 - end_t) * A_{t+1}
    where s'_t is the true next observation (the final one when the episode ended at t), so truncated episodes
    bootstrap and terminated ones do not. lam = 1 gives n-step returns minus V (A2C). T must be static.
    Returns (advantages, returns = advantages + values).
    """
    import tensorflow as tf

    rewards, values, next_values = (tf.cast(x, tf.float32) for x in (rewards, values, next_values))
    not_term = 1.0 - tf.cast(terminated, tf.float32)
    not_end = 1.0 - tf.cast(ends, tf.float32)
    deltas = rewards + gamma * not_term * next_values - values
    advantages = []
    running = tf.zeros_like(deltas[0])
    for t in range(deltas.shape[0] - 1, -1, -1):
        running = deltas[t] + gamma * lam * not_end[t] * running
        advantages.append(running)
    advantages = tf.stack(advantages[::-1])
    return advantages, advantages + values


# ----------------------------------------------------------------------------------------------------------------------
# The run directory: config, resume check, logging (TensorBoard + metrics.jsonl + stdout), checkpoints, export
# ----------------------------------------------------------------------------------------------------------------------
def prepare_run_dir(algorithm: str, args: Args, spaces: dict) -> tuple[str, bool]:
    """Create (or check, for a resume) the run directory; write config.yaml. Returns (run_dir, resuming).

    A run resumes when its directory holds a checkpoint and the same algorithm arguments (``steps`` may grow:
    that is how a finished run is trained further). A finished run with ``steps`` not larger is an error unless
    ``overwrite``.
    """
    run_dir = os.path.abspath(args.out or default_run_dir(args))
    config_path = os.path.join(run_dir, "config.yaml")
    resuming = False
    if os.path.exists(config_path):
        if args.overwrite:
            shutil.rmtree(run_dir)
        else:
            saved = load_config(run_dir)
            if saved["algorithm"] != algorithm:
                raise ValueError(f"Run {run_dir} is a {saved['algorithm']} run, not {algorithm}; choose another --out.")
            new = dataclasses.asdict(args)
            changed = sorted(k for k in set(saved["args"]) | set(new)
                             if k not in RESUMABLE_FIELDS and saved["args"].get(k) != new.get(k))
            if changed:
                raise ValueError(
                    f"Run {run_dir} was started with different arguments ({', '.join(changed)} differ). "
                    "Rerun with the same arguments to resume, pass --overwrite to restart, or choose another --out."
                )
            meta = load_checkpoint_meta(run_dir)
            done = meta["global_step"] if meta else 0
            if os.path.exists(os.path.join(run_dir, "summary.json")) and args.steps <= done:
                raise FileExistsError(
                    f"Run {run_dir} is complete ({done} steps). Pass a larger --steps to train it further, "
                    "--overwrite to replace it, or choose another --out."
                )
            resuming = meta is not None
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    config = {"algorithm": algorithm, "args": {**dataclasses.asdict(args), "out": run_dir}, "spaces": spaces}
    atomic_write_text(config_path, yaml.safe_dump(config, sort_keys=False))
    return run_dir, resuming


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
    path = os.path.join(run_dir, "config.yaml")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{run_dir} is not a kerazoo.rl run directory: it has no config.yaml.")
    with open(path, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    if not isinstance(config, dict) or "algorithm" not in config:
        raise ValueError(f"{path} is not a kerazoo.rl config (no 'algorithm' field); is {run_dir} an RL run?")
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
        self.metrics_path = os.path.join(run_dir, "metrics.jsonl")
        self.returns: list[float] = []
        self.lengths: list[int] = []
        self.episode_points: list[tuple[int, float, int]] = []
        self.start_time = time.perf_counter()
        self.start_step = start_step
        self.last_time, self.last_step = self.start_time, start_step
        self.next_log = start_step + args.log_every
        if start_step and not os.path.exists(os.path.join(run_dir, "summary.json")):
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
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def save_checkpoint(run_dir: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write checkpoints/last (``arrays.npz`` + ``meta.json``) under a temporary name, then swap it into place."""
    folder = os.path.join(run_dir, "checkpoints")
    final = os.path.join(folder, "last")
    tmp = temporary_folder(final)
    try:
        np.savez(os.path.join(tmp, "arrays.npz"), **arrays)
        with open(os.path.join(tmp, "meta.json"), "w", encoding="utf-8") as f:
            json.dump({**meta, "metrics_lines": len(_metrics_lines(run_dir))}, f)
        old = None
        if os.path.exists(final):
            old = temporary_folder(final, prefix=".old-")
            os.replace(final, os.path.join(old, "last"))
        os.replace(tmp, final)
        if old:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _metrics_lines(run_dir: str) -> list[str]:
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [line for line in f if line.endswith("\n")]  # a line cut short by a kill is not counted


def cut_metrics_to_checkpoint(run_dir: str) -> None:
    """Drop the metrics.jsonl lines an interrupted run wrote after its last checkpoint (that checkpoint records how
    many there were): the resumed run logs those steps, and its final evaluation, again, so each appears once."""
    meta = load_checkpoint_meta(run_dir)
    if meta is not None and "metrics_lines" in meta:
        kept = _metrics_lines(run_dir)[:meta["metrics_lines"]]
        atomic_write_text(os.path.join(run_dir, "metrics.jsonl"), "".join(kept))


def load_checkpoint_meta(run_dir: str) -> dict | None:
    path = os.path.join(run_dir, "checkpoints", "last", "meta.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_checkpoint(run_dir: str) -> tuple[dict[str, np.ndarray], dict]:
    folder = os.path.join(run_dir, "checkpoints", "last")
    with np.load(os.path.join(folder, "arrays.npz")) as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, load_checkpoint_meta(run_dir)


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


def seed_everything(seed: int) -> np.random.Generator:
    """Python, NumPy and TensorFlow seeds (through Keras), and the NumPy Generator the algorithms draw from."""
    keras.utils.set_random_seed(seed)
    return np.random.default_rng(seed)


def env_seed(seed: int, global_step: int) -> int:
    """Reset seed for the environments: ``seed`` at the start, a distinct one after a resume at ``global_step``."""
    return seed if global_step == 0 else int(np.random.SeedSequence([seed, global_step]).generate_state(1)[0])


def summarize(returns) -> dict:
    returns = [float(r) for r in returns]
    return {"mean": float(np.mean(returns)) if returns else math.nan,
            "std": float(np.std(returns)) if returns else math.nan, "episodes": len(returns), "returns": returns}


def write_summary(run_dir: str, summary: dict) -> None:
    atomic_write_text(os.path.join(run_dir, "summary.json"), json.dumps(summary, indent=1) + "\n")



def finish_run(run_dir: str, args, *, algorithm: str, network: keras.Model, act, kind: str, periodic, logger,
               checkpoint, global_step: int, start_step: int, train_seconds: float, counts: dict) -> str:
    """End of every algorithm's run: final periodic evaluation, last checkpoint, export of the best evaluated policy
    (the checkpoint keeps the last weights), a deterministic evaluation, summary.json. Returns the run directory."""
    from kerazoo.rl.evaluate import evaluate_policy

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