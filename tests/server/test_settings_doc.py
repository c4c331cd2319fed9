"""The README's settings table is the operator's reference: every setting the server reads is in it."""

from __future__ import annotations

import re
from pathlib import Path

from ack_compute.server.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Settings") : text.index("## HTTP, authentication")]
    missing = [name for name in Settings.model_fields if not re.search(rf"\b{name.upper()}\b", table)]
    assert not missing, f"settings missing from the README's table: {missing}"
