"""The Stable-Baselines3-style object API (kerazoo/rl/agents.py): an id or a custom gymnasium.Env object, learn,
predict, save and load."""

import gymnasium as gym
import numpy as np
import pytest

from kerazoo.rl import A2C, DQN, REINFORCE

FAST_DQN = dict(learning_starts=32, batch_size=16, buffer_size=500, train_freq=4, gradient_steps=1, chunk_steps=4,
                target_update_interval=16, eval_episodes=0, eval_every=0, checkpoint_every=0, seed=0)


class Corridor(gym.Env):
    """A custom environment object (no registered id): walk right (action 1) to the end of a 4-cell corridor."""

    def __init__(self, length=4):
        self.length = length
        self.observation_space = gym.spaces.Box(0.0, 1.0, (length,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.position, self.steps = 0, 0

    def _obs(self):
        return np.eye(self.length, dtype=np.float32)[self.position]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position, self.steps = 0, 0
        return self._obs(), {}

    def step(self, action):
        self.position = min(max(self.position + (1 if action == 1 else -1), 0), self.length - 1)
        self.steps += 1
        done = self.position == self.length - 1
        return self._obs(), (1.0 if done else -0.1), done, self.steps >= 20, {}


def test_dqn_object_api_on_a_custom_env_object(tmp_path):
    model = DQN(Corridor(), out=str(tmp_path / "run"), **FAST_DQN)
    assert model.learn(200) is model
    observation, _ = Corridor().reset()
    action, state = model.predict(observation, deterministic=True)
    assert isinstance(action, int) and action in (0, 1) and state is None
    batch = np.stack([np.eye(4, dtype=np.float32)[i] for i in range(4)])
    actions, _ = model.predict(batch)
    assert actions.shape == (4,)
    saved = model.save(str(tmp_path / "dqn_corridor"))
    loaded = DQN.load(saved)
    np.testing.assert_array_equal(loaded.predict(batch)[0], actions)
    assert loaded.env_id == model.env_id and loaded.env_id.startswith("kerazoo_custom/Corridor")
    with pytest.raises(ValueError, match="holds a dqn policy, not a2c"):
        A2C.load(saved)


def test_policy_gradient_agents_share_the_api(tmp_path):
    model = REINFORCE("CartPole-v1", out=str(tmp_path / "reinforce"), eval_episodes=0, eval_every=0,
                      checkpoint_every=0, seed=0).learn(300)
    observation, _ = gym.make("CartPole-v1").reset(seed=0)
    action, _ = model.predict(observation)
    sampled = {model.predict(observation, deterministic=False)[0] for _ in range(40)}
    assert action in (0, 1) and sampled <= {0, 1}
    assert REINFORCE.load(str(tmp_path / "reinforce")).predict(observation)[0] == action


def test_bad_hyperparameters_and_env_are_one_clear_error():
    with pytest.raises(ValueError, match="Unknown argument 'learning_rat'.*Did you mean learning_rate"):
        DQN("CartPole-v1", learning_rat=1e-3)
    with pytest.raises(ValueError, match="Invalid env: expected a Gymnasium id or a gymnasium.Env"):
        DQN(42)
    with pytest.raises(ValueError, match="no policy yet"):
        DQN("CartPole-v1").predict(np.zeros(4))
