"""Fault suite: bad camera and goal images sent over DDS to a real perception process.

Every kind (wrong encoding, wrong size, truncated data, step < width*channels, step
mismatch, empty) is rejected and counted per kind on /diagnostics; the warnings are
rate limited per kind (`log_period_s`); the node stays up and keeps turning the good
frames sent between the bad ones into jepa/state (each good frame is identified by its
stamp, so none may be lost).
"""
import math
import re
import time

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import Image
from support import SIZE, ProcSet, random_image, tiny_checkpoints

from jepa_ros.nodes.qos import LATCHED_QOS, SENSOR_QOS
from jepa_ros.nodes.waiting import spin_until
from jepa_ros_interfaces.msg import LatentState

pytestmark = pytest.mark.ros

LOG_PERIOD = 1.0
LOG_LINE = re.compile(r'\[WARN\] \[(\d+\.\d+)\] \[perception\]: rejected (\w+) image \((\w+)\)')


def bad_images(rng):
    """kind -> a factory of bad Image messages of that kind."""
    def enc():
        m = random_image(rng)
        m.encoding = '32FC1'
        return m

    def size():
        return random_image(rng, size=SIZE * 2)

    def truncated():
        m = random_image(rng)
        m.data = bytes(m.data)[:-7]
        return m

    def step():
        m = random_image(rng)
        m.step = SIZE * 3 - 1          # shorter than a row of pixels
        return m

    def step_mismatch():
        m = random_image(rng)
        m.step = SIZE * 3 + 4          # padded rows announced, but the data has none
        return m

    def empty():
        m = Image(encoding='rgb8')
        return m
    # step_mismatch is counted as 'truncated' (data length != step * height)
    return {'encoding': enc, 'size': size, 'truncated': truncated, 'step': step,
            'step_mismatch': step_mismatch, 'empty': empty}


EXPECTED_KIND = {'step_mismatch': 'truncated'}


@pytest.fixture(scope='module')
def perception(tmp_path_factory):
    wm, _ = tiny_checkpoints(str(tmp_path_factory.mktemp('faults_images')))
    procs = ProcSet()
    proc = procs.start('jepa_ros.nodes.perception',
                       ['-p', f'checkpoint:={wm}', '-p', f'log_period_s:={LOG_PERIOD}'])
    rclpy.init()
    node = Node('faults_images_test')
    try:
        yield proc, node
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        procs.stop_all()


def test_bad_images_rejected_counted_rate_limited_node_keeps_going(perception):
    proc, node = perception
    rng = np.random.default_rng(0)
    states, goals, diag = [], [], []
    node.create_subscription(LatentState, 'jepa/state', states.append, 50)
    node.create_subscription(LatentState, 'jepa/goal_state', goals.append, LATCHED_QOS)

    def on_diag(msg):
        for st in msg.status:
            if st.name == '/perception':
                diag.append({kv.key: kv.value for kv in st.values})
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diag, 10)
    cam = node.create_publisher(Image, 'camera/image_raw', SENSOR_QOS)
    goal = node.create_publisher(Image, 'goal/image_raw', LATCHED_QOS)
    assert spin_until(node, lambda: cam.get_subscription_count() > 0 or not proc.alive(),
                      90) and proc.alive(), proc.output
    serial = [0]

    def good_frame(padded=False):
        """Publish a good frame with a unique stamp; True once its state came back."""
        serial[0] += 1
        stamp = node.get_clock().now().to_msg()
        stamp.sec, stamp.nanosec = 1000 + serial[0], 0
        m = random_image(rng, stamp)
        if padded:  # a valid image with padded rows: must be accepted
            rows = np.frombuffer(bytes(m.data), np.uint8).reshape(SIZE, SIZE * 3)
            m.data = np.concatenate([rows, np.zeros((SIZE, 5), np.uint8)], 1).tobytes()
            m.step = SIZE * 3 + 5
        cam.publish(m)
        return spin_until(node, lambda: any(s.header.stamp.sec == 1000 + serial[0]
                                            for s in states), 10)

    assert spin_until(node, lambda: good_frame(), 30), 'perception never produced a state'
    assert good_frame(padded=True), 'a padded (step > width*3) image was refused'

    # --- every kind, three times, each followed by a good frame that must come back ------
    makers = bad_images(rng)
    per_kind = 3
    t_start = time.time()
    sent_so_far = 0

    def rejected():
        return int(diag[-1].get('rejected', 0)) if diag else 0
    for _ in range(per_kind):
        for kind, make in makers.items():
            # The camera link keeps only the newest frame (depth 1, best effort): wait until
            # this bad image was seen (diagnostics, 1 Hz) before the next frame replaces it.
            sent_so_far += 1
            cam.publish(make())
            assert spin_until(node, lambda: rejected() >= sent_so_far, 5), \
                f'bad {kind} image #{sent_so_far} was not counted: {diag[-1:]}'
            assert good_frame(), f'good frame after a bad {kind} image was lost'
    sent = {}
    for kind in makers:
        k = EXPECTED_KIND.get(kind, kind)
        sent[k] = sent.get(k, 0) + per_kind
    total = sum(sent.values())

    def counted():
        return diag and int(diag[-1].get('rejected', 0)) >= total
    assert spin_until(node, counted, 5), diag[-1:]
    d = diag[-1]
    assert int(d['rejected']) == total, d
    for kind, n in sent.items():
        assert int(d[f'rejected_{kind}']) == n, (kind, d)
    assert int(d['rejected_other']) == 0 and int(d['rejected_nonfinite']) == 0, d
    assert proc.alive()

    # --- a burst of one kind: counted, but at most one warning per log_period_s ---------
    burst_s, n_burst = 2.5, 0
    t_burst = time.time()
    end = time.monotonic() + burst_s
    while time.monotonic() < end:
        cam.publish(makers['encoding']())
        n_burst += 1
        spin_until(node, lambda: False, 0.025)
    assert good_frame(), 'perception stopped processing good frames after the burst'
    assert spin_until(node, lambda: diag and int(diag[-1]['rejected']) >= total + n_burst
                      * 0.8, 5), (n_burst, diag[-1:])
    got = int(diag[-1]['rejected_encoding']) - sent['encoding']
    assert 0.8 * n_burst <= got <= n_burst, (got, n_burst)
    # bad goal images are rejected too; a good goal still gets through
    goal.publish(makers['truncated']())
    assert spin_until(node, lambda: 'goal' in diag[-1].get('last_error', '') if diag
                      else False, 5), diag[-1:]
    goal.publish(random_image(rng))
    assert spin_until(node, lambda: len(goals) >= 1, 10)
    assert proc.alive()
    time.sleep(0.2)  # let the log reader catch up with the last lines
    lines = [(float(m.group(1)), m.group(2), m.group(3))
             for m in (LOG_LINE.search(t) for _, t in proc.lines) if m]
    enc = [t for t, src, kind in lines if src == 'camera' and kind == 'encoding']
    in_burst = [t for t in enc if t >= t_burst - 0.05]
    gaps = np.diff(enc)
    print(f'\n{total} bad images of {len(makers)} kinds + {n_burst} in a {burst_s} s burst '
          f'({got} counted): {len(lines)} warnings in all, {len(in_burst)} for the burst; '
          f'smallest gap between warnings of one kind {gaps.min():.2f} s '
          f'(log_period_s {LOG_PERIOD})')
    assert 2 <= len(in_burst) <= math.ceil(burst_s / LOG_PERIOD) + 1, in_burst
    assert gaps.min() >= LOG_PERIOD - 0.01, gaps
    assert any('similar suppressed' in t for _, t in proc.lines), 'suppressed not reported'
    for kind in set(sent):  # each kind had its own warning (its own rate limit key)
        assert any(k == kind for _, _, k in lines), (kind, lines)
    assert t_start < t_burst
