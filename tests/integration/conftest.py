"""Fixtures of the integration tests that start real daemons: dockerd, OpenSSH boxes, Slurm
(their set-ups live in tests/daemons/)."""

from tests.daemons.docker_fixtures import busybox_image, dockerd, python_image
from tests.daemons.slurm_fixtures import slurm, slurm_cluster, time_limited_run
from tests.daemons.ssh_fixtures import lab

__all__ = ["busybox_image", "dockerd", "python_image", "slurm", "slurm_cluster",
           "time_limited_run", "lab"]        # fixtures, used by name
