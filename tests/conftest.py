"""Fixtures for labkit's own tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apps import make_app  # noqa: E402


@pytest.fixture
def app() -> FastAPI:
    return make_app()
