"""Real daemons the tests start and stop themselves: OpenSSH boxes, Docker engines, a Slurm
cluster, and the pytest fixtures built on them."""
