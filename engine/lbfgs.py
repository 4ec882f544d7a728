"""A small L-BFGS for one image tensor: one function evaluation per step, no line search (as in Gatys-style
renderers), a first step measured in pixels, and a scale-free curvature test, so it behaves the same
whatever the loss's magnitude.

For a picture (N x C x H x W) its initial Hessian is not a multiple of the identity but of M = I + a sum of
smoothings (SMOOTHING_STEPS): preconditioned L-BFGS. A style-transfer picture's slowest modes are its large shapes
and colours (issue 25: each scale drifts slowly and steadily in shape and colour for hundreds of iterations, each
step moving a thumbnail by a fraction of a level); M lets a step move a smooth change as far as a sharp one of the
same gradient, so those modes converge with the texture. M is symmetric positive definite (each smoothing is
U U^T for a bilinear upsampling U), so every direction is still a descent direction. What it does to a run: the
closing note on issue 25 (bench/bench_speed.py, before and after).

Why not torch.optim.LBFGS: its first step is capped by 1/|g|_1 (for an image, about 1/pixels per pixel) and it
drops curvature pairs below an absolute s.y of 1e-10, so with a normalised loss it crawls for dozens of
iterations, and with a large one it stalls; how well it worked depended on the loss's units.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import torch
import torch.nn.functional as F  # noqa: N812 - the usual name

# A curvature pair of a picture larger than this many values (3 x 1024 x 1024) is kept in fp16, scaled to its
# largest value: 20 pairs of a 2048 px picture are 2 GB in fp32, 1 GB so. Each pair is then exactly a BFGS pair
# (its 1/ys is computed from the rounded vectors, so the update stays positive definite), of a step and a gradient
# change rounded to 11 significant bits.
COMPACT_ABOVE = 3 * 1024 * 1024
SMOOTHING_STEPS = (2, 4, 8, 16)  # px: the widths of the smoothings added to the identity in M (one wider than a third
# of the picture's longest side is left out: it would only add the picture's mean colour again)
FIRST_STEP = 0.05  # the first step moves the pixel with the largest gradient by this much (image in [0, 1])
MAX_STEP = 0.5  # no step moves any pixel by more than this: guards against a wild curvature estimate


class LBFGS:
    """Minimises a closure's loss over `param` (any shape); `step(closure)` evaluates it once and moves."""

    def __init__(self, param: torch.Tensor, history: int = 20, step_scale: float = 1.0,
                 smooth: bool = True) -> None:
        self.param = param
        # M (see the module's note) for a picture; the identity for any other tensor, or with smooth=False
        self._smoothing = LowFrequencyBoost(param.shape) if smooth and param.dim() == 4 else None
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
        if not self._pairs:  # (the plain gradient: M would shrink the grain a noise start must lose first)
            return -grad * (self.first_step / grad.abs().max().clamp_min(1e-20))
        q = -grad
        alphas = []
        for s, y, rho in reversed(self._pairs):
            alpha = rho * torch.dot(s.value(), q)
            q = q - alpha * y.value()
            alphas.append(alpha)
        s, y, _ = self._pairs[-1]
        s_value, y_value = s.value(), y.value()
        # the initial Hessian gamma M, gamma = s.y / y.My (with M = I the usual scale)
        q = self._precondition(q) * (torch.dot(s_value, y_value) / torch.dot(y_value, self._precondition(y_value)))
        del s_value, y_value
        for (s, y, rho), alpha in zip(self._pairs, reversed(alphas)):
            beta = rho * torch.dot(y.value(), q)
            q = q + (alpha - beta) * s.value()
        return q

    def _precondition(self, vector: torch.Tensor) -> torch.Tensor:
        return vector if self._smoothing is None else self._smoothing(vector)


class LowFrequencyBoost:
    """M v = v + sum over k in SMOOTHING_STEPS of U_k U_k^T v / k^2, for flat vectors of a picture of `shape`
    (N x C x H x W): U_k is bilinear upsampling from the picture at 1/k of its size, and U_k^T its exact adjoint
    (taken by autograd), so each term is a smoothing about k px wide, symmetric and positive semi-definite, with a
    gain of about 1 on a smooth field. Working at 1/k of the size, it costs a few milliseconds where Gaussian blurs
    of the same widths at full size cost a fifth of an iteration (0.22 s at 512 px on 2 cores)."""

    def __init__(self, shape: torch.Size | tuple[int, ...]) -> None:
        self.shape = tuple(shape)
        height, width = self.shape[-2:]
        self.steps = tuple(k for k in SMOOTHING_STEPS if 3 * k <= max(height, width))

    def __call__(self, vector: torch.Tensor) -> torch.Tensor:
        picture = vector.view(self.shape)
        height, width = self.shape[-2:]
        boosted = picture.clone()
        for k in self.steps:
            low = torch.zeros((*self.shape[:2], -(-height // k), -(-width // k)), dtype=picture.dtype,
                              device=picture.device, requires_grad=True)
            with torch.enable_grad():
                up = F.interpolate(low, size=(height, width), mode="bilinear", align_corners=False)
                (down,) = torch.autograd.grad(up, low, grad_outputs=picture)  # U^T v
            boosted += F.interpolate(down, size=(height, width), mode="bilinear", align_corners=False) / (k * k)
        return boosted.flatten()


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
