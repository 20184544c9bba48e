"""ChunkedRecorder: raw CDR messages into a series of MCAP chunk files (no rclpy).

The memory node's disk side: chunks rotate by size and age, each is written as
`<name>.mcap.part` and renamed once closed (a crash loses at most the open chunk), each
carries the `jepa_ros` metadata record, and a write error stops recording with a
RecorderError instead of taking the process down.
"""
import os
import threading
import time

from jepa_ros.data.mcap_io import McapWriter


class RecorderError(RuntimeError):
    """Recording cannot go on (unwritable folder, disk full); the node stays up."""


class ChunkedRecorder:
    """Writes raw CDR messages into a series of MCAP chunk files (no rclpy).

    Thread-safe. On any write error the recorder stops (`error` says why) and keeps the
    chunks it closed before.
    """

    def __init__(self, directory, prefix, max_bytes=16 << 20, max_seconds=60.0,
                 compression='zstd', metadata=None, clock=time.monotonic,
                 carry_topics=('cmd_vel', 'odom', 'goal/image_raw')):
        self.directory = directory
        self.prefix = prefix
        self.max_bytes = int(max_bytes)
        self.max_seconds = float(max_seconds)
        self.compression = compression
        self.metadata = dict(metadata or {})
        self.clock = clock
        self.lock = threading.Lock()
        self.writer = None
        self.part_path = None
        self.index = 0
        self.chunk_bytes = 0
        self.chunk_started = None
        self.closed_chunks = []
        self.messages = 0
        self.error = None
        self.running = False
        # The newest message of these topics opens every chunk again (same log time), so
        # each chunk is a self-contained episode: its first image has its command.
        self.carry_topics = set(carry_topics)
        self.last = {}
        self._carried = 0

    def start(self):
        """(Re)start recording; raises RecorderError if the folder is unusable."""
        with self.lock:
            try:
                os.makedirs(self.directory, exist_ok=True)
                if not os.access(self.directory, os.W_OK):
                    raise PermissionError(f'{self.directory} is not writable')
                self._open()
            except OSError as exc:
                self.error = f'cannot record into {self.directory}: {exc}'
                self.running = False
                raise RecorderError(self.error) from exc
            self.error = None
            self.running = True

    def _open(self):
        while True:
            name = f'{self.prefix}_{self.index:04d}.mcap'
            final = os.path.join(self.directory, name)
            if not (os.path.exists(final) or os.path.exists(final + '.part')):
                break
            self.index += 1
        self.part_path = final + '.part'
        self.writer = McapWriter(self.part_path, compression=self.compression)
        if self.metadata:
            self.writer.add_metadata('jepa_ros', self.metadata)
        for topic, (msgtype, cdr, t_ns, msgdef) in self.last.items():
            self.writer.write_raw(topic, msgtype, cdr, t_ns, msgdef=msgdef)
        self._carried = len(self.last)
        self.chunk_bytes = 0
        self.chunk_started = self.clock()
        self.index += 1

    def _close_chunk(self):
        writer, part = self.writer, self.part_path
        self.writer = self.part_path = None
        if writer is None:
            return None
        if writer.message_count <= self._carried:  # nothing new: leave no empty file behind
            writer.close()
            os.remove(part)
            return None
        if self.metadata:
            writer.add_metadata('jepa_ros', self.metadata)  # the latest wins on read
        writer.close()
        final = part[:-len('.part')]
        os.replace(part, final)
        self.closed_chunks.append(final)
        return final

    def _fail(self, exc):
        self.error = f'recording stopped: {exc}'
        self.running = False
        writer, self.writer = self.writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception:  # the disk is already failing
                pass

    def set_metadata(self, metadata):
        with self.lock:
            self.metadata = dict(metadata)
            if self.writer is not None:
                try:
                    self.writer.add_metadata('jepa_ros', self.metadata)
                except OSError as exc:
                    self._fail(exc)

    def write(self, topic, msgtype, cdr, log_time_ns, msgdef=None):
        """Write one message; returns False when not recording (see `error`)."""
        with self.lock:
            if not self.running:
                return False
            try:
                if self.writer is None:
                    self._open()
                self.writer.write_raw(topic, msgtype, cdr, log_time_ns, msgdef=msgdef)
                if topic in self.carry_topics:
                    self.last[topic] = (msgtype, bytes(cdr), int(log_time_ns), msgdef)
                self.chunk_bytes += len(cdr)
                self.messages += 1
                if self.chunk_bytes >= self.max_bytes:
                    self._close_chunk()
                    self._open()
            except OSError as exc:
                self._fail(exc)
                return False
            return True

    def maybe_rotate(self):
        """Close the chunk if it is older than max_seconds (called periodically)."""
        with self.lock:
            if (self.running and self.writer is not None
                    and self.writer.message_count > self._carried
                    and self.clock() - self.chunk_started >= self.max_seconds):
                try:
                    self._close_chunk()
                    self._open()
                except OSError as exc:
                    self._fail(exc)

    def stop(self):
        """Close the open chunk (it becomes a complete file)."""
        with self.lock:
            self.running = False
            try:
                return self._close_chunk()
            except OSError as exc:
                self._fail(exc)
                return None
