"""Simulated guider frames with known truth: photon (Poisson) noise plus read noise.

The noise model, per pixel and frame::

    expected electrons  m = gaussian2d(params) * exposure
    electrons           d = Poisson(max(m, 0)) + min(m, 0) + Normal(0, read_noise)
    frame               d / exposure
    error (ERR)         sqrt(max(d, 0) + read_noise²) / exposure

i.e. `params` are in the frame's units (e- per frame with ``exposure=1``, or
e-/s with ``exposure`` = the frame time, as in JWST's count-rate cal files),
a negative model (bias over-subtracted) is kept as a deterministic offset,
and ERR is computed from the noisy data as the pipeline does.

`simulate_count_rates` is the same model in the units of a fine-guide cal
file: DN/s, a gain, the read noise of each of the two reads a CDS frame
differences, and ERR as the pipeline's ``guider_cds`` step computes it (also
over any cosmic-ray hits added to the data).  The sample program uses it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .psf import gaussian2d

__all__ = ["FGS_FRAME_TIME", "FGS_READ_NOISE", "fgs_like_parameters", "real_fgs_parameters",
           "real_fgs_series", "simulate_count_rates", "simulate_frames"]

ParamSource = np.ndarray | Callable[[np.random.Generator, int], np.ndarray]
_BLOCK = 100_000  # frames simulated at a time (bounds the float64 temporaries)
#: JWST FGS fine-guide frame time (s): pass as ``exposure`` with `real_fgs_parameters`
FGS_FRAME_TIME = 0.0625
#: FGS read noise (e- per pixel and frame): pass as ``read_noise``
FGS_READ_NOISE = 12.0


def fgs_like_parameters(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random FGS-like true parameters, shape (n, 7), in `PARAMETERS` order.

    amplitude log-uniform in [1e3, 1e5] (e- per frame at the peak); centroid
    uniform in [2.5, 4.5] px; both widths uniform in [0.7, 1.5] px
    (independently: rotated and nearly round PSFs); theta uniform in
    [-pi/2, pi/2); offset uniform in [10, 50].  A broad mix, with faint,
    wide and edge-truncated stars; the flight data's regime is
    `real_fgs_parameters`.
    """
    return np.column_stack([
        10.0 ** rng.uniform(3.0, 5.0, n),
        rng.uniform(2.5, 4.5, n),
        rng.uniform(2.5, 4.5, n),
        rng.uniform(0.7, 1.5, n),
        rng.uniform(0.7, 1.5, n),
        rng.uniform(-np.pi / 2, np.pi / 2, n),
        rng.uniform(10.0, 50.0, n),
    ])


def real_fgs_parameters(rng: np.random.Generator, n: int) -> np.ndarray:
    """True parameters of real JWST FGS fine-guide stars, shape (n, 7), in `PARAMETERS` order.

    The regime of the flight data, in count rates (DN/s, taken as e-/s):
    simulate with ``exposure=FGS_FRAME_TIME`` (0.0625 s) and
    ``read_noise=FGS_READ_NOISE`` (12 e-)::

        simulate_frames(n, real_fgs_parameters, exposure=FGS_FRAME_TIME,
                        read_noise=FGS_READ_NOISE)

    * amplitude uniform in [2e5, 3e5] DN/s: 1.25–1.9e4 e- per frame at the
      peak;
    * centroid uniform in [2.6, 3.0] px on both axes (pixel centres 0..7);
    * both widths uniform in [0.64, 0.73] px, independently: undersampled
      (pixel-phase effects matter) and nearly round;
    * theta uniform in [-pi/2, pi/2): undefined for a round star;
    * offset uniform in [2500, 3400] DN/s: 160–210 e- of background per
      pixel and frame, whose photon noise (13–14 e-) adds to the read noise.

    `fgs_like_parameters` covers broader and fainter stars on a low
    background instead.
    """
    return np.column_stack([
        rng.uniform(2e5, 3e5, n),
        rng.uniform(2.6, 3.0, n),
        rng.uniform(2.6, 3.0, n),
        rng.uniform(0.64, 0.73, n),
        rng.uniform(0.64, 0.73, n),
        rng.uniform(-np.pi / 2, np.pi / 2, n),
        rng.uniform(2500.0, 3400.0, n),
    ])


#: `real_fgs_series`: frames per simulated file (a new star position, brightness, widths)
SERIES_FILE_FRAMES = 2000
#: `real_fgs_series`: RMS frame-to-frame pointing jitter (px; ~1 mas of 69 mas pixels)
SERIES_JITTER = 0.015


def real_fgs_series(rng: np.random.Generator, n: int, *, file_frames: int = SERIES_FILE_FRAMES,
                    jitter: float = SERIES_JITTER, jumps: int = 2) -> np.ndarray:
    """`real_fgs_parameters` as a time series: shape (n, 7), consecutive frames alike.

    Flight guide stars do not change from frame to frame: within a file the star
    holds its brightness, widths, rotation and background, and its centroid moves
    by the pointing jitter only.  Each block of `file_frames` frames (a file) draws
    one set of `real_fgs_parameters`; within it the amplitude varies by 1 % RMS
    (scintillation-free: the guider's own flux noise), the background drifts by
    0.5 %, and the centroid jitters by `jitter` px RMS about its mean.  `jumps`
    tilt events per file (at random frames) move the mean centroid by 0.1-0.5 px
    in a random direction, as a mirror tilt does.
    """
    out = np.empty((n, 7))
    for start in range(0, n, file_frames):
        m = min(file_frames, n - start)
        block = np.repeat(real_fgs_parameters(rng, 1), m, axis=0)
        block[:, 0] *= 1.0 + 0.01 * rng.standard_normal(m)
        block[:, 6] *= 1.0 + 0.005 * np.linspace(-1.0, 1.0, m)
        for at in rng.integers(0, m, jumps):
            size, angle = rng.uniform(0.1, 0.5), rng.uniform(0.0, 2.0 * np.pi)
            block[at:, 1] += size * np.cos(angle)
            block[at:, 2] += size * np.sin(angle)
        block[:, 1:3] += jitter * rng.standard_normal((m, 2))
        out[start:start + m] = block
    return out


def simulate_frames(n: int | None = None, params: ParamSource | None = None, *,
                    read_noise: float = 12.0, exposure: float = 1.0,
                    seed: int | np.random.Generator | None = None,
                    dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy frames, their ERR arrays and the true parameters.

    Parameters
    ----------
    n : int, optional
        Number of frames; may be omitted when `params` is an (n, 7) array.
    params : ndarray (n, 7) or (7,), or callable(rng, n) -> (n, 7), optional
        True parameters per frame (a single row is repeated), or a generator
        of them; default `fgs_like_parameters`.
    read_noise : float
        Read noise in electrons per pixel and frame.
    exposure : float
        Frame time: `params` and the output are in e- / exposure.
    seed : int or numpy.random.Generator, optional
        Same seed, same frames.
    dtype : numpy dtype
        Of frames and errors (float32 like the cal files).

    Returns
    -------
    frames : ndarray, shape (n, 8, 8)
    errors : ndarray, shape (n, 8, 8)
    truth : ndarray, shape (n, 7), float64
        The parameters the frames were drawn from, as given (not put into
        the fit's canonical form; see
        `fgs_widgets.engine.gaussian.canonical_parameters`).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if params is None:
        params = fgs_like_parameters
    if callable(params):
        if n is None:
            raise ValueError("n is required when params is a generator (or omitted)")
        truth = np.asarray(params(rng, n), dtype=np.float64)
    else:
        truth = np.asarray(params, dtype=np.float64)
        if truth.ndim == 1:
            if n is None:
                raise ValueError("n is required when params is a single (7,) row")
            truth = np.broadcast_to(truth, (n, truth.shape[0]))
        if n is None:
            n = len(truth)
    if truth.shape != (n, 7):
        raise ValueError(f"params must give shape (n, 7) = ({n}, 7), got {truth.shape}")
    if read_noise < 0 or exposure <= 0:
        raise ValueError(f"read_noise must be >= 0 and exposure > 0, got {read_noise}, "
                         f"{exposure}")
    truth = np.array(truth)  # own, writable copy
    frames = np.empty((n, 8, 8), dtype=dtype)
    errors = np.empty((n, 8, 8), dtype=dtype)
    for a in range(0, n, _BLOCK):
        model = gaussian2d(truth[a : a + _BLOCK]) * exposure
        electrons = rng.poisson(np.clip(model, 0, None)) + np.minimum(model, 0)
        if read_noise:
            electrons += rng.normal(0.0, read_noise, model.shape)
        frames[a : a + _BLOCK] = electrons / exposure
        errors[a : a + _BLOCK] = _error(electrons, read_noise, exposure)
    return frames, errors, truth


def _error(electrons: np.ndarray, read_noise: float, exposure: float) -> np.ndarray:
    """ERR from the noisy data: sqrt(max(d, 0) + read_noise²) / exposure."""
    return np.sqrt(np.clip(electrons, 0, None) + read_noise**2) / exposure


def simulate_count_rates(params: np.ndarray, *, gain: float, read_noise: float,
                         frame_time: float, seed: int | np.random.Generator | None = None,
                         hits: np.ndarray | None = None,
                         dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Noisy count-rate frames (DN/s) and their ERR, as in a fine-guide cal file.

    The model of `simulate_frames`, in electrons (``gain`` e-/DN) over
    ``frame_time``, with the read noise of a difference of two reads
    (sqrt(2) × ``read_noise``); ERR is what the pipeline's ``guider_cds``
    computes from the data: ``sqrt(2 (read_noise / t)² + max(data, 0) / (gain t))``.

    Parameters
    ----------
    params : ndarray, shape (n, 7)
        True parameters per frame, amplitude and offset in DN/s.
    gain : float
        e-/DN (photon noise is Poisson in electrons).
    read_noise : float
        DN per read.
    frame_time : float
        Seconds the difference of reads stands for (TGROUP).
    seed : int or numpy.random.Generator, optional
    hits : ndarray, shape (k, 4), optional
        Cosmic-ray hits: rows of (frame, row, column, DN/s) added to the data
        before ERR is computed (the pipeline sees them as signal).
    dtype : numpy dtype
        Of both outputs (float32 like the cal files).

    Returns
    -------
    data, err : ndarray, shape (n, 8, 8)
    """
    if gain <= 0:
        raise ValueError(f"gain must be > 0, got {gain}")
    electrons_per_s = np.array(params, dtype=np.float64)
    if electrons_per_s.ndim != 2:
        raise ValueError(f"params must have shape (n, 7), got {electrons_per_s.shape}")
    electrons_per_s[:, [0, 6]] *= gain  # amplitude and offset: DN/s -> e-/s
    cds_noise = np.sqrt(2.0) * read_noise * gain  # e- in the difference of two reads
    rates, errors, _ = simulate_frames(params=electrons_per_s, read_noise=cds_noise,
                                       exposure=frame_time, seed=seed, dtype=np.float64)
    data = rates / gain
    if hits is not None and len(hits):
        hits = np.asarray(hits, dtype=np.float64)
        frame, row, col = (hits[:, i].astype(np.intp) for i in range(3))
        np.add.at(data, (frame, row, col), hits[:, 3])
        errors = _error(data * (gain * frame_time), cds_noise, frame_time)
    return data.astype(dtype), (errors / gain).astype(dtype)
