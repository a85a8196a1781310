"""DQN (Mnih et al., 2015, "Human-level control through deep reinforcement learning"), CleanRL style.

Replay memory, a target network (hard copy or Polyak averaging), an epsilon-greedy schedule, the Huber TD loss and
gradient-norm clipping; options for Double DQN (van Hasselt et al., 2016) and a dueling head (Wang et al., 2016).
An MLP Q-network for vector observations, the Nature CNN for Atari frames (``ALE/...`` ids get AtariPreprocessing and
a 4-frame stack). Docs: docs/rl.md.

    from kerazoo.rl import dqn
    run_dir = dqn.train(dqn.make_args(env="CartPole-v1", steps=50_000, seed=0, out="runs/dqn_cartpole"))

Speed, with the algorithm unchanged:
  * acting reads a NumPy copy of the Q-network's weights (refreshed after every update call): no TensorFlow call
    per environment step;
  * the gradient steps due over ``chunk_steps`` environment steps run in one XLA-compiled call, their minibatches
    pre-sampled from the replay buffer. Each gradient step samples only transitions stored before the step at
    which it was due, and target-network updates due between gradient steps happen between them inside the call,
    so with ``chunk_steps == train_freq`` (the CartPole default) the algorithm is exactly the sequential one; a
    larger ``chunk_steps`` only makes the agent act on weights up to ``chunk_steps`` steps old.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import time
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from kerazoo.rl import arguments
from kerazoo.rl.arguments import resolve_args
from kerazoo.rl.environments import env_seed, final_observations, finished_episodes, seed_everything
from kerazoo.rl.networks import INITS, DuelingHead, dense, make_forward, observation_input, torso
from kerazoo.rl.run import (
    PeriodicEval, RunLogger, arrays_to_weights, finish_run, load_checkpoint, rng_state, run_training,
    save_checkpoint, set_rng_state, start_run, weights_to_arrays,
)


@dataclass
class Args(arguments.Args):
    exp_name: str = "dqn"
    """Name of the experiment; part of the default run directory name."""
    steps: int = 50_000
    """Total environment steps (summed over the vectorized environments)."""

    # Algorithm specific arguments (defaults: rl-baselines3-zoo's tuned CartPole-v1 values)
    learning_rate: float = 2.3e-3
    """Adam learning rate."""
    buffer_size: int = 100_000
    """Replay memory size (transitions)."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 1.0
    """Target network update rate: 1.0 copies the Q-network (Mnih et al.), < 1 is Polyak averaging."""
    target_update_interval: int = 10
    """Environment steps between target network updates."""
    batch_size: int = 64
    """Minibatch size of each gradient step."""
    start_e: float = 1.0
    """Initial exploration epsilon."""
    end_e: float = 0.04
    """Final exploration epsilon."""
    exploration_fraction: float = 0.16
    """Fraction of ``steps`` over which epsilon decays linearly from start_e to end_e."""
    learning_starts: int = 1_000
    """Environment steps of uniformly random actions before learning starts."""
    train_freq: int = 256
    """Environment steps between trainings."""
    gradient_steps: int = 128
    """Gradient steps per training."""
    chunk_steps: int = 256
    """Environment steps whose due gradient steps run together in one compiled call (see the module docstring)."""
    max_grad_norm: float = 10.0
    """Clip the gradient's global norm to this."""
    double_q: bool = False
    """Double DQN: the online network picks the next action, the target network values it."""
    dueling: bool = False
    """Dueling head: Q = V + A - mean(A)."""
    hidden_sizes: list = field(default_factory=lambda: [256, 256])
    """Widths of the MLP's hidden layers (vector observations)."""
    init: str = "torch"
    """Initial weights: torch (PyTorch's default layer init, as SB3's DQN) or keras (Glorot kernels, zero biases)."""
    clip_rewards: bool = False
    """Store sign(reward) in the replay memory (Atari; episode returns are logged unclipped)."""
    save_buffer: bool = True
    """Save the replay memory in checkpoints (exact resume; large for Atari)."""


# Tuned hyperparameters per environment, applied by make_args under explicit arguments (rl-baselines3-zoo's
# hyperparams/dqn.yml; "atari" is CleanRL's dqn_atari.py with a replay memory that fits in 24 GB).
PRESETS = {
    "CartPole-v1": {},
    "Acrobot-v1": dict(steps=100_000, learning_rate=6.3e-4, batch_size=128, buffer_size=50_000, learning_starts=0,
                       target_update_interval=250, train_freq=4, gradient_steps=4, exploration_fraction=0.12,
                       end_e=0.1),
    "MountainCar-v0": dict(steps=120_000, learning_rate=4e-3, batch_size=128, buffer_size=10_000, gamma=0.98,
                           target_update_interval=600, train_freq=16, gradient_steps=8, exploration_fraction=0.2,
                           end_e=0.07),
    "atari": dict(steps=10_000_000, learning_rate=1e-4, buffer_size=100_000, learning_starts=80_000,
                  target_update_interval=1_000, batch_size=32, end_e=0.01, exploration_fraction=0.1, train_freq=4,
                  gradient_steps=1, chunk_steps=64, clip_rewards=True, save_buffer=False, log_every=50_000,
                  checkpoint_every=500_000),
}


def make_args(**overrides) -> Args:
    """Args from the defaults, the environment's preset, then ``overrides`` (what the CLI calls)."""
    return resolve_args(Args, PRESETS, **overrides)


def check_args(args: Args) -> None:
    positive = ["steps", "num_envs", "buffer_size", "batch_size", "train_freq", "gradient_steps", "chunk_steps",
                "target_update_interval", "log_every"]
    for name in positive:
        if getattr(args, name) < 1:
            raise ValueError(f"Argument {name!r} must be >= 1; got {getattr(args, name)!r}.")
    if args.init not in INITS:
        close = difflib.get_close_matches(str(args.init), INITS, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise ValueError(f"Argument 'init' must be one of {', '.join(INITS)}; got {args.init!r}.{hint}")
    if not 0.0 < args.tau <= 1.0:
        raise ValueError(f"Argument 'tau' must be in (0, 1]; got {args.tau!r}.")
    if not 0.0 <= args.gamma <= 1.0:
        raise ValueError(f"Argument 'gamma' must be in [0, 1]; got {args.gamma!r}.")
    if args.batch_size > args.buffer_size:
        raise ValueError(f"Argument 'batch_size' ({args.batch_size}) must not exceed 'buffer_size' ({args.buffer_size}).")


# ----------------------------------------------------------------------------------------------------------------------
# Q-network, replay memory, schedule, TD targets
# ----------------------------------------------------------------------------------------------------------------------
def build_q_network(observation_space, n_actions: int, env_id: str, hidden_sizes=(256, 256),
                    dueling: bool = False, init: str = "torch") -> keras.Model:
    """Observations → Q-values (batch, n_actions): an MLP for vectors, the Nature CNN for uint8 frames.

    ``init="torch"`` (the default) starts from PyTorch's default layer init, as SB3's and CleanRL's Q-networks do:
    with Keras' Glorot kernels and zero biases, the same hyperparameters train a different algorithm (see
    BENCHMARKS.md, "Reinforcement learning").
    """
    inputs = observation_input(observation_space, env_id)
    x = torso(inputs, hidden_sizes, "relu", init=init)
    width = x.shape[-1]
    if dueling:
        value = dense(1, width, init=init, name="value")(x)
        advantages = dense(n_actions, width, init=init, name="advantage")(x)
        q_values = DuelingHead(name="q_values")([value, advantages])
    else:
        q_values = dense(n_actions, width, init=init, name="q_values")(x)
    return keras.Model(inputs, q_values, name="q_network")


class ReplayBuffer:
    """A ring of ``size`` transitions in NumPy; when full, new transitions overwrite the oldest.

    ``dones`` holds *terminated* only: a truncated episode (time limit) still bootstraps from its last observation.
    """

    def __init__(self, size: int, obs_shape, obs_dtype):
        self.size = size
        self.obs = np.zeros((size, *obs_shape), obs_dtype)
        self.next_obs = np.zeros((size, *obs_shape), obs_dtype)
        self.actions = np.zeros(size, np.int32)
        self.rewards = np.zeros(size, np.float32)
        self.dones = np.zeros(size, np.float32)
        self.pos = 0
        self.added = 0

    def __len__(self) -> int:
        return min(self.added, self.size)

    def add(self, obs, next_obs, actions, rewards, dones) -> None:
        """Add one transition per row (one row per environment)."""
        idx = (self.pos + np.arange(len(actions))) % self.size
        self.obs[idx], self.next_obs[idx] = obs, next_obs
        self.actions[idx], self.rewards[idx], self.dones[idx] = actions, rewards, dones
        self.pos = int((self.pos + len(actions)) % self.size)
        self.added += len(actions)

    @staticmethod
    def sample_indices(rng: np.random.Generator, highs, batch_size: int) -> np.ndarray:
        """(len(highs), batch_size) uniform indices, row k below ``highs[k]`` (the buffer's length when due)."""
        highs = np.asarray(highs, np.int64)
        return (rng.random((len(highs), batch_size)) * highs[:, None]).astype(np.int64)

    def gather(self, idx: np.ndarray):
        return self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.dones[idx]

    def state(self) -> tuple[dict, dict]:
        n = len(self)
        arrays = {"rb/obs": self.obs[:n], "rb/next_obs": self.next_obs[:n], "rb/actions": self.actions[:n],
                  "rb/rewards": self.rewards[:n], "rb/dones": self.dones[:n]}
        return arrays, {"pos": self.pos, "added": self.added}

    def load_state(self, arrays: dict, meta: dict) -> None:
        n = len(arrays["rb/actions"])
        self.obs[:n], self.next_obs[:n] = arrays["rb/obs"], arrays["rb/next_obs"]
        self.actions[:n], self.rewards[:n], self.dones[:n] = (arrays["rb/actions"], arrays["rb/rewards"],
                                                              arrays["rb/dones"])
        self.pos, self.added = meta["pos"], meta["added"]


def linear_schedule(start_e: float, end_e: float, duration: float, t: int) -> float:
    """Epsilon at step t: linear from start_e to end_e over ``duration`` steps, then end_e."""
    fraction = 1.0 if duration <= 0 else min(t / duration, 1.0)
    return start_e + fraction * (end_e - start_e)


def td_targets(rewards, dones, next_q_target, gamma: float, next_q_online=None):
    """y = r + gamma * (1 - done) * Q_target(s', a*), a* = argmax_a Q_target(s', a), or, for Double DQN (given
    ``next_q_online``), a* = argmax_a Q_online(s', a). Shapes: rewards/dones (B,), next_q_* (B, n_actions)."""
    ops = keras.ops
    rewards = ops.cast(rewards, "float32")
    dones = ops.cast(dones, "float32")
    if next_q_online is None:
        next_value = ops.max(next_q_target, axis=-1)
    else:
        best = ops.argmax(next_q_online, axis=-1)
        next_value = ops.take_along_axis(next_q_target, ops.expand_dims(best, -1), axis=-1)[:, 0]
    return rewards + gamma * (1.0 - dones) * ops.cast(next_value, "float32")


def huber(errors):
    """Huber loss with delta 1 (PyTorch's smooth_l1), averaged."""
    a = tf.abs(errors)
    return tf.reduce_mean(tf.where(a <= 1.0, 0.5 * tf.square(errors), a - 0.5))


def make_update(q_network: keras.Model, target_network: keras.Model, optimizer, args: Args):
    """The compiled update: ``n`` gradient steps on pre-gathered minibatches, with the target syncs due before each.

    Inputs: obs (K, B, *obs), actions (K, B), rewards (K, B), next_obs (K, B, *obs), dones (K, B), syncs (K,)
    (target updates due before step k), n (steps to run, <= K). Returns the mean TD loss and mean Q(s, a).
    """
    q_vars, q_weights, t_weights = q_network.trainable_variables, q_network.weights, target_network.weights

    def sync_target(count):
        tau = 1.0 - tf.pow(1.0 - args.tau, tf.cast(count, tf.float32))  # `count` Polyak steps with nothing between
        for t, o in zip(t_weights, q_weights):
            t.assign(tau * o + (1.0 - tau) * t)

    def gradient_step(obs, actions, rewards, next_obs, dones):
        next_q_online = q_network(next_obs) if args.double_q else None
        y = tf.stop_gradient(td_targets(rewards, dones, target_network(next_obs), args.gamma, next_q_online))
        with tf.GradientTape() as tape:
            q = q_network(obs, training=True)  # (B, n_actions)
            q_taken = tf.gather(q, actions, batch_dims=1)  # (B,)
            loss = huber(q_taken - y)
        optimizer.apply(tape.gradient(loss, q_vars), q_vars)
        return loss, tf.reduce_mean(q_taken)

    @tf.function(jit_compile=args.jit)
    def update(obs, actions, rewards, next_obs, dones, syncs, n):
        loss_sum, q_sum = tf.constant(0.0), tf.constant(0.0)
        for k in tf.range(n):
            if syncs[k] > 0:
                sync_target(syncs[k])
            loss, q_mean = gradient_step(obs[k], actions[k], rewards[k], next_obs[k], dones[k])
            loss_sum += loss
            q_sum += q_mean
        n_float = tf.cast(n, tf.float32)
        return loss_sum / n_float, q_sum / n_float

    return update


# ----------------------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------------------
def train(args: Args) -> str:
    """Train DQN as ``args`` says into its run directory (resuming it if it holds a checkpoint); returns the run dir."""
    args = dataclasses.replace(args, exp_name=args.exp_name or "dqn")
    check_args(args)
    return run_training(args, _train)


def _train(args: Args, envs) -> str:
    n_actions, run_dir, resuming = start_run("dqn", "DQN", args, envs)
    obs_space = envs.single_observation_space

    # TRY NOT TO MODIFY: seeding
    rng = seed_everything(args.seed)

    q_network = build_q_network(obs_space, n_actions, args.env, args.hidden_sizes, args.dueling, args.init)
    target_network = build_q_network(obs_space, n_actions, args.env, args.hidden_sizes, args.dueling, args.init)
    target_network.set_weights(q_network.get_weights())
    optimizer = keras.optimizers.Adam(args.learning_rate, epsilon=1e-8, global_clipnorm=args.max_grad_norm)
    optimizer.build(q_network.trainable_variables)
    update = make_update(q_network, target_network, optimizer, args)
    rb = ReplayBuffer(args.buffer_size, obs_space.shape, obs_space.dtype)
    act = make_forward(q_network, args.jit)  # Q-values in NumPy (MLP) or one compiled call (CNN)

    per_call = max(1, args.chunk_steps // args.train_freq) * args.gradient_steps  # gradient steps per compiled call
    global_step, pending_syncs, queue, n_updates = 0, 0, [], 0  # queue: (buffer length, target syncs) per step
    if resuming:
        arrays, meta = load_checkpoint(run_dir)
        arrays_to_weights("q", q_network.weights, arrays)
        arrays_to_weights("target", target_network.weights, arrays)
        arrays_to_weights("optimizer", optimizer.variables, arrays)
        if "rb/actions" in arrays:
            rb.load_state(arrays, meta["buffer"])
        set_rng_state(rng, meta["rng"])
        global_step, pending_syncs, n_updates = meta["global_step"], meta["pending_syncs"], meta["n_updates"]
        queue = [tuple(item) for item in meta["queue"]]
        act.refresh()
        print(f"Resuming {run_dir} at step {global_step}.", flush=True)

    def run_updates(items):
        """ALGO LOGIC: the gradient steps of ``items`` in one compiled call, minibatches gathered here."""
        highs, syncs = zip(*items)
        idx = ReplayBuffer.sample_indices(rng, highs, args.batch_size)
        obs, actions, rewards, next_obs, dones = rb.gather(
            np.concatenate([idx, np.zeros((per_call - len(items), args.batch_size), np.int64)]))
        if args.clip_rewards:
            rewards = np.sign(rewards)
        syncs = np.concatenate([np.asarray(syncs, np.int32), np.zeros(per_call - len(items), np.int32)])
        loss, q_mean = update(obs, actions, rewards, next_obs, dones, syncs, np.int32(len(items)))
        act.refresh()
        return float(loss), float(q_mean)

    def checkpoint():
        arrays = {**weights_to_arrays("q", q_network.weights),
                  **weights_to_arrays("target", target_network.weights),
                  **weights_to_arrays("optimizer", optimizer.variables)}
        buffer_arrays, buffer_meta = rb.state()
        if args.save_buffer:
            arrays.update(buffer_arrays)
        best_arrays, best_meta = periodic.state()
        save_checkpoint(run_dir, {**arrays, **best_arrays}, {
            "global_step": global_step, "pending_syncs": pending_syncs, "n_updates": n_updates, "queue": queue,
            "rng": rng_state(rng), "buffer": buffer_meta, **best_meta})

    logger = RunLogger(run_dir, args, start_step=global_step)
    periodic = PeriodicEval(q_network, lambda o: np.argmax(act(o), axis=-1), args, start_step=global_step)
    if resuming:
        periodic.load_state(arrays, meta)
    losses = {}
    next_checkpoint = global_step + args.checkpoint_every if args.checkpoint_every else math.inf
    train_start = time.perf_counter()
    start_step = global_step

    # TRY NOT TO MODIFY: start the game
    obs, _ = envs.reset(seed=env_seed(args.seed, global_step))
    try:
        while global_step < args.steps:
            # ALGO LOGIC: put action logic here
            epsilon = linear_schedule(args.start_e, args.end_e, args.exploration_fraction * args.steps, global_step)
            actions = rng.integers(n_actions, size=args.num_envs)
            if global_step >= args.learning_starts:
                greedy = np.argmax(act(obs), axis=-1)
                explore = rng.random(args.num_envs) < epsilon
                actions = np.where(explore, actions, greedy)

            # TRY NOT TO MODIFY: execute the game and log data.
            next_obs, rewards, terminations, truncations, infos = envs.step(actions)
            logger.episodes(global_step + args.num_envs, *finished_episodes(infos))

            # TRY NOT TO MODIFY: save data to replay buffer; SAME_STEP autoreset: the true last obs is in final_obs
            real_next_obs = final_observations(next_obs, infos, terminations | truncations)
            rb.add(obs, real_next_obs, actions, rewards, terminations)

            # TRY NOT TO MODIFY: CRUCIAL step easy to overlook
            obs = next_obs

            # ALGO LOGIC: training (queued, then run per_call at a time in one compiled call)
            previous, global_step = global_step, global_step + args.num_envs
            pending_syncs += global_step // args.target_update_interval - previous // args.target_update_interval
            trainings = global_step // args.train_freq - previous // args.train_freq
            if global_step > args.learning_starts:
                for _ in range(trainings * args.gradient_steps):
                    queue.append((len(rb), pending_syncs))
                    pending_syncs = 0
            while len(queue) >= per_call:
                loss, q_mean = run_updates(queue[:per_call])
                n_updates += per_call
                queue = queue[per_call:]
                losses = {"losses/td_loss": loss, "losses/q_values": q_mean, "charts/gradient_steps": n_updates}

            if logger.due(global_step):
                logger.log(global_step, {**losses, "charts/epsilon": epsilon})
            periodic(global_step, logger)
            if global_step >= next_checkpoint:
                checkpoint()
                next_checkpoint += args.checkpoint_every
        if queue:
            loss, q_mean = run_updates(queue)
            n_updates += len(queue)
            queue = []
    except KeyboardInterrupt:
        checkpoint()
        logger.close()
        raise
    return finish_run(
        run_dir, args, algorithm="dqn", network=q_network, act=act, kind="q", periodic=periodic, logger=logger,
        checkpoint=checkpoint, global_step=global_step, start_step=start_step,
        train_seconds=time.perf_counter() - train_start, counts={"gradient_steps": n_updates},
    )
