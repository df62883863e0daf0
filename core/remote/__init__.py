"""Remote boxes over SSH: one shared connection per box, code transfer and output mirroring.

Used by the `ssh` target (core/executors/ssh.py) and meant for any executor that reaches a
machine over SSH (a Slurm login node, say):

- `settings`: the `host`/`user`/`ssh_config`/... keys of a target, checked like core.config;
- `box`: `Box`, one asyncssh connection per box shared by every run on it, reconnecting
  with backoff, running POSIX-sh scripts with timeouts, reporting its health;
- `transfer`: the box's own content-addressed blob store; only missing blobs are sent;
- `mirror`: remote run files copied into local files by byte offset, for every run at once;
- `scripts`: the sh the box runs (it needs POSIX sh and coreutils, nothing else).
"""
