"""Hand-computed checks of kerazoo.rl's pieces: replay memory, TD targets, returns, advantages, epsilon, acting."""

import numpy as np
import pytest

from kerazoo.rl import dqn, networks, returns


# ---------------------------------------------------------------------------------------------------- replay memory
def _rows(start, n):
    values = np.arange(start, start + n, dtype=np.float32)
    return values[:, None] * np.ones((1, 2), np.float32), values


def test_replay_buffer_add_and_wraparound():
    rb = dqn.ReplayBuffer(5, (2,), np.float32)
    obs, values = _rows(0, 3)
    rb.add(obs, obs + 100, values.astype(int), values, np.zeros(3))
    assert len(rb) == 3 and rb.pos == 3
    obs, values = _rows(3, 4)  # 3, 4 fill rows 3-4; 5, 6 overwrite the oldest rows 0-1
    rb.add(obs, obs + 100, values.astype(int), values, np.array([0, 0, 1, 0]))
    assert len(rb) == 5 and rb.pos == 2 and rb.added == 7
    np.testing.assert_array_equal(rb.rewards, [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(rb.actions, [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(rb.obs[:, 0], [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(rb.next_obs[:, 1], [105, 106, 102, 103, 104])
    np.testing.assert_array_equal(rb.dones, [1, 0, 0, 0, 0])
    # a batch bigger than the buffer wraps more than once: the last `size` rows win
    obs, values = _rows(10, 12)
    rb.add(obs, obs, values.astype(int), values, np.zeros(12))
    assert sorted(rb.rewards.tolist()) == [17, 18, 19, 20, 21]


def test_replay_buffer_sampling_respects_highs_and_covers_rows():
    rng = np.random.default_rng(0)
    idx = dqn.ReplayBuffer.sample_indices(rng, [3, 3, 10, 10], 2000)
    assert idx.shape == (4, 2000) and idx.dtype == np.int64
    assert idx[:2].max() == 2 and idx[:2].min() == 0  # rows 0..2 only: what was stored when the step was due
    assert set(np.unique(idx[2:])) == set(range(10))
    counts = np.bincount(idx[2:].ravel(), minlength=10)
    assert counts.min() > 0.8 * counts.mean()  # uniform


def test_replay_buffer_gather_and_state_roundtrip():
    rb = dqn.ReplayBuffer(4, (2,), np.float32)
    obs, values = _rows(1, 3)
    rb.add(obs, obs * 2, values.astype(int), values, np.array([0, 1, 0]))
    o, a, r, no, d = rb.gather(np.array([[2, 0], [1, 1]]))
    np.testing.assert_array_equal(r, [[3, 1], [2, 2]])
    np.testing.assert_array_equal(no[0, 0], [6, 6])
    np.testing.assert_array_equal(d, [[0, 0], [1, 1]])
    arrays, meta = rb.state()
    other = dqn.ReplayBuffer(4, (2,), np.float32)
    other.load_state(arrays, meta)
    np.testing.assert_array_equal(other.obs, rb.obs)
    assert len(other) == 3 and other.pos == 3


# ---------------------------------------------------------------------------------------------------- TD targets
def test_td_targets_plain_dqn():
    rewards = np.array([1.0, 0.5, -1.0], np.float32)
    dones = np.array([0.0, 1.0, 0.0], np.float32)
    next_q_target = np.array([[1.0, 3.0], [10.0, 2.0], [-2.0, -4.0]], np.float32)
    y = np.asarray(dqn.td_targets(rewards, dones, next_q_target, 0.9))
    # 1 + 0.9 * max(1, 3); 0.5 (terminal); -1 + 0.9 * max(-2, -4)
    np.testing.assert_allclose(y, [1 + 0.9 * 3, 0.5, -1 + 0.9 * -2], rtol=1e-6)


def test_td_targets_double_dqn():
    rewards = np.array([1.0, 0.5, -1.0], np.float32)
    dones = np.array([0.0, 1.0, 0.0], np.float32)
    next_q_target = np.array([[1.0, 3.0], [10.0, 2.0], [-2.0, -4.0]], np.float32)
    next_q_online = np.array([[5.0, 0.0], [0.0, 1.0], [0.0, 7.0]], np.float32)  # picks actions 0, 1, 1
    y = np.asarray(dqn.td_targets(rewards, dones, next_q_target, 0.9, next_q_online))
    np.testing.assert_allclose(y, [1 + 0.9 * 1, 0.5, -1 + 0.9 * -4], rtol=1e-6)


def test_huber_matches_smooth_l1():
    errors = np.array([0.5, -2.0, 1.0, 0.0], np.float32)
    expected = np.mean([0.5 * 0.25, 2.0 - 0.5, 0.5, 0.0])
    assert float(dqn.huber(errors)) == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------------- schedule
def test_linear_epsilon_schedule():
    f = dqn.linear_schedule
    assert f(1.0, 0.05, 1000, 0) == 1.0
    assert f(1.0, 0.05, 1000, 500) == pytest.approx(0.525)
    assert f(1.0, 0.05, 1000, 1000) == pytest.approx(0.05)
    assert f(1.0, 0.05, 1000, 10**6) == pytest.approx(0.05)
    assert f(1.0, 0.05, 0, 0) == pytest.approx(0.05)
    # SB3's CartPole schedule: 1.0 → 0.04 over 16% of 50k steps
    assert f(1.0, 0.04, 0.16 * 50_000, 4_000) == pytest.approx(0.52)


# ---------------------------------------------------------------------------------------------------- returns
def test_discounted_returns_with_episode_ends():
    rewards = np.array([1.0, 1.0, 1.0, 2.0, 3.0])
    ends = np.array([False, False, True, False, False])
    g = returns.discounted_returns(rewards, ends, 0.5)
    # episode 1: 1 + .5(1 + .5*1) = 1.75, 1.5, 1; episode 2 (open at the end, no bootstrap): 2 + .5*3 = 3.5, 3
    np.testing.assert_allclose(g, [1.75, 1.5, 1.0, 3.5, 3.0])


def test_discounted_returns_bootstrap_and_columns():
    rewards = np.array([[1.0, 0.0], [1.0, 1.0]])
    ends = np.array([[False, False], [True, True]])
    bootstrap = np.array([[0.0, 0.0], [10.0, 0.0]])  # env 0 was cut by a time limit at t=1 with V(s_last)=10
    g = returns.discounted_returns(rewards, ends, 0.9, bootstrap)
    np.testing.assert_allclose(g[:, 0], [1 + 0.9 * (1 + 0.9 * 10), 1 + 0.9 * 10])
    np.testing.assert_allclose(g[:, 1], [0 + 0.9 * 1, 1])


def test_gae_lambda_one_is_n_step_return_minus_value():
    rewards = np.array([[1.0], [1.0], [1.0]], np.float32)
    values = np.array([[0.5], [0.4], [0.3]], np.float32)
    next_values = np.array([[0.4], [0.3], [2.0]], np.float32)  # V(s_{t+1}); the rollout ends open at t=2
    zeros = np.zeros((3, 1), np.float32)
    adv, ret = returns.gae_advantages(rewards, values, next_values, zeros, zeros, 0.9, 1.0)
    r2 = 1 + 0.9 * 2.0
    r1 = 1 + 0.9 * r2
    r0 = 1 + 0.9 * r1
    np.testing.assert_allclose(np.asarray(ret)[:, 0], [r0, r1, r2], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(adv)[:, 0], [r0 - 0.5, r1 - 0.4, r2 - 0.3], rtol=1e-6)


def test_gae_terminated_truncated_and_lambda():
    # env 0: terminated at t=0 (no bootstrap), then a new episode. env 1: truncated at t=0 (bootstrap V(final)=5).
    rewards = np.array([[1.0, 1.0], [2.0, 2.0]], np.float32)
    values = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)
    next_values = np.array([[9.0, 5.0], [3.0, 3.0]], np.float32)
    terminated = np.array([[1, 0], [0, 0]], np.float32)
    ends = np.array([[1, 1], [0, 0]], np.float32)
    gamma, lam = 0.5, 0.8
    adv, _ = returns.gae_advantages(rewards, values, next_values, terminated, ends, gamma, lam)
    adv = np.asarray(adv)
    d1 = 2 + gamma * 3 - 1  # delta at t=1 for both envs
    np.testing.assert_allclose(adv[1], [d1, d1])
    np.testing.assert_allclose(adv[0, 0], 1 - 0)  # terminated: delta = r - V, nothing from t=1 (new episode)
    np.testing.assert_allclose(adv[0, 1], 1 + gamma * 5 - 0)  # truncated: bootstraps, but no carry from t=1
    # no episode end: A_0 = delta_0 + gamma * lam * A_1
    adv2, _ = returns.gae_advantages(rewards[:, :1], values[:, :1], np.array([[1.0], [3.0]], np.float32),
                                    np.zeros((2, 1)), np.zeros((2, 1)), gamma, lam)
    np.testing.assert_allclose(np.asarray(adv2)[:, 0], [(1 + 0.5 * 1 - 0) + gamma * lam * d1, d1], rtol=1e-6)


# ---------------------------------------------------------------------------------------------------- acting
def test_sample_categorical_frequencies():
    rng = np.random.default_rng(0)
    logits = np.log(np.array([[0.2, 0.5, 0.3]] * 20_000))
    actions = networks.sample_categorical(rng, logits)
    freq = np.bincount(actions, minlength=3) / len(actions)
    np.testing.assert_allclose(freq, [0.2, 0.5, 0.3], atol=0.015)


@pytest.mark.parametrize("dueling", [False, True])
def test_numpy_forward_matches_keras(dueling):
    import gymnasium as gym

    space = gym.spaces.Box(-1, 1, (4,), np.float32)
    model = dqn.build_q_network(space, 3, "test", [32, 16], dueling=dueling)
    forward = networks.NumpyMLP(model)
    x = np.random.default_rng(1).normal(size=(7, 4)).astype(np.float32)
    np.testing.assert_allclose(forward(x), np.asarray(model(x)), rtol=1e-5, atol=1e-5)
    value = networks.value_network(space, "test", [8])
    np.testing.assert_allclose(networks.NumpyMLP(value)(x), np.asarray(value(x)), rtol=1e-5, atol=1e-5)
    model.layers[1].kernel.assign(np.zeros(model.layers[1].kernel.shape))
    forward.refresh()
    np.testing.assert_allclose(forward(x), np.asarray(model(x)), rtol=1e-5, atol=1e-5)


def test_torch_init_matches_pytorch_nn_linear_bounds():
    """DQN's default init is PyTorch's nn.Linear one: kernel and bias uniform in +-1/sqrt(fan_in), biases non-zero."""
    import gymnasium as gym

    space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    model = dqn.build_q_network(space, 2, "test", [256, 256])
    for name, fan_in in (("hidden_0", 4), ("hidden_1", 256), ("q_values", 256)):
        layer = model.get_layer(name)
        bound = 1.0 / np.sqrt(fan_in)
        for w in (np.asarray(layer.kernel), np.asarray(layer.bias)):
            assert np.abs(w).max() <= bound + 1e-6
            if w.size >= 64:  # spread over the whole interval, not Glorot's narrower one (2 biases may not be)
                assert np.abs(w).max() > 0.9 * bound
    keras_init = dqn.build_q_network(space, 2, "test", [256, 256], init="keras")
    assert not np.asarray(keras_init.get_layer("hidden_0").bias).any()
    with pytest.raises(ValueError, match="'init'.*'pytorch'"):
        dqn.check_args(dqn.make_args(init="pytorch"))
