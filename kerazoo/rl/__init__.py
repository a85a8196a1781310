"""kerazoo.rl: DQN, REINFORCE and A2C on Gymnasium, one readable module per algorithm (CleanRL style).

    from kerazoo.rl import dqn
    run_dir = dqn.train(dqn.make_args(env="CartPole-v1", steps=50_000, seed=0, out="runs/dqn_cartpole"))

Each algorithm module has ``Args`` (a dataclass), ``PRESETS`` (tuned hyperparameters per environment),
``make_args(**overrides)`` and ``train(args) -> run_dir``. ``kerazoo.rl.evaluate`` evaluates and records runs.
Modules are imported on first use, so ``import kerazoo.rl`` stays light.

Stable-Baselines3's object API over the same modules (kerazoo/rl/agents.py):

    from kerazoo.rl import DQN
    model = DQN("CartPole-v1", seed=0).learn(50_000)   # or DQN(my_gymnasium_env_object, ...)
    action, _ = model.predict(observation, deterministic=True)
    model.save("dqn_cartpole"); model = DQN.load("dqn_cartpole")
"""

import importlib

ALGORITHMS = {"dqn": "kerazoo.rl.dqn", "reinforce": "kerazoo.rl.reinforce", "a2c": "kerazoo.rl.a2c"}


def algorithm(name: str):
    """The module of algorithm ``name`` (dqn, reinforce or a2c)."""
    if name not in ALGORITHMS:
        raise ValueError(f"Unknown RL algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}.")
    return importlib.import_module(ALGORITHMS[name])


AGENTS = ("DQN", "A2C", "REINFORCE")


def __getattr__(name: str):
    if name in AGENTS:  # imported on first use, like the algorithm modules
        return getattr(importlib.import_module("kerazoo.rl.agents"), name)
    raise AttributeError(f"module 'kerazoo.rl' has no attribute {name!r}")


__all__ = ["ALGORITHMS", "AGENTS", "algorithm", "DQN", "A2C", "REINFORCE"]
