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
        self._pairs: deque[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = deque(maxlen=history)  # s, y, 1/ys
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
            s, y = self._last_step, grad - self._last_grad
            ys = torch.dot(y, s)
            # Keep the pair only when the curvature along s is clearly positive, relative to the vectors' sizes.
            if float(ys) > 1e-8 * float(y.norm() * s.norm()):
                self._pairs.append((s, y, 1.0 / ys))
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
            alpha = rho * torch.dot(s, q)
            q = q - alpha * y
            alphas.append(alpha)
        s, y, _ = self._pairs[-1]
        q = q * (torch.dot(s, y) / torch.dot(y, y))  # the usual initial Hessian scale, gamma = s.y / y.y
        for (s, y, rho), alpha in zip(self._pairs, reversed(alphas)):
            beta = rho * torch.dot(y, q)
            q = q + (alpha - beta) * s
        return q
