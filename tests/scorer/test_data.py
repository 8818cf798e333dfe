import pandas as pd
import pytest

from scorer.data import DataError, read_records, validate_frame
from scorer.synth import synthetic_records


def write(tmp_path, frame, name="records.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_a_good_file_round_trips(tmp_path):
    frame = synthetic_records(50, seed=1)
    loaded = read_records(write(tmp_path, frame), require_target=True)
    assert len(loaded) == 50
    assert loaded["event_2"].dtype == float
    assert loaded["user_id"].tolist() == frame["user_id"].tolist()


def test_missing_column_is_named(tmp_path):
    frame = synthetic_records(5).drop(columns="platform")
    with pytest.raises(DataError, match="missing column.*platform"):
        read_records(write(tmp_path, frame))


def test_non_numeric_count_names_column_and_line(tmp_path):
    frame = synthetic_records(5)
    frame["event_2"] = frame["event_2"].astype(object)
    frame.loc[3, "event_2"] = "lots"
    with pytest.raises(DataError, match=r"'event_2'.*'lots'.*line\(s\) 5"):
        read_records(write(tmp_path, frame))


def test_negative_revenue_is_rejected(tmp_path):
    frame = synthetic_records(5)
    frame.loc[0, "revenue"] = -1.0
    with pytest.raises(DataError, match=r"'revenue' must be >= 0.*line\(s\) 2"):
        read_records(write(tmp_path, frame), require_target=True)


def test_duplicate_users_are_rejected_in_training_files(tmp_path):
    frame = synthetic_records(5)
    frame.loc[4, "user_id"] = frame.loc[1, "user_id"]
    with pytest.raises(DataError, match="user_id.*unique"):
        read_records(write(tmp_path, frame), require_target=True)


def test_over_long_text_is_rejected():
    frame = synthetic_records(3)
    frame.loc[1, "device_family"] = "d" * 200
    with pytest.raises(DataError, match="device_family.*128"):
        validate_frame(frame)


def test_unreadable_and_absent_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_records(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="not a readable CSV"):
        read_records(empty)


def test_event_columns_are_optional_and_blanks_are_unknown():
    frame = pd.DataFrame(
        {
            "country": ["es", " "],
            "country_region": [None, ""],
            "source": ["Organic", None],
            "platform": ["iOS", "android"],
            "device_family": ["Apple iPhone", None],
            "os_version": ["14.4", "10"],
        }
    )
    clean = validate_frame(frame)
    assert clean["event_2"].isna().all()
    assert clean.loc[1, "country"] is None and clean.loc[0, "country_region"] is None


def test_revenue_is_ignored_unless_required():
    frame = synthetic_records(4)
    frame["revenue"] = ["n/a", "-3", "", "1"]
    assert "revenue" not in validate_frame(frame).columns
    with pytest.raises(DataError, match="'revenue' must hold numbers"):
        validate_frame(frame, require_target=True)
