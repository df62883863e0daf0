"""The app's dialogs, one per module; `if_given` is the callback that acts on a dialog's
answer only when it gave one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def if_given(action: Callable[[Any], object]) -> Callable[[Any], None]:
    """A dialog's callback: `action(answer)` unless the dialog was dismissed (None, False)."""
    def callback(answer: Any) -> None:
        if answer:
            action(answer)
    return callback
