"""Fréchet distance: against the closed form, and on a classifier run's features with the real-data floor."""

import numpy as np
import pytest

from kerazoo.generative import frechet_distance, sample_quality


def test_frechet_distance_matches_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 2.0, (500, 1))
    b = rng.normal(-0.5, 0.5, (400, 1))
    # In 1-D: (m_a - m_b)^2 + (s_a - s_b)^2 with the sample statistics.
    by_hand = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert frechet_distance(a, b) == pytest.approx(by_hand, rel=1e-6)
    # In 3-D: tr (S_c S_d)^(1/2) is the sum of the square roots of the eigenvalues of S_c S_d.
    c = rng.normal(0, 1, (300, 3)) @ [[1.0, 0.5, 0.0], [0.0, 3.0, 0.2], [0.0, 0.0, 1.0]]
    d = rng.normal(0, 1, (300, 3)) * [2.0, 1.0, 0.5] + [1.0, 0.0, -1.0]
    cov_c, cov_d = np.cov(c, rowvar=False), np.cov(d, rowvar=False)
    root_trace = np.sqrt(np.linalg.eigvals(cov_c @ cov_d).real).sum()
    by_hand = ((c.mean(0) - d.mean(0)) ** 2).sum() + np.trace(cov_c) + np.trace(cov_d) - 2 * root_trace
    assert frechet_distance(c, d) == pytest.approx(by_hand, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="Feature sizes differ"):
        frechet_distance(a, c)


def test_sample_quality_puts_noise_far_above_the_real_floor(trained_run, idx_data_dir):
    noise = np.random.default_rng(0).uniform(0, 255, (48, 28, 28, 1))
    quality = sample_quality(noise, trained_run, data_dir=idx_data_dir)
    assert quality["reference_examples"] == 96 and quality["floor_examples"] == 48
    assert 0 <= quality["floor"] < quality["frechet_distance"]
    with pytest.raises(ValueError, match=r"Received: images.shape=\(2, 8, 8, 1\)"):
        sample_quality(np.zeros((2, 8, 8, 1)), trained_run, data_dir=idx_data_dir)
