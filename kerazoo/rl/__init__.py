"""kerazoo.rl: DQN, REINFORCE and A2C on Gymnasium, one readable module per algorithm (CleanRL style).

    from kerazoo.rl import dqn
    run_dir = dqn.train(dqn.make_args(env="CartPole-v1", steps=50_000, seed=0, out="runs/dqn_cartpole"))

Each algorithm module has ``Args`` (a dataclass), ``PRESETS`` (tuned hyperparameters per environment),
``make_args(**overrides)`` and ``train(args) -> run_dir``. ``kerazoo.rl.evaluate`` evaluates and records runs.
Modules are imported on first use, so ``import kerazoo.rl`` stays light.
"""

import importlib

ALGORITHMS = {"dqn": "kerazoo.rl.dqn", "reinforce": "kerazoo.rl.reinforce", "a2c": "kerazoo.rl.a2c"}


def algorithm(name: str):
    """The module of algorithm ``name`` (dqn, reinforce or a2c)."""
    if name not in ALGORITHMS:
        raise ValueError(f"Unknown RL algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}.")
    return importlib.import_module(ALGORITHMS[name])


__all__ = ["ALGORITHMS", "algorithm"]
