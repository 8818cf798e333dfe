"""Every anomaly flag is documented where clients and buyers read about it."""

from __future__ import annotations

import pytest

from api.schemas import Prediction
from scorer.flags import FLAGS

from support.paths import ROOT


@pytest.mark.parametrize("page", ["docs/api.md", "docs/business.md"])
def test_every_flag_code_is_in_the_docs(page):
    text = (ROOT / page).read_text()
    missing = [str(flag) for flag in FLAGS if f"`{flag}`" not in text]
    assert not missing, f"{page} does not explain {missing}"


def test_the_api_docs_give_each_flag_its_declared_meaning():
    text = (ROOT / "docs/api.md").read_text()
    for flag in FLAGS:
        assert f"| `{flag}` | {flag.meaning} |" in text, flag


def test_the_openapi_description_of_flags_lists_every_code_with_its_meaning():
    field = Prediction.model_fields["flags"]
    for flag in FLAGS:
        assert f"`{flag}`: {flag.meaning}" in field.description


def test_the_event_fields_state_the_window_they_must_cover():
    from scorer.schema import COUNT_COLUMNS, InstallRecord

    properties = InstallRecord.model_json_schema()["properties"]
    for name in COUNT_COLUMNS:
        assert "first 7 days after install" in properties[name]["description"], name
