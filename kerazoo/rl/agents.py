"""The Stable-Baselines3-style object API: a thin layer over the algorithm modules (dqn.py, a2c.py, reinforce.py).

    from kerazoo.rl import DQN
    model = DQN("CartPole-v1", learning_rate=1e-3, seed=0).learn(50_000)
    action, _ = model.predict(observation, deterministic=True)
    model.save("dqn_cartpole")
    model = DQN.load("dqn_cartpole")

``env`` is a Gymnasium id or a ``gymnasium.Env`` instance (a custom environment object works). The keyword
arguments are the algorithm's ``Args`` fields (``kerazoo rl train dqn --help`` lists them); ``learn`` runs that
module's ``train`` into a run directory (``out``, default runs/ENV__ALGO__SEED__TIME) exactly as ``kerazoo rl train``
does, so the run can be evaluated, recorded and served like any other. ``save`` writes the trained policy and its
config (a folder, which ``load`` and ``kerazoo rl eval`` read); ``load`` also takes a run directory.
"""

from __future__ import annotations

import copy
import itertools
import os
import shutil

import numpy as np

from kerazoo.io import replaced_folder
from kerazoo.rl import algorithm

_custom_ids = itertools.count(1)


def env_id_of(env) -> str:
    """A Gymnasium id for ``env``: the id itself, or, for an environment object, a fresh id under ``kerazoo_custom/``
    whose every ``gymnasium.make`` returns a deep copy of it (training, evaluation and each vectorized copy get their
    own; the id lives in this process only)."""
    import gymnasium as gym

    if isinstance(env, str):
        return env
    if not isinstance(env, gym.Env):
        raise ValueError(f"Invalid env: expected a Gymnasium id or a gymnasium.Env instance. Received: env={env!r}")
    env_id = f"kerazoo_custom/{type(env.unwrapped).__name__}{next(_custom_ids)}-v0"
    gym.register(env_id, entry_point=lambda **_: copy.deepcopy(env), disable_env_checker=True, order_enforce=False)
    return env_id


class Agent:
    """One algorithm behind the object API; subclasses name it (``ALGORITHM``) and the kind of its network's output
    (``KIND``: Q-values or action logits)."""

    ALGORITHM = ""
    KIND = ""

    def __init__(self, env, **hyperparameters):
        self.module = algorithm(self.ALGORITHM)
        self.env_id = env_id_of(env)
        hyperparameters.setdefault("verbose", False)
        self.module.make_args(env=self.env_id, **hyperparameters)  # unknown names fail here, with close matches
        self.hyperparameters = hyperparameters
        self.run_dir = None
        self.policy = None
        self._forward = None
        self._rng = np.random.default_rng(hyperparameters.get("seed", 0))

    def learn(self, total_steps: int) -> "Agent":
        """Train for ``total_steps`` environment steps (``steps`` of the algorithm's Args); returns ``self``."""
        args = self.module.make_args(env=self.env_id, **{**self.hyperparameters, "steps": int(total_steps)})
        self.run_dir = self.module.train(args)
        self._use(self.run_dir)
        return self

    def predict(self, observation, deterministic: bool = True):
        """``(action, None)`` as Stable-Baselines3 returns it (no recurrent state): one action for one observation,
        an array of actions for a batch. ``deterministic=False`` samples: softmax of the logits, or (DQN) a random
        action with probability ``end_e``."""
        if self.policy is None:
            raise ValueError(f"This {type(self).__name__} has no policy yet: call learn() first, or load().")
        observation = np.asarray(observation)
        single = observation.ndim == len(self.policy.input_shape) - 1
        batch = observation[None] if single else observation
        outputs = self._forward(batch.astype(self.policy.inputs[0].dtype))
        actions = np.argmax(outputs, axis=-1)
        if not deterministic:
            if self.KIND == "q":
                explore = self._rng.random(len(actions)) < self._epsilon
                actions = np.where(explore, self._rng.integers(outputs.shape[-1], size=len(actions)), actions)
            else:
                from kerazoo.rl.networks import sample_categorical

                actions = sample_categorical(self._rng, outputs)
        return (int(actions[0]) if single else actions), None

    def save(self, path: str) -> str:
        """Write the policy (``policy.keras``) and its config (``config.yaml``) to the folder ``path`` (temp folder,
        then rename); returns the path."""
        if self.run_dir is None:
            raise ValueError(f"This {type(self).__name__} has nothing to save: call learn() first.")
        path = os.path.abspath(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with replaced_folder(path) as tmp:
            for name in ("policy.keras", "config.yaml"):
                shutil.copy2(os.path.join(self.run_dir, name), os.path.join(tmp, name))
        return path

    @classmethod
    def load(cls, path: str) -> "Agent":
        """The agent saved at ``path`` (by ``save``, or any finished run directory of this algorithm)."""
        from kerazoo.rl.run import load_config

        config = load_config(path)
        if config["algorithm"] != cls.ALGORITHM:
            raise ValueError(f"{path} holds a {config['algorithm']} policy, not {cls.ALGORITHM}: "
                             f"load it with that algorithm's class.")
        agent = cls.__new__(cls)
        agent.module = algorithm(cls.ALGORITHM)
        agent.env_id = config["args"]["env"]
        agent.hyperparameters = {k: v for k, v in config["args"].items() if k not in ("env", "steps", "out")}
        agent._rng = np.random.default_rng(config["args"].get("seed", 0))
        agent._use(path)
        return agent

    def _use(self, run_dir: str) -> None:
        from kerazoo.rl.evaluate import load_policy
        from kerazoo.rl.networks import make_forward

        config, self.policy, _ = load_policy(run_dir)
        self.run_dir = run_dir
        self._forward = make_forward(self.policy)
        self._epsilon = float(config["args"].get("end_e", 0.0))


class DQN(Agent):
    """DQN (kerazoo/rl/dqn.py) behind the Stable-Baselines3-style API."""

    ALGORITHM, KIND = "dqn", "q"


class A2C(Agent):
    """A2C (kerazoo/rl/a2c.py) behind the Stable-Baselines3-style API."""

    ALGORITHM, KIND = "a2c", "logits"


class REINFORCE(Agent):
    """REINFORCE with a baseline (kerazoo/rl/reinforce.py) behind the Stable-Baselines3-style API."""

    ALGORITHM, KIND = "reinforce", "logits"
