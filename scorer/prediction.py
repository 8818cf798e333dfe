"""`Prediction`: the one declaration of what a prediction holds, and of every view of it.

Each field is declared once below, with what it means and the views it appears in: the
`predictions` table row, the scored-stream payload, the cached value (which GET
/users/<id>/prediction serves as stored), the /predict answer and the CLI's CSV. The ORM table,
the stream codec, the cache value, the API response models and the CSV columns are derived from
it, so adding a field is one edit here (plus a migration for the table).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType, UnionType
from typing import Annotated, Any, Literal, TypedDict, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel, create_model
from pydantic import Field as ModelField

from .flags import FLAG_SEPARATOR, FLAGS, describe_flags
from .schema import STAGES

SOURCES = ("api", "stream", "batch")
"""Which path made a prediction: the /predict request, the install-events stream, a batch job."""


class View(StrEnum):
    """The places a prediction is written to or read from."""

    ROW = "row"  # a row of the `predictions` table (adapters/orm.py)
    STREAM = "stream"  # the JSON payload of a scored-stream entry (adapters/stream.py)
    CACHE = "cache"  # the cached JSON value, served as stored by GET /users/<id>/prediction
    ANSWER = "answer"  # one prediction in the answer of POST /predict
    CSV = "csv"  # a row of `python -m scorer predict`'s output


STORED = frozenset({View.ROW, View.STREAM})
EVERYWHERE = frozenset(View)
PUBLIC = (View.CACHE, View.ANSWER, View.CSV)
"""Views users read: their keys follow `Spec.shown_at`; the stored views follow declaration
order, which is the column order of the frozen migration."""


@dataclass(frozen=True)
class Spec:
    """What a field means and where it appears."""

    meaning: str
    views: frozenset[View]
    shown_at: int | None = None
    """Position among the fields of a public view (None: in no public view)."""
    nullable_in: frozenset[View] = frozenset()
    """Views where the value may be null (absent user, bounds of a bundle without intervals)."""
    renamed: Mapping[View, str] = field(default_factory=lambda: MappingProxyType({}))
    """Public name in the views whose contract already calls the field something else."""
    choices: tuple[str, ...] | None = None
    key: bool = False
    """The idempotency key: a prediction with a known key is stored once."""
    defaults_to_now: bool = False
    """Left out, it is the time the prediction is stored or encoded."""
    defaults_to: str | None = None
    """Left out (a payload or row from before the field existed), it is that field's value."""
    orders: bool = False
    """The time a user's predictions are ordered by (newest wins in the cache and in lookups);
    it also partitions the `predictions` table and completes the idempotency key there."""


def _interval_bound(side: str, shown_at: int) -> Spec:
    """A bound of the 80% interval: everywhere, null in answers and the cache."""
    return Spec(
        f"{side} bound of the 80% interval.",
        EVERYWHERE,
        shown_at=shown_at,
        nullable_in=frozenset({View.ANSWER, View.CACHE}),
    )


class Prediction(TypedDict):
    """One prediction, as the code passes it around (a plain dict: cheap on the hot paths)."""

    event_id: Annotated[
        str,
        Spec(
            "Id of the event the prediction answers: the install event's id (stream, batch jobs)"
            " or, for /predict, the request id (`<id>:<index>` inside a batch).",
            STORED | {View.ANSWER, View.CACHE},
            shown_at=9,
            renamed=MappingProxyType({View.ANSWER: "request_id"}),
            key=True,
        ),
    ]
    user_id: Annotated[
        str | None,
        Spec(
            "The record's user id, when it had one.",
            EVERYWHERE,
            shown_at=0,
            nullable_in=STORED | {View.ANSWER, View.CSV},
        ),
    ]
    source: Annotated[
        str,
        Spec(
            "api, stream or batch: which path made it.",
            STORED | {View.CACHE},
            shown_at=8,
            choices=SOURCES,
        ),
    ]
    stage: Annotated[
        str,
        Spec(
            "install (attributes only) or early_events.",
            EVERYWHERE,
            shown_at=4,
            choices=STAGES,
        ),
    ]
    input: Annotated[
        dict[str, Any], Spec("The validated install record the prediction was made from.", STORED)
    ]
    predicted_revenue: Annotated[float, Spec("Expected D7 revenue.", EVERYWHERE, shown_at=1)]
    lower: Annotated[float, _interval_bound("Lower", shown_at=2)]
    upper: Annotated[float, _interval_bound("Upper", shown_at=3)]
    model_version: Annotated[
        str, Spec("Version of the model bundle that made it.", EVERYWHERE, shown_at=5)
    ]
    created_at: Annotated[
        datetime,
        Spec(
            "When the prediction was made (ISO 8601).",
            STORED | {View.CACHE},
            shown_at=7,
            renamed=MappingProxyType({View.CACHE: "scored_at"}),
            defaults_to_now=True,
        ),
    ]
    flags: Annotated[
        list[str],
        Spec(
            "Anomaly flags: why the value must not be taken as is (empty when none). In the CSV"
            f" the codes are joined by `{FLAG_SEPARATOR}`.\n" + describe_flags(),
            EVERYWHERE,
            shown_at=6,
            choices=tuple(map(str, FLAGS)),
        ),
    ]
    event_time: Annotated[
        datetime,
        Spec(
            "When the event it answers happened (ISO 8601): the install event's `sent_at`, else"
            " the stream entry's time; for /predict the request time; for a batch job a"
            " record's `sent_at`, else the job's enqueue time. The newest wins.",
            STORED | {View.CACHE},
            shown_at=10,
            defaults_to="created_at",
            orders=True,
        ),
    ]


@dataclass(frozen=True)
class DeclaredField:
    """One declared field: its name, value type (None removed) and spec."""

    name: str
    type: Any
    spec: Spec

    def public(self, view: View) -> str:
        """The field's name in `view`."""
        return self.spec.renamed.get(view, self.name)

    def nullable(self, view: View) -> bool:
        return view in self.spec.nullable_in


def _declared() -> tuple[DeclaredField, ...]:
    fields = []
    for name, hint in get_type_hints(Prediction, include_extras=True).items():
        value_type, spec = get_args(hint)
        if get_origin(value_type) in (Union, UnionType):
            value_type = next(arg for arg in get_args(value_type) if arg is not type(None))
        fields.append(DeclaredField(name, get_origin(value_type) or value_type, spec))
    return tuple(fields)


FIELDS = _declared()
"""Every field, in declaration order."""
FIELD_NAMES = tuple(info.name for info in FIELDS)


def view_fields(view: View) -> tuple[DeclaredField, ...]:
    """The fields of `view`, in the order that view lists them."""
    fields = [info for info in FIELDS if view in info.spec.views]
    if view in PUBLIC:
        fields.sort(key=lambda info: info.spec.shown_at)
    return tuple(fields)


def view_names(view: View) -> tuple[str, ...]:
    """The keys (or columns) of `view`, under their public names, in order."""
    return tuple(info.public(view) for info in view_fields(view))


def names_of(value_type: type, view: View = View.ROW) -> tuple[str, ...]:
    """Declared names of the fields of `view` holding values of `value_type`."""
    return tuple(info.name for info in view_fields(view) if info.type is value_type)


KEY = next(info.name for info in FIELDS if info.spec.key)
"""The idempotency key's name."""
FLAGS_FIELD = names_of(list)[0]
"""The name of the list of anomaly flags."""
DEFAULTS_TO_NOW = tuple(info.name for info in FIELDS if info.spec.defaults_to_now)
DEFAULTS_TO = {info.name: info.spec.defaults_to for info in FIELDS if info.spec.defaults_to}
"""Fields that, left out, take another field's value: {field: the field it copies}."""
MADE_AT = DEFAULTS_TO_NOW[0]
"""The name of the time the prediction was made."""
EVENT_TIME = next(info.name for info in FIELDS if info.spec.orders)
"""The name of the time a user's predictions are ordered by (ties: by `KEY`)."""


def recency(prediction: Mapping[str, Any]) -> tuple[datetime, str]:
    """How new a prediction is: its event time, ties broken by its key. The greatest wins, in
    the cache's compare-and-set and in the table lookups alike."""
    moment = prediction[EVENT_TIME]
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return _aware(moment), prediction[KEY]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def iso_timestamp(value: datetime | str | None) -> str:
    """ISO 8601 text of a timestamp in UTC; naive datetimes are taken as UTC, None means now.

    Text is returned as it is. Always UTC, so that the cache's compare-and-set can order two
    event times by their text (adapters/cache.py)."""
    if value is None:
        value = datetime.now(UTC)
    if isinstance(value, str):
        return value
    if value.tzinfo is UTC:  # the usual case, first: this runs twice per cached prediction
        return value.isoformat()
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC).isoformat()
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat()


def _compile(name: str, source: str, namespace: dict[str, Any]) -> Callable:
    """Compile a generated function, as `collections.namedtuple` does: it then costs what the
    hand-written dict literal it replaces cost."""
    exec(source, namespace)  # noqa: S102 - the source is built from the declaration above
    return namespace[name]


def _constructor() -> Callable[..., Prediction]:
    parameters = ", ".join(FIELD_NAMES)
    body = ", ".join(f"{name!r}: {name}" for name in FIELD_NAMES)
    source = f"def make_prediction(*, {parameters}):\n    return {{{body}}}\n"
    function = _compile("make_prediction", source, {})
    function.__doc__ = "A `Prediction` from every field, by keyword."
    return function


make_prediction = _constructor()


def view_builder(
    view: View, convert: Mapping[Any, Callable[[Any], Any]] | None = None
) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A function turning a prediction into its `view` dict: public names, in view order, each
    value passed through `convert[type]` when given. A renamed field is read under its public
    name first (a value already in view form), else under its declared name; a field left out
    that `defaults_to` another takes that one's value."""
    convert = convert or {}
    namespace: dict[str, Any] = {}
    items = []
    reads = {}
    for position, info in enumerate(view_fields(view)):
        public = info.public(view)
        read = (
            f"p[{info.name!r}]"
            if public == info.name
            else f"(p.get({public!r}) or p.get({info.name!r}))"
        )
        if info.spec.defaults_to in reads:
            read = f"(p.get({info.name!r}) or {reads[info.spec.defaults_to]})"
        reads[info.name] = read
        if info.type in convert:
            namespace[f"c{position}"] = convert[info.type]
            read = f"c{position}({read})"
        items.append(f"{public!r}: {read}")
    source = f"def build_{view}(p):\n    return {{{', '.join(items)}}}\n"
    return _compile(f"build_{view}", source, namespace)


def _model_type(info: DeclaredField, view: View) -> Any:
    if info.type is list:
        value_type: Any = list[Literal[info.spec.choices] if info.spec.choices else str]
    elif info.spec.choices is not None:
        value_type: Any = Literal[info.spec.choices]
    elif info.type is datetime:
        value_type = str  # public views carry ISO 8601 text
    else:
        value_type = info.type
    return value_type | None if info.nullable(view) else value_type


def view_model(view: View, name: str, doc: str) -> type[BaseModel]:
    """A pydantic model of `view` (for OpenAPI and for clients that read an answer)."""
    fields: dict[str, Any] = {
        info.public(view): (_model_type(info, view), ModelField(description=info.spec.meaning))
        for info in view_fields(view)
    }
    return create_model(name, __doc__=doc, **fields)
