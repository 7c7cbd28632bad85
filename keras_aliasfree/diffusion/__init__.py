"""The diffusion core: noise schedule, one reverse step, the model, checkpoints, callbacks.

Modules, in dependency order (each imports only those above it):

* :mod:`~keras_aliasfree.diffusion.schedule` -- :class:`NoiseSchedule` (linear or cosine betas)
  and the per-step coefficients of the DDPM and DDIM samplers (:class:`SamplerTables`).
* :mod:`~keras_aliasfree.diffusion.samplers` -- the sampler objects (:class:`DDPM`,
  :class:`DDIM`, :class:`DPMSolverMultistep`, :class:`Euler`, :class:`Heun`, :func:`get_sampler`):
  each owns its tables, validation, NFE, state and one loop iteration.
* :mod:`~keras_aliasfree.diffusion.band_limit` -- the disc band limit of C/D models.
* :mod:`~keras_aliasfree.diffusion.sampling` -- :func:`sampler_iteration`, the one loop body used
  by :meth:`DiffusionModel.sample` and by the SavedModel export, and the compiled sampling loop.
* :mod:`~keras_aliasfree.diffusion.checkpoint` -- checkpoint directories: write, find, read.
* :mod:`~keras_aliasfree.diffusion.exported` -- a SavedModel export read back as a Keras
  denoiser (its info file and EMA weights).
* :mod:`~keras_aliasfree.diffusion.model` -- :class:`DiffusionModel` (``train_step``, EMA,
  sampling, checkpoints); :mod:`~keras_aliasfree.diffusion.loading` -- :func:`load_checkpoint`.
* :mod:`~keras_aliasfree.diffusion.callbacks` -- :class:`TrainingCheckpoint`.
* :mod:`~keras_aliasfree.diffusion.preemption` -- a data order fixed by the step,
  :func:`fit_from_step` (resume inside an epoch) and :class:`StopSignals` (SIGTERM/SIGINT).

Example:
    >>> from keras_aliasfree.diffusion import NoiseSchedule
    >>> NoiseSchedule(1000).sampler_tables("ddim", 4).timesteps.tolist()
    [999, 666, 333, 0]
"""

from keras_aliasfree.diffusion.band_limit import (BAND_LIMITS, DATA_TAPER, apply_band_limit,
                                                  resolve_band_limit)
from keras_aliasfree.diffusion.callbacks import TrainingCheckpoint
from keras_aliasfree.diffusion.checkpoint import (denoiser_from_checkpoint, find_checkpoint,
                                                  is_checkpoint, read_checkpoint_config,
                                                  read_training_state)
from keras_aliasfree.diffusion.exported import denoiser_from_export, is_export, read_export_info
from keras_aliasfree.diffusion.loading import load_checkpoint, load_preset
from keras_aliasfree.diffusion.model import DiffusionModel
from keras_aliasfree.diffusion.preemption import StopSignals, fit_from_step, step_batches
from keras_aliasfree.diffusion.samplers import (DDIM, DDPM, DPMSolverMultistep, Euler, Heun,
                                                Sampler, get_sampler)
from keras_aliasfree.diffusion.sampling import (ROTATION_MODES, SampleOutput, noise_prediction,
                                               sampler_iteration)
from keras_aliasfree.diffusion.saving import write_latest
from keras_aliasfree.diffusion.schedule import (DEFAULT_DDIM_STEPS, SAMPLERS, NoiseSchedule,
                                                SamplerTables, ddim_coefficients)
from keras_aliasfree.transforms import DEFAULT_ROTATION_METHOD, ROTATION_METHODS

__all__ = ["DiffusionModel", "NoiseSchedule", "SamplerTables", "TrainingCheckpoint", "Sampler",
           "DDPM", "DDIM", "DPMSolverMultistep", "Euler", "Heun", "get_sampler",
           "StopSignals", "fit_from_step", "step_batches",
           "load_checkpoint", "load_preset", "denoiser_from_export", "is_export",
           "read_export_info", "find_checkpoint", "read_checkpoint_config", "read_training_state",
           "is_checkpoint", "write_latest", "denoiser_from_checkpoint", "apply_band_limit",
           "resolve_band_limit", "noise_prediction", "sampler_iteration", "ddim_coefficients",
           "SAMPLERS", "ROTATION_METHODS", "DEFAULT_ROTATION_METHOD", "DEFAULT_DDIM_STEPS",
           "BAND_LIMITS", "DATA_TAPER", "ROTATION_MODES", "SampleOutput"]
