"""kerazoo DQN vs Stable-Baselines3 DQN on CartPole-v1, same machine, same hyperparameters; plus REINFORCE and A2C.

    pip install 'kerazoo[rl,rl-bench]'      # stable-baselines3 and a CPU torch: benchmark-only, never imported by kerazoo
    python bench/rl_cartpole.py                                  # 5 seeds x 50k steps, both libraries, then PG runs
    python bench/rl_cartpole.py --seeds 0 1 --skip-pg            # what fits

Both DQNs use rl-baselines3-zoo's tuned CartPole-v1 hyperparameters (hyperparams/dqn.yml): lr 2.3e-3, batch 64,
buffer 100k, learning_starts 1000, gamma 0.99, target_update_interval 10, train_freq 256, gradient_steps 128,
exploration_fraction 0.16, exploration_final_eps 0.04, a 256x256 MLP; Adam, Huber loss, grad-norm clip 10 (SB3's
defaults, which kerazoo's DQN shares). Every run is a fresh subprocess, kerazoo and SB3 alternate seed by seed (so
both see the same background load), and both libraries get the same number of intra-op threads (``--threads``,
default 1: on a shared 2-core machine, two torch threads spin against each other). Wall time: building the agent and
training (kerazoo: the whole ``dqn.train`` call, including XLA compilation, checkpoint and SavedModel export; SB3:
``DQN(...)`` and ``learn``); CPU time: the process's user+system time over the same span. Evaluation (not timed):
20 deterministic (greedy) episodes with the same seeds and the same loop for both, of the best policy of the
periodic evaluations (5 episodes every 5k steps: kerazoo's ``eval_every`` default, SB3's EvalCallback, as
rl-baselines3-zoo trains) and, reported beside it, of the last weights.

Prints one line per run and a summary; writes bench/results/rl_cartpole.json (date, machine, command, runs).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "rl_cartpole.json")

ZOO_CARTPOLE_DQN = dict(learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1_000, gamma=0.99,
                        target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
                        exploration_final_eps=0.04)
EVAL_SEED_OFFSET = 100_000
EVERY, EVERY_EPISODES = 5_000, 5  # periodic evaluation for the best policy: kerazoo's eval_every defaults
PG_RUNS = [("reinforce", "CartPole-v1", 200_000), ("a2c", "CartPole-v1", 200_000),
           ("reinforce", "Acrobot-v1", 300_000), ("a2c", "Acrobot-v1", 300_000)]


# ----------------------------------------------------------------------------------------------------------------------
# Workers (one run each, in a fresh process)
# ----------------------------------------------------------------------------------------------------------------------
def worker_kerazoo(algo: str, env_id: str, steps: int, seed: int, threads: int, episodes: int) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    from kerazoo import rl
    from kerazoo.rl.networks import make_forward
    from kerazoo.rl.run import arrays_to_weights, load_checkpoint
    from kerazoo.rl.evaluate import evaluate, evaluate_policy, load_policy
    from kerazoo.runs import RunDir

    module = rl.algorithm(algo)
    with tempfile.TemporaryDirectory() as tmp:
        args = module.make_args(env=env_id, steps=steps, seed=seed, eval_episodes=0, checkpoint_every=0,
                                log_every=10**9, verbose=False, out=os.path.join(tmp, "run"))
        wall, cpu = time.perf_counter(), time.process_time()
        run_dir = module.train(args)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        summary = RunDir(run_dir).read_summary()
        result = evaluate(run_dir, episodes=episodes, seed=seed + EVAL_SEED_OFFSET)  # the exported (best) policy
        _, model, act = load_policy(run_dir)  # and the last weights, from the checkpoint
        arrays, _ = load_checkpoint(run_dir)
        prefix = {"dqn": "q", "reinforce": "policy", "a2c": "actor"}[algo]
        arrays_to_weights(prefix, model.weights, arrays)
        forward = make_forward(model)
        last = evaluate_policy(lambda o: forward(o).argmax(-1), env_id, episodes, seed=seed + EVAL_SEED_OFFSET)
    return {"library": "kerazoo", "algorithm": algo, "env": env_id, "seed": seed, "steps": summary["steps"],
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "loop_s": summary["train_seconds"],
            "eval_mean": result["mean"], "eval_std": round(result["std"], 2), "eval_mean_last": last["mean"],
            "best_periodic_eval": summary["best_periodic_eval"]}


def worker_sb3(algo: str, env_id: str, steps: int, seed: int, threads: int, episodes: int) -> dict:
    import torch
    from stable_baselines3 import DQN

    from kerazoo.rl.evaluate import evaluate_policy

    import gymnasium as gym
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.monitor import Monitor

    if threads:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        model = DQN("MlpPolicy", env_id, policy_kwargs=dict(net_arch=[256, 256]), seed=seed, device="cpu",
                    verbose=0, **ZOO_CARTPOLE_DQN)
        # the same best-policy protocol as kerazoo's eval_every (rl-baselines3-zoo's EvalCallback)
        callback = EvalCallback(Monitor(gym.make(env_id)), n_eval_episodes=EVERY_EPISODES, eval_freq=EVERY,
                                deterministic=True, best_model_save_path=tmp, verbose=0)
        model.learn(total_timesteps=steps, callback=callback)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        last = evaluate_policy(lambda obs: model.predict(obs, deterministic=True)[0], env_id, episodes,
                               seed=seed + EVAL_SEED_OFFSET)
        best_model = DQN.load(os.path.join(tmp, "best_model.zip"), device="cpu")
        result = evaluate_policy(lambda obs: best_model.predict(obs, deterministic=True)[0], env_id, episodes,
                                 seed=seed + EVAL_SEED_OFFSET)
    return {"library": "sb3", "algorithm": algo, "env": env_id, "seed": seed, "steps": steps,
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "eval_mean": result["mean"],
            "eval_std": round(result["std"], 2), "eval_mean_last": last["mean"],
            "best_periodic_eval": {"mean": float(callback.best_mean_reward)}}


# ----------------------------------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------------------------------
def run_worker(library: str, algo: str, env_id: str, steps: int, seed: int, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", library, "--algo", algo, "--env", env_id,
           "--steps", str(steps), "--seed", str(seed), "--threads", str(args.threads),
           "--episodes", str(args.episodes)]
    env = {**os.environ, "PYTHONPATH": os.path.dirname(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    load = os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = {**json.loads(lines[-1]), "load_before": round(load, 2)}
    print(json.dumps(result), flush=True)
    return result


def machine() -> dict:
    model = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for name in ("tensorflow", "keras", "gymnasium", "numpy", "torch", "stable_baselines3"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = None
    return {"cpu": model, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "versions": versions}


def save(report: dict, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    os.replace(path + ".tmp", path)


def summarize(runs: list[dict]) -> dict:
    out = {}
    for library in ("kerazoo", "sb3"):
        rows = [r for r in runs if r["library"] == library and r["algorithm"] == "dqn"]
        if rows:
            out[library] = {"seeds": len(rows), "solved": sum(r["eval_mean"] >= 475 for r in rows),
                            "solved_last_weights": sum(r["eval_mean_last"] >= 475 for r in rows),
                            "median_wall_s": statistics.median(r["wall_s"] for r in rows),
                            "median_cpu_s": statistics.median(r["cpu_s"] for r in rows)}
    if "kerazoo" in out and "sb3" in out:
        out["wall_ratio_kerazoo_over_sb3"] = round(out["kerazoo"]["median_wall_s"] / out["sb3"]["median_wall_s"], 3)
        out["cpu_ratio_kerazoo_over_sb3"] = round(out["kerazoo"]["median_cpu_s"] / out["sb3"]["median_cpu_s"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--episodes", type=int, default=20, help="deterministic evaluation episodes per run")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads for both libraries (0: defaults)")
    parser.add_argument("--libraries", nargs="+", default=["kerazoo", "sb3"], choices=["kerazoo", "sb3"])
    parser.add_argument("--skip-pg", action="store_true", help="skip the REINFORCE and A2C runs")
    parser.add_argument("--pg-only", action="store_true", help="only the REINFORCE and A2C runs")
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--worker", choices=["kerazoo", "sb3"], help=argparse.SUPPRESS)
    parser.add_argument("--algo", default="dqn", help=argparse.SUPPRESS)
    parser.add_argument("--env", default="CartPole-v1", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        fn = worker_kerazoo if args.worker == "kerazoo" else worker_sb3
        print(json.dumps(fn(args.algo, args.env, args.steps, args.seed, args.threads, args.episodes)), flush=True)
        return

    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(["python", os.path.relpath(__file__, os.getcwd()), *sys.argv[1:]]),
              "machine": machine(), "threads": args.threads, "steps": args.steps, "eval_episodes": args.episodes,
              "sb3_hyperparameters": {**ZOO_CARTPOLE_DQN, "net_arch": [256, 256]}, "runs": [], "pg_runs": []}
    if args.pg_only and os.path.exists(args.out):  # keep the DQN runs of the file, redo the policy-gradient ones
        with open(args.out, encoding="utf-8") as f:
            previous = json.load(f)
        report.update({k: previous[k] for k in ("runs", "summary", "date", "command") if k in previous})
        report["pg_command"] = " ".join(["python", os.path.relpath(__file__, os.getcwd()), *sys.argv[1:]])
    if not args.pg_only:
        for seed in args.seeds:
            for library in args.libraries:
                report["runs"].append(run_worker(library, "dqn", "CartPole-v1", args.steps, seed, args))
                report["summary"] = summarize(report["runs"])
                save(report, args.out)
        print(json.dumps(report["summary"], indent=1))
    if not args.skip_pg:
        for algo, env_id, steps in PG_RUNS:
            report["pg_runs"].append(run_worker("kerazoo", algo, env_id, steps, args.seeds[0], args))
            save(report, args.out)
    report["load_after"] = round(os.getloadavg()[0], 2)
    save(report, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
