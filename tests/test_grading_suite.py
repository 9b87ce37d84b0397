"""The grading suite proves its worth: every exercise test passes on solutions/ and fails on the stubs."""

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
        failure = case.find("failure")
        error = case.find("error")
        status = "failed" if failure is not None else "error" if error is not None else "passed"
        message = (failure if failure is not None else error).get("message", "") if status != "passed" else ""
        outcomes[case.get("name")] = (status, message)
    return outcomes


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_stubs_fail_every_exercise_as_not_attempted(tmp_path):
    outcomes = run_grader("notebooks", tmp_path)
    assert outcomes, "no grading test ran"
    passed = [name for name, (status, _) in outcomes.items() if status == "passed"]
    assert not passed, f"these exercise tests pass on the untouched stubs: {passed}"
    vague = [name for name, (_, msg) in outcomes.items() if "not attempted" not in msg]
    assert not vague, f"stubs should be reported as 'not attempted': {[(n, outcomes[n]) for n in vague]}"
