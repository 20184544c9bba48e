"""The per-node /diagnostics status and an event-rate meter for it."""
import time


class RateMeter:
    """Events per second over a sliding window (for /diagnostics)."""

    def __init__(self, window_s=2.0):
        self.window_s = window_s
        self.times = []

    def tick(self, now=None):
        now = time.monotonic() if now is None else now
        self.times.append(now)
        cutoff = now - self.window_s
        while self.times and self.times[0] < cutoff:
            self.times.pop(0)

    def rate(self, now=None):
        now = time.monotonic() if now is None else now
        recent = [t for t in self.times if t >= now - self.window_s]
        return len(recent) / self.window_s


def _diagnostic_level(name):
    """A DiagnosticStatus level constant (bytes of length 1 in rclpy) as an int."""
    from diagnostic_msgs.msg import DiagnosticStatus
    return getattr(DiagnosticStatus, name)[0]


# diagnostic_msgs/DiagnosticStatus levels, named (the message stores them as one byte).
DIAG_OK, DIAG_WARN, DIAG_ERROR, DIAG_STALE = (_diagnostic_level(n)
                                              for n in ('OK', 'WARN', 'ERROR', 'STALE'))


class Diagnostics:
    """Publishes one DiagnosticStatus for this node on /diagnostics at a fixed period.

    Set the level by name: ok(), warn(), error(), stale() (unconfigured / no data yet);
    status(level, message) takes a DIAG_* level."""

    def __init__(self, node, period_s=1.0):
        from diagnostic_msgs.msg import DiagnosticArray
        self.node = node
        self.pub = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.values = {}
        self.level = DIAG_OK
        self.message = 'ok'
        self.timer = node.create_timer(period_s, self.publish)

    def set(self, key, value):
        self.values[key] = value

    def status(self, level, message):
        """level: DIAG_OK, DIAG_WARN, DIAG_ERROR or DIAG_STALE."""
        self.level, self.message = int(level), str(message)

    def ok(self, message):
        self.status(DIAG_OK, message)

    def warn(self, message):
        self.status(DIAG_WARN, message)

    def error(self, message):
        self.status(DIAG_ERROR, message)

    def stale(self, message):
        self.status(DIAG_STALE, message)

    def publish(self):
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
        arr = DiagnosticArray()
        arr.header.stamp = self.node.get_clock().now().to_msg()
        st = DiagnosticStatus()
        st.level = bytes([self.level])
        st.name = self.node.get_fully_qualified_name()
        st.message = self.message
        st.hardware_id = 'jepa_ros'
        st.values = [KeyValue(key=str(k), value=str(v)) for k, v in self.values.items()]
        arr.status = [st]
        self.pub.publish(arr)
