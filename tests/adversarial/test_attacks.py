import keras
import numpy as np
import pytest

from adversarial_helpers import input_gradient_by_hand, linear_model, random_linear, softmax
from kerazoo.adversarial import fgsm, iterative_fgsm, pgd, run_attack
from kerazoo.adversarial.attacks import input_gradient


def as_numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def linear():
    weights, bias = random_linear()
    return linear_model(weights, bias), weights, bias


def test_fgsm_equals_eps_sign_gradient_on_a_linear_model(linear):
    model, weights, bias = linear
    x = np.array([[100, 50, 200, 128, 30, 250], [10, 120, 60, 240, 180, 5], [254] * 6, [1] * 6], "float32")
    y = np.array([2, 0, 1, 1])
    eps = 0.05
    expected = np.clip(x + eps * 255 * np.sign(input_gradient_by_hand(weights, bias, x, y)), 0, 255)
    np.testing.assert_allclose(as_numpy(fgsm(model, x, y, eps)), expected, atol=1e-4)
    assert (expected[2:] == 255).any() and (expected[2:] == 0).any(), "the test covers clipping at the range"
    # targeted: the step goes against the gradient of the target's loss
    expected_targeted = np.clip(x - eps * 255 * np.sign(input_gradient_by_hand(weights, bias, x, y)), 0, 255)
    np.testing.assert_allclose(as_numpy(fgsm(model, x, y, eps, targeted=True)), expected_targeted, atol=1e-4)


def test_input_gradient_matches_hand_computation(linear):
    model, weights, bias = linear
    x = np.random.default_rng(1).uniform(0, 255, (4, 6)).astype("float32")
    y = np.array([0, 1, 2, 1])

    def loss(images):
        return keras.losses.sparse_categorical_crossentropy(y, model(images), from_logits=True)

    values, gradient = input_gradient(loss, x)
    probs = softmax(x @ weights + bias)
    np.testing.assert_allclose(as_numpy(values), -np.log(probs[np.arange(4), y]), rtol=1e-4)
    np.testing.assert_allclose(as_numpy(gradient), input_gradient_by_hand(weights, bias, x, y), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("pixel_range", [(0.0, 255.0), (-1.0, 1.0)])
@pytest.mark.parametrize("norm, eps", [("linf", 0.03), ("linf", 0.3), ("l2", 0.1), ("l2", 1.0)])
def test_perturbation_stays_in_the_eps_ball_and_the_pixel_range(linear, norm, eps, pixel_range):
    model, _, _ = linear
    low, high = pixel_range
    rng = np.random.default_rng(2)
    x = rng.uniform(low, high, (16, 6)).astype("float32")
    x[:4] = low  # pixels at the edges of the range must not leave it
    x[4:8] = high
    y = rng.integers(0, 3, 16)
    eps_abs = eps * (high - low)
    attacks = [pgd(model, x, y, eps, norm=norm, steps=5, restarts=2, seed=0, pixel_range=pixel_range),
               pgd(model, x, y, eps, norm=norm, steps=3, step_size=eps, random_init=False, pixel_range=pixel_range)]
    if norm == "linf":
        attacks.append(fgsm(model, x, y, eps, pixel_range=pixel_range))
    for adversarial in map(as_numpy, attacks):
        delta = adversarial - x
        assert adversarial.min() >= low and adversarial.max() <= high
        if norm == "linf":
            assert np.abs(delta).max() <= eps_abs * (1 + 1e-5) + 1e-4
        else:
            assert np.sqrt((delta**2).sum(-1)).max() <= eps_abs * (1 + 1e-5)
        assert np.abs(delta).max() > 0.5 * (eps_abs if norm == "linf" else eps_abs / np.sqrt(6)), "it moved"


def test_pgd_loss_is_non_decreasing_over_its_steps(linear):
    # Cross-entropy of a linear model is convex in x, and each step moves along the gradient inside a box, so the
    # loss cannot go down (f(x + d) >= f(x) + g.d >= f(x)).
    model, _, _ = linear
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 255, (32, 6)).astype("float32")
    y = rng.integers(0, 3, 32)
    for norm, eps in (("linf", 0.1), ("l2", 0.3)):
        _, losses = pgd(model, x, y, eps, norm=norm, steps=8, seed=0, return_losses=True)
        assert len(losses) == 9
        assert all(b >= a - 1e-5 for a, b in zip(losses, losses[1:])), losses
        assert losses[-1] > losses[0] + 0.05, f"PGD did not raise the loss: {losses}"


def test_targeted_attack_moves_predictions_toward_the_target(linear):
    model, weights, bias = linear
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 255, (24, 6)).astype("float32")
    target = (np.argmax(x @ weights + bias, -1) + 1) % 3
    before = softmax(x @ weights + bias)[np.arange(24), target]
    adversarial = as_numpy(pgd(model, x, target, 0.3, steps=10, targeted=True, seed=0))
    after = softmax(adversarial @ weights + bias)[np.arange(24), target]
    assert np.all(after > before)
    assert np.mean(np.argmax(adversarial @ weights + bias, -1) == target) > 0.8
    # the untargeted attack does not aim at it: the target's probability rises much less often
    untargeted = as_numpy(iterative_fgsm(model, x, np.argmax(x @ weights + bias, -1), 0.3, steps=10))
    assert np.mean(np.argmax(untargeted @ weights + bias, -1) == target) < np.mean(
        np.argmax(adversarial @ weights + bias, -1) == target)


def test_restarts_keep_the_strongest_start(linear):
    model, _, _ = linear
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 255, (32, 6)).astype("float32")
    y = rng.integers(0, 3, 32)

    def loss(images):
        return as_numpy(keras.losses.sparse_categorical_crossentropy(y, model(images), from_logits=True))

    one = loss(pgd(model, x, y, 0.05, steps=1, restarts=1, seed=7))
    many = loss(pgd(model, x, y, 0.05, steps=1, restarts=4, seed=7))
    assert np.all(many >= one - 1e-5) and many.mean() > one.mean()


def test_bad_input_gives_clear_errors(linear):
    model, _, _ = linear
    x = np.full((2, 6), 100.0, "float32")
    y = np.array([0, 1])
    with pytest.raises(ValueError, match=r"Invalid eps: expected a value in \(0, 1\].*Received: eps=3"):
        fgsm(model, x, y, 3)
    with pytest.raises(ValueError, match="Invalid eps.*Received: eps=0"):
        pgd(model, x, y, 0)
    with pytest.raises(ValueError, match=r"Invalid eps: expected a value in \(0, 2.449\].*diagonal"):
        pgd(model, x, y, 3.0, norm="l2")
    with pytest.raises(ValueError, match="Invalid norm: expected one of linf, l2. Received: norm='l1'"):
        pgd(model, x, y, 0.1, norm="l1")
    with pytest.raises(ValueError, match="outside pixel_range=\\(0, 1\\)"):
        fgsm(model, x, y, 0.1, pixel_range=(0, 1))
    with pytest.raises(ValueError, match="Did you mean pgd"):
        run_attack("pgdd", model, x, y, 0.1)
    with pytest.raises(ValueError, match="FGSM is an L∞ attack"):
        run_attack("fgsm", model, x, y, 0.1, norm="l2")
    with pytest.raises(ValueError, match="Invalid steps"):
        pgd(model, x, y, 0.1, steps=0)


def test_a_model_without_input_gradients_is_refused(linear):
    import tensorflow as tf

    model, _, _ = linear
    with pytest.raises(ValueError, match="no gradient with respect to its input"):
        fgsm(lambda images: tf.stop_gradient(model(images)), np.full((2, 6), 100.0, "float32"), np.array([0, 1]), 0.1)


@pytest.mark.slow
def test_attacks_run_on_the_jax_backend(tmp_path):
    import os
    import subprocess
    import sys

    script = tmp_path / "jax_fgsm.py"
    script.write_text(
        "import numpy as np, keras, sys\n"
        f"sys.path.insert(0, {os.path.dirname(__file__)!r})\n"
        "from adversarial_helpers import linear_model, random_linear, input_gradient_by_hand\n"
        "from kerazoo.adversarial import fgsm, pgd\n"
        "assert keras.backend.backend() == 'jax'\n"
        "w, b = random_linear(); model = linear_model(w, b)\n"
        "x = np.random.default_rng(0).uniform(0, 255, (4, 6)).astype('float32'); y = np.array([0, 1, 2, 0])\n"
        "expected = np.clip(x + 0.05 * 255 * np.sign(input_gradient_by_hand(w, b, x, y)), 0, 255)\n"
        "np.testing.assert_allclose(np.asarray(fgsm(model, x, y, 0.05)), expected, atol=1e-4)\n"
        "adv = np.asarray(pgd(model, x, y, 0.05, steps=3, seed=0))\n"
        "assert np.abs(adv - x).max() <= 0.05 * 255 + 1e-3\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
