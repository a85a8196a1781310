"""The arguments every kerazoo.rl algorithm shares (``Args``), the ``--help`` text read from their docstrings, and the
resolution of defaults, per-environment presets and explicit overrides.

Each algorithm module subclasses ``Args`` and adds an "Algorithm specific arguments" block (CleanRL's layout).
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import os
import time
import typing
from dataclasses import dataclass

from kerazoo.rl.environments import is_atari


@dataclass
class Args:
    exp_name: str = ""
    """Name of the experiment (default: the algorithm's name); part of the default run directory name."""
    env: str = "CartPole-v1"
    """Gymnasium environment id, e.g. CartPole-v1, Acrobot-v1, ALE/Pong-v5 (needs ale-py)."""
    seed: int = 0
    """Seed of NumPy, Keras/TensorFlow and the environments."""
    steps: int = 50_000
    """Total environment steps (summed over the vectorized environments)."""
    num_envs: int = 1
    """Number of environments stepped together (gymnasium SyncVectorEnv)."""
    out: typing.Optional[str] = None
    """Run directory; default runs/ENV__EXP__SEED__UNIXTIME."""
    overwrite: bool = False
    """Replace an existing run directory instead of resuming it."""
    log_every: int = 5_000
    """Print and log SPS, returns and losses every this many environment steps."""
    checkpoint_every: int = 25_000
    """Save checkpoints/last every this many environment steps (and always at the end); 0: only at the end."""
    eval_episodes: int = 20
    """Deterministic evaluation episodes at the end of training (0: skip)."""
    eval_every: int = 5_000
    """Evaluate the greedy policy every this many environment steps and at the end (0: never); the best of these
    evaluations is the policy exported (rl-baselines3-zoo's EvalCallback protocol)."""
    eval_every_episodes: int = 5
    """Episodes per periodic evaluation (always the same seeds: seed + 200000 onwards)."""
    jit: bool = True
    """XLA-compile the update step."""
    verbose: bool = True
    """Print a line per log interval."""


# Fields that may change between a run and its resumption without changing the algorithm.
RESUMABLE_FIELDS = {"steps", "out", "overwrite", "log_every", "checkpoint_every", "eval_episodes", "verbose",
                    "eval_every", "eval_every_episodes",
                    "init"}  # DQN's first weights: a resumed run reads its own from the checkpoint


def field_docs(cls) -> dict[str, str]:
    """The attribute docstrings of a dataclass and its bases (the string right after each field), for --help."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body
        for node, nxt in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr)
                    and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def resolve_args(cls, presets: dict, **overrides) -> Args:
    """``cls``'s defaults, then the preset for the environment (tuned hyperparameters, if any), then ``overrides``.

    Presets are keyed by environment id; the key ``"atari"`` applies to every ALE environment.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        close = difflib.get_close_matches(unknown[0], names, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown argument {unknown[0]!r} for {cls.__module__}.Args.{hint}")
    env_id = overrides.get("env", cls.env)
    preset = presets.get(env_id) or (presets.get("atari", {}) if is_atari(env_id) else {})
    return cls(**{**preset, **overrides})


def default_run_dir(args: Args) -> str:
    return os.path.join("runs", f"{args.env.replace('/', '_')}__{args.exp_name}__{args.seed}__{int(time.time())}")
