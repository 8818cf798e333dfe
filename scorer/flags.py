"""Anomaly flags: short stable codes a prediction carries when its value must not be taken as is.

`Flag` declares every code once, with its meaning (the OpenAPI description and docs/api.md
follow it); `scorer.domain` decides which flags a record gets. Standard library only, so the
settings and the prediction declaration can import it cheaply.
"""

from __future__ import annotations

from enum import StrEnum


class Flag(StrEnum):
    """Every flag a prediction may carry: its code and what it means for the value."""

    meaning: str

    def __new__(cls, code: str, meaning: str) -> Flag:
        member = str.__new__(cls, code)
        member._value_ = code
        member.meaning = meaning
        return member

    ANOMALOUS_COUNTRY_RATE = (
        "anomalous_country_rate",
        "The user's country has an anomalous revenue rate in the training data (the model card's "
        "`anomalous_countries`, likely another currency unit upstream); the value is the model's, "
        "possibly thousands of times an ordinary user's.",
    )
    ANOMALOUS_COUNTRY_RATE_REPLACED = (
        "anomalous_country_rate_replaced",
        "The user's country has an anomalous revenue rate; as ANOMALOUS_COUNTRY_POLICY="
        "typical_rate asks, the value uses the rate of the typical country instead (the one the "
        "model uses for a user of unknown country).",
    )
    UNSEEN_COUNTRY = ("unseen_country", "The country never appeared in training.")
    UNSEEN_REGION = ("unseen_region", "The region never appeared in training in that country.")
    UNSEEN_PLATFORM = ("unseen_platform", "The platform never appeared in training.")
    UNSEEN_SOURCE = ("unseen_source", "The acquisition source never appeared in training.")
    UNSEEN_DEVICE_FAMILY = (
        "unseen_device_family",
        "The device family never appeared in training.",
    )
    UNSEEN_OS_VERSION = (
        "unseen_os_version",
        "The OS version (major.minor, as the model reads it) never appeared in training.",
    )
    EVENT_COUNT_ABOVE_TRAINING = (
        "event_count_above_training",
        "An event count is above the largest seen in training: the model extrapolates.",
    )
    EVENT_COUNT_BELOW_TRAINING = (
        "event_count_below_training",
        "An event count is below the smallest seen in training: the model extrapolates.",
    )


FLAG_BY_DEFAULT = "flag"
REPLACE_RATE = "typical_rate"
COUNTRY_POLICIES = (FLAG_BY_DEFAULT, REPLACE_RATE)
COUNTRY_POLICY_HELP = (
    "What to answer for a user of an anomalous country: `flag` the model's value as is "
    "(anomalous_country_rate), or `typical_rate`: the value at the typical country's rate "
    "(anomalous_country_rate_replaced)."
)
"""The policies of ANOMALOUS_COUNTRY_POLICY and what each does."""
FLAG_SEPARATOR = "|"
"""Joins a prediction's flags in a CSV cell."""
FLAGS = tuple(Flag)
"""Every flag, in declaration order (the order a prediction lists its flags in)."""


def describe_flags() -> str:
    """Every code with its meaning, one per line (for the OpenAPI description)."""
    return "\n".join(f"- `{flag}`: {flag.meaning}" for flag in FLAGS)
