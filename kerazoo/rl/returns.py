"""Returns and advantages (unit-tested against hand-computed values): Monte Carlo returns in NumPy (REINFORCE) and
generalized advantage estimation in TensorFlow ops (A2C, inside its compiled update).
"""

from __future__ import annotations

import numpy as np


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
