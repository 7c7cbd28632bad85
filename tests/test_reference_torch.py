"""The plain-PyTorch config A UNet of benchmarks/reference_torch.py (the speed baseline)."""

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import reference_torch as ref  # noqa: E402


def test_shape_and_time_dependence():
    torch.manual_seed(0)
    m = ref.UNetA(image_size=16, channels=2, base=8).eval()
    x = torch.randn(2, 2, 16, 16)
    with torch.no_grad():
        y0 = m(x, torch.tensor([3.0, 3.0]))
        y1 = m(x, torch.tensor([900.0, 900.0]))
    assert y0.shape == (2, 2, 16, 16)
    assert not torch.allclose(y0, y1)  # the time embedding reaches the output


def test_param_count_matches_keras_config_a(size=16, base=8):
    from keras_aliasfree.unet import build_unet

    keras_count = build_unet("A", image_size=size, channels=1, base_width=base).count_params()
    assert ref.count_params(ref.UNetA(image_size=size, channels=1, base=base)) == keras_count


def test_training_step_runs_and_updates_weights():
    torch.manual_seed(0)
    m = ref.UNetA(image_size=16, channels=1, base=8)
    before = m.outc.weight.detach().clone()
    step = ref.make_step(m, lr=1e-2, timesteps=10)
    loss = step(torch.rand(4, 1, 16, 16) * 2 - 1)
    assert loss == loss and loss > 0
    assert not torch.equal(before, m.outc.weight)


def test_paper_size_param_count_is_the_reference_count():
    # 5,896,513: the reference code's count at 32x32x1 (docs/DESIGN.md), not a figure from a run.
    assert ref.count_params(ref.UNetA(image_size=32, channels=1)) == 5_896_513
