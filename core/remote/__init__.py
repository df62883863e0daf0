"""Remote boxes over SSH: one shared connection per box, code transfer and output mirroring.

Used by the `ssh` target (core/executors/ssh.py) and meant for any executor that reaches a
machine over SSH (a Slurm login node, say):

- `settings`: the `host`/`user`/`ssh_config`/... keys of a target, checked like core.config;
- `box`: `Box`, one asyncssh connection per box shared by every run on it, reconnecting
  with backoff, running POSIX-sh scripts with timeouts, reporting its health;
- `transfer`: the box's own content-addressed blob store; only missing blobs are sent;
- `mirror`: remote run files copied into local files by byte offset, for every run at once;
- `scripts`: the sh the box runs (it needs POSIX sh and coreutils, nothing else).

A Slurm executor that submits over SSH to a login node reuses all of it:
    box = pool.acquire(SshSettings.from_options(options), work_dir)    # the shared connection
    folder = await transfer.prepare_run(box, f"runs/{store}/{run_id}", snapshot, blobs)
    await box.run("sbatch ...", what="submitting")
        # the job runs `sh WORK/bin/<box.facts.wrapper> RUN_DIR WORKDIR -- CMD`,
        # which writes exit_status like a local run
    watch = pool.mirror(box).add(Watch(run_dir, [("output.log", log)], pid=0, start_time=None))
    end = await watch.done       # pid 0: no process to watch; done when exit_status appears
"""
