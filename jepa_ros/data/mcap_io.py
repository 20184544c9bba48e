"""rosbag2-compatible MCAP files without ROS: write and read CDR messages.

Files written here are what `ros2 bag record -s mcap` writes: profile `ros2`, schemas
with encoding `ros2msg` (the concatenated .msg text), channels with encoding `cdr`.
Serialisation and the schema text come from `rosbags`, so training can read episodes
on a machine without rclpy, and CDR bytes taken straight from a raw subscription can be
written unchanged (`write_raw`).
"""
import io
import json
import os
import re

from mcap.exceptions import McapError
from mcap.records import Channel, Message, Metadata, Schema
from mcap.stream_reader import StreamReader
from mcap.writer import CompressionType, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

# The store matching the ROS 2 distribution this stack targets (kilted), newest fallback.
_STORE = getattr(Stores, 'ROS2_KILTED', Stores.LATEST)
_COMPRESSION = {'zstd': CompressionType.ZSTD, 'lz4': CompressionType.LZ4,
                'none': CompressionType.NONE}


_MCAP_MAGIC = b'\x89MCAP0\r\n'


class McapFormatError(ValueError):
    """A file that is not a readable rosbag2 MCAP, or a message type we cannot handle."""


def new_typestore():
    """A fresh typestore (it is mutated when custom message types are registered)."""
    return get_typestore(_STORE)


def normalise_msgtype(msgtype):
    """'sensor_msgs/Image' or 'sensor_msgs/msg/Image' -> 'sensor_msgs/msg/Image'."""
    parts = str(msgtype).strip().split('/')
    if len(parts) == 2:
        parts = [parts[0], 'msg', parts[1]]
    if len(parts) != 3 or not all(re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*', p) for p in parts):
        raise McapFormatError(f'bad message type name {msgtype!r} (want pkg/msg/Name)')
    return '/'.join(parts)


def register_msgdef(typestore, msgtype, msgdef_text):
    """Teach `typestore` a message type from its (concatenated) .msg definition."""
    try:
        typestore.register(get_types_from_msg(msgdef_text, msgtype))
    except Exception as exc:  # rosbags raises several parser errors
        raise McapFormatError(f'cannot parse the definition of {msgtype}: {exc}') from exc


class McapWriter:
    """Append ROS 2 messages to one MCAP file. Use as a context manager.

    `close()` writes the summary and index; it is idempotent and also runs when the
    `with` block ends by an exception, so a file is always left readable.
    """

    def __init__(self, path, compression='zstd', chunk_size=1 << 20, typestore=None):
        if compression not in _COMPRESSION:
            raise ValueError(f'compression must be one of {list(_COMPRESSION)}, '
                             f'got {compression!r}')
        self.path = os.fspath(path)
        self.typestore = typestore or new_typestore()
        parent = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(parent):
            raise NotADirectoryError(f'output folder {parent} does not exist')
        self._file = open(self.path, 'wb')
        self._writer = Writer(self._file, chunk_size=chunk_size,
                              compression=_COMPRESSION[compression])
        self._writer.start(profile='ros2', library='jepa_ros')
        self._schemas = {}   # msgtype -> schema id
        self._channels = {}  # topic -> (channel id, msgtype)
        self._sequence = {}
        self.message_count = 0
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _channel(self, topic, msgtype, msgdef):
        if topic in self._channels:
            channel_id, known = self._channels[topic]
            if known != msgtype:
                raise McapFormatError(f'topic {topic!r} already carries {known}, not {msgtype}')
            return channel_id
        if msgtype not in self._schemas:
            if msgtype not in self.typestore.fielddefs:
                if msgdef is None:
                    raise McapFormatError(f'unknown message type {msgtype}: pass its msgdef')
                register_msgdef(self.typestore, msgtype, msgdef)
            text, _ = self.typestore.generate_msgdef(msgtype, ros_version=2)
            self._schemas[msgtype] = self._writer.register_schema(
                name=msgtype, encoding='ros2msg', data=text.encode())
        # rosbag2 stores the offered QoS per channel; an empty list means "unknown".
        channel_id = self._writer.register_channel(
            topic=topic, message_encoding='cdr', schema_id=self._schemas[msgtype],
            metadata={'offered_qos_profiles': ''})
        self._channels[topic] = (channel_id, msgtype)
        self._sequence[topic] = 0
        return channel_id

    def write_raw(self, topic, msgtype, cdr_bytes, log_time_ns, publish_time_ns=None,
                  msgdef=None):
        """Write already-serialised CDR (e.g. from a raw=True subscription)."""
        if self.closed:
            raise ValueError(f'{self.path} is closed')
        msgtype = normalise_msgtype(msgtype)
        channel_id = self._channel(str(topic), msgtype, msgdef)
        log_time_ns = int(log_time_ns)
        self._writer.add_message(
            channel_id=channel_id, log_time=log_time_ns, data=bytes(cdr_bytes),
            publish_time=log_time_ns if publish_time_ns is None else int(publish_time_ns),
            sequence=self._sequence[topic])
        self._sequence[topic] += 1
        self.message_count += 1

    def write_msg(self, topic, msgtype, msg, log_time_ns, publish_time_ns=None):
        """Serialise a rosbags message object (see `make_msg`) and write it."""
        msgtype = normalise_msgtype(msgtype)
        try:
            cdr = self.typestore.serialize_cdr(msg, msgtype)
        except Exception as exc:
            raise McapFormatError(f'cannot serialise {type(msg).__name__} as {msgtype}: '
                                  f'{exc}') from exc
        self.write_raw(topic, msgtype, cdr, log_time_ns, publish_time_ns)

    def add_metadata(self, name, values):
        """A metadata record; values that are not strings are stored as JSON."""
        if self.closed:
            raise ValueError(f'{self.path} is closed')
        data = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
        self._writer.add_metadata(str(name), data)

    def flush(self):
        self._file.flush()

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            self._writer.finish()
        finally:
            self._file.close()


def decode_metadata_value(text):
    """Inverse of add_metadata's encoding: JSON where it parses, else the string."""
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return text


class McapReader:
    """Read a rosbag2 MCAP file sequentially (no ROS needed).

    Iterating yields (topic, msgtype, log_time_ns, message) with messages decoded by
    rosbags; `raw=True` yields the CDR bytes instead. A file cut short (a recorder that
    was killed) is read up to the last complete record unless `strict=True`.
    """

    def __init__(self, path, topics=None, raw=False, strict=False, typestore=None):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f'no such MCAP file: {self.path}')
        self.topics = None if topics is None else set(topics)
        self.raw = raw
        self.strict = strict
        self.typestore = typestore or new_typestore()
        self.metadata = {}    # filled while iterating; read_metadata() reads just these
        self.truncated = False

    def _records(self):
        with open(self.path, 'rb') as f:
            data = f.read()
        if not data.startswith(_MCAP_MAGIC):
            raise McapFormatError(f'{self.path} is not an MCAP file')
        try:
            yield from StreamReader(io.BytesIO(data), validate_crcs=True).records
        except (McapError, EOFError, ValueError, KeyError) as exc:
            if self.strict:
                raise McapFormatError(f'{self.path}: unreadable MCAP ({exc})') from exc
            self.truncated = True

    def __iter__(self):
        schemas, channels = {}, {}
        for record in self._records():
            if isinstance(record, Schema):
                schemas[record.id] = record
            elif isinstance(record, Channel):
                channels[record.id] = record
            elif isinstance(record, Metadata):
                self.metadata[record.name] = {k: decode_metadata_value(v)
                                              for k, v in record.metadata.items()}
            elif isinstance(record, Message):
                channel = channels.get(record.channel_id)
                if channel is None:
                    raise McapFormatError(f'{self.path}: message on unknown channel')
                if self.topics is not None and channel.topic not in self.topics:
                    continue
                schema = schemas.get(channel.schema_id)
                if schema is None or channel.message_encoding != 'cdr':
                    raise McapFormatError(f'{self.path}: topic {channel.topic} is not a CDR '
                                          'topic with a schema')
                msgtype = normalise_msgtype(schema.name)
                if self.raw:
                    yield channel.topic, msgtype, record.log_time, record.data
                    continue
                if msgtype not in self.typestore.fielddefs:
                    register_msgdef(self.typestore, msgtype, schema.data.decode())
                msg = self.typestore.deserialize_cdr(record.data, msgtype)
                yield channel.topic, msgtype, record.log_time, msg


def read_messages(path, topics=None, raw=False, strict=False):
    """Shorthand: iterate (topic, msgtype, log_time_ns, msg) of one file."""
    return iter(McapReader(path, topics=topics, raw=raw, strict=strict))


def read_metadata(path):
    """{name: {key: value}} of every metadata record in the file."""
    reader = McapReader(path, topics=())
    for _ in reader:
        pass
    return reader.metadata


def make_msg(msgtype, typestore=None, **fields):
    """Build a rosbags message object, filling unspecified fields with zero values.

    Example: make_msg('geometry_msgs/msg/Twist', linear=make_msg('geometry_msgs/msg/Vector3',
    x=0.1, y=0.0, z=0.0), ...). Nested fields left out are zero-initialised too.
    """
    store = typestore or _default_store()
    msgtype = normalise_msgtype(msgtype)
    if msgtype not in store.fielddefs:
        raise McapFormatError(f'unknown message type {msgtype}')
    cls = store.types[msgtype]
    values = {}
    for name, (kind, detail) in store.fielddefs[msgtype][1]:
        if name in fields:
            values[name] = fields.pop(name)
        else:
            values[name] = _zero_value(store, kind, detail)
    if fields:
        raise McapFormatError(f'{msgtype} has no field(s) {sorted(fields)}')
    return cls(**values)


def _zero_value(store, kind, detail):
    import numpy as np
    from rosbags.interfaces import Nodetype
    if kind == Nodetype.BASE:
        base = detail[0]
        return '' if base == 'string' else (False if base == 'bool' else 0)
    if kind == Nodetype.NAME:
        return make_msg(detail, typestore=store)
    if kind == Nodetype.ARRAY:  # fixed size
        sub, size = detail
        if sub[0] == Nodetype.BASE and sub[1][0] not in ('string',):
            return np.zeros(size, dtype=_NUMPY_DTYPES.get(sub[1][0], np.float64))
        return [_zero_value(store, *sub) for _ in range(size)]
    if kind == Nodetype.SEQUENCE:
        sub = detail[0]
        if sub[0] == Nodetype.BASE and sub[1][0] in _NUMPY_DTYPES:
            return np.zeros(0, dtype=_NUMPY_DTYPES[sub[1][0]])
        return []
    raise McapFormatError(f'unsupported field kind {kind}')


_NUMPY_DTYPES = {'bool': 'bool', 'int8': 'int8', 'uint8': 'uint8', 'byte': 'uint8',
                 'char': 'uint8', 'int16': 'int16', 'uint16': 'uint16', 'int32': 'int32',
                 'uint32': 'uint32', 'int64': 'int64', 'uint64': 'uint64',
                 'float32': 'float32', 'float64': 'float64'}
_STORE_CACHE = []


def _default_store():
    if not _STORE_CACHE:
        _STORE_CACHE.append(new_typestore())
    return _STORE_CACHE[0]
