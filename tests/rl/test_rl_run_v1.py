"""A DQN run directory written before kerazoo.rl wrote through kerazoo.runs.RunDir (tests/fixtures/rl_run_v1: made by
commit 15f9f78's `kerazoo rl train dqn ... --steps 600 --hidden-sizes 8,8`, without tb/, saved_model/ and returns.png)
is still read: `kerazoo rl eval|record`, and training it further resumes from its checkpoint."""

import json
import os
import shutil

from kerazoo.cli import main
from kerazoo.rl import dqn, run
from kerazoo.runs import RunDir

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "rl_run_v1")


def test_eval_and_record_read_the_old_run(tmp_path, capsys):
    assert main(["rl", "eval", FIXTURE, "--episodes", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["algorithm"] == "dqn" and result["episodes"] == 2 and min(result["returns"]) >= 1
    gif = str(tmp_path / "old.gif")
    assert main(["rl", "record", FIXTURE, "--out", gif, "--max-frames", "5", "--scale", "0.25"]) == 0
    assert os.path.getsize(gif) > 0


def test_old_run_trains_further_through_rundir(tmp_path):
    out = str(tmp_path / "run")
    shutil.copytree(FIXTURE, out)
    before = RunDir(out).read_metrics()
    config = run.load_config(out)["args"]
    keep = ("env", "seed", "learning_starts", "train_freq", "gradient_steps", "chunk_steps", "hidden_sizes",
            "eval_episodes", "eval_every")
    dqn.train(dqn.make_args(**{k: config[k] for k in keep}, steps=768, out=out, verbose=False))
    summary = RunDir(out).read_summary()
    assert summary["steps"] == 768 and summary["gradient_steps"] == 8 * 4  # resumed at 600: trainings 384-768
    after = RunDir(out).read_metrics()
    assert after[:len(before)] == before and len(after) > len(before)


def test_keep_metrics_lines_keeps_the_first_lines_and_drops_a_torn_one(tmp_path):
    """RL's resume point counts metrics.jsonl lines (RunDir.keep_metrics_lines), its lines having no epoch."""
    rundir = RunDir(tmp_path)
    for step in (256, 512, 768):
        rundir.append_metrics({"step": step})
    with open(rundir.metrics_path, "a", encoding="utf-8") as f:
        f.write('{"step": 10')  # torn by a kill
    rundir.keep_metrics_lines(2)
    assert rundir.read_metrics() == [{"step": 256}, {"step": 512}]
    with open(rundir.metrics_path, encoding="utf-8") as f:
        assert f.read().endswith("512}\n")
