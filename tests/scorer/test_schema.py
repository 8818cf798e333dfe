import math

import pytest
from pydantic import ValidationError

from scorer.schema import RECORD_COLUMNS, STAGE_EVENTS, STAGE_INSTALL, InstallRecord


def test_record_fields_follow_the_column_list():
    assert tuple(InstallRecord.model_fields) == RECORD_COLUMNS


def test_blank_strings_and_numeric_text_are_normalised():
    record = InstallRecord(country=" ES ", os_version=14.4, event_2="5", event_3="", source="")
    assert record.country == "ES"
    assert record.os_version == "14.4"
    assert record.event_2 == 5.0
    assert record.event_3 is None and record.source is None


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("event_2", -1, ">= 0"),
        ("event_1", math.inf, "finite"),
        ("event_3", math.nan, "finite"),
        ("event_1", "many", "number"),
        ("event_2", True, "boolean"),
        ("country", "x" * 65, "at most 64"),
        ("platform", ["ios"], "valid string"),
    ],
)
def test_bad_values_name_their_field(field, value, message):
    with pytest.raises(ValidationError) as caught:
        InstallRecord(**{field: value})
    errors = caught.value.errors()
    assert [e["loc"] for e in errors] == [(field,)]
    assert message in errors[0]["msg"]


def test_unknown_fields_are_rejected():
    with pytest.raises(ValidationError):
        InstallRecord(revenue=3.0)


def test_stage_follows_event_2():
    assert InstallRecord(country="es").stage == STAGE_INSTALL
    assert InstallRecord(country="es", event_1=3, event_3=1).stage == STAGE_INSTALL
    assert InstallRecord(country="es", event_2=0).stage == STAGE_EVENTS


def test_counts_have_a_realistic_upper_bound():
    from scorer.schema import MAX_COUNT

    assert InstallRecord(event_2=MAX_COUNT).event_2 == MAX_COUNT
    for value in (MAX_COUNT + 1, "1e300", 1e300):
        with pytest.raises(ValidationError, match="must be <="):
            InstallRecord(event_2=value)


def test_json_schema_shows_every_accepted_input():
    import re

    from scorer.schema import MAX_COUNT, NUMERIC_TEXT

    properties = InstallRecord.model_json_schema()["properties"]
    count = {tuple(sorted(option)): option for option in properties["event_1"]["anyOf"]}
    assert {"type": "number", "minimum": 0, "maximum": MAX_COUNT} in count.values()
    assert {"type": "null"} in count.values()
    assert any(o.get("pattern") == NUMERIC_TEXT for o in count.values())
    for documented in ("12", " 1.5 ", "", "999999.9", ".5"):
        assert re.match(NUMERIC_TEXT, documented)
        InstallRecord(event_1=documented)
    for undocumented in ("-1", "many", "1e3", "1000000"):
        assert not re.match(NUMERIC_TEXT, undocumented)
    assert InstallRecord(event_1="1e3").event_1 == 1000.0  # the parser is more lenient
    text_types = {option["type"] for option in properties["os_version"]["anyOf"]}
    assert text_types == {"string", "number", "null"}
