"""Redis Streams: the text encoding of install events and scored entries, and `EventStream`.

Install-event fields are flat strings, one per record column; a scored entry is one field
holding the prediction as JSON. Decoding happens per entry so that one bad entry (a poison
message) raises on its own and never holds back the rest of a batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from redis import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ResponseError

from scorer.prediction import (
    DEFAULTS_TO,
    DEFAULTS_TO_NOW,
    DeclaredField,
    View,
    iso_timestamp,
    names_of,
    view_fields,
    view_names,
)
from scorer.schema import RECORD_COLUMNS

META_FIELDS = ("event_id", "sent_at")
"""Fields of an install event that are not record columns."""

SCORED_FIELDS = view_names(View.STREAM)
"""Fields of a scored-stream payload (one prediction the API made): the STREAM view of
`scorer.prediction.Prediction`."""

MAX_ERROR_CHARS = 2000


def is_cluster(client: Any) -> bool:
    """True for a Redis Cluster client (a command or script must then stay within one slot)."""
    return isinstance(client, RedisCluster)


class StreamDecodeError(ValueError):
    """A stream entry that cannot be turned into what it should hold."""


class InstallEntry(NamedTuple):
    """An install-events stream entry, split into its record fields and its metadata."""

    record: dict[str, str]  # every field but event_id / sent_at, for InstallRecord to validate
    event_id: str | None
    sent_at: str | None


Entry = tuple[str, dict | None]
"""A stream entry: its id and its raw fields (None when the entry was trimmed away)."""


def to_field(value: Any) -> str:
    """A value as stream text: None is empty, whole floats lose their `.0`, floats round-trip."""
    if value is None:
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return iso_timestamp(value)
    return str(value)


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as error:
            raise StreamDecodeError(f"field is not UTF-8: {error}") from None
    return value


def text_fields(fields: Mapping | None) -> dict[str, str]:
    """Raw Redis fields (bytes or str) as a str -> str dict."""
    if fields is None:
        raise StreamDecodeError("entry was deleted from the stream")
    try:  # the common case, bytes from a client without decode_responses, in one pass
        return {key.decode(): value.decode() for key, value in fields.items()}
    except (AttributeError, UnicodeDecodeError):
        return {_text(key): _text(value) for key, value in fields.items()}


def encode_install_event(
    record: Mapping[str, Any], event_id: str | None = None, sent_at: datetime | str | None = None
) -> dict[str, str]:
    """Stream fields of one install event: every record column (empty = unknown) + metadata.

    Keys of `record` that are not record columns are ignored.
    """
    fields = {column: to_field(record.get(column)) for column in RECORD_COLUMNS}
    if event_id is not None:
        fields["event_id"] = str(event_id)
    if sent_at is not None:
        fields["sent_at"] = to_field(sent_at)
    return fields


def decode_install_event(fields: Mapping | None) -> InstallEntry:
    """Split an install-event entry into its record fields and its metadata."""
    record = text_fields(fields)
    event_id = record.pop("event_id", "") or None
    sent_at = record.pop("sent_at", "") or None
    return InstallEntry(record, event_id, sent_at)


SCORED_FIELD = "prediction"
"""The one field of a scored-stream entry: the prediction as a JSON object of SCORED_FIELDS."""
_SCORED_KEY = SCORED_FIELD.encode()
"""The same field name as Redis returns it to a client without decode_responses."""
SCORED_NUMBERS = names_of(float, View.STREAM)
"""Payload values that must be finite numbers."""
_NOW = tuple(name for name in names_of(datetime, View.STREAM) if name in DEFAULTS_TO_NOW)
_JSON = names_of(dict, View.STREAM)
_LISTS = names_of(list, View.STREAM)


def encode_scored(prediction: Mapping[str, Any]) -> dict[str, bytes]:
    """Stream fields of one prediction made by the API: one field holding it as JSON.

    One JSON field rather than a field per value: one call to encode, three arguments per entry
    to send rather than twenty-one, one call for the worker to decode. Raises
    ValueError for a bound or prediction that is not a finite number, or a value JSON cannot
    hold.
    """
    body = {name: prediction.get(name) for name in SCORED_FIELDS}
    for name in SCORED_NUMBERS:
        try:
            value = float(body[name])
        except (TypeError, ValueError):
            raise ValueError(f"{name}: not a number: {body[name]!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"{name}: not a finite number: {value!r}")
        body[name] = value
    for name in _JSON:
        body[name] = body[name] or {}
    for name in _LISTS:
        body[name] = body[name] or []
    for name in _NOW:
        if body[name] is None:
            body[name] = datetime.now(UTC)
    for name, source in DEFAULTS_TO.items():
        if body[name] is None:
            body[name] = body[source]
    try:  # orjson writes datetimes as ISO 8601, naive ones as UTC
        return {SCORED_FIELD: orjson.dumps(body, option=orjson.OPT_NAIVE_UTC)}
    except TypeError as error:  # orjson.JSONEncodeError
        raise ValueError(f"cannot be encoded as JSON: {error}") from None


def _required_text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not value or not isinstance(value, str):
        raise StreamDecodeError(f"{name}: missing")
    return value


def _optional_text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    return str(value) if value not in (None, "") else None


def _number(body: Mapping[str, Any], name: str) -> float:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StreamDecodeError(f"{name}: missing or not a number")
    if not math.isfinite(value):
        raise StreamDecodeError(f"{name}: not a finite number")
    return float(value)


def _object(body: Mapping[str, Any], name: str) -> dict:
    value = body.get(name)
    if not isinstance(value, dict):
        raise StreamDecodeError(f"{name}: not a JSON object")
    return value


def _texts(body: Mapping[str, Any], name: str) -> list:
    value = body.get(name)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise StreamDecodeError(f"{name}: not a JSON array of strings")
    return value


def _timestamp(body: Mapping[str, Any], name: str) -> datetime:
    try:
        value = datetime.fromisoformat(_required_text(body, name))
    except ValueError:
        raise StreamDecodeError(f"{name}: not an ISO 8601 timestamp") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


_DECODERS = {
    str: _required_text,
    float: _number,
    dict: _object,
    list: _texts,
    datetime: _timestamp,
}
"""How each kind of payload value is read and checked."""


def _decoder(info: DeclaredField):
    if info.nullable(View.STREAM):
        if info.type is not str:
            raise TypeError(f"{info.name}: no stream decoder for a nullable {info.type}")
        return _optional_text
    read = _DECODERS[info.type]
    choices = info.spec.choices
    if choices is None:
        return read

    def one_of(body: Mapping[str, Any], name: str):
        value = read(body, name)
        if any(item not in choices for item in (value if info.type is list else [value])):
            raise StreamDecodeError(f"{name}: must be one of {', '.join(choices)}")
        return value

    return one_of


_SCORED_DECODERS = tuple((info.name, _decoder(info)) for info in view_fields(View.STREAM))


def decode_scored(fields: Mapping | None) -> dict[str, Any]:
    """A `predictions` row from a scored-stream entry; raises StreamDecodeError naming the field
    when malformed."""
    if fields is None:
        raise StreamDecodeError("entry was deleted from the stream")
    raw = fields.get(_SCORED_KEY, fields.get(SCORED_FIELD))
    if raw is None:
        raise StreamDecodeError(f"{SCORED_FIELD}: missing")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise StreamDecodeError(f"{SCORED_FIELD}: not JSON") from None
    if not isinstance(body, dict):
        raise StreamDecodeError(f"{SCORED_FIELD}: not a JSON object")
    for name, source in DEFAULTS_TO.items():  # a payload of an API from before the field
        if body.get(name) is None:
            body[name] = body.get(source)
    return {name: decode(body, name) for name, decode in _SCORED_DECODERS}


def _id(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


_XADD_EACH = """
local ids = {}
local trim = ARGV[1] ~= ''
local i = 2
while i <= #ARGV do
  local width = tonumber(ARGV[i])
  if trim then
    ids[#ids + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
                               unpack(ARGV, i + 1, i + width))
  else
    ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 1, i + width))
  end
  i = i + width + 1
end
return ids
"""
"""XADD of many entries: ARGV is the MAXLEN ('' for none), then per entry its field count
times two followed by its fields and values. Stays well under Lua's unpack limit, since an
entry has a dozen fields."""


class EventStream:
    """One Redis stream: appends trimmed to about `maxlen`, consumer groups, dead letters."""

    def __init__(self, redis, name: str, maxlen: int | None = 1_000_000):
        self.redis = redis
        self.name = name
        self.maxlen = maxlen

    def append(self, fields: Mapping[str, Any]) -> str:
        """XADD one entry (approximate MAXLEN trimming); returns its id."""
        return _id(self.redis.xadd(self.name, fields, maxlen=self.maxlen, approximate=True))

    def prepare(self) -> str:
        """Have Redis compile the script of `append_many` now rather than on its first call;
        returns the script's SHA1."""
        return self.redis.script_load(_XADD_EACH)

    def append_many(self, entries: Iterable[Mapping[str, Any]], pipeline=None) -> list[str]:
        """XADD many entries in one command (a short script); returns their ids in order.

        One EVAL per batch costs the client a third less than a pipeline of XADDs, which packs
        and parses every command. A script stops at its first failing XADD (the stream key
        holding another type): the entries before it are kept, and the error is raised. With
        `pipeline` the script is only queued on it (its reply is the list of ids) and this
        returns [].
        """
        arguments: list[Any] = ["" if self.maxlen is None else self.maxlen]
        for fields in entries:
            arguments.append(2 * len(fields))
            for name, value in fields.items():
                arguments += (name, value)
        if len(arguments) == 1:
            return []
        if pipeline is not None:  # EVAL by name: a cluster pipeline has no `eval` method
            pipeline.execute_command("EVAL", _XADD_EACH, 1, self.name, *arguments)
            return []
        return [_id(entry_id) for entry_id in self.redis.eval(_XADD_EACH, 1, self.name, *arguments)]

    def length(self) -> int:
        return self.redis.xlen(self.name)

    def ensure_group(self, group: str, start_id: str = "0") -> bool:
        """Create the consumer group (and the stream) unless it exists; True if created."""
        try:
            self.redis.xgroup_create(self.name, group, id=start_id, mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
            return False
        return True

    def read_group(
        self,
        group: str,
        consumer: str,
        count: int,
        block_ms: int | None = None,
        pending: bool = False,
        after: str = "0",
    ) -> list[Entry]:
        """XREADGROUP up to `count` new entries, or with `pending` this consumer's own
        unacknowledged entries with ids above `after` (never blocks; entries trimmed from the
        stream meanwhile come back with fields None)."""
        return read_groups(
            [self], group, consumer, count, block_ms, start_id=after if pending else ">"
        ).get(self.name, [])

    def ack(self, group: str, ids: Iterable[str], pipeline=None) -> int:
        """XACK `ids`; returns how many were pending. With `pipeline` the XACK is only queued
        on it (the count is then its reply) and this returns 0."""
        ids = list(ids)
        if not ids:
            return 0
        if pipeline is not None:
            pipeline.xack(self.name, group, *ids)
            return 0
        return self.redis.xack(self.name, group, *ids)

    def pending_count(self, group: str) -> int:
        return self.redis.xpending(self.name, group)["pending"]

    def delivery_counts(self, group: str, ids: Iterable[str]) -> dict[str, int]:
        """How many times each pending entry was delivered (absent ids are not pending); one
        pipelined XPENDING per id, in one round trip."""
        ids = list(ids)
        pipe = self.redis.pipeline(transaction=False)
        for entry_id in ids:
            pipe.xpending_range(self.name, group, min=entry_id, max=entry_id, count=1)
        return {
            entry_id: rows[0]["times_delivered"]
            for entry_id, rows in zip(ids, pipe.execute() if ids else [], strict=True)
            if rows
        }

    def autoclaim(
        self, group: str, consumer: str, min_idle_ms: int, count: int, start_id: str = "0-0"
    ) -> tuple[str, list[Entry], list[str]]:
        """XAUTOCLAIM entries idle for `min_idle_ms` from any consumer of the group.

        Returns the cursor to continue from ("0-0" when the scan is complete), the claimed
        entries and the ids of pending entries that were trimmed away (Redis drops those).
        """
        response = self.redis.xautoclaim(
            self.name, group, consumer, min_idle_ms, start_id=start_id, count=count
        )
        cursor, entries = response[0], response[1]
        deleted = response[2] if len(response) > 2 else []
        claimed = [(_id(entry_id), fields or None) for entry_id, fields in entries]
        return _id(cursor), claimed, [_id(entry_id) for entry_id in deleted]

    def dead_letter(
        self,
        group: str,
        failures: Iterable[tuple[str, Mapping | None, str, int]],
        to: EventStream,
    ) -> list[str]:
        """Move failed entries to the dead-letter stream `to` and acknowledge them, atomically.

        `failures` holds (entry id, raw fields, error text, deliveries). The dead-letter entry
        keeps the original fields and adds `dead_letter_stream`, `dead_letter_id`,
        `dead_letter_group`, `dead_letter_error`, `dead_letter_deliveries`, `dead_letter_at`.
        Returns the ids of the dead-letter entries.
        """
        failures = list(failures)
        if not failures:
            return []
        pipe = self.redis.pipeline(transaction=True)
        now = datetime.now(UTC).isoformat()
        for entry_id, fields, error, deliveries in failures:
            letter = dict(fields or {})
            letter.update(
                dead_letter_stream=self.name,
                dead_letter_id=entry_id,
                dead_letter_group=group,
                dead_letter_error=str(error)[:MAX_ERROR_CHARS],
                dead_letter_deliveries=str(deliveries),
                dead_letter_at=now,
            )
            pipe.xadd(to.name, letter, maxlen=to.maxlen, approximate=True)
        pipe.xack(self.name, group, *[failure[0] for failure in failures])
        return [_id(entry_id) for entry_id in pipe.execute()[:-1]]

    def prune_consumers(self, group: str, max_idle_ms: int, keep: str = "") -> list[str]:
        """Remove consumers idle over `max_idle_ms` with nothing pending (dead workers);
        returns their names."""
        removed = []
        for info in self.redis.xinfo_consumers(self.name, group):
            name = _id(info["name"])
            if name != keep and not info["pending"] and info["idle"] > max_idle_ms:
                self.redis.xgroup_delconsumer(self.name, group, name)
                removed.append(name)
        return removed

    def trim_consumed(self) -> int:
        """XTRIM MINID (approximate) up to the oldest entry some group still needs.

        An entry is still needed while it is pending or not yet delivered in any group, so this
        never drops unprocessed work. Returns the number of entries removed.
        """
        groups = self.redis.xinfo_groups(self.name)
        if not groups:
            return 0
        floor = None
        for info in groups:
            candidate = _id(info["last-delivered-id"])
            if info["pending"]:
                candidate = _id(self.redis.xpending(self.name, info["name"])["min"])
            else:
                candidate = _next_id(candidate)
            floor = candidate if floor is None else min(floor, candidate, key=_id_key)
        return self.redis.xtrim(self.name, minid=floor, approximate=True)


def read_groups(
    streams: list[EventStream],
    group: str,
    consumer: str,
    count: int,
    block_ms: int | None = None,
    start_id: str = ">",
) -> dict[str, list[Entry]]:
    """XREADGROUP over several streams (same Redis): up to `count` entries from each.

    `start_id` ">" reads new entries (blocking up to `block_ms`); any other id reads this
    consumer's pending entries above it, without blocking. Returns {stream name: entries}.

    One call on a single Redis. A cluster refuses a call over keys of different slots, so there
    it is one call per slot: first all without blocking, then, if none had anything, each in
    turn blocking for its share of `block_ms`, until one has entries.
    """
    redis = streams[0].redis
    slots = _by_slot(streams) if is_cluster(redis) else [streams]
    if len(slots) == 1:
        return _read_group(redis, slots[0], group, consumer, count, block_ms, start_id)
    result: dict[str, list[Entry]] = {}
    for same_slot in slots:
        result.update(_read_group(redis, same_slot, group, consumer, count, None, start_id))
    if start_id != ">" or not block_ms or any(result.values()):
        return result
    share = max(1, block_ms // len(slots))
    for same_slot in slots:
        found = _read_group(redis, same_slot, group, consumer, count, share, start_id)
        if any(found.values()):
            return found
    return result


def _by_slot(streams: list[EventStream]) -> list[list[EventStream]]:
    slots: dict[int, list[EventStream]] = {}
    for stream in streams:
        slots.setdefault(key_slot(stream.name.encode()), []).append(stream)
    return list(slots.values())


def _read_group(redis, streams, group, consumer, count, block_ms, start_id):
    response = redis.xreadgroup(
        group,
        consumer,
        {stream.name: start_id for stream in streams},
        count=count,
        block=block_ms if start_id == ">" else None,
    )
    items = response.items() if isinstance(response, dict) else (response or [])
    result = {}
    for name, entries in items:
        if entries and isinstance(entries[0], list):
            entries = entries[0]  # RESP3 shape: {stream: [[entries]]}
        result[_id(name)] = [(_id(entry_id), fields or None) for entry_id, fields in entries]
    return result


def _id_key(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)


def _next_id(entry_id: str) -> str:
    millis, seq = _id_key(entry_id)
    return f"{millis}-{seq + 1}"
