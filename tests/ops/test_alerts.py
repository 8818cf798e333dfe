"""The alerting rules (ops/alerts.yml): valid for promtool, using only metrics the code exports,
with thresholds taken from the code's own, and a runbook line each in docs/production.md."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from adapters.gauges import GAUGES
from api.metrics import ApiMetrics
from scorer.coverage import MIN_JUDGED_USERS
from scorer.drift import MAJOR_PSI

from support.paths import ROOT

RULES = ROOT / "ops" / "alerts.yml"
METRIC = re.compile(r"\b((?:d7|api)_[a-z0-9_]+)\b")


def rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def exported() -> set[str]:
    names = set(GAUGES)
    for family in ApiMetrics().registry.collect():
        names |= {sample.name for sample in family.samples} | {family.name}
        if family.type == "counter":  # a labelled counter has no sample before its first use
            names.add(f"{family.name}_total")
    return names


def test_promtool_accepts_the_rules():
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("REQUIRE_SERVICES"):
            pytest.fail("promtool missing (Debian package prometheus; .ci/run installs it)")
        pytest.skip("promtool missing (Debian package prometheus)")
    done = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules())} rules found" in done.stdout


def test_every_metric_a_rule_uses_is_exported():
    names = exported()
    used = {name for rule in rules() for name in METRIC.findall(rule["expr"])}
    assert used, "no metric found in the rules"
    assert used <= names, used - names


def test_the_issue_s_alerts_are_all_there():
    metrics = " ".join(rule["expr"] for rule in rules())
    for needed in ("d7_calibration_ratio", "d7_calibration_coverage", "d7_input_psi",
                   "d7_outcomes_overdue", "d7_stream_lag", "d7_dead_letters",
                   "api_stream_dropped_total"):  # fmt: skip
        assert needed in metrics, needed


def test_thresholds_are_the_code_s():
    by_name = {rule["alert"]: rule["expr"] for rule in rules()}
    assert f"d7_input_psi >= {MAJOR_PSI}" in by_name["D7InputDrift"]
    for name in ("D7CalibrationDrift", "D7CoverageDrift"):
        assert f"d7_calibration_users >= {MIN_JUDGED_USERS}" in by_name[name]


def test_every_alert_has_a_runbook_line():
    production = (ROOT / "docs" / "production.md").read_text()
    section = production.split("## Alerts", 1)[1].split("\n## ", 1)[0]
    for rule in rules():
        assert re.search(rf"^\| `{rule['alert']}` \|", section, re.M), rule["alert"]
        assert rule["annotations"]["runbook"] == "docs/production.md#alerts"
