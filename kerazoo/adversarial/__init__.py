"""Adversarial examples for any zoo model: white-box attacks, black-box transfer, robustness reports and
adversarial training (see docs/adversarial.md)."""

from kerazoo.adversarial.attacks import ATTACKS, fgsm, input_gradient, iterative_fgsm, pgd, run_attack

__all__ = ["ATTACKS", "fgsm", "input_gradient", "iterative_fgsm", "pgd", "run_attack"]
