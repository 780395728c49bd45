"""Which value of a JSON-schema enum the emulator answers: a classifier it can play.

The value the last user message names most often, as a whole word and in any case; with no
such mention, or a tie, the first of the tied values in the enum's order. So a prompt "Label the
question simple or complex: <a complex question>" gets "complex", and one that names neither
more than the other gets the enum's first value, as before this rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["pick_label"]


def pick_label(values: Sequence[Any], text: str) -> Any:
    """The enum value ``text`` names most often (ties: the earliest in ``values``)."""
    best, best_count = values[0], 0
    for value in values:
        if not isinstance(value, str) or not value:
            continue
        count = len(re.findall(rf"(?<!\w){re.escape(value)}(?!\w)", text, flags=re.IGNORECASE))
        if count > best_count:
            best, best_count = value, count
    return best
