"""Bad input gets a clear error naming the problem; the Nature CNN and Atari preprocessing build."""

import gymnasium as gym
import numpy as np
import pytest

from kerazoo.rl import a2c, dqn, environments, networks, reinforce


class _ToyEnv(gym.Env):
    """Observations of any shape/dtype; reward 1 when the action equals the step's parity. 16-step episodes."""

    def __init__(self, shape=(4,), dtype=np.float32, n_actions=2, render_mode=None):
        high = 255 if dtype == np.uint8 else 1.0
        self.observation_space = gym.spaces.Box(0, high, shape, dtype)
        self.action_space = gym.spaces.Discrete(n_actions)
        self.render_mode = render_mode
        self.t = 0

    def _obs(self):
        obs = np.zeros(self.observation_space.shape, self.observation_space.dtype)
        obs.flat[0] = (self.t % 2) * (255 if obs.dtype == np.uint8 else 1)
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        reward = float(int(action) == self.t % 2)
        self.t += 1
        return self._obs(), reward, False, self.t >= 16, {}


gym.register("KerazooTest/Matrix-v0", entry_point=lambda: _ToyEnv(shape=(3, 5)))
gym.register("KerazooTest/TinyPixels-v0", entry_point=lambda: _ToyEnv(shape=(4, 20, 20), dtype=np.uint8))
gym.register("KerazooTest/FloatPixels-v0", entry_point=lambda: _ToyEnv(shape=(84, 84, 3)))
gym.register("KerazooTest/Pixels-v0", entry_point=lambda: _ToyEnv(shape=(4, 84, 84), dtype=np.uint8, n_actions=3))


def test_unknown_environment_names_it_and_suggests():
    with pytest.raises(ValueError, match=r"Unknown environment id 'CartPol-v1'.*Did you mean CartPole-v1"):
        dqn.train(dqn.make_args(env="CartPol-v1"))
    with pytest.raises(ValueError, match="Unknown environment id 'NoSuchThing-v0'"):
        environments.make_env("NoSuchThing-v0")


@pytest.mark.parametrize("module", [dqn, reinforce, a2c])
def test_continuous_action_space_is_refused(module, tmp_path):
    with pytest.raises(ValueError, match=r"needs a discrete action space.*'Pendulum-v1'.*continuous.*Box"):
        module.train(module.make_args(env="Pendulum-v1", out=str(tmp_path / "run")))
    assert not (tmp_path / "run").exists()  # refused before the run directory is made


@pytest.mark.parametrize("env_id, message", [
    ("KerazooTest/Matrix-v0", r"shape \(3, 5\) \(rank 2\).*rank 1.*rank 3"),
    ("KerazooTest/TinyPixels-v0", r"shape \(4, 20, 20\) \(20x20 pixels\).*at least 36x36"),
    ("KerazooTest/FloatPixels-v0", r"image-shaped observations \(84, 84, 3\) of dtype float32.*uint8"),
    ("FrozenLake-v1", r"observation space Discrete\(16\).*Box"),
])
def test_observation_shapes_the_networks_cannot_take(env_id, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        dqn.train(dqn.make_args(env=env_id, out=str(tmp_path / "run")))


def test_bad_arguments_name_the_field():
    with pytest.raises(ValueError, match=r"Unknown argument 'learning_rte'.*Did you mean learning_rate"):
        dqn.make_args(learning_rte=1e-3)
    with pytest.raises(ValueError, match=r"'tau' must be in \(0, 1\]; got 0.0"):
        dqn.train(dqn.make_args(tau=0.0))
    with pytest.raises(ValueError, match=r"'activation' must be tanh or relu; got 'gelu'"):
        a2c.train(a2c.make_args(activation="gelu"))


def test_presets_apply_under_explicit_arguments():
    args = dqn.make_args(env="Acrobot-v1", learning_rate=1e-3)
    assert args.learning_rate == 1e-3 and args.target_update_interval == 250 and args.train_freq == 4
    assert dqn.make_args(env="ALE/Pong-v5").clip_rewards is True
    assert dqn.make_args().train_freq == 256 and dqn.make_args().gradient_steps == 128


def test_nature_cnn_shape_and_parameter_count():
    space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    model = dqn.build_q_network(space, 6, "ALE/Pong-v5")
    # conv1 4*8*8*32+32, conv2 32*4*4*64+64, conv3 64*3*3*64+64, fc 3136*512+512, head 512*6+6
    assert model.count_params() == 8_224 + 32_832 + 36_928 + 1_606_144 + 3_078
    assert model.get_layer("conv3").output.shape[1:] == (7, 7, 64)
    out = model(np.zeros((2, 4, 84, 84), np.uint8))
    assert out.shape == (2, 6)
    assert isinstance(networks.make_forward(model), networks.CompiledForward)
    dueling = dqn.build_q_network(space, 6, "ALE/Pong-v5", dueling=True)
    assert dueling(np.zeros((1, 4, 84, 84), np.uint8)).shape == (1, 6)


def test_atari_preprocessing_with_ale():
    pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    env = environments.make_env("ALE/Pong-v5")()
    try:
        obs, _ = env.reset(seed=0)
        assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
        assert env.observation_space.shape == (4, 84, 84)
        assert networks.observation_kind(env.observation_space, "ALE/Pong-v5") == "pixels"
        obs, *_ = env.step(0)
        assert obs.shape == (4, 84, 84)
    finally:
        env.close()


@pytest.mark.slow
def test_dqn_trains_the_nature_cnn_on_a_pixel_env(tmp_path):
    """The pixel path end to end (CNN, compiled acting, replay of uint8 frames, export) on a synthetic env."""
    args = dqn.make_args(env="KerazooTest/Pixels-v0", steps=96, learning_starts=32, batch_size=8, buffer_size=200,
                         train_freq=4, gradient_steps=1, chunk_steps=32, target_update_interval=16,
                         eval_episodes=1, out=str(tmp_path / "run"), verbose=False)
    run = dqn.train(args)
    import json

    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["gradient_steps"] == (96 - 32) // 4
    assert summary["eval"]["episodes"] == 1
    assert (tmp_path / "run" / "saved_model" / "saved_model.pb").exists()
    assert run == str(tmp_path / "run")
