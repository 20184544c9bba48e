"""Short-term memory: a fixed-size RAM ring buffer of recent transitions (no rclpy).

The memory node pushes one transition per camera frame (image, the command that was
active after it, the ground-truth state when known, the stamp). Storage is preallocated
on the first push, so a long run never grows memory; the oldest transitions are
overwritten. `snapshot()` returns the buffered transitions oldest-first as arrays in the
layout of `jepa_ros.data.episodes.Episode` (images T,H,W,3 uint8; actions T,A float32;
states T,S or None), so a recent window can be replayed or trained on directly.
"""
import threading

import numpy as np


class RingBufferError(ValueError):
    """A transition that does not fit the buffer (shape or dtype change, non-finite)."""


class RingBuffer:
    """Thread-safe ring of (image, action, state, stamp) transitions."""

    def __init__(self, capacity):
        capacity = int(capacity)
        if capacity <= 0:
            raise ValueError(f'capacity must be positive, got {capacity}')
        self.capacity = capacity
        self._lock = threading.Lock()
        self._images = None
        self._actions = None
        self._states = None
        self._stamps = np.zeros(capacity, dtype=np.float64)
        self._next = 0          # index the next push writes to
        self._size = 0
        self.pushed = 0         # total pushes since creation/clear

    def __len__(self):
        return self._size

    def _allocate(self, image, action, state):
        self._images = np.zeros((self.capacity,) + image.shape, dtype=np.uint8)
        self._actions = np.zeros((self.capacity,) + action.shape, dtype=np.float32)
        self._states = (None if state is None
                        else np.zeros((self.capacity,) + state.shape, dtype=np.float32))

    def push(self, image, action, state=None, stamp=0.0):
        """Append one transition; raises RingBufferError if it does not match the first."""
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise RingBufferError(f'image must be HxWx3 uint8, got {image.shape} {image.dtype}')
        action = np.asarray(action, dtype=np.float32).reshape(-1)
        if not np.all(np.isfinite(action)):
            raise RingBufferError(f'non-finite action {action}')
        if state is not None:
            state = np.asarray(state, dtype=np.float32).reshape(-1)
        with self._lock:
            if self._images is None:
                self._allocate(image, action, state)
            if image.shape != self._images.shape[1:]:
                raise RingBufferError(
                    f'image shape {image.shape} != buffer shape {self._images.shape[1:]}')
            if action.shape != self._actions.shape[1:]:
                raise RingBufferError(
                    f'action shape {action.shape} != buffer shape {self._actions.shape[1:]}')
            if (state is None) != (self._states is None) or (
                    state is not None and state.shape != self._states.shape[1:]):
                raise RingBufferError('state presence/shape differs from the first transition')
            i = self._next
            self._images[i] = image
            self._actions[i] = action
            if state is not None:
                self._states[i] = state
            self._stamps[i] = float(stamp)
            self._next = (i + 1) % self.capacity
            self._size = min(self._size + 1, self.capacity)
            self.pushed += 1

    def set_last_action(self, action):
        """Overwrite the action of the newest transition (the command after its image)."""
        action = np.asarray(action, dtype=np.float32).reshape(-1)
        if not np.all(np.isfinite(action)):
            raise RingBufferError(f'non-finite action {action}')
        with self._lock:
            if self._size == 0:
                return False
            if action.shape != self._actions.shape[1:]:
                raise RingBufferError(
                    f'action shape {action.shape} != buffer shape {self._actions.shape[1:]}')
            self._actions[(self._next - 1) % self.capacity] = action
            return True

    def _order(self):
        start = (self._next - self._size) % self.capacity
        return (start + np.arange(self._size)) % self.capacity

    def snapshot(self, last=None):
        """Copy of the newest `last` (default all) transitions, oldest first.

        Returns dict with images, actions, states (or None), stamps.
        """
        with self._lock:
            idx = self._order()
            if last is not None:
                idx = idx[max(0, len(idx) - int(last)):]
            if self._images is None or len(idx) == 0:
                return {'images': np.zeros((0, 0, 0, 3), np.uint8),
                        'actions': np.zeros((0, 0), np.float32), 'states': None,
                        'stamps': np.zeros(0)}
            return {'images': self._images[idx].copy(),
                    'actions': self._actions[idx].copy(),
                    'states': None if self._states is None else self._states[idx].copy(),
                    'stamps': self._stamps[idx].copy()}

    def clear(self):
        with self._lock:
            self._next = 0
            self._size = 0
            self.pushed = 0
            self._images = self._actions = self._states = None

    def nbytes(self):
        arrays = [self._images, self._actions, self._states, self._stamps]
        return int(sum(a.nbytes for a in arrays if a is not None))
