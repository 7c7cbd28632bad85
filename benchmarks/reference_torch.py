"""A plain PyTorch UNet of the paper's reference algorithm, config A, for speed comparison.

Written for this repository from the algorithm's description (arXiv 2411.09174 and the layout in
docs/DESIGN.md), not from the reference code. It is the baseline ``keras-aliasfree`` is measured
against in ``benchmarks/unet_perf.py`` ("our D-1N step vs a plain PyTorch config A").

Architecture (base width = image size, 32 for 32x32 images):

* DoubleConv: 3x3 conv (no bias) -> GroupNorm(1) -> GELU -> 3x3 conv (no bias) -> GroupNorm(1);
  the residual variant returns ``gelu(x + block(x))``.
* input block DoubleConv(C -> 32);
* three Down stages: MaxPool2d(2), residual DoubleConv, DoubleConv to the stage width
  (64, 128, 128), then the time embedding (SiLU + Linear to the width) added per channel, then
  self-attention;
* bottleneck: DoubleConv 128->256, 256->256, 256->128;
* three Up stages: bilinear x2 (align_corners=True), concatenate the skip, residual DoubleConv,
  DoubleConv to (64, 32, 32) with mid = in/2, time embedding, self-attention;
* self-attention over the flattened H*W pixels: LayerNorm -> 4-head MultiheadAttention -> residual,
  then LayerNorm -> Linear -> GELU -> Linear -> residual;
* sinusoidal time encoding of size 256 (sin half then cos half); 1x1 output conv.

Usage (times one training step: AdamW lr 3e-4, MSE on the noise, batch 16, 32x32x1, eager;
compares the parameter count with ``keras_aliasfree.unet.build_unet("A")``; writes
docs/benchmarks/reference_torch.md)::

    python benchmarks/reference_torch.py --steps 10 --threads 2
    python benchmarks/reference_torch.py --quick          # a smoke run
"""

from __future__ import annotations

import sys

import torch
from torch import nn
import torch.nn.functional as F

from keras_aliasfree.benchmarking import Benchmark, Scenario, interleave, md_table, succeeded


class DoubleConv(nn.Module):
    """conv3x3 -> GN(1) -> GELU -> conv3x3 -> GN(1), optionally residual (gelu(x + f(x)))."""

    def __init__(self, cin, cout, mid=None, residual=False):
        super().__init__()
        mid = cout if mid is None else mid
        self.residual = residual
        self.block = nn.Sequential(
            nn.Conv2d(cin, mid, 3, padding=1, bias=False), nn.GroupNorm(1, mid), nn.GELU(),
            nn.Conv2d(mid, cout, 3, padding=1, bias=False), nn.GroupNorm(1, cout))

    def forward(self, x):
        y = self.block(x)
        return F.gelu(x + y) if self.residual else y


class SelfAttention(nn.Module):
    """Pre-LN multi-head self-attention over all pixels plus a feed-forward, both residual."""

    def __init__(self, channels, heads=4):
        super().__init__()
        self.ln = nn.LayerNorm(channels)
        self.mha = nn.MultiheadAttention(channels, heads, batch_first=True)
        self.ff = nn.Sequential(nn.LayerNorm(channels), nn.Linear(channels, channels), nn.GELU(),
                                nn.Linear(channels, channels))

    def forward(self, x):
        b, c, h, w = x.shape
        s = x.flatten(2).transpose(1, 2)  # (B, HW, C)
        y = self.ln(s)
        s = self.mha(y, y, y, need_weights=False)[0] + s
        s = self.ff(s) + s
        return s.transpose(1, 2).reshape(b, c, h, w)


class Down(nn.Module):
    def __init__(self, cin, cout, emb_dim):
        super().__init__()
        self.convs = nn.Sequential(nn.MaxPool2d(2), DoubleConv(cin, cin, residual=True),
                                   DoubleConv(cin, cout))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, cout))

    def forward(self, x, t):
        return self.convs(x) + self.emb(t)[:, :, None, None]


class Up(nn.Module):
    def __init__(self, cin, cout, emb_dim):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.convs = nn.Sequential(DoubleConv(cin, cin, residual=True),
                                   DoubleConv(cin, cout, mid=cin // 2))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, cout))

    def forward(self, x, skip, t):
        x = torch.cat([skip, self.up(x)], dim=1)
        return self.convs(x) + self.emb(t)[:, :, None, None]


def sinusoidal(t, dim=256):
    """Sinusoidal encoding of float timesteps t (B,) -> (B, dim): [sin(t*f), cos(t*f)]."""
    inv = 1.0 / (10000.0 ** (torch.arange(0, dim, 2, dtype=torch.float32, device=t.device) / dim))
    arg = t.float()[:, None] * inv[None, :]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=-1)


class UNetA(nn.Module):
    """Config A noise-prediction UNet (max-pool down, bilinear up, plain GELU).

    Example:
        >>> m = UNetA(image_size=32, channels=1)
        >>> m(torch.zeros(2, 1, 32, 32), torch.tensor([1.0, 2.0])).shape
        torch.Size([2, 1, 32, 32])
    """

    def __init__(self, image_size=32, channels=1, base=None, time_dim=256, heads=4):
        super().__init__()
        b = image_size if base is None else base
        w1, w2, w3, w4, wb = b, 2 * b, 4 * b, 4 * b, 8 * b
        self.time_dim = time_dim
        self.inc = DoubleConv(channels, w1)
        self.down = nn.ModuleList([Down(w1, w2, time_dim), Down(w2, w3, time_dim),
                                   Down(w3, w4, time_dim)])
        self.sa_down = nn.ModuleList([SelfAttention(w, heads) for w in (w2, w3, w4)])
        self.bot = nn.Sequential(DoubleConv(w4, wb), DoubleConv(wb, wb), DoubleConv(wb, w4))
        self.up = nn.ModuleList([Up(w4 + w3, w2, time_dim), Up(w2 + w2, w1, time_dim),
                                 Up(w1 + w1, w1, time_dim)])
        self.sa_up = nn.ModuleList([SelfAttention(w, heads) for w in (w2, w1, w1)])
        self.outc = nn.Conv2d(w1, channels, 1)

    def forward(self, x, t):
        t = sinusoidal(t, self.time_dim)
        x = self.inc(x)
        skips = [x]
        for down, sa in zip(self.down, self.sa_down):
            x = sa(down(x, t))
            skips.append(x)
        skips.pop()  # the deepest stage output is not a skip
        x = self.bot(x)
        for up, sa in zip(self.up, self.sa_up):
            x = sa(up(x, skips.pop(), t))
        return self.outc(x)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_step(model, lr=3e-4, timesteps=1000):
    """One DDPM training step (random t, noise, MSE on the noise, AdamW) as a closure on x0."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    betas = torch.linspace(1e-4, 0.02, timesteps)
    ab = torch.cumprod(1.0 - betas, 0)
    sab, s1mab = ab.sqrt(), (1.0 - ab).sqrt()

    def step(x0):
        n = x0.shape[0]
        t = torch.randint(0, timesteps, (n,))
        eps = torch.randn_like(x0)
        xt = sab[t][:, None, None, None] * x0 + s1mab[t][:, None, None, None] * eps
        loss = F.mse_loss(model(xt, t.float()), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def training_step(args):
    size, steps, warmup = args.image_size, args.steps, args.warmup
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = UNetA(size, 1)
    n_keras = None
    if not args.no_keras:
        from keras_aliasfree.unet import build_unet
        n_keras = int(build_unet("A", image_size=size, channels=1).count_params())
    x0 = torch.rand(args.batch, 1, size, size) * 2 - 1
    step = make_step(model)
    times = interleave({"step": lambda: step(x0)}, steps, warmup=warmup)["step"]
    return {"params": count_params(model), "keras_params": n_keras, "times": sorted(times),
            "size": size, "warmup": warmup, "torch": torch.__version__}


def render(results, args):
    parts = ["Written from the algorithm's description in `benchmarks/reference_torch.py` (not "
             "from the reference code). The side-by-side comparison with this library's D-1N step "
             "is in [unet_perf.md](unet_perf.md); the time here is context."]
    for r in succeeded(results, "step").values():
        t, n = r["times"], r["params"]
        keras_txt = "not computed (--no-keras)" if r["keras_params"] is None else (
            f"{r['keras_params']:,} ({'equal' if r['keras_params'] == n else 'DIFFERENT'})")
        parts += [f"torch {r['torch']}, eager, `torch.set_num_threads({args.threads})`, batch "
                  f"{args.batch}, {r['size']}x{r['size']}x1, AdamW lr 3e-4, MSE on the noise, "
                  f"{r['warmup']} warm-up steps.",
                  md_table(["quantity", "value"], [
                      ["parameters, this PyTorch config A UNet", f"{n:,}"],
                      ["parameters, reference code (paper repo, 32x32x1)", "5,896,513"],
                      [f"parameters, keras_aliasfree `build_unet('A', image_size={r['size']}, "
                       "channels=1)`", keras_txt],
                      [f"training step s, median of {len(t)} (min..max)",
                       f"{t[len(t) // 2]:.3f} ({t[0]:.3f}..{t[-1]:.3f})"]], left=2)]
    return "\n\n".join(parts)


def add_arguments(p):
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--no-keras", action="store_true", help="skip the Keras parameter count")


BENCHMARK = Benchmark("reference_torch", "Plain PyTorch config A UNet (speed baseline)",
                      [Scenario("step", training_step)], render, add_arguments,
                      backends=("torch",), quick={"image_size": 16, "steps": 2, "warmup": 1})

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
