"""The Gram matrix's hand-written backward gives autograd's gradient, in fp32 and in the network's bf16."""

import pytest
import torch

from engine.losses import gram


def autograd_gram(features: torch.Tensor) -> torch.Tensor:
    f = features.float().flatten(2)
    return (f @ f.transpose(1, 2)).mean(0) / f.shape[2]


@pytest.mark.parametrize("shape", [(1, 3, 4, 5), (2, 8, 6, 7)])
def test_gram_and_its_gradient_match_autograd_in_fp32(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    features = torch.randn(*shape, requires_grad=True)
    upstream = torch.randn(shape[1], shape[1])  # not symmetric: the backward must not assume it is
    (gram(features) * upstream).sum().backward()
    ours = features.grad.clone()
    features.grad = None
    (autograd_gram(features) * upstream).sum().backward()
    assert torch.allclose(gram(features), autograd_gram(features))
    assert torch.allclose(ours, features.grad, atol=1e-6, rtol=1e-5)


def test_bf16_features_give_an_fp32_gram_and_a_bf16_gradient_close_to_fp32() -> None:
    torch.manual_seed(1)
    exact = torch.randn(1, 16, 12, 10).relu()
    features = exact.to(torch.bfloat16).requires_grad_(True)
    target = torch.randn(16, 16)
    result = gram(features)
    assert result.dtype == torch.float32
    (result - target).pow(2).mean().backward()
    assert features.grad.dtype == torch.bfloat16
    reference = exact.to(torch.bfloat16).float().requires_grad_(True)
    (autograd_gram(reference) - target).pow(2).mean().backward()
    error = (features.grad.float() - reference.grad).norm() / reference.grad.norm()
    assert error < 1e-2  # bf16 rounding of the gradient, nothing more


def test_gram_needs_no_gradient_under_no_grad() -> None:
    with torch.no_grad():
        result = gram(torch.rand(1, 4, 3, 3))
    assert not result.requires_grad and result.shape == (4, 4)
