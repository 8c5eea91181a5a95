from __future__ import annotations

import pytest

from tests.workflows.env import Env


@pytest.fixture
def env() -> Env:
    """Fakes behind every workflow port, the clock at a session-open trading morning."""
    return Env()
