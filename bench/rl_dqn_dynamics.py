"""DQN's learning dynamics on CartPole-v1 by initialization: Q-value scale, TD loss, training returns, periodic evals.

    python bench/rl_dqn_dynamics.py --seeds 3 --inits keras torch

One fresh kerazoo DQN run per (seed, init), rl-baselines3-zoo's CartPole-v1 hyperparameters (the preset), 50k steps,
1 thread. Logged every 2,500 steps: the mean Q(s, a) of the minibatches (``q_values``), the Huber TD loss
(``td_loss``) and the episodic return with epsilon-greedy acting; the 5-episode periodic evaluations every 5k steps;
then 20 deterministic episodes of the exported (best periodic) policy.

Why it matters: with target copies only between trainings (train_freq 256), Q can grow by at most one bootstrapping
step per training, Q_n = 1 + 0.99 Q_{n-1}: after the ~191 trainings of 50k steps that is 100 (1 - 0.99^191) ~ 85.
Mean Q above that bound is overestimation (the max over noisy Q-values), not learning.

Writes bench/results/rl_dqn_dynamics.json (date, machine, command, runs).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "rl_dqn_dynamics.json")


def worker(seed: int, init: str, steps: int) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from kerazoo.rl import dqn
    from kerazoo.rl.evaluate import evaluate
    from kerazoo.runs import RunDir

    with tempfile.TemporaryDirectory() as tmp:
        args = dqn.make_args(seed=seed, init=init, steps=steps, eval_episodes=0, checkpoint_every=0, log_every=2_500,
                             verbose=False, out=os.path.join(tmp, "run"))
        wall = time.perf_counter()
        run_dir = dqn.train(args)
        wall = time.perf_counter() - wall
        final = evaluate(run_dir, episodes=20, seed=seed + 100_000)
        rows = RunDir(run_dir).read_metrics()
    trace = [{k: r.get(k) for k in ("step", "q_values", "td_loss", "episodic_return")} for r in rows if "eval" not in r]
    evals = [[r["step"], r["eval_mean"]] for r in rows if r.get("eval") == "periodic"]
    return {"seed": seed, "init": init, "wall_s": round(wall, 1), "eval_mean": final["mean"], "periodic_evals": evals,
            "trace": trace}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[3])
    parser.add_argument("--inits", nargs="+", default=["keras", "torch"], choices=["keras", "torch"])
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(int(args.worker[0]), args.worker[1], args.steps)), flush=True)
        return
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(["python", os.path.relpath(__file__, os.getcwd()), *sys.argv[1:]]), "runs": []}
    env = {**os.environ, "PYTHONPATH": os.path.dirname(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for seed in args.seeds:
        for init in args.inits:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", str(seed), init, "--steps", str(args.steps)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
            if proc.returncode or not lines:
                raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
            run = json.loads(lines[-1])
            report["runs"].append(run)
            last = run["trace"][-1]
            print(f"seed {seed} init {init}: final mean Q {last['q_values']:.1f}, TD loss {last['td_loss']:.3f}, "
                  f"periodic evals {[e for _, e in run['periodic_evals']]}, eval {run['eval_mean']:.1f}", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".tmp", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    os.replace(args.out + ".tmp", args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
