"""Architecture search on Fashion-MNIST: the REINFORCE controller against random search, same child budget.

    nice -n 10 python bench/nas.py --children 20 --child-steps 150

Both methods train ``--children`` children of ``--child-steps`` steps (batch ``--batch-size``, Adam, no
augmentation) on train[:55000] and take their accuracy on the held-out last 5,000 training images as the reward.
Then the best child of each is trained again with the same budget and evaluated on the 10,000 test images.
Searches resume from ``--work`` (kill and rerun with the same arguments). Writes bench/results/nas.json and
docs/img/nas_rewards.png (reward per child, both methods).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402  (bench/common.py: before TensorFlow loads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=20)
    parser.add_argument("--child-steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3, help="children's Adam learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default="runs/bench_nas", help="search folders (resumable)")
    parser.add_argument("--plot", default=os.path.join(os.path.dirname(__file__), "..", "docs", "img",
                                                       "nas_rewards.png"))
    args = parser.parse_args()
    logging.basicConfig(format="%(message)s")
    logging.getLogger("kerazoo").setLevel(logging.INFO)  # nas_search's line per child

    from kerazoo.training import load_config
    from kerazoo.training.nas import child_config_dict, nas_search, plot_rewards
    from kerazoo.training.config import config_from_dict, config_to_dict
    from kerazoo.training.search import run_trial

    config = load_config(overrides=[
        "data.dataset=fashion_mnist", f"data.batch_size={args.batch_size}", "data.augment=[]",
        "optimizer.name=adam", f"optimizer.lr={args.lr}", "optimizer.weight_decay=0.0", f"seed={args.seed}",
        "epochs=10", "jit_compile=false",
    ])
    figures, rows = {}, {}
    for method in ("nas", "nas_random"):
        began = time.perf_counter()
        result = nas_search(config, method=method, children=args.children, child_steps=args.child_steps,
                            seed=args.seed, out=os.path.join(args.work, method), verbose=1)
        best = result.best
        retrained = run_trial(config_from_dict(child_config_dict(config_to_dict(config), best["architecture"],
                                                                 child_steps=args.child_steps)), test=True)
        rewards = [r["val_accuracy"] for r in result.rows]
        half = len(rewards) // 2
        figures[method] = {
            "best_child": best["child"], "best_val_accuracy": best["val_accuracy"],
            "best_retrained_val_accuracy": retrained["val_accuracy"],
            "best_retrained_test_accuracy": retrained["test_accuracy"],
            "best_architecture": best["architecture"],
            "mean_reward_first_half": sum(rewards[:half]) / max(half, 1),
            "mean_reward_second_half": sum(rewards[half:]) / max(len(rewards) - half, 1),
            "child_seconds_total": round(sum(r["seconds"] for r in result.rows), 1),
            "wall_seconds_this_run": round(time.perf_counter() - began, 1),
        }
        rows[method] = result.rows
        print(method, {k: v for k, v in figures[method].items() if k != "best_architecture"}, flush=True)
    plot_rewards(rows, os.path.abspath(args.plot))
    path = common.write_results("nas", {
        "children": args.children, "child_steps": args.child_steps, "batch_size": args.batch_size,
        "child_optimizer": f"adam lr {args.lr}, no augmentation, 1 epoch of child_steps steps (cosine)",
        "reward": "accuracy on the held-out last 5,000 training images (validation split)",
        "methods": figures, "rewards": {m: [r["val_accuracy"] for r in rs] for m, rs in rows.items()},
    })
    print("wrote", path)


if __name__ == "__main__":
    main()
