"""Surprise: how badly the world model predicted the state that actually came.

For each new latent state s_t the world model compares it with what it predicted for it
one model step earlier, from the previous state and the action executed in between:
the prediction energy E_t = mean((pred_t - s_t)^2), the same latent mean squared error as
the goal energy of the cost. A `SurpriseDetector` keeps a running baseline of E over a
window of recent samples, as a median and a scaled median absolute deviation (MAD): both
barely move when a few samples are events, unlike a mean and a standard deviation, which
an event itself would inflate. A sample whose score (E - baseline) / spread exceeds
`threshold` is above threshold; the first such sample after one below is an event onset
(one shove = one event, however many states it takes to settle). Events are counted only
once `min_samples` samples made the baseline. Events stay in the window, so a lasting
change of the world becomes the new baseline after about window / 2 samples instead of
one endless event.

`PredictionHistory` keeps the one-step predictions of recent plans by the stamp of the
state they started from, so a new state finds the prediction made for it one step_dt
earlier. numpy + torch only (no rclpy): the world_model node adapts it to topics.
"""
import math
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass

import numpy as np

MAD_TO_STD = 1.4826   # the MAD of normal samples x this = their standard deviation


def prediction_energy(predicted, observed):
    """Mean squared latent difference of one prediction (D,) and the state (D,): a float
    (the goal term's measure). Non-finite inputs give inf."""
    p = np.asarray(_to_numpy(predicted), dtype=np.float64).reshape(-1)
    o = np.asarray(_to_numpy(observed), dtype=np.float64).reshape(-1)
    if p.shape != o.shape:
        raise ValueError(f'prediction has {p.size} values, the state {o.size}')
    e = float(np.mean((p - o) ** 2)) if p.size else 0.0
    return e if math.isfinite(e) else math.inf


def _to_numpy(x):
    detach = getattr(x, 'detach', None)
    if detach is not None:          # a torch tensor, on any device
        return detach().cpu().numpy()
    return x


@dataclass
class SurpriseSample:
    energy: float       # prediction energy of this state
    baseline: float     # median energy of the window before it (nan until there is one)
    spread: float       # MAD x 1.4826 of that window, at least the floor
    score: float        # (energy - baseline) / spread (nan before min_samples)
    above: bool         # score > threshold (never before min_samples)
    onset: bool         # first sample above after one below: an event
    samples: int        # samples seen, this one included
    events: int         # event onsets so far, this one included

    def to_dict(self):
        return asdict(self)


class SurpriseDetector:
    """Running baseline of the prediction energy and events above it.

    threshold: in units of the spread; min_samples: samples in the window before any event;
    window: samples the baseline is computed from; rel_floor / abs_floor: the spread is at
    least rel_floor x baseline + abs_floor, so a nearly constant energy (a robot standing
    still) does not make every small wobble an event.
    """

    def __init__(self, threshold=25.0, min_samples=20, window=200, rel_floor=0.05,
                 abs_floor=1e-9):
        if not threshold > 0 or min_samples < 2 or window < 2 or min_samples > window:
            raise ValueError('SurpriseDetector needs threshold > 0 and '
                             f'2 <= min_samples <= window (got {threshold}, {min_samples}, '
                             f'{window})')
        self.threshold, self.min_samples = float(threshold), int(min_samples)
        self.rel_floor, self.abs_floor = float(rel_floor), float(abs_floor)
        self.window = deque(maxlen=int(window))
        self.samples = self.events = 0
        self._above = False
        self.last = None

    def configure(self, threshold=None, min_samples=None, window=None):
        """New settings without losing the samples (a smaller window keeps the newest)."""
        if threshold is not None:
            self.threshold = float(threshold)
        if min_samples is not None:
            self.min_samples = int(min_samples)
        if window is not None and int(window) != self.window.maxlen:
            self.window = deque(self.window, maxlen=int(window))

    def baseline(self):
        """(median, spread) of the window, (nan, nan) when it is empty."""
        if not self.window:
            return math.nan, math.nan
        w = np.fromiter(self.window, dtype=np.float64, count=len(self.window))
        median = float(np.median(w))
        mad = float(np.median(np.abs(w - median))) * MAD_TO_STD
        return median, max(mad, self.rel_floor * abs(median) + self.abs_floor)

    def update(self, energy):
        """Score one prediction energy against the samples before it; -> SurpriseSample.
        A non-finite energy scores as above threshold (once there is a baseline) and is
        not added to the window."""
        energy = float(energy)
        baseline, spread = self.baseline()
        ready = len(self.window) >= self.min_samples
        finite = math.isfinite(energy)
        if ready:
            score = (energy - baseline) / spread if finite else math.inf
        else:
            score = math.nan
        above = bool(ready and score > self.threshold)
        onset = above and not self._above
        self._above = above
        self.samples += 1
        self.events += int(onset)
        if finite:
            self.window.append(energy)
        self.last = SurpriseSample(energy, baseline, spread, score, above, onset,
                                   self.samples, self.events)
        return self.last

    def reset(self):
        """Forget every sample (a new model: its energies are on another scale)."""
        self.window.clear()
        self.samples = self.events = 0
        self._above = False
        self.last = None


class PredictionHistory:
    """One-step predictions of recent plans, by the stamp (s) of the state they start from.

    `add(stamp, predicted)` keeps the newest prediction per start stamp (a re-plan from the
    same state replaces it: the actor executes the newest plan); `match(stamp, step_dt)`
    returns the prediction made for a state at `stamp`, i.e. the one from a state one
    step earlier (within half a step), or None.
    """

    def __init__(self, capacity=32):
        self.capacity = int(capacity)
        self._by_stamp = OrderedDict()

    def add(self, stamp, predicted):
        stamp = float(stamp)
        self._by_stamp.pop(stamp, None)
        self._by_stamp[stamp] = predicted
        while len(self._by_stamp) > self.capacity:
            self._by_stamp.popitem(last=False)

    def match(self, stamp, step_dt):
        target = float(stamp) - float(step_dt)
        best, best_gap = None, 0.5 * float(step_dt)
        for start, predicted in self._by_stamp.items():
            gap = abs(start - target)
            if gap <= best_gap:
                best, best_gap = predicted, gap
        return best

    def clear(self):
        self._by_stamp.clear()

    def __len__(self):
        return len(self._by_stamp)
