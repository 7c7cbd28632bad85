"""Sampler objects: validation and configs, a known answer (Gaussian data), rotation with each.

The known answer: data x0 ~ N(mu, s^2), independent per pixel. Its exact denoiser is closed form,
``E[x0 | x_t] = (sqrt(ab) s^2 x_t + (1 - ab) mu) / (ab s^2 + 1 - ab)``, written below as a tiny
``keras.Model`` that predicts x0 (or v / eps) from ``[x_t, t]`` with fractional ``t`` (the Karras
samplers evaluate between timesteps: the layer interpolates ``log sigma`` as they do). A correct
sampler driven by it draws N(mu, s^2): each sampler's samples must match the mean and the standard
deviation within the tolerances of ``CASES`` at the NFE stated there (16,384 pixels: the mean's
standard error is s / 128, the standard deviation's about 0.6 %).
"""

import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_aliasfree.diffusion import (DDIM, DDPM, DiffusionModel, DPMSolverMultistep, Euler,
                                       Heun, NoiseSchedule, get_sampler)
from keras_aliasfree.constants import DEFAULT_SAMPLER_STEPS
from keras_aliasfree.diffusion.samplers import SAMPLER_CLASSES, karras_sigmas

MU, S = 0.1, 0.25
SIZE, NUM = 16, 64


class GaussianDenoiser(keras.layers.Layer):
    """The exact denoiser of N(mu, s^2) data under ``schedule``, as the chosen prediction."""

    def __init__(self, alpha_bars, prediction="x0", **kwargs):
        super().__init__(**kwargs)
        ab = np.asarray(alpha_bars, np.float64)
        self.log_sigma = 0.5 * np.log((1.0 - ab) / ab)  # VE sigma per integer timestep
        self.prediction = prediction

    def call(self, inputs):
        x, t = inputs
        table = ops.convert_to_tensor(self.log_sigma.astype("float32"))
        t = ops.reshape(ops.cast(t, "float32"), (-1, 1, 1, 1))
        lo = ops.floor(t)
        frac = t - lo
        lo_i = ops.cast(lo, "int32")
        hi_i = ops.minimum(lo_i + 1, len(self.log_sigma) - 1)
        log_s = ops.take(table, lo_i) * (1.0 - frac) + ops.take(table, hi_i) * frac
        ab = 1.0 / (1.0 + ops.exp(2.0 * log_s))
        a, sig = ops.sqrt(ab), ops.sqrt(1.0 - ab)
        x0 = (a * S * S * x + (1.0 - ab) * MU) / (ab * S * S + 1.0 - ab)
        eps = (x - a * x0) / sig
        return {"x0": x0, "epsilon": eps, "v": a * eps - sig * x0}[self.prediction]


def gaussian_model(schedule, prediction="x0"):
    x_in, t_in = keras.Input((SIZE, SIZE, 1)), keras.Input(())
    out = GaussianDenoiser(schedule.alpha_bars, prediction)([x_in, t_in])
    return DiffusionModel(keras.Model([x_in, t_in], out), schedule, prediction=prediction, seed=0)


# sampler, NFE, |mean - mu| tolerance, |std / s - 1| tolerance. The spread converges slowly for
# first-order samplers on this narrow data (most of the change happens below sigma = 0.3, where
# the linear schedule has few steps): DDIM-50 draws 9 % too narrow, DDIM-200 2 %.
CASES = [
    (DDPM(), 1000, 0.01, 0.03),
    (DDIM(200), 200, 0.01, 0.03),
    (DDIM(1000, eta=1.0), 1000, 0.01, 0.03),
    (DPMSolverMultistep(10), 10, 0.01, 0.05),
    (DPMSolverMultistep(20), 20, 0.01, 0.04),
    (Euler(100), 100, 0.01, 0.04),
    (Heun(50), 99, 0.01, 0.03),
    (Heun(50, s_churn=5.0), 99, 0.01, 0.04),  # churn widens it a little at few steps
]


@pytest.mark.parametrize("sampler,nfe,mean_tol,std_tol", CASES, ids=lambda v: repr(v))
def test_samplers_draw_the_gaussian_data_distribution(sampler, nfe, mean_tol, std_tol):
    schedule = NoiseSchedule(1000)
    assert sampler.nfe(schedule) == nfe
    x = gaussian_model(schedule).sample(NUM, sampler=sampler, seed=0, verbose=0)
    mean, std = float(x.mean()), float(x.std())
    assert abs(mean - MU) < mean_tol and abs(std / S - 1.0) < std_tol, (sampler, mean, std)


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_multistep_solver_reads_every_prediction_type(prediction):
    schedule = NoiseSchedule(1000)
    x = gaussian_model(schedule, prediction).sample(NUM, sampler=DPMSolverMultistep(10), seed=0,
                                                    verbose=0)
    assert abs(float(x.mean()) - MU) < 0.01 and abs(float(x.std()) / S - 1.0) < 0.05


def test_multistep_solver_at_10_nfe_beats_ddim_at_50_and_its_first_order():
    schedule = NoiseSchedule(1000)
    dm = gaussian_model(schedule)

    def err(sampler):
        return abs(float(dm.sample(NUM, sampler=sampler, seed=0, verbose=0).std()) / S - 1.0)

    e = {"2m": err(DPMSolverMultistep(10)), "1": err(DPMSolverMultistep(10, order=1)),
         "ddim50": err(DDIM(50))}
    assert e["2m"] < e["1"] and e["2m"] < e["ddim50"], e
    # order 1 on the DDIM timesteps is deterministic DDIM
    np.testing.assert_allclose(
        dm.sample(NUM, sampler=DPMSolverMultistep(5, order=1, spacing="linear"), seed=0,
                  verbose=0), dm.sample(NUM, sampler=DDIM(5), seed=0, verbose=0), atol=1e-4)


def _scaling_model(prediction, gain):
    # a 1x1 convolution: exactly rotation-equivariant, and every sampler step is then linear
    x_in, t_in = keras.Input((16, 16, 1)), keras.Input(())
    y = keras.layers.Conv2D(1, 1, use_bias=False,
                            kernel_initializer=keras.initializers.Constant(gain))(x_in)
    return DiffusionModel(keras.Model([x_in, t_in], y), NoiseSchedule(20), seed=0,
                          prediction=prediction)


@pytest.mark.parametrize("sampler", [DDIM(6), DPMSolverMultistep(6), Euler(6), Heun(4)], ids=repr)
def test_rotated_deterministic_sampling_is_the_plain_sample_turned_step_by_step(sampler):
    # x0_hat = 0.05 x_t: every image the loop holds is a multiple of the initial noise, so a
    # sampler that turns x_t and everything it carries (the previous x0_hat; Heun's start point
    # and slope) by phi / NFE before each evaluation ends at the plain sample turned NFE times by
    # phi / NFE with the same rotation, to float rounding. Carrying an unturned image mixes two
    # orientations and fails this by far. (No clip: it does not commute with a rotation.)
    from keras_aliasfree.transforms import rotate

    dm = _scaling_model("x0", 0.05)
    kw = dict(sampler=sampler, seed=3, verbose=0, clip_denoised=False)
    plain, turned = dm.sample(4, **kw), dm.sample(4, rotation=90.0, **kw)
    assert np.abs(plain).max() < 0.9  # the final clip to [-1, 1] is not reached
    n = sampler.nfe(dm.schedule)
    want = plain
    for _ in range(n):
        want = np.asarray(keras.ops.convert_to_numpy(rotate(want, 90.0 / n, method="fft")))
    np.testing.assert_allclose(turned, want, atol=2e-5 * np.abs(plain).max() + 1e-6)


@pytest.mark.parametrize("sampler", [DDPM(), DDIM(6, eta=1.0), Heun(4, s_churn=2.0)], ids=repr)
def test_rotated_stochastic_sampling_turns_the_plain_sample(sampler):
    # as tests/test_diffusion.py (the fresh noise is turned by the angle turned so far, in one
    # FFT rotation, so this compares low-passed images on the central disc)
    from keras_aliasfree import discs

    dm = _scaling_model("epsilon", 0.9)
    kw = dict(sampler=sampler, seed=3, verbose=0)
    plain, turned = dm.sample(8, **kw), dm.sample(8, rotation=90.0, **kw)
    f = np.fft.fftfreq(16)
    low = np.hypot(*np.meshgrid(f, f, indexing="ij")) < 0.2
    disc = np.squeeze(np.asarray(discs.disc_mask(16, 16, 6.0))) > 0

    def smooth(a):
        return np.real(np.fft.ifft2(np.fft.fft2(a[..., 0] * disc) * low))[:, disc]

    a, b = smooth(np.rot90(plain, 1, (1, 2))), smooth(turned)
    corr = [np.corrcoef(u, v)[0, 1] for u, v in zip(a, b)]
    assert min(corr) > 0.9 and np.mean(corr) > 0.95, corr


def test_get_sampler_names_configs_and_old_strings():
    assert get_sampler("ddpm") == DDPM() and get_sampler("ddim", 20, 1.0) == DDIM(20, 1.0)
    assert get_sampler("ddim") == DDIM()
    for name, cls in SAMPLER_CLASSES.items():
        s = get_sampler(name) if name == "ddpm" else get_sampler(name, steps=7)
        assert isinstance(s, cls) and get_sampler(s.get_config()) == s
    h = Heun(3)
    assert get_sampler(h) is h
    churn = Heun(3, s_churn=1.5, s_tmin=0.05, s_tmax=50.0, s_noise=1.003)
    assert churn.stochastic and not h.stochastic and get_sampler(churn.get_config()) == churn
    assert h.get_config() == {"name": "heun", "steps": 3, "rho": 7.0}  # what exports stored


def test_churn_adds_noise_where_asked_and_only_there():
    # Karras et al. 2022, Algorithm 2: a predictor stage at sigma in [s_tmin, s_tmax] evaluates
    # at s_hat = sigma (1 + min(s_churn / steps, sqrt 2 - 1)); the schedule's top is not exceeded
    schedule = NoiseSchedule(1000)
    plain, churn = Heun(8), Heun(8, s_churn=2.0, s_tmin=0.1, s_tmax=10.0)
    sig = plain.sigmas(schedule)
    tab = churn.tables(schedule)
    pred = tab["c_x"] == 1.0  # predictor stages
    s_in, s_hat = sig[:-1], tab["s"][pred]
    inside = (s_in >= 0.1) & (s_in <= 10.0)
    np.testing.assert_allclose(s_hat[inside], s_in[inside] * 1.25, rtol=1e-6)
    np.testing.assert_allclose(s_hat[~inside], s_in[~inside], rtol=1e-6)
    np.testing.assert_allclose(tab["churn"][pred][inside], s_in[inside] * np.sqrt(1.25 ** 2 - 1),
                               rtol=1e-5)
    assert np.all(tab["churn"][pred][~inside] == 0.0) and np.all(tab["churn"][~pred] == 0.0)
    assert Heun(4, s_churn=1e3).tables(schedule)["s"][0] == pytest.approx(sig[0])


def test_bad_sampler_settings_are_clear_errors():
    schedule = NoiseSchedule(20)
    for bad, match in [(lambda: get_sampler("unipc"), "sampler must be one of"),
                       (lambda: DDIM(0), "steps"), (lambda: DDIM(5, eta=1.5), "eta"),
                       (lambda: DPMSolverMultistep(5, order=3), "order"),
                       (lambda: DPMSolverMultistep(5, spacing="karras"), "spacing"),
                       (lambda: Euler(2.5), "steps"), (lambda: Heun(4, rho=0), "rho"),
                       (lambda: Heun(4, s_churn=-1.0), "s_churn"),
                       (lambda: Heun(4, s_churn=1.0, s_tmin=2.0, s_tmax=1.0), "s_tmax"),
                       (lambda: get_sampler("euler", 5, eta=1.0), "eta"),
                       (lambda: get_sampler(DDIM(5), steps=5), "sampler object"),
                       (lambda: get_sampler({"steps": 5}), "name"),
                       (lambda: DDIM(21).tables(schedule), "1..20"),
                       (lambda: DPMSolverMultistep(21).tables(schedule), "1..20"),
                       (lambda: DDPM(5).tables(schedule), "DDPM")]:
        with pytest.raises(ValueError, match=match):
            bad()


def test_tables_and_nfe():
    schedule = NoiseSchedule(1000)
    sig = Euler(10).sigmas(schedule)
    ab = schedule.alpha_bars
    np.testing.assert_allclose(sig[[0, -2]], np.sqrt((1 - ab[[-1, 0]]) / ab[[-1, 0]]))
    assert sig[-1] == 0.0 and np.all(np.diff(sig) < 0)
    tab = Euler(10).tables(schedule)
    assert tab["t"][0] == pytest.approx(999, abs=1e-3)
    assert tab["t"][-1] == pytest.approx(0, abs=1e-3)
    assert DDPM().nfe(schedule) == 1000 and DDIM(20).nfe(schedule) == 20
    assert Heun(10).nfe(schedule) == 19 and Euler(1).nfe(schedule) == 1
    np.testing.assert_allclose(karras_sigmas(1, 0.1, 10.0), [10.0, 0.0])


def test_the_command_line_options_name_a_sampler_once():
    from keras_aliasfree.diffusion.samplers import sampler_from_options
    from keras_aliasfree.metrics.evaluation import EvaluationOptions

    # --steps has a value whether or not it applies: DDPM ignores it, only DDIM reads --eta
    assert sampler_from_options("ddpm", 50, 0.0) == DDPM()
    assert sampler_from_options("ddim", 20, 1.0) == DDIM(20, 1.0)
    assert sampler_from_options("dpm++2m", 10, 0.0) == DPMSolverMultistep(10)
    with pytest.raises(ValueError, match="eta"):
        sampler_from_options("euler", 10, 1.0)
    o = EvaluationOptions(sampler="ddpm", steps=50, eta=0.0)
    assert (o.sampler, o.steps, o.eta, o.sampler_object) == ("ddpm", None, 0.0, DDPM())
    o = EvaluationOptions(sampler=Heun(5))
    assert (o.sampler, o.steps, o.sampler_object) == ("heun", 5, Heun(5))
    with pytest.raises(ValueError, match="eta"):
        EvaluationOptions(sampler="heun", eta=0.5)


def test_sample_command_takes_every_sampler(tmp_path, capsys):
    from keras_aliasfree.cli import main

    out = str(tmp_path / "g.png")
    assert main(["sample", "--checkpoint", "mnist-a", "--num", "2", "--sampler", "dpm++2m",
                 "--steps", "3", "--out", out]) == 0
    assert os.path.isfile(out) and "3 NFE" in capsys.readouterr().out
    assert main(["sample", "--checkpoint", "mnist-a", "--sampler", "heun", "--steps", "3",
                 "--eta", "1", "--out", out]) == 2
    assert "eta" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sample", "--checkpoint", "mnist-a", "--sampler", "unipc", "--out", out])


def test_demo_runs_each_exports_own_sampler_unless_told_otherwise():
    """Which ``steps`` the demo gives a SavedModel's ``sample`` signature (None: the export does
    not serve that sampler, so the demo samples with the library on its weights)."""
    from keras_aliasfree.commands.demo import DEMO_DDIM_STEPS, _library_sampler, _served_steps

    heun = {"sampler": {"name": "heun", "steps": 10, "rho": 7.0}}
    assert _served_steps(heun, None, None) == 0  # a fixed export runs its own on steps <= 0
    assert _served_steps(heun, "heun", 10) == 0 and _served_steps(heun, "heun", None) == 0
    assert _served_steps(heun, "heun", 5) is None and _served_steps(heun, None, 5) is None
    assert _served_steps(heun, "ddim", None) is None
    assert _served_steps({}, None, None) == DEMO_DDIM_STEPS  # run-time DDIM
    assert _served_steps({}, "ddim", 7) == 7 and _served_steps({}, None, 7) == 7
    assert _served_steps({}, "ddpm", None) == 0 and _served_steps({}, None, 0) == 0
    assert _served_steps({}, "heun", None) is None
    # what the library runs where the export cannot: the demo's DDIM steps, the export's own sampler
    assert _library_sampler(heun, "ddim", None) == DDIM(DEMO_DDIM_STEPS)
    assert _library_sampler(heun, None, 5) == Heun(5)
    assert _library_sampler({}, "heun", None) == Heun(DEFAULT_SAMPLER_STEPS)


def test_sample_defaults_to_heun_with_ten_steps(tmp_path, capsys):
    from keras_aliasfree.cli import main
    from keras_aliasfree.diffusion.samplers import sampler_from_options

    assert repr(sampler_from_options("heun")) == "Heun(steps=10, rho=7.0)"
    assert repr(sampler_from_options("ddim")) == "DDIM(steps=50, eta=0.0)"
    assert main(["sample", "--checkpoint", "mnist-a", "--num", "1",
                 "--out", str(tmp_path / "s.png")]) == 0
    assert "Heun(steps=10, rho=7.0), 19 NFE" in capsys.readouterr().out


@pytest.mark.tf_only
def test_demo_samples_with_a_library_sampler(tmp_path, capsys):
    from keras_aliasfree.cli import main

    rc = main(["demo", "--model", "mnist-d", "--baseline", "none", "--out", str(tmp_path),
               "--sampler", "euler", "--steps", "2", "--frames", "2", "--num", "2",
               "--sweep-num", "1"])
    assert rc == 0 and os.path.isfile(tmp_path / "samples.png")
    assert "Euler(steps=2" in capsys.readouterr().out
