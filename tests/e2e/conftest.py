"""Session fixtures of the e2e tier. The stack and the image are shared with the peer tier
(``stack_settings``, ``local_stack``, ``training_image`` in tests/conftest.py); ``e2e_settings`` is
the name the e2e tests know them by.
"""

from __future__ import annotations

import pytest

from services.settings import Settings


@pytest.fixture(scope="session")
def e2e_settings(stack_settings: Settings) -> Settings:
    return stack_settings
