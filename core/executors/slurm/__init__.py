"""The slurm target: runs become Slurm jobs, submitted here or on a login node over SSH."""
