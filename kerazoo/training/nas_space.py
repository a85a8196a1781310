"""The search space of the architecture search, as data: the decisions a controller takes, one softmax each.

    space = SearchSpace()                                   # or SearchSpace(filters=(16, 32, 64), ...)
    decisions = space.decisions([1, 2, 0])                  # the decisions that follow the choices so far
    architecture = space.architecture(choices)             # → the plain list kerazoo.applications.nas_cnn builds

Decisions come in order (Zoph and Le, 2017, section 3.1 and 3.3): first the number of layers, then per layer its
filters, its kernel size and, for every earlier layer but the one just before it (its input anyway), whether that
layer's output is concatenated into its input (a skip connection). What comes next depends on what came before
(the depth sets how many layer decisions follow), so ``decisions(prefix)`` returns the decision after ``prefix``.
Max pooling is not searched: a 2x2 pool follows every ``pool_every``-th layer, so deep children stay cheap on a CPU.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Decision", "SearchSpace"]


@dataclasses.dataclass(frozen=True)
class Decision:
    name: str
    """Where it sits: ``num_layers``, ``layer2.filters``, ``layer3.skip0`` ..."""
    kind: str
    """Which softmax and embedding the controller uses: num_layers, filters, kernel_size or skip."""
    choices: tuple


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    num_layers: tuple = (2, 3, 4, 5, 6)
    filters: tuple = (8, 16, 32, 48)
    kernel_sizes: tuple = (1, 3, 5)
    skips: bool = True
    """Whether skip connections to earlier layers are searched (else none)."""
    pool_every: int = 2
    """A 2x2 max pool after every ``pool_every``-th layer (0: none)."""

    def __post_init__(self):
        for field in ("num_layers", "filters", "kernel_sizes"):
            values = getattr(self, field)
            if (not isinstance(values, tuple) or not values
                    or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values)):
                raise ValueError(f"Invalid search space {field}: expected a non-empty tuple of positive integers. "
                                 f"Received: {field}={values!r}")
        if isinstance(self.pool_every, bool) or not isinstance(self.pool_every, int) or self.pool_every < 0:
            raise ValueError(f"Invalid search space pool_every: expected an integer >= 0. "
                             f"Received: pool_every={self.pool_every!r}")

    @property
    def kinds(self) -> dict:
        """Decision kind → number of choices (one softmax head and one embedding table each in the controller)."""
        return {"num_layers": len(self.num_layers), "filters": len(self.filters),
                "kernel_size": len(self.kernel_sizes), "skip": 2}

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def decisions(self, prefix) -> Decision | None:
        """The decision that follows the choice indices ``prefix``; None when the architecture is complete."""
        if not prefix:
            return Decision("num_layers", "num_layers", self.num_layers)
        order = self._layer_decisions(self.num_layers[prefix[0]])
        step = len(prefix) - 1
        return order[step] if step < len(order) else None

    def _layer_decisions(self, depth: int) -> list[Decision]:
        order = []
        for i in range(depth):
            order.append(Decision(f"layer{i}.filters", "filters", self.filters))
            order.append(Decision(f"layer{i}.kernel_size", "kernel_size", self.kernel_sizes))
            if self.skips:
                order.extend(Decision(f"layer{i}.skip{j}", "skip", (False, True)) for j in range(i - 1))
        return order

    def all_decisions(self, choices) -> list[Decision]:
        """The decision behind each of a complete list of choices (a ValueError when it is not complete)."""
        out = []
        for step in range(len(choices) + 1):
            decision = self.decisions(choices[:step])
            if step == len(choices):
                if decision is not None:
                    raise ValueError(f"Incomplete architecture choices: {len(choices)} given, {decision.name} "
                                     f"and more still to come. Received: choices={list(choices)!r}")
                return out
            if decision is None:
                raise ValueError(f"Too many architecture choices: {step} complete the architecture. "
                                 f"Received: choices={list(choices)!r}")
            if not 0 <= choices[step] < len(decision.choices):
                raise ValueError(f"Invalid choice for {decision.name}: expected 0..{len(decision.choices) - 1}. "
                                 f"Received: {choices[step]!r}")
            out.append(decision)
        return out

    def architecture(self, choices) -> list[dict]:
        """The layer list (``kerazoo.applications.nas_cnn``'s ``architecture``) of complete choice indices."""
        decisions = self.all_decisions(choices)
        depth = self.num_layers[choices[0]]
        layers = [{"filters": 0, "kernel_size": 0, "skips": [],
                   "pool": bool(self.pool_every) and (i + 1) % self.pool_every == 0} for i in range(depth)]
        for decision, choice in zip(decisions[1:], choices[1:]):
            where, what = decision.name.split(".")
            layer = layers[int(where[len("layer"):])]
            value = decision.choices[choice]
            if what == "filters":
                layer["filters"] = int(value)
            elif what == "kernel_size":
                layer["kernel_size"] = int(value)
            elif value:  # skipJ = True
                layer["skips"].append(int(what[len("skip"):]))
        return layers

    def sample_uniform(self, rng: np.random.Generator) -> list[int]:
        """Choices drawn uniformly at each decision (the random-search baseline)."""
        choices = []
        while (decision := self.decisions(choices)) is not None:
            choices.append(int(rng.integers(len(decision.choices))))
        return choices
