"""Fixtures of the integration tests that start real daemons: dockerd and OpenSSH boxes."""

from tests.integration.docker_fixtures import busybox_image, dockerd, python_image  # noqa: F401
from tests.integration.ssh_fixtures import lab  # noqa: F401
