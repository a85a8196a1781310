"""Shared by the sequence tests: runs are read through kerazoo.runs.RunDir, the owner of run directories."""

import pytest

from kerazoo.runs import RunDir


@pytest.fixture
def run_summary():
    """A function: a run's summary.json (RunDir.read_summary) less its training seconds, which differ between a run
    and its resumed twin."""

    def read(run):
        summary = RunDir(run).read_summary()
        summary.pop("train_seconds_this_attempt")
        return summary

    return read
