"""Fixtures of the integration tests that start real daemons: dockerd, OpenSSH boxes, Slurm."""

from tests.integration.docker_fixtures import busybox_image, dockerd, python_image  # noqa: F401
from tests.integration.slurm_fixtures import (slurm, slurm_cluster,  # noqa: F401
                                              time_limited_run)
from tests.integration.ssh_fixtures import lab  # noqa: F401
