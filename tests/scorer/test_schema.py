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
