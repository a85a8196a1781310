"""Gymnasium environments for kerazoo.rl: ids checked by name, Atari preprocessing, SAME_STEP vector environments with
episode statistics, reading finished episodes and true last observations, and seeding.
"""

from __future__ import annotations

import difflib

import gymnasium as gym
import numpy as np


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

def seed_everything(seed: int) -> np.random.Generator:
    """Python, NumPy and TensorFlow seeds (through Keras), and the NumPy Generator the algorithms draw from."""
    import keras  # here, so that checking names and arguments (kerazoo.rl.arguments) loads no TensorFlow

    keras.utils.set_random_seed(seed)
    return np.random.default_rng(seed)


def env_seed(seed: int, global_step: int) -> int:
    """Reset seed for the environments: ``seed`` at the start, a distinct one after a resume at ``global_step``."""
    return seed if global_step == 0 else int(np.random.SeedSequence([seed, global_step]).generate_state(1)[0])
