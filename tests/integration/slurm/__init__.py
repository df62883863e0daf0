"""The slurm target against a real single-node cluster (tests/daemons/slurm.py)."""
