"""The grading suite proves its worth: every exercise test passes on solutions/ and none passes on the stubs,
which it reports as skipped, "not attempted" (not as failed, so "wrong" and "not done" stay apart)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from apps import ROOT


def run_grader(folder: str, tmp_path) -> dict[str, tuple[str, str]]:
    report = tmp_path / f"{folder}.xml"
    subprocess.run([sys.executable, "-m", "pytest", "exercises_tests", "--notebooks", str(ROOT / folder),
                    "-q", "-p", "no:randomly", f"--junitxml={report}", "-o", "addopts="],
                   cwd=ROOT, capture_output=True, text=True, timeout=900)
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        failure, error, skipped = case.find("failure"), case.find("error"), case.find("skipped")
        status = ("failed" if failure is not None else "error" if error is not None
                  else "skipped" if skipped is not None else "passed")
        found = next((e for e in (failure, error, skipped) if e is not None), None)
        message = found.get("message", "") if found is not None else ""
        outcomes[case.get("name")] = (status, message)
    return outcomes


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_stubs_pass_no_exercise_and_are_reported_as_not_attempted(tmp_path):
    outcomes = run_grader("notebooks", tmp_path)
    assert outcomes, "no grading test ran"
    passed = [name for name, (status, _) in outcomes.items() if status == "passed"]
    assert not passed, f"these exercise tests pass on the untouched stubs: {passed}"
    vague = [name for name, (status, msg) in outcomes.items() if status != "skipped" or "not attempted" not in msg]
    assert not vague, f"stubs should be skipped as 'not attempted': {[(n, outcomes[n]) for n in vague]}"
    advice = [name for name, (_, msg) in outcomes.items() if "run that cell" in msg]
    assert not advice, f"learner-directed advice in the instructor's report: {advice}"
