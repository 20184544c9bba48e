"""RAM ring buffer of the memory node (no ROS)."""
import threading

import numpy as np
import pytest

from jepa_ros.core.ring_buffer import RingBuffer, RingBufferError


def _img(v, h=4, w=5):
    return np.full((h, w, 3), v, dtype=np.uint8)


def test_wraps_and_keeps_newest_in_order():
    rb = RingBuffer(3)
    for t in range(5):
        rb.push(_img(t), [t, -t], state=[t, 0, 0], stamp=t * 0.1)
    snap = rb.snapshot()
    assert len(rb) == 3 and rb.pushed == 5
    assert snap['images'][:, 0, 0, 0].tolist() == [2, 3, 4]
    assert snap['actions'][:, 0].tolist() == [2, 3, 4]
    assert snap['states'][:, 0].tolist() == [2, 3, 4]
    np.testing.assert_allclose(snap['stamps'], [0.2, 0.3, 0.4])
    assert snap['images'].dtype == np.uint8 and snap['actions'].dtype == np.float32
    last = rb.snapshot(last=2)
    assert last['images'][:, 0, 0, 0].tolist() == [3, 4]


def test_snapshot_is_a_copy():
    rb = RingBuffer(2)
    rb.push(_img(1), [0.0])
    snap = rb.snapshot()
    rb.push(_img(9), [1.0])
    rb.push(_img(8), [1.0])
    assert snap['images'][0, 0, 0, 0] == 1


def test_set_last_action_overwrites_newest():
    rb = RingBuffer(4)
    assert rb.set_last_action([1.0]) is False
    rb.push(_img(0), [0.0])
    rb.push(_img(1), [0.0])
    assert rb.set_last_action([0.5]) is True
    assert rb.snapshot()['actions'][:, 0].tolist() == [0.0, 0.5]


@pytest.mark.parametrize('bad', [
    dict(image=np.zeros((4, 5), np.uint8), action=[0.0]),
    dict(image=np.zeros((4, 5, 3), np.float32), action=[0.0]),
    dict(image=_img(0, h=6), action=[0.0]),
    dict(image=_img(0), action=[0.0, 1.0]),
    dict(image=_img(0), action=[float('nan')]),
    dict(image=_img(0), action=[0.0], state=[1.0]),
])
def test_rejects_mismatched_transitions(bad):
    rb = RingBuffer(4)
    rb.push(_img(0), [0.0])
    with pytest.raises(RingBufferError):
        rb.push(**bad)
    assert len(rb) == 1


def test_empty_and_clear_and_capacity():
    with pytest.raises(ValueError):
        RingBuffer(0)
    rb = RingBuffer(2)
    assert rb.snapshot()['images'].shape[0] == 0
    rb.push(_img(3), [0.0])
    rb.clear()
    assert len(rb) == 0 and rb.snapshot()['states'] is None
    rb.push(_img(3, h=7), [0.0, 0.0])  # a new shape is fine after clear
    assert rb.nbytes() > 0


def test_concurrent_pushes_are_consistent():
    rb = RingBuffer(50)

    def worker(v):
        for _ in range(200):
            rb.push(_img(v), [float(v)])

    threads = [threading.Thread(target=worker, args=(v,)) for v in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = rb.snapshot()
    assert rb.pushed == 800 and len(rb) == 50
    # every slot holds a whole transition: image value == action value
    assert snap['images'][:, 0, 0, 0].tolist() == snap['actions'][:, 0].astype(int).tolist()
