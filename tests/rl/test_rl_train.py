"""In-process training runs: DQN beats a random policy on CartPole; run directory, resume, export, A2C, REINFORCE."""

import json
import os

import numpy as np
import pytest

from kerazoo.rl import a2c, dqn, reinforce, run
from kerazoo.rl.evaluate import evaluate, evaluate_policy, load_policy


@pytest.fixture(scope="module")
def dqn_run(tmp_path_factory):
    """DQN with the tuned CartPole hyperparameters for 8k steps (of the 50k that solve it), seed 0."""
    out = tmp_path_factory.mktemp("rl") / "dqn_cartpole"
    args = dqn.make_args(env="CartPole-v1", steps=8_000, seed=0, eval_episodes=10, checkpoint_every=4_000,
                         log_every=2_000, out=str(out), verbose=False)
    return dqn.train(args)


def random_policy_mean(episodes=10):
    rng = np.random.default_rng(0)
    return evaluate_policy(lambda o: rng.integers(2, size=len(o)), "CartPole-v1", episodes, seed=100_000)["mean"]


def test_seeded_dqn_beats_random_on_cartpole(dqn_run):
    summary = json.loads(open(os.path.join(dqn_run, "summary.json")).read())
    random_mean = random_policy_mean()
    assert random_mean < 40
    assert summary["eval"]["mean"] >= random_mean + 50, (summary["eval"], random_mean)
    # (8000 - 1000) steps after learning starts: trainings at 1024, 1280, ..., 7936 → 28 x 128 gradient steps
    assert summary["gradient_steps"] == 28 * 128 and summary["steps"] == 8_000


def test_run_directory_contents(dqn_run):
    for name in ("config.yaml", "metrics.jsonl", "policy.keras", "summary.json", "returns.png",
                 "saved_model/saved_model.pb", "checkpoints/last/arrays.npz", "checkpoints/last/meta.json"):
        assert os.path.exists(os.path.join(dqn_run, name)), name
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(os.path.join(dqn_run, "tb")))
    lines = [json.loads(l) for l in open(os.path.join(dqn_run, "metrics.jsonl"))]
    assert [l["step"] for l in lines if "sps" in l] == [2000, 4000, 6000, 8000]
    assert all(l["sps"] > 0 and "episodic_return" in l for l in lines if "sps" in l)
    assert "td_loss" in [l for l in lines if "sps" in l][-1]
    assert [(l["step"], l["eval"]) for l in lines if "eval" in l] == [(5000, "periodic"), (8000, "periodic"),
                                                                     (8000, "final")]
    assert lines[-1]["eval_episodes"] == 10
    assert run.load_config(dqn_run)["args"]["train_freq"] == 256


def test_the_exported_policy_is_the_best_periodic_evaluation(dqn_run):
    summary = json.loads(open(os.path.join(dqn_run, "summary.json")).read())
    best = summary["best_periodic_eval"]
    lines = [json.loads(l) for l in open(os.path.join(dqn_run, "metrics.jsonl"))]
    periodic = {l["step"]: l["eval_mean"] for l in lines if l.get("eval") == "periodic"}
    assert best["mean"] == max(periodic.values()) and periodic[best["step"]] == best["mean"]
    arrays, meta = run.load_checkpoint(dqn_run)
    _, model, _ = load_policy(dqn_run)
    for i, w in enumerate(model.weights):
        np.testing.assert_array_equal(np.asarray(w), arrays[f"best/{i}"])
    assert meta["best_step"] == best["step"]


def test_saved_model_serving_signature_matches_policy(dqn_run):
    import tensorflow as tf

    _, model, act = load_policy(dqn_run)
    serve = tf.saved_model.load(os.path.join(dqn_run, "saved_model")).signatures["serving_default"]
    assert list(serve.structured_input_signature[1]) == ["observations"]
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    out = serve(observations=tf.constant(obs))
    assert set(out) == {"q_values", "actions"}
    np.testing.assert_allclose(out["q_values"].numpy(), np.asarray(model(obs)), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(out["actions"].numpy(), act(obs))


def test_evaluate_is_deterministic(dqn_run):
    first, second = evaluate(dqn_run, episodes=3), evaluate(dqn_run, episodes=3)
    assert first["returns"] == second["returns"] and first["episodes"] == 3


def test_resume_continues_from_the_checkpoint(tmp_path):
    out = str(tmp_path / "run")
    common_args = dict(steps=1_536, learning_starts=256, train_freq=128, gradient_steps=16, chunk_steps=128,
                       hidden_sizes=[32, 32], eval_episodes=0, out=out, verbose=False)
    dqn.train(dqn.make_args(**common_args))
    meta = run.load_checkpoint_meta(out)
    assert meta["global_step"] == 1_536 and meta["n_updates"] == (1_536 // 128 - 2) * 16
    with pytest.raises(FileExistsError, match="complete"):
        dqn.train(dqn.make_args(**common_args))
    with pytest.raises(ValueError, match=r"different arguments \(learning_rate differ\)"):
        dqn.train(dqn.make_args(**{**common_args, "steps": 2_048, "learning_rate": 1e-4}))
    dqn.train(dqn.make_args(**{**common_args, "steps": 2_048}))  # trains further from step 1536
    meta = run.load_checkpoint_meta(out)
    assert meta["global_step"] == 2_048 and meta["n_updates"] == (2_048 // 128 - 2) * 16
    summary = json.loads(open(os.path.join(out, "summary.json")).read())
    assert summary["steps"] == 2_048
    arrays, _ = run.load_checkpoint(out)
    assert arrays["rb/actions"].shape == (2_048,)  # the replay memory came back with the checkpoint


@pytest.mark.parametrize("module, extra", [
    (a2c, dict(steps=2_000)),
    (reinforce, dict(steps=1_000, num_envs=4)),
])
def test_policy_gradient_smoke(module, extra, tmp_path):
    out = str(tmp_path / "run")
    module.train(module.make_args(env="CartPole-v1", seed=0, eval_episodes=2, log_every=500, out=out,
                                  verbose=False, **extra))
    summary = json.loads(open(os.path.join(out, "summary.json")).read())
    assert summary["steps"] >= extra["steps"] and summary["eval"]["episodes"] == 2
    import tensorflow as tf

    serve = tf.saved_model.load(os.path.join(out, "saved_model")).signatures["serving_default"]
    out = serve(observations=tf.zeros((3, 4)))
    assert set(out) == {"probabilities", "actions"}
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("module, steps", [(a2c, 60_000), (reinforce, 60_000)])
def test_policy_gradients_learn_cartpole(module, steps, tmp_path):
    out = module.train(module.make_args(env="CartPole-v1", steps=steps, seed=0, eval_episodes=10,
                                        out=str(tmp_path / "run"), verbose=False))
    summary = json.loads(open(os.path.join(out, "summary.json")).read())
    assert summary["eval"]["mean"] >= random_policy_mean() + 50, summary["eval"]


@pytest.mark.slow
def test_double_dueling_dqn_learns_cartpole(tmp_path):
    out = dqn.train(dqn.make_args(env="CartPole-v1", steps=10_000, seed=0, double_q=True, dueling=True,
                                  eval_episodes=10, out=str(tmp_path / "run"), verbose=False))
    summary = json.loads(open(os.path.join(out, "summary.json")).read())
    assert summary["eval"]["mean"] >= random_policy_mean() + 50, summary["eval"]
