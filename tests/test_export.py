"""SavedModel export: serving without the library, signatures, the shipped models, the demo.

How "the same as the library" is defined here: the exported ``sample`` draws its noise with
``tf.random.stateless_normal`` from seeds ``[seed, k]`` -- the stream that
``DiffusionModel.sample(seed=...)`` draws under the TensorFlow backend -- and runs the same loop
arithmetic (DDPM/DDIM tables, rotation by ``phi / n_steps`` before each step, the EMA weights). So on
the TensorFlow backend the SavedModel, loaded in a fresh process that cannot import
``keras_aliasfree``, must reproduce ``DiffusionModel.sample`` for the same seed:
uint8 images equal up to one grey level from float rounding (in practice bit-identical), and
``denoise`` equal to the Keras UNet with the EMA weights to 1e-5. Under JAX/PyTorch the library
samples with another RNG, so the cross-backend test compares ``denoise`` only.
"""

import glob
import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKEND = keras.backend.backend()

# Runs in a fresh interpreter: blocks `keras_aliasfree` at import time and proves the block works,
# loads the SavedModel with plain TensorFlow, calls its signatures, and checks at the end that
# no keras_aliasfree module was imported. (keras itself is not blocked: `import tensorflow`
# loads it when it is installed; the SavedModel's graph needs neither.)
SERVE_SCRIPT = r'''
import importlib.abc, json, sys

class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "keras_aliasfree":
            raise ImportError(f"{name} is blocked in this serving test")
        return None

sys.meta_path.insert(0, _Block())
try:
    import keras_aliasfree  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("keras_aliasfree could still be imported: the test would prove nothing")

import numpy as np
import tensorflow as tf

model_dir, inputs_path, out_path = sys.argv[1:4]
m = tf.saved_model.load(model_dir)
calls = json.load(open(inputs_path))
out = {"signatures": sorted(m.signatures.keys())}
for k, c in enumerate(calls["sample"]):
    args = dict(seed=tf.constant(c["seed"], tf.int64), num_images=tf.constant(c["num"], tf.int32),
                rotation_degrees=tf.constant(c["rotation"], tf.float32),
                steps=tf.constant(c["steps"], tf.int32))
    out[f"sample_{k}"] = m.signatures["sample"](**args)["images"].numpy()
    out[f"default_{k}"] = m.signatures["serving_default"](**args)["images"].numpy()
    out[f"again_{k}"] = m.sample(**args)["images"].numpy()   # the tf.function attribute
den = np.load(calls["denoise_inputs"])
denoise = m.signatures["denoise"]
# a model with an "up" input (an E config) takes the angle too: 0 = upright
up = ({"up_degrees": tf.constant(0.0)} if "up_degrees" in denoise.structured_input_signature[1]
      else {})
out["denoise"] = denoise(noisy_images=tf.constant(den["x"]), timesteps=tf.constant(den["t"]),
                         **up)["noise"].numpy()
loaded = sorted(n for n in sys.modules if n.split(".")[0] == "keras_aliasfree")
assert not loaded, f"the serving process imported {loaded}"
np.savez(out_path, **{k: np.asarray(v) for k, v in out.items()})
print("served", model_dir)
'''


def _tiny_env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def serve_in_fresh_process(model_dir, sample_calls, denoise_x, denoise_t, tmp):
    """Run SERVE_SCRIPT in a new interpreter (cwd = tmp, keras_aliasfree blocked); its outputs."""
    tmp = str(tmp)
    np.savez(os.path.join(tmp, "denoise_in.npz"), x=denoise_x.astype("float32"),
             t=denoise_t.astype("int32"))
    with open(os.path.join(tmp, "calls.json"), "w") as f:
        json.dump({"sample": sample_calls,
                   "denoise_inputs": os.path.join(tmp, "denoise_in.npz")}, f)
    out = os.path.join(tmp, "served.npz")
    proc = subprocess.run([sys.executable, "-I", "-c", SERVE_SCRIPT, os.path.abspath(model_dir),
                           os.path.join(tmp, "calls.json"), out],
                          cwd=tmp, env=_tiny_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"serving process failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    with np.load(out) as data:
        return {k: data[k] for k in data.files}


def _to_uint8(x):
    return np.clip(np.round((np.asarray(x, "float32") + 1.0) * 127.5), 0, 255).astype("uint8")


def _assert_images_match(got, want, what):
    assert got.shape == want.shape and got.dtype == np.uint8, (what, got.shape, got.dtype)
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() >= 0.99, \
        f"{what}: exported sample differs from the library's (max {diff.max()}, " \
        f"{(diff > 0).mean():.2%} of pixels)"


def _tiny_model(T=20, ema_decay=0.9, fit=True):
    from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule
    from keras_aliasfree.unet import build_unet

    net = build_unet("D-1N", image_size=16, channels=1, base_width=4, channel_mults=(1, 2),
                     bottleneck_mult=2, attention=False, time_dim=16)
    dm = DiffusionModel(net, NoiseSchedule(T), ema_decay=ema_decay, seed=0)
    if fit:
        dm.compile(optimizer=keras.optimizers.AdamW(1e-2))
        x = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 1)).astype("float32")
        dm.fit(x, batch_size=4, epochs=1, verbose=0)
    return dm


SAMPLE_CALLS = [
    dict(seed=11, num=3, rotation=30.0, steps=4),     # DDIM, rotated
    dict(seed=5, num=2, rotation=-45.0, steps=0),     # DDPM (steps <= 0 = all T), rotated
    dict(seed=5, num=2, rotation=0.0, steps=20),      # DDPM (steps == T), no rotation
    dict(seed=2**33 + 7, num=1, rotation=90.0, steps=1),  # int64 seed, one DDIM step
]


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    """A tiny trained D-1N model (TF backend), its checkpoint, its export, and the library's own
    samples/denoiser outputs for SAMPLE_CALLS."""
    if BACKEND != "tensorflow":
        pytest.skip("needs the TensorFlow backend")
    from keras_aliasfree.export import export_saved_model

    root = tmp_path_factory.mktemp("export")
    dm = _tiny_model()
    # make the EMA copy clearly different from the raw weights, so that exporting the wrong set
    # cannot pass
    rng = np.random.default_rng(7)
    for e in dm.ema_variables:
        e.assign(keras.ops.convert_to_numpy(e.value)
                 + 0.05 * rng.normal(size=tuple(e.shape)).astype("float32"))
    ckpt = dm.save_checkpoint(str(root / "ckpt"))
    out = export_saved_model(ckpt, str(root / "saved_model"), verbose=False)
    T = dm.schedule.timesteps
    refs = []
    for c in SAMPLE_CALLS:
        ddpm = c["steps"] <= 0 or c["steps"] == T
        refs.append(_to_uint8(dm.sample(c["num"], sampler="ddpm" if ddpm else "ddim",
                                        steps=None if ddpm else c["steps"],
                                        rotation=c["rotation"], seed=c["seed"], verbose=0)))
    rng = np.random.default_rng(3)
    den_x = rng.normal(size=(3, 16, 16, 1)).astype("float32")
    den_t = np.array([0, 7, T - 1], "int32")
    # the model's noise prediction: the denoiser plus, for this D model, the band limit
    assert dm.band_limit == "disc"
    raw_eps = keras.ops.convert_to_numpy(dm.predict_noise(den_x, den_t))
    for v, e in zip(dm.denoiser.trainable_variables, dm.ema_variables):
        v.assign(e.value)
    ema_eps = keras.ops.convert_to_numpy(dm.predict_noise(den_x, den_t))
    return dict(dir=out, ckpt=ckpt, refs=refs, den_x=den_x, den_t=den_t, raw_eps=raw_eps,
                ema_eps=ema_eps, T=T, root=root)


@pytest.mark.tf_only
def test_ddim_timesteps_in_graph_match_schedule():
    import tensorflow as tf

    from keras_aliasfree.diffusion import NoiseSchedule
    from keras_aliasfree.export import ddim_timesteps_tf

    for T in (10, 1000, 37):
        sched = NoiseSchedule(T)
        for n in sorted({1, 2, 3, 5, 7, 50, 99, T - 1, T} & set(range(1, T + 1))):
            want = sched.sampling_timesteps("ddim", n)
            got = ddim_timesteps_tf(tf.constant(n), T).numpy()
            np.testing.assert_array_equal(got, want, err_msg=f"T={T}, steps={n}")


@pytest.mark.tf_only
@pytest.mark.slow
def test_serving_without_library_matches_library_sampler(tiny_export, tmp_path):
    e = tiny_export
    served = serve_in_fresh_process(e["dir"], SAMPLE_CALLS, e["den_x"], e["den_t"], tmp_path)
    assert {"sample", "denoise", "serving_default"} <= set(served["signatures"].tolist())
    for k, (c, ref) in enumerate(zip(SAMPLE_CALLS, e["refs"])):
        _assert_images_match(served[f"sample_{k}"], ref, f"call {c}")
        np.testing.assert_array_equal(served[f"default_{k}"], served[f"sample_{k}"])
        np.testing.assert_array_equal(served[f"again_{k}"], served[f"sample_{k}"])  # same seed
    # the rotation really is applied: the same seed without rotation gives other images
    assert not np.array_equal(served["sample_1"], served["sample_2"])
    np.testing.assert_allclose(served["denoise"], e["ema_eps"], atol=1e-4, rtol=1e-5)
    # ... and it is the EMA copy that was exported, not the raw weights
    assert np.abs(served["denoise"] - e["raw_eps"]).max() > 1e-3


@pytest.mark.tf_only
def test_concurrent_sample_calls_on_one_loaded_model_equal_the_serial_ones(tiny_export):
    """4 threads x 3 `sample` calls each on one loaded SavedModel, seeds interleaved so that
    threads run different seeds at the same time: no error, every result byte-equal to the
    serial call of its seed (a model that shared state between calls would mix them)."""
    from concurrent.futures import ThreadPoolExecutor

    import tensorflow as tf

    sample = tf.saved_model.load(tiny_export["dir"]).signatures["sample"]

    def call(seed):
        return sample(seed=tf.constant(seed, tf.int64), num_images=tf.constant(2),
                      rotation_degrees=tf.constant(15.0 * (seed % 3)),
                      steps=tf.constant(3))["images"].numpy()

    threads, per_thread = 4, 3
    seeds = list(range(threads * per_thread))
    serial = {s: call(s) for s in seeds}
    assert len({v.tobytes() for v in serial.values()}) == len(seeds)  # seeds differ: images too

    def worker(k):
        return [(s, call(s)) for s in seeds[k::threads]]

    with ThreadPoolExecutor(threads) as pool:
        results = [r for rs in pool.map(worker, range(threads)) for r in rs]
    assert sorted(s for s, _ in results) == seeds
    for s, images in results:
        np.testing.assert_array_equal(images, serial[s], err_msg=f"seed {s}")


@pytest.mark.tf_only
def test_a_seeds_first_images_do_not_depend_on_how_many_are_drawn(tiny_export):
    """The demo draws one image per angle for its comparison rows and relies on this."""
    import tensorflow as tf

    sample = tf.saved_model.load(tiny_export["dir"]).signatures["sample"]

    def call(n, rotation):
        return sample(seed=tf.constant(7, tf.int64), num_images=tf.constant(n),
                      rotation_degrees=tf.constant(rotation), steps=tf.constant(3))["images"]

    for rotation in (0.0, 30.0):
        three = call(3, rotation).numpy()
        np.testing.assert_array_equal(call(1, rotation).numpy()[0], three[0])
        assert not np.array_equal(three[0], three[1])


@pytest.mark.tf_only
def test_export_rejects_bad_calls(tiny_export):
    import tensorflow as tf

    m = tf.saved_model.load(tiny_export["dir"])
    ok = dict(seed=tf.constant(0, tf.int64), num_images=tf.constant(1),
              rotation_degrees=tf.constant(0.0), steps=tf.constant(2))
    assert m.signatures["sample"](**ok)["images"].shape == (1, 16, 16, 1)
    for bad, msg in ((dict(steps=tf.constant(tiny_export["T"] + 1)), "steps must be <="),
                     (dict(num_images=tf.constant(0)), "num_images must be >= 1"),
                     (dict(rotation_degrees=tf.constant(float("nan"))), "must be finite")):
        with pytest.raises(tf.errors.InvalidArgumentError, match=msg):
            m.signatures["sample"](**{**ok, **bad})
    with pytest.raises(tf.errors.InvalidArgumentError, match="one timestep per image"):
        m.signatures["denoise"](noisy_images=tf.zeros((2, 16, 16, 1)),
                                timesteps=tf.constant([1], tf.int32))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"must have shape \(N, 16, 16, 1\)"):
        m.signatures["denoise"](noisy_images=tf.zeros((1, 8, 8, 1)),
                                timesteps=tf.constant([1], tf.int32))
    with pytest.raises(TypeError, match="16, 16, 1"):  # the restored tf.function checks the spec
        m.denoise(noisy_images=tf.zeros((1, 8, 8, 1)), timesteps=tf.constant([1], tf.int32))


@pytest.mark.tf_only
def test_export_refuses_to_overwrite_and_writes_info(tiny_export):
    from keras_aliasfree.export import export_saved_model, read_export_info

    with pytest.raises(FileExistsError, match="overwrite"):
        export_saved_model(tiny_export["ckpt"], tiny_export["dir"], verbose=False)
    info = read_export_info(tiny_export["dir"])
    assert info["image_shape"] == [16, 16, 1]
    assert info["schedule"]["timesteps"] == tiny_export["T"]
    assert info["weights"] == "ema" and info["rotation_method"] == "fft"


@pytest.mark.tf_only
def test_export_info_identifies_the_checkpoint_without_its_path(tiny_export):
    import hashlib

    from keras_aliasfree.export import INFO_FILE, read_export_info

    ckpt = tiny_export["ckpt"]
    with open(os.path.join(tiny_export["dir"], INFO_FILE)) as f:
        text = f.read()
    # no path of the exporting machine: not the checkpoint's, not its parent's, not the home
    for where in (ckpt, os.path.dirname(ckpt), os.path.expanduser("~")):
        assert where not in text
    ident = read_export_info(tiny_export["dir"])["checkpoint"]
    with open(os.path.join(ckpt, "manifest.json"), "rb") as f:
        assert ident["manifest_sha256"] == hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(ckpt, "training_state.json")) as f:
        state = json.load(f)
    assert ident["name"] == os.path.basename(ckpt) and ident["step"] == state.get("step")


def _saved_model_cli():
    cand = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    return cand if os.path.exists(cand) else shutil.which("saved_model_cli")


@pytest.mark.tf_only
def test_saved_model_cli_lists_signatures(tiny_export):
    cli = _saved_model_cli()
    if cli is None:
        pytest.skip("saved_model_cli is not installed next to this Python")
    proc = subprocess.run([cli, "show", "--all", "--dir", tiny_export["dir"]],
                          capture_output=True, text=True, timeout=300, env=_tiny_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    for sig in ("serving_default", "sample", "denoise"):
        assert f"signature_def['{sig}']" in text, text[:3000]
    for name, dtype in (("seed", "DT_INT64"), ("num_images", "DT_INT32"),
                        ("rotation_degrees", "DT_FLOAT"), ("steps", "DT_INT32"),
                        ("noisy_images", "DT_FLOAT"), ("timesteps", "DT_INT32")):
        block = text[text.index(f"inputs['{name}']"):][:200]
        assert f"dtype: {dtype}" in block, block
    assert "DT_UINT8" in text  # the images output of sample


@pytest.mark.tf_only
@pytest.mark.slow
def test_saved_model_cli_run_session_loader(tiny_export, tmp_path):
    """`saved_model_cli run` loads with the TF1 session loader (as TensorFlow Serving's C++
    SavedModelBundle does): variables must restore there too, and give the same images."""
    cli = _saved_model_cli()
    if cli is None:
        pytest.skip("saved_model_cli is not installed next to this Python")
    c = SAMPLE_CALLS[0]
    out = tmp_path / "run"
    proc = subprocess.run([cli, "run", "--dir", tiny_export["dir"], "--tag_set", "serve",
                           "--signature_def", "sample", "--input_exprs",
                           f"seed={c['seed']};num_images={c['num']};"
                           f"rotation_degrees={c['rotation']};steps={c['steps']}",
                           "--outdir", str(out)],
                          capture_output=True, text=True, timeout=300, env=_tiny_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_images_match(np.load(out / "images.npy"), tiny_export["refs"][0],
                         "saved_model_cli run")


# --------------------------------------------------------------------------- shipped models

SHIPPED = sorted(os.path.dirname(p) for p in
                 glob.glob(os.path.join(REPO, "saved_models", "*", "saved_model.pb")))


@pytest.mark.tf_only
@pytest.mark.slow
@pytest.mark.parametrize("model_dir", SHIPPED, ids=[os.path.basename(p) for p in SHIPPED])
def test_shipped_saved_model_serves_without_library(model_dir, tmp_path):
    with open(os.path.join(model_dir, "assets.extra", "keras_aliasfree.json")) as f:
        info = json.load(f)
    h, w, c = info["image_shape"]
    T = info["schedule"]["timesteps"]
    steps = 0 if info.get("sampler") else 5  # an export with a fixed sampler runs it on 0
    calls = [dict(seed=1, num=2, rotation=0.0, steps=steps),
             dict(seed=1, num=2, rotation=60.0, steps=steps)]
    x = np.random.default_rng(0).normal(size=(2, h, w, c)).astype("float32")
    t = np.array([0, T - 1], "int32")
    served = serve_in_fresh_process(model_dir, calls, x, t, tmp_path)
    assert {"sample", "denoise", "serving_default"} <= set(served["signatures"].tolist())
    for k in range(len(calls)):
        img = served[f"sample_{k}"]
        assert img.shape == (2, h, w, c) and img.dtype == np.uint8
        assert img.std() > 5.0, "samples are (nearly) constant"
        np.testing.assert_array_equal(served[f"again_{k}"], img)  # same seed, same images
    assert not np.array_equal(served["sample_0"], served["sample_1"])  # rotation is applied
    eps = served["denoise"]
    assert eps.shape == x.shape and np.isfinite(eps).all()
    # at t = T-1 x_t is almost pure noise, so a trained denoiser predicts it closely
    assert np.corrcoef(eps[1].ravel(), x[1].ravel())[0, 1] > 0.9


# --------------------------------------------------------------------------- other backends

@pytest.mark.slow
def test_export_from_current_backend_checkpoint(tmp_path):
    """A checkpoint written under this backend (TF, JAX or PyTorch) exports -- via a
    KERAS_BACKEND=tensorflow subprocess when needed -- and the SavedModel's denoise equals this
    backend's UNet."""
    pytest.importorskip("tensorflow")
    from keras_aliasfree.export import export_saved_model

    dm = _tiny_model(fit=False)  # EMA copy == weights (no update yet)
    ckpt = dm.save_checkpoint(str(tmp_path / "ckpt"))
    out = export_saved_model(ckpt, str(tmp_path / "sm"), verbose=False)
    with open(os.path.join(ckpt, "config.json")) as f:
        assert json.load(f)["backend"] == BACKEND
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 16, 16, 1)).astype("float32")
    t = np.array([3, 15], "int32")
    want = keras.ops.convert_to_numpy(dm.predict_noise(x, t))
    served = serve_in_fresh_process(out, [dict(seed=0, num=1, rotation=10.0, steps=3)], x, t,
                                    tmp_path)
    np.testing.assert_allclose(served["denoise"], want, atol=1e-4, rtol=1e-4)
    assert served["sample_0"].shape == (1, 16, 16, 1)


# --------------------------------------------------------------------------- demo

def _check_demo_output(out_dir, frames):
    from PIL import Image

    png = os.path.join(out_dir, "samples.png")
    gif = os.path.join(out_dir, "rotation_sweep.gif")
    assert os.path.isfile(png) and os.path.isfile(gif)
    grid = np.asarray(Image.open(png))
    assert grid.std() > 5.0
    with Image.open(gif) as im:
        assert im.n_frames == frames
        seq = []
        for k in range(im.n_frames):
            im.seek(k)
            seq.append(np.asarray(im.convert("L"), "float32"))
    for f in seq:
        assert f.std() > 5.0, "a constant frame"
    assert np.abs(seq[0] - seq[-1]).mean() > 1.0, "the -90 and +90 frames are identical"


@pytest.mark.tf_only
def test_demo_with_tiny_model(tiny_export, tmp_path, capsys):
    from keras_aliasfree.cli import main

    out = tmp_path / "demo"
    rc = main(["demo", "--model", tiny_export["dir"], "--out", str(out), "--frames", "10",
               "--steps", "3", "--num", "4", "--sweep-num", "2"])
    assert rc == 0
    _check_demo_output(str(out), 10)
    text = capsys.readouterr().out
    assert "samples.png" in text and "rotation_sweep.gif" in text and "took" in text
    assert not os.path.exists(out / "compare_rotation.png")  # no baseline beside a tiny model
    # with a baseline (here the same tiny model): two rows of the strip, the same noise
    rc = main(["demo", "--model", tiny_export["dir"], "--baseline", tiny_export["dir"], "--out",
               str(out), "--frames", "3", "--steps", "3", "--num", "1", "--sweep-num", "2",
               "--scale", "1", "--equivariant", "none"])
    assert rc == 0
    from PIL import Image

    both = np.asarray(Image.open(out / "compare_rotation.png").convert("L"))[14:]  # below label
    top, bottom = both[2:18], both[20:36]  # 16-pixel tiles, 2-pixel padding
    np.testing.assert_array_equal(top, bottom)
    assert main(["demo", "--model", tiny_export["dir"], "--baseline", str(out / "no"),
                 "--out", str(out)]) == 2


@pytest.mark.tf_only
def test_demo_missing_model_is_a_clear_error(tmp_path, capsys):
    from keras_aliasfree.cli import main

    rc = main(["demo", "--model", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "no SavedModel" in capsys.readouterr().err


@pytest.mark.tf_only
@pytest.mark.slow
def test_demo_default_model_as_in_readme(tmp_path):
    """`keras-aliasfree demo --out DIR` with the shipped model, in a fresh process, offline."""
    from keras_aliasfree.commands.demo import default_model_path

    assert os.path.isfile(os.path.join(default_model_path(), "saved_model.pb")), \
        f"the shipped demo model is missing: {default_model_path()}"
    env = _tiny_env()
    env.pop("KERAS_ALIASFREE_DEMO_MODEL", None)
    proc = subprocess.run([sys.executable, "-m", "keras_aliasfree", "demo", "--out",
                           str(tmp_path / "demo")], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check_demo_output(str(tmp_path / "demo"), 13)
    # the shipped baseline (config A, the same recipe) sits beside it: the comparison strip
    assert os.path.isfile(str(tmp_path / "demo" / "compare_rotation.png"))


@pytest.mark.tf_only
def test_export_eta_matches_library_ddim_eta(tiny_export):
    import tensorflow as tf

    from keras_aliasfree.diffusion import load_checkpoint
    from keras_aliasfree.export import build_serving_module

    e = tiny_export
    dm = load_checkpoint(e["ckpt"])
    module = build_serving_module(e["ckpt"], eta=1.0)
    assert module.export_info["ddim_eta"] == 1.0
    for seed, rot in ((5, 0.0), (6, 30.0)):
        got = module.sample(tf.constant(seed, tf.int64), tf.constant(2), tf.constant(rot),
                            tf.constant(6))["images"].numpy()
        want = _to_uint8(dm.sample(2, sampler="ddim", steps=6, rotation=rot, seed=seed,
                                   verbose=0, eta=1.0))
        _assert_images_match(got, want, f"eta=1 seed {seed}")
        plain = _to_uint8(dm.sample(2, sampler="ddim", steps=6, rotation=rot, seed=seed,
                                    verbose=0))
        assert not np.array_equal(got, plain)
    with pytest.raises(ValueError, match="eta"):
        build_serving_module(e["ckpt"], eta=2.0)


@pytest.mark.tf_only
@pytest.mark.parametrize("prediction", ["v", "x0"])
def test_export_of_other_prediction_types_matches_library(prediction, tmp_path):
    # the SavedModel turns the network's v / x0 into eps_hat with the same noise_prediction
    import tensorflow as tf

    from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule
    from keras_aliasfree.export import build_serving_module
    from keras_aliasfree.unet import build_unet

    net = build_unet("D-1N", image_size=16, channels=1, base_width=4, channel_mults=(1, 2),
                     bottleneck_mult=2, attention=False, time_dim=16)
    dm = DiffusionModel(net, NoiseSchedule(20), ema_decay=0.0, seed=0, prediction=prediction)
    ckpt = dm.save_checkpoint(str(tmp_path / "ckpt"))
    module = build_serving_module(ckpt)
    assert module.export_info["prediction"] == prediction
    x = np.random.default_rng(1).normal(size=(2, 16, 16, 1)).astype("float32")
    t = np.array([3, 15], "int32")
    want = keras.ops.convert_to_numpy(dm.predict_noise(x, t))
    # x0: eps = (x - a x0) / sigma amplifies float32 rounding by 1/sigma at small t, so the
    # tolerance scales with the output's magnitude (graph vs eager op order differ in the last bit)
    np.testing.assert_allclose(module.denoise(tf.constant(x), tf.constant(t))["noise"].numpy(),
                               want, atol=1e-5 * max(1.0, float(np.abs(want).max())), rtol=1e-5)
    for steps in (5, 0):
        got = module.sample(tf.constant(3, tf.int64), tf.constant(2), tf.constant(20.0),
                            tf.constant(steps))["images"].numpy()
        want = _to_uint8(dm.sample(2, sampler="ddim" if steps else "ddpm",
                                   steps=steps or None, rotation=20.0, seed=3, verbose=0))
        _assert_images_match(got, want, f"{prediction}, steps {steps}")


@pytest.mark.tf_only
@pytest.mark.parametrize("spec", [{"name": "dpm++2m", "steps": 4}, {"name": "heun", "steps": 3},
                                  {"name": "euler", "steps": 4},
                                  {"name": "heun", "steps": 3, "s_churn": 2.0},
                                  {"name": "ddim", "steps": 5, "eta": 1.0}], ids=str)
def test_export_with_a_fixed_sampler_matches_library(tiny_export, spec):
    # the sampler fixed at export time: its tables are graph constants, the loop body is the
    # library's sampler_iteration, so the images equal DiffusionModel.sample's for the same seed
    import tensorflow as tf

    from keras_aliasfree.diffusion import get_sampler, load_checkpoint
    from keras_aliasfree.export import build_serving_module

    e = tiny_export
    dm = load_checkpoint(e["ckpt"])
    sampler = get_sampler(spec)
    module = build_serving_module(e["ckpt"], sampler=spec)
    assert module.export_info["sampler"] == sampler.get_config()
    for seed, rot, steps in ((5, 0.0, 0), (6, 30.0, sampler.steps)):
        got = module.sample(tf.constant(seed, tf.int64), tf.constant(2), tf.constant(rot),
                            tf.constant(steps))["images"].numpy()
        want = _to_uint8(dm.sample(2, sampler=sampler, rotation=rot, seed=seed, verbose=0))
        _assert_images_match(got, want, f"{sampler} seed {seed} rotation {rot}")
    with pytest.raises(tf.errors.InvalidArgumentError, match="steps"):
        module.sample(tf.constant(1, tf.int64), tf.constant(1), tf.constant(0.0),
                      tf.constant(sampler.steps + 1))
    with pytest.raises(ValueError, match="eta"):
        build_serving_module(e["ckpt"], eta=0.5, sampler=spec)
