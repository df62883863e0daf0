"""A box whose connection dies under a command is unreachable, not idle, even when no run was
waiting for it: the scheduler then holds its queued runs until it answers again."""

from __future__ import annotations

import os
import signal

import pytest

from core.remote.box import Box
from core.remote.failures import BoxUnreachable
from core.remote.settings import SshSettings
from tests.daemons import sshd
from tests.helpers import require


@pytest.fixture
def server(tmp_path):
    require(sshd.available(), "OpenSSH's sshd and ssh-keygen are needed (apt openssh-server)")
    require(os.geteuid() == 0, "the ssh tests log in as root to sshd on loopback")
    client = sshd.Client(tmp_path / "client")
    box = sshd.SshBox(tmp_path, "box", client.public_key).start()
    client.trust(box)
    client.add_alias("box", box)
    yield client, box
    box.stop()


async def test_a_command_on_a_connection_that_stopped_answering_marks_the_box_unreachable(server):
    client, served = server
    box = Box(SshSettings(host="box", ssh_config=str(client.config), command_timeout=1.0),
              str(served.work))
    await box.ready()
    frozen = served.connections()
    for pid in frozen:                           # the connection hangs; the client cannot know
        os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(BoxUnreachable):
            await box.script("true\n", what="a test command")
        assert box.state == "unreachable", box.state
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        await box.close()


async def test_a_command_on_a_connection_the_box_closed_marks_it_unreachable(server):
    """The loss is noticed (nobody waiting: idle) while the command is still on its way."""
    client, served = server
    box = Box(SshSettings(host="box", ssh_config=str(client.config), command_timeout=5.0),
              str(served.work))
    await box.ready()
    try:
        with pytest.raises(BoxUnreachable):
            await box.script(f"kill -9 $PPID {' '.join(map(str, served.connections()))}\n"
                             "sleep 5\n", what="a test command")
        assert box.state == "unreachable", box.state
    finally:
        await box.close()
