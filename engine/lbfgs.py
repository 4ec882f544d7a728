"""A small L-BFGS for one image tensor: one function evaluation per step, no line search (as in Gatys-style
renderers), a first step measured in pixels, and a scale-free curvature test, so it behaves the same
whatever the loss's magnitude.

Why not torch.optim.LBFGS: its first step is capped by 1/|g|_1 (for an image, about 1/pixels per pixel) and it
drops curvature pairs below an absolute s.y of 1e-10, so with a normalised loss it crawls for dozens of
iterations, and with a large one it stalls; how well it worked depended on the loss's units.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import torch

# A curvature pair of a picture larger than this many values (3 x 1024 x 1024) is kept in fp16, scaled to its
# largest value: 20 pairs of a 2048 px picture are 2 GB in fp32, 1 GB so. Each pair is then exactly a BFGS pair
# (its 1/ys is computed from the rounded vectors, so the update stays positive definite), of a step and a gradient
# change rounded to 11 significant bits.
COMPACT_ABOVE = 3 * 1024 * 1024
FIRST_STEP = 0.05  # the first step moves the pixel with the largest gradient by this much (image in [0, 1])
MAX_STEP = 0.5  # no step moves any pixel by more than this: guards against a wild curvature estimate


class LBFGS:
    """Minimises a closure's loss over `param` (any shape); `step(closure)` evaluates it once and moves."""

    def __init__(self, param: torch.Tensor, history: int = 20, step_scale: float = 1.0) -> None:
        self.param = param
        self.history = history
        # FIRST_STEP and MAX_STEP times this: a run that diverged retries with smaller steps
        self.first_step = FIRST_STEP * step_scale
        self.max_step = MAX_STEP * step_scale
        self._pairs: deque[tuple[_Stored, _Stored, torch.Tensor]] = deque(maxlen=history)  # s, y, 1/ys
        self.compact = param.numel() > COMPACT_ABOVE
        self._last_grad: torch.Tensor | None = None
        self._last_step: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget the curvature history (for example when the objective has changed)."""
        self._pairs.clear()
        self._last_grad = None
        self._last_step = None

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        with torch.enable_grad():
            loss = closure()
        if self.param.grad is None:
            raise RuntimeError("the closure computed no gradient for the image (it must call backward())")
        grad = self.param.grad.detach().flatten().float()
        if self._last_grad is not None and self._last_step is not None:
            s, y = _Stored.of(self._last_step, self.compact), _Stored.of(grad - self._last_grad, self.compact)
            s_value, y_value = s.value(), y.value()
            ys = torch.dot(y_value, s_value)
            # Keep the pair only when the curvature along s is clearly positive, relative to the vectors' sizes.
            if float(ys) > 1e-8 * float(y_value.norm() * s_value.norm()):
                self._pairs.append((s, y, 1.0 / ys))
            del s_value, y_value
        direction = self._direction(grad)
        largest = direction.abs().max()
        if largest > self.max_step:
            direction = direction * (self.max_step / largest)
        self.param.add_(direction.view_as(self.param).to(self.param.dtype))
        self._last_grad = grad
        self._last_step = direction
        return loss

    def _direction(self, grad: torch.Tensor) -> torch.Tensor:
        """-H g by the two-loop recursion; with no history, a gradient step of `first_step` pixels."""
        if not self._pairs:
            return -grad * (self.first_step / grad.abs().max().clamp_min(1e-20))
        q = -grad
        alphas = []
        for s, y, rho in reversed(self._pairs):
            alpha = rho * torch.dot(s.value(), q)
            q = q - alpha * y.value()
            alphas.append(alpha)
        s, y, _ = self._pairs[-1]
        s_value, y_value = s.value(), y.value()
        q = q * (torch.dot(s_value, y_value) / torch.dot(y_value, y_value))  # the usual initial Hessian scale
        del s_value, y_value
        for (s, y, rho), alpha in zip(self._pairs, reversed(alphas)):
            beta = rho * torch.dot(y.value(), q)
            q = q + (alpha - beta) * s.value()
        return q


class _Stored:
    """A vector of a curvature pair: as it is (fp32), or compact (fp16 over its largest magnitude)."""

    def __init__(self, data: torch.Tensor, scale: float | None) -> None:
        self._data, self._scale = data, scale

    @classmethod
    def of(cls, vector: torch.Tensor, compact: bool) -> _Stored:
        if not compact:
            return cls(vector, None)
        scale = float(vector.abs().max()) or 1.0
        return cls((vector / scale).half(), scale)

    def value(self) -> torch.Tensor:
        """The vector in fp32."""
        if self._scale is None:
            return self._data
        return self._data.float().mul_(self._scale)
