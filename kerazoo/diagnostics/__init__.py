"""kerazoo.diagnostics: numerical checks of layers and losses (gradient checking)."""

from kerazoo.diagnostics.gradcheck import GradientCheck, TensorCheck, check_gradients

__all__ = ["GradientCheck", "TensorCheck", "check_gradients"]
