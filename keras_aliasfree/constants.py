"""Names and defaults shared by the library and the ``keras-aliasfree`` command (no heavy imports).

Each is defined here once; :mod:`keras_aliasfree.transforms`, :mod:`keras_aliasfree.diffusion` and
the command's options import them.

Example:
    >>> SAMPLERS, DEFAULT_DDIM_STEPS, DEFAULT_ROTATION_METHOD
    (('ddpm', 'ddim'), 50, 'fft')
"""

#: the reverse samplers: DDPM (Ho et al. 2020, Algorithm 2, all T steps) and DDIM (Song et al. 2021)
SAMPLERS = ("ddpm", "ddim")
#: every sampler object by name (:mod:`keras_aliasfree.diffusion.samplers`): the two above,
#: DPM-Solver++ 2M (Lu et al. 2022), Euler and Heun on Karras sigmas (Karras et al. 2022)
SAMPLER_NAMES = ("ddpm", "ddim", "dpm++2m", "euler", "heun")
#: DDIM steps when none are given (library, command options, training-time sample grids)
DEFAULT_DDIM_STEPS = 50
#: the sampler of ``keras-aliasfree sample`` and of the shipped exports when none is named: Heun
#: on Karras sigmas with 10 steps (19 network evaluations), the best sampler at <= 20 NFE on the
#: shipped models (docs/SAMPLING.md, "Quality against NFE")
DEFAULT_SAMPLER = "heun"
DEFAULT_SAMPLER_STEPS = 10
#: rotations of :func:`keras_aliasfree.transforms.rotate`: band-limited FFT three-shear, bilinear
#: and cubic interpolation
ROTATION_METHODS = ("fft", "bilinear", "cubic")
#: the rotation the samplers and the SavedModel use unless told otherwise (keeps noise variance)
DEFAULT_ROTATION_METHOD = "fft"
#: how rotation-aware sampling turns the image: ``progressive`` (the paper's: x_t turned by
#: ``angle / NFE`` before every step) or ``once`` (the noise turned once, x_t never resampled)
ROTATION_MODES = ("progressive", "once")
#: the angles of the rotation agreement ``evaluate`` measures (degrees)
AGREEMENT_ANGLES = (15.0, 45.0, 90.0, 180.0)
#: what the network predicts: the noise (the paper, Ho et al.), ``v = sqrt(ab) eps - sqrt(1-ab) x0``
#: (Salimans & Ho 2022) or the clean image ``x0``
PREDICTION_TYPES = ("epsilon", "v", "x0")
#: loss weighting over timesteps: ``uniform`` MSE on the prediction target (the paper), or
#: ``min_snr`` (Hang et al. 2023: the target's MSE weighted so that eps-space weight is
#: ``min(SNR, gamma) / SNR``)
LOSS_WEIGHTINGS = ("uniform", "min_snr")
#: default cap on ``num_images`` of one SavedModel ``sample`` call (``export --max-images``)
DEFAULT_MAX_IMAGES = 1024
#: ``band_limit`` values of :class:`keras_aliasfree.DiffusionModel` (``None`` = no band limit)
BAND_LIMITS = ("auto", "disc", None)

__all__ = ["SAMPLERS", "SAMPLER_NAMES", "DEFAULT_DDIM_STEPS", "DEFAULT_SAMPLER",
           "DEFAULT_SAMPLER_STEPS", "ROTATION_METHODS",
           "DEFAULT_ROTATION_METHOD", "ROTATION_MODES", "AGREEMENT_ANGLES",
           "BAND_LIMITS", "PREDICTION_TYPES", "LOSS_WEIGHTINGS", "DEFAULT_MAX_IMAGES"]
