"""The rules that turn a report's numbers into findings: thresholds and their wording.

`RULES` is printed in every report ("How the findings are made"); `findings` applies
them.  They are here, apart from both, so that the numbers (`content`, which marks
significant periodogram peaks) and the words use one definition.
"""

from __future__ import annotations

from ..engine.stability import PLATE_SCALE_MAS

__all__ = ["DRIFT_FRACTION", "FAP_LIMIT", "MIN_CYCLES", "MIN_POWER", "REGRESSOR_SIGMA",
           "RULES", "significant_peak"]

#: a periodogram peak is significant below this false-alarm probability (Baluev) ...
FAP_LIMIT = 1e-3
#: ... when it explains at least this share of the series' variance (standard power) ...
MIN_POWER = 0.05
#: ... and its period fits this many times into the observation's longest file
MIN_CYCLES = 3.0
#: the PSF width drifted when drift x duration exceeds this share of the median width
DRIFT_FRACTION = 0.02
#: a science regressor matters when its coefficient is this many errors from zero
REGRESSOR_SIGMA = 3.0

RULES: dict[str, str] = {
    "period": (f"A peak of the x or y periodogram of an observation (each file's mean and "
               f"slope removed) is reported when its false-alarm probability (Baluev) is "
               f"below {FAP_LIMIT:g}, its power is at least {MIN_POWER:g} (the sinusoid "
               f"explains {MIN_POWER:.0%} of the variance) and its period fits at least "
               f"{MIN_CYCLES:g} times into the observation's longest file (longer periods "
               f"are drifts and steps, which the detrending takes out). The amplitude is the "
               f"semi-amplitude of the best-fitting sinusoid at that period, in px and in mas "
               f"at {PLATE_SCALE_MAS:g} mas/px."),
    "tilt": ("Every tilt the visit statistics count (n_tilts): a jump of x_mean or y_mean "
             "within a file, jumps in x and y less than 1 s apart counted once; its time "
             "(UTC and seconds since the first frame) and its step."),
    "hga": ("Every high-gain-antenna move in the files' Pointing table (HGA_motion), with "
            "its start (UTC and since the first frame) and duration."),
    "width": (f"The PSF width drifted when |psf_width_drift_px_per_h| x the visit's duration "
              f"exceeds {DRIFT_FRACTION:.0%} of its median width psf_width_px."),
    "flagged": ("Frames flagged unusable (all pixels NaN, or a negative summed flux) are "
                "counted per visit with their reasons; they stay in every array and are "
                "left out of fits and statistics."),
    "unfitted": ("Unflagged frames whose fit did not converge or gave a non-finite position "
                 "or width, counted per status."),
    "science": (f"The guide-star regressor with the largest |coefficient / error| in the "
                f"science decorrelation; it is said to explain the light curve's systematics "
                f"when that ratio is at least {REGRESSOR_SIGMA:g}."),
    "quiet": ("A visit where none of the rules tilt, hga, width, flagged and unfitted fires "
              "is called quiet (periods are found per observation, and said there)."),
    "reference": ("With a reference population (a survey dataset), the visit table gives six "
                  "statistics (stability, jitter, PSF width and its range, flagged fraction, "
                  "fit failure rate) as the share of reference visits with a lower value, "
                  "ties counted half, the reported program's own visits left out; the "
                  "findings state it for pointing stability and jitter."),
}


def significant_peak(power: float, fap: float, period_s: float, longest_file_s: float) -> bool:
    """The "period" rule of `RULES`."""
    return (fap < FAP_LIMIT and power >= MIN_POWER
            and period_s * MIN_CYCLES <= longest_file_s)
