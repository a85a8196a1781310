"""Advantage actor-critic, A2C (Mnih et al., 2016, the synchronous variant), on vectorized environments. CleanRL style.

    from kerazoo.rl import a2c
    run_dir = a2c.train(a2c.make_args(env="CartPole-v1", seed=0, out="runs/a2c_cartpole"))

Every ``n_steps`` steps of ``num_envs`` environments, one gradient step on
    -log pi(a_t|s_t) A_t + vf_coef (R_t - V(s_t))^2 - ent_coef H(pi(.|s_t)),
with A_t from generalized advantage estimation (``gae_lambda`` = 1: n-step returns, as in the paper and SB3's A2C).
Truncated episodes bootstrap from V of their true last observation (SAME_STEP autoreset's ``final_obs``); terminated
ones do not. Defaults are SB3's A2C defaults (RMSprop, separate 64x64 tanh actor and critic); docs: docs/rl.md.
Actions are sampled in NumPy from a copy of the actor's weights; one XLA-compiled call per update.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from kerazoo.rl import arguments
from kerazoo.rl.arguments import resolve_args
from kerazoo.rl.environments import env_seed, final_observations, finished_episodes, seed_everything
from kerazoo.rl.networks import make_forward, policy_network, sample_categorical, value_network
from kerazoo.rl.returns import gae_advantages
from kerazoo.rl.run import (
    PeriodicEval, RunLogger, arrays_to_weights, finish_run, load_checkpoint, rng_state, run_training,
    save_checkpoint, set_rng_state, start_run, weights_to_arrays,
)


@dataclass
class Args(arguments.Args):
    exp_name: str = "a2c"
    """Name of the experiment; part of the default run directory name."""
    steps: int = 500_000
    """Total environment steps (summed over the vectorized environments)."""
    num_envs: int = 8
    """Number of environments stepped together."""

    # Algorithm specific arguments (defaults: SB3's A2C and rl-baselines3-zoo's CartPole-v1)
    n_steps: int = 5
    """Steps per environment between updates (the rollout length)."""
    learning_rate: float = 7e-4
    """RMSprop learning rate."""
    rms_prop_eps: float = 1e-5
    """RMSprop epsilon."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 1.0
    """GAE lambda (1: n-step returns)."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the critic's loss."""
    max_grad_norm: float = 0.5
    """Clip the gradient's global norm to this."""
    normalize_advantages: bool = False
    """Scale each batch's advantages to zero mean and unit variance."""
    hidden_sizes: list = field(default_factory=lambda: [64, 64])
    """Widths of the hidden layers of the actor and the critic (separate networks)."""
    activation: str = "tanh"
    """Activation of the hidden layers: tanh or relu."""


PRESETS = {
    "CartPole-v1": {},
    "Acrobot-v1": dict(num_envs=16),
}


def make_args(**overrides) -> Args:
    """Args from the defaults, the environment's preset, then ``overrides`` (what the CLI calls)."""
    return resolve_args(Args, PRESETS, **overrides)


def check_args(args: Args) -> None:
    for name in ("steps", "num_envs", "n_steps", "log_every"):
        if getattr(args, name) < 1:
            raise ValueError(f"Argument {name!r} must be >= 1; got {getattr(args, name)!r}.")
    if args.activation not in ("tanh", "relu"):
        raise ValueError(f"Argument 'activation' must be tanh or relu; got {args.activation!r}.")
    for name in ("gamma", "gae_lambda"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise ValueError(f"Argument {name!r} must be in [0, 1]; got {getattr(args, name)!r}.")


# ----------------------------------------------------------------------------------------------------------------------
# ALGO LOGIC: the update, one compiled call per rollout
# ----------------------------------------------------------------------------------------------------------------------
def make_update(actor: keras.Model, critic: keras.Model, optimizer, args: Args):
    """obs, next_obs (T, N, *obs), actions, rewards, terminated, ends (T, N) → one gradient step on both networks.

    ``next_obs[t]`` is the true next observation of step t (the final one where an episode ended).
    """
    variables = actor.trainable_variables + critic.trainable_variables

    @tf.function(jit_compile=args.jit)
    def update(obs, next_obs, actions, rewards, terminated, ends):
        steps, envs = actions.shape
        flat = tf.reshape(obs, (-1, *obs.shape[2:]))
        next_values = tf.reshape(critic(tf.reshape(next_obs, (-1, *obs.shape[2:]))), (steps, envs))
        with tf.GradientTape() as tape:
            log_probs = tf.nn.log_softmax(actor(flat, training=True))  # (T*N, n_actions)
            log_prob_taken = tf.gather(log_probs, tf.reshape(actions, (-1,)), batch_dims=1)
            entropy = tf.reduce_mean(-tf.reduce_sum(tf.exp(log_probs) * log_probs, axis=-1))
            values = critic(flat, training=True)
            advantages, returns = gae_advantages(
                rewards, tf.stop_gradient(tf.reshape(values, (steps, envs))), next_values, terminated, ends,
                args.gamma, args.gae_lambda)
            advantages, returns = tf.reshape(advantages, (-1,)), tf.reshape(returns, (-1,))
            if args.normalize_advantages:
                advantages = (advantages - tf.reduce_mean(advantages)) / (tf.math.reduce_std(advantages) + 1e-8)
            pg_loss = -tf.reduce_mean(log_prob_taken * advantages)
            v_loss = tf.reduce_mean(tf.square(returns - values))
            loss = pg_loss + args.vf_coef * v_loss - args.ent_coef * entropy
        optimizer.apply(tape.gradient(loss, variables), variables)
        return pg_loss, v_loss, entropy

    return update


# ----------------------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------------------
def train(args: Args) -> str:
    """Train A2C as ``args`` says into its run directory (resuming it if it holds a checkpoint)."""
    args = dataclasses.replace(args, exp_name=args.exp_name or "a2c")
    check_args(args)
    return run_training(args, _train)


def _train(args: Args, envs) -> str:
    n_actions, run_dir, resuming = start_run("a2c", "A2C", args, envs)
    obs_space = envs.single_observation_space

    # TRY NOT TO MODIFY: seeding
    rng = seed_everything(args.seed)

    actor = policy_network(obs_space, n_actions, args.env, args.hidden_sizes, args.activation)
    critic = value_network(obs_space, args.env, args.hidden_sizes, args.activation)
    optimizer = keras.optimizers.RMSprop(args.learning_rate, rho=0.99, epsilon=args.rms_prop_eps,
                                         global_clipnorm=args.max_grad_norm)
    optimizer.build(actor.trainable_variables + critic.trainable_variables)
    update = make_update(actor, critic, optimizer, args)
    act = make_forward(actor, args.jit)

    global_step, n_updates = 0, 0
    if resuming:
        arrays, meta = load_checkpoint(run_dir)
        arrays_to_weights("actor", actor.weights, arrays)
        arrays_to_weights("critic", critic.weights, arrays)
        arrays_to_weights("optimizer", optimizer.variables, arrays)
        set_rng_state(rng, meta["rng"])
        global_step, n_updates = meta["global_step"], meta["n_updates"]
        act.refresh()
        print(f"Resuming {run_dir} at step {global_step}.", flush=True)

    def checkpoint():
        best_arrays, best_meta = periodic.state()
        save_checkpoint(run_dir, {
            **weights_to_arrays("actor", actor.weights), **weights_to_arrays("critic", critic.weights),
            **weights_to_arrays("optimizer", optimizer.variables), **best_arrays},
            {"global_step": global_step, "n_updates": n_updates, "rng": rng_state(rng), **best_meta})

    logger = RunLogger(run_dir, args, start_step=global_step)
    periodic = PeriodicEval(actor, lambda o: np.argmax(act(o), axis=-1), args, start_step=global_step)
    if resuming:
        periodic.load_state(arrays, meta)
    shape = (args.n_steps, args.num_envs)
    obs_buf = np.zeros((*shape, *obs_space.shape), obs_space.dtype)
    next_obs_buf = np.zeros_like(obs_buf)
    actions_buf = np.zeros(shape, np.int32)
    rewards_buf = np.zeros(shape, np.float32)
    terminated_buf = np.zeros(shape, np.float32)
    ends_buf = np.zeros(shape, np.float32)
    losses = {}
    next_checkpoint = global_step + args.checkpoint_every if args.checkpoint_every else math.inf
    train_start, start_step = time.perf_counter(), global_step

    # TRY NOT TO MODIFY: start the game
    obs, _ = envs.reset(seed=env_seed(args.seed, global_step))
    try:
        while global_step < args.steps:
            for t in range(args.n_steps):
                actions = sample_categorical(rng, act(obs))  # ALGO LOGIC: sample from pi(.|s)

                # TRY NOT TO MODIFY: execute the game and log data.
                next_obs, rewards, terminations, truncations, infos = envs.step(actions)
                global_step += args.num_envs
                logger.episodes(global_step, *finished_episodes(infos))
                dones = terminations | truncations
                obs_buf[t], actions_buf[t], rewards_buf[t] = obs, actions, rewards
                next_obs_buf[t] = final_observations(next_obs, infos, dones)
                terminated_buf[t], ends_buf[t] = terminations, dones
                obs = next_obs  # CRUCIAL step easy to overlook

            # ALGO LOGIC: training
            pg_loss, v_loss, entropy = update(obs_buf, next_obs_buf, actions_buf, rewards_buf, terminated_buf,
                                              ends_buf)
            act.refresh()
            n_updates += 1

            if logger.due(global_step):
                losses = {"losses/policy_loss": float(pg_loss), "losses/value_loss": float(v_loss),
                          "losses/entropy": float(entropy), "charts/updates": n_updates}
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
        run_dir, args, algorithm="a2c", network=actor, act=act, kind="logits", periodic=periodic, logger=logger,
        checkpoint=checkpoint, global_step=global_step, start_step=start_step,
        train_seconds=time.perf_counter() - train_start, counts={"updates": n_updates},
    )
