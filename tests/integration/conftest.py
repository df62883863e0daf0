"""Fixtures of the integration tests that start real daemons: dockerd, OpenSSH boxes, Slurm
(their set-ups live in tests/daemons/)."""

from tests.daemons.docker_fixtures import busybox_image, dockerd, python_image  # noqa: F401
from tests.daemons.slurm_fixtures import slurm, slurm_cluster, time_limited_run  # noqa: F401
from tests.daemons.ssh_fixtures import lab  # noqa: F401

# Re-exported for pytest (pyflakes reads __all__ as their use; it ignores noqa).
__all__ = ["busybox_image", "dockerd", "python_image", "slurm", "slurm_cluster",
           "time_limited_run", "lab"]
