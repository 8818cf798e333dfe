"""Synthetic install records with the schema and the broad shape of real data.

For tests, load tests and demos only: every user id starts with `synthetic-`. The generator is
a small hand-written process (country and platform rates, a zero-inflated heavy-tailed exposure,
multiplicative noise); nothing in it is taken from the real data set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .schema import RECORD_COLUMNS, TARGET

COUNTRIES = {  # country: (share of users, revenue per ad event)
    "es": (0.55, 0.002),
    "fr": (0.15, 0.003),
    "mx": (0.06, 0.0015),
    "us": (0.04, 0.012),
    "ar": (0.04, 0.001),
    "de": (0.03, 0.004),
    "it": (0.03, 0.0025),
    "br": (0.03, 0.002),
    "co": (0.03, 0.0018),
    "gb": (0.02, 0.005),
    "ca": (0.02, 0.0055),
}
REGIONS = ["Capital", "North", "South", "East", "West", ""]
DEVICES = {
    "android": [
        "Samsung Galaxy Phone",
        "Huawei Phone",
        "Xiaomi Phone",
        "samsung samsung SM-A217F",
        "Redmi Xiaomi Redmi Note 9 Pro",
        "Motorola Phone",
        "Samsung Galaxy Tab",
        "",
    ],
    "ios": ["Apple iPhone", "Apple iPad", "Apple iPad7,11"],
}
OS_VERSIONS = {
    "android": ["10", "9", "11", "8.1.0", "8.0.0", "7.0", "6.0.1", ""],
    "ios": ["14.4", "14.3", "12.5.1", "14.2", "13.7", "14.0.1"],
}
PLATFORM_SPELLINGS = {"android": ["Android", "android"], "ios": ["iOS", "ios"]}


def synthetic_records(rows: int, seed: int = 0, with_revenue: bool = True) -> pd.DataFrame:
    """`rows` synthetic users; revenue included when `with_revenue`."""
    rng = np.random.default_rng(seed)
    names = list(COUNTRIES)
    shares = np.array([COUNTRIES[c][0] for c in names])
    country = rng.choice(names, size=rows, p=shares / shares.sum())
    platform = np.where(rng.random(rows) < 0.36, "ios", "android")
    device = np.array([DEVICES[p][rng.integers(len(DEVICES[p]))] for p in platform])
    os_version = np.array([OS_VERSIONS[p][rng.integers(len(OS_VERSIONS[p]))] for p in platform])
    spelling = np.array([PLATFORM_SPELLINGS[p][int(rng.random() < 0.05)] for p in platform])
    source = rng.choice(["Organic", "Non-Organic", ""], size=rows, p=[0.72, 0.24, 0.04])
    engaged = rng.random(rows) > 0.37
    event_2 = np.where(engaged, np.floor(rng.lognormal(2.8, 1.4, rows)), 0.0)
    event_3 = np.where(engaged, rng.poisson(0.08 * event_2), 0).astype(float)
    event_3[rng.random(rows) < 0.02] = np.nan
    event_1 = np.where(rng.random(rows) < 0.01, rng.integers(1, 200, rows), 0)
    frame = pd.DataFrame(
        {
            "user_id": [f"synthetic-{seed}-{i:08d}" for i in range(rows)],
            "country": country,
            "country_region": rng.choice(REGIONS, size=rows),
            "source": source,
            "platform": spelling,
            "device_family": device,
            "os_version": os_version,
            "event_1": event_1,
            "event_2": event_2.astype(int),
            "event_3": event_3,
        },
        columns=list(RECORD_COLUMNS),
    )
    if with_revenue:
        rate = np.array([COUNTRIES[c][1] for c in country]) * np.where(platform == "ios", 1.4, 1.0)
        noise = rng.lognormal(0.0, np.where(platform == "ios", 0.03, 0.12), rows)
        exposure = event_2 + np.nan_to_num(event_3, nan=rng.poisson(1.0, rows))
        frame[TARGET] = np.round(rate * exposure * noise, 6)
    return frame
