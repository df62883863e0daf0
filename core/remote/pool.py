"""The boxes of this engine: one `Box` (one connection) and one `Mirror` per box, shared.

Targets that name the same box with the same settings and work folder (an ssh target and
a Slurm target submitting through it, or a target whose limits changed) share them.
"""

from __future__ import annotations

from core.remote.box import Box
from core.remote.mirror import Mirror
from core.remote.settings import SshSettings

_boxes: dict[tuple, Box] = {}
_users: dict[tuple, int] = {}
_mirrors: dict[tuple, Mirror] = {}


def acquire(settings: SshSettings, work_dir: str) -> Box:
    key = (settings, work_dir)
    if key not in _boxes:
        _boxes[key] = Box(settings, work_dir)
    _users[key] = _users.get(key, 0) + 1
    return _boxes[key]


def mirror(box: Box) -> Mirror:
    key = (box.settings, box.work_dir)
    if key not in _mirrors:
        _mirrors[key] = Mirror(box)
    return _mirrors[key]


async def release(box: Box) -> None:
    """One user less; the last one closes the connection (runs on the box keep running)."""
    key = (box.settings, box.work_dir)
    _users[key] = _users.get(key, 1) - 1
    if _users[key] > 0:
        return
    del _users[key]
    _boxes.pop(key, None)
    watcher = _mirrors.pop(key, None)
    if watcher is not None:
        await watcher.close()
    await box.close()
