"""Before/after serving speed on a shared machine: alternating runs of bench/serving_load.py against two trees.

    python bench/serving_compare.py                      # base: merge-base with main; 3 pairs; c = 64, batched
    python bench/serving_compare.py --base afc30fb --pairs 4 --seconds 6

The machine this project runs on is shared, so its speed moves from minute to minute: a "before" run an hour
before an "after" run compares the machine, not the code. This runs the load bench (this tree's
bench/serving_load.py, ``--load-only --servers batched``) on the base commit's kerazoo (``git archive`` unpacked to a
temporary folder) and on this working tree, alternating before/after, and reports each run's in-process limit,
req/s and fraction of that run's limit for REST and gRPC, plus the server process's CPU milliseconds per request,
which moves far less with the machine's load than throughput does. Writes bench/results/serving_compare.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", _ROOT, *args], check=True, capture_output=True, text=True).stdout.strip()


def one_run(tree: str, args, out: str) -> dict:
    env = dict(os.environ, PYTHONPATH=tree, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    command = [sys.executable, os.path.join(_HERE, "serving_load.py"), "--concurrency", str(args.concurrency),
               "--servers", "batched", "--load-only", "--no-write", "--seconds", str(args.seconds), "--out", out]
    if args.nice:
        command = ["nice", "-n", str(args.nice), *command]
    subprocess.run(command, env=env, check=True, cwd=tree)  # this tree's bench and load generator, either kerazoo
    with open(out) as f:
        return json.load(f)


def summarize(label: str, started: str, figures: dict, concurrency: int) -> dict:
    limit = figures["in_process_limit"]
    settings = figures["settings"]
    row = {"code": label, "started_utc": started, "client": settings.get("client"),
           "num_batch_threads": settings.get("num_batch_threads"), "limit_images_per_s": limit["images_per_s"],
           "limit_cpu_ms_per_image": limit.get("cpu_ms_per_image")}
    for protocol, points in figures["servers"]["batched"].items():
        point = next(p for p in points if p["concurrency"] == concurrency)
        row[protocol] = {"rps": point["throughput_rps"], "fraction_of_limit":
                         round(point["throughput_rps"] / limit["images_per_s"], 3),
                         "cpu_ms_per_request": point.get("server_cpu_ms_per_request"),
                         # the limit's CPU per image over the server's per request: the fraction of the limit the
                         # server would reach with the same CPU (the clients' CPU left out)
                         "cpu_fraction_of_limit": round(limit["cpu_ms_per_image"] / point["server_cpu_ms_per_request"],
                                                        3) if point.get("server_cpu_ms_per_request") else None,
                         "client_cpu_ms_per_request": point.get("client_cpu_ms_per_request"),
                         "p50_ms": point["p50_ms"], "errors": point["errors"],
                         "mean_batch_rows": point.get("mean_batch_rows")}
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=None, help="the 'before' commit (default: git merge-base HEAD main)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--nice", type=int, default=0, help="run the bench under nice -n N")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--name", default="serving_compare", help="results file name under bench/results/")
    args = parser.parse_args(argv)

    base = _git("rev-parse", "--short", args.base or _git("merge-base", "HEAD", "main"))
    head = _git("rev-parse", "--short", "HEAD") + ("+changes" if _git("status", "--porcelain", "kerazoo") else "")
    rows = []
    with tempfile.TemporaryDirectory(prefix="serving_compare_") as tmp:
        before = os.path.join(tmp, "before")
        os.makedirs(before)
        archive = subprocess.run(["git", "-C", _ROOT, "archive", base, "kerazoo"], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", before], input=archive.stdout, check=True)
        for pair in range(args.pairs):
            for label, tree in ((f"before ({base})", before), (f"after ({head})", _ROOT)):
                started = time.strftime("%H:%M", time.gmtime())
                figures = one_run(tree, args, os.path.join(tmp, "run.json"))
                rows.append(summarize(label, started, figures, args.concurrency))
                print(json.dumps(rows[-1]), flush=True)

    print(f"\n| run (UTC) | code | limit (images/s) | REST c={args.concurrency} req/s | REST % | REST CPU ms/req "
          f"| gRPC req/s | gRPC % | gRPC CPU ms/req | limit CPU ms/image | REST CPU % | gRPC CPU % |")
    for row in rows:
        rest, grpc = row.get("rest", {}), row.get("grpc", {})
        print(f"| {row['started_utc']} | {row['code']} | {row['limit_images_per_s']} | {rest.get('rps')} | "
              f"{rest.get('fraction_of_limit', 0) * 100:.0f} % | {rest.get('cpu_ms_per_request')} | "
              f"{grpc.get('rps')} | "
              f"{grpc.get('fraction_of_limit', 0) * 100:.0f} % | {grpc.get('cpu_ms_per_request')} | "
              f"{row['limit_cpu_ms_per_image']} | {(rest.get('cpu_fraction_of_limit') or 0) * 100:.0f} % | "
              f"{(grpc.get('cpu_fraction_of_limit') or 0) * 100:.0f} % |")
    if not args.no_write:
        sys.path.append(_HERE)
        from common import write_results

        print("wrote", write_results(args.name, {"base": base, "head": head, "settings": vars(args),
                                                         "runs": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
