"""REINFORCE (Williams, 1992) with a learned baseline and an entropy bonus, CleanRL style. Docs: docs/rl.md.

    from kerazoo.rl import reinforce
    run_dir = reinforce.train(reinforce.make_args(env="CartPole-v1", seed=0, out="runs/reinforce_cartpole"))

Each update uses ``num_envs`` complete episodes, one per environment, collected in lockstep from a vectorized
environment (an environment whose episode has ended idles until the others finish; its steps are not used). The
policy gradient weights log pi(a_t|s_t) by the advantage G_t - V(s_t), where G_t is the Monte Carlo return and V a
value network trained on the same returns (the baseline; it never bootstraps, except for the value of the last
observation of an episode cut by a time limit). Actions are sampled in NumPy from a copy of the policy's weights;
one XLA-compiled call per update.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import gymnasium as gym
import keras
import numpy as np
import tensorflow as tf

from kerazoo.rl import arguments
from kerazoo.rl.arguments import resolve_args
from kerazoo.rl.environments import env_seed, final_observations, seed_everything
from kerazoo.rl.networks import make_forward, policy_network, sample_categorical, value_network
from kerazoo.rl.returns import discounted_returns
from kerazoo.rl.run import (
    PeriodicEval, RunLogger, arrays_to_weights, finish_run, load_checkpoint, rng_state, run_training,
    save_checkpoint, set_rng_state, start_run, weights_to_arrays,
)


@dataclass
class Args(arguments.Args):
    exp_name: str = "reinforce"
    """Name of the experiment; part of the default run directory name."""
    steps: int = 200_000
    """Total environment steps used for learning (the steps of the collected episodes)."""
    num_envs: int = 8
    """Episodes per update: one per environment, collected in lockstep."""

    # Algorithm specific arguments
    learning_rate: float = 3e-3
    """Adam learning rate (policy and baseline)."""
    gamma: float = 0.99
    """Discount factor."""
    ent_coef: float = 0.01
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the baseline's squared error in the loss."""
    normalize_advantages: bool = True
    """Scale each batch's advantages to zero mean and unit variance."""
    max_grad_norm: float = 0.5
    """Clip the gradient's global norm to this."""
    hidden_sizes: list = field(default_factory=lambda: [64, 64])
    """Widths of the hidden layers of the policy and the baseline (separate networks)."""
    activation: str = "tanh"
    """Activation of the hidden layers: tanh or relu."""
    max_episode_steps: int = 0
    """Cut episodes at this length (0: the environment's own time limit, which it must have)."""


PRESETS = {
    "CartPole-v1": {},
    "Acrobot-v1": dict(steps=300_000, num_envs=16),
}


def make_args(**overrides) -> Args:
    """Args from the defaults, the environment's preset, then ``overrides`` (what the CLI calls)."""
    return resolve_args(Args, PRESETS, **overrides)


def check_args(args: Args) -> None:
    for name in ("steps", "num_envs", "log_every"):
        if getattr(args, name) < 1:
            raise ValueError(f"Argument {name!r} must be >= 1; got {getattr(args, name)!r}.")
    if args.activation not in ("tanh", "relu"):
        raise ValueError(f"Argument 'activation' must be tanh or relu; got {args.activation!r}.")
    if not 0.0 <= args.gamma <= 1.0:
        raise ValueError(f"Argument 'gamma' must be in [0, 1]; got {args.gamma!r}.")


# ----------------------------------------------------------------------------------------------------------------------
# ALGO LOGIC: the loss, in one compiled call per batch of episodes
# ----------------------------------------------------------------------------------------------------------------------
def masked_mean(x, mask):
    return tf.reduce_sum(x * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def make_update(policy: keras.Model, value: keras.Model, optimizer, args: Args):
    """obs (T, N, *obs), actions (T, N), returns (T, N), mask (T, N) → one gradient step on both networks."""
    variables = policy.trainable_variables + value.trainable_variables

    @tf.function(jit_compile=args.jit)
    def update(obs, actions, returns, mask):
        flat = tf.reshape(obs, (-1, *obs.shape[2:]))
        actions, returns, mask = (tf.reshape(x, (-1,)) for x in (actions, returns, mask))
        with tf.GradientTape() as tape:
            log_probs = tf.nn.log_softmax(policy(flat, training=True))  # (T*N, n_actions)
            log_prob_taken = tf.gather(log_probs, actions, batch_dims=1)
            entropy = -tf.reduce_sum(tf.exp(log_probs) * log_probs, axis=-1)
            values = value(flat, training=True)
            advantages = tf.stop_gradient(returns - values)
            if args.normalize_advantages:
                mean = masked_mean(advantages, mask)
                std = tf.sqrt(masked_mean(tf.square(advantages - mean), mask))
                advantages = (advantages - mean) / (std + 1e-8)
            pg_loss = -masked_mean(log_prob_taken * advantages, mask)
            v_loss = masked_mean(tf.square(returns - values), mask)
            ent = masked_mean(entropy, mask)
            loss = pg_loss + args.vf_coef * v_loss - args.ent_coef * ent
        optimizer.apply(tape.gradient(loss, variables), variables)
        return pg_loss, v_loss, ent

    return update


# ----------------------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------------------
def train(args: Args) -> str:
    """Train REINFORCE as ``args`` says into its run directory (resuming it if it holds a checkpoint)."""
    args = dataclasses.replace(args, exp_name=args.exp_name or "reinforce")
    check_args(args)
    return run_training(args, _train)


def _train(args: Args, envs) -> str:
    horizon = args.max_episode_steps or gym.spec(args.env).max_episode_steps
    if not horizon:
        raise ValueError(f"Environment {args.env!r} has no time limit; REINFORCE needs whole episodes: "
                         "set max_episode_steps.")
    n_actions, run_dir, resuming = start_run("reinforce", "REINFORCE", args, envs)
    obs_space = envs.single_observation_space

    # TRY NOT TO MODIFY: seeding
    rng = seed_everything(args.seed)

    policy = policy_network(obs_space, n_actions, args.env, args.hidden_sizes, args.activation)
    value = value_network(obs_space, args.env, args.hidden_sizes, args.activation)
    optimizer = keras.optimizers.Adam(args.learning_rate, global_clipnorm=args.max_grad_norm)
    optimizer.build(policy.trainable_variables + value.trainable_variables)
    update = make_update(policy, value, optimizer, args)
    act, baseline = make_forward(policy, args.jit), make_forward(value, args.jit)

    global_step, n_updates = 0, 0
    if resuming:
        arrays, meta = load_checkpoint(run_dir)
        arrays_to_weights("policy", policy.weights, arrays)
        arrays_to_weights("value", value.weights, arrays)
        arrays_to_weights("optimizer", optimizer.variables, arrays)
        set_rng_state(rng, meta["rng"])
        global_step, n_updates = meta["global_step"], meta["n_updates"]
        act.refresh()
        baseline.refresh()
        print(f"Resuming {run_dir} at step {global_step}.", flush=True)

    def checkpoint():
        best_arrays, best_meta = periodic.state()
        save_checkpoint(run_dir, {
            **weights_to_arrays("policy", policy.weights), **weights_to_arrays("value", value.weights),
            **weights_to_arrays("optimizer", optimizer.variables), **best_arrays},
            {"global_step": global_step, "n_updates": n_updates, "rng": rng_state(rng), **best_meta})

    logger = RunLogger(run_dir, args, start_step=global_step)
    periodic = PeriodicEval(policy, lambda o: np.argmax(act(o), axis=-1), args, start_step=global_step)
    if resuming:
        periodic.load_state(arrays, meta)
    n = args.num_envs
    obs_buf = np.zeros((horizon, n, *obs_space.shape), obs_space.dtype)
    actions_buf = np.zeros((horizon, n), np.int32)
    rewards_buf = np.zeros((horizon, n), np.float32)
    ends_buf = np.zeros((horizon, n), bool)
    bootstrap_buf = np.zeros((horizon, n), np.float32)
    mask_buf = np.zeros((horizon, n), np.float32)
    losses = {}
    next_checkpoint = global_step + args.checkpoint_every if args.checkpoint_every else math.inf
    train_start, start_step = time.perf_counter(), global_step
    first_reset = True

    try:
        while global_step < args.steps:
            # TRY NOT TO MODIFY: play one episode per environment, in lockstep
            obs, _ = envs.reset(seed=env_seed(args.seed, global_step) if first_reset else None)
            first_reset = False
            active = np.ones(n, bool)
            rewards_buf[:], ends_buf[:], bootstrap_buf[:], mask_buf[:] = 0.0, False, 0.0, 0.0
            t = 0
            while active.any() and t < horizon:
                actions = sample_categorical(rng, act(obs))  # ALGO LOGIC: sample from pi(.|s)
                next_obs, rewards, terminations, truncations, infos = envs.step(actions)
                obs_buf[t], actions_buf[t], mask_buf[t] = obs, actions, active
                rewards_buf[t] = np.where(active, rewards, 0.0)
                ended = active & (terminations | truncations | (t == horizon - 1))
                ends_buf[t] = ended
                cut = ended & ~terminations  # the episode did not end by itself: bootstrap from V(last obs)
                if cut.any():
                    last = final_observations(next_obs, infos, terminations | truncations)
                    bootstrap_buf[t] = np.where(cut, baseline(last), 0.0)
                active &= ~ended
                obs = next_obs  # CRUCIAL step easy to overlook
                t += 1
            lengths = mask_buf[:t].sum(axis=0)
            global_step += int(lengths.sum())
            logger.episodes(global_step, rewards_buf[:t].sum(axis=0), lengths.astype(int))

            # ALGO LOGIC: Monte Carlo returns, then one gradient step
            returns = discounted_returns(rewards_buf, ends_buf, args.gamma, bootstrap_buf).astype(np.float32)
            pg_loss, v_loss, entropy = update(obs_buf, actions_buf, returns, mask_buf)
            act.refresh()
            baseline.refresh()
            n_updates += 1
            losses = {"losses/policy_loss": float(pg_loss), "losses/value_loss": float(v_loss),
                      "losses/entropy": float(entropy), "charts/updates": n_updates}

            if logger.due(global_step):
                logger.log(global_step, losses)
            periodic(global_step, logger)
            if global_step >= next_checkpoint:
                checkpoint()
                next_checkpoint += args.checkpoint_every
    except KeyboardInterrupt:
        checkpoint()
        logger.close()
        raise
    return finish_run(
        run_dir, args, algorithm="reinforce", network=policy, act=act, kind="logits", periodic=periodic, logger=logger,
        checkpoint=checkpoint, global_step=global_step, start_step=start_step,
        train_seconds=time.perf_counter() - train_start, counts={"updates": n_updates},
    )
