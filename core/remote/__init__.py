"""Remote boxes over SSH: one shared connection per box, code transfer and output mirroring.

Used by the `ssh` target (core/executors/ssh.py) and meant for any executor that reaches a
machine over SSH (a Slurm login node, say):

- `settings`: the `host`/`user`/`ssh_config`/... keys of a target, checked like core.config;
- `box`: `Box`, one asyncssh connection per box shared by every run on it, reconnecting
  with backoff, running POSIX-sh scripts with timeouts, reporting its health;
- `transfer`: the box's own content-addressed blob store; only missing blobs are sent;
- `runfolder`: a run's folder on the box (its name, its private code copy, the variables
  naming it): `prepare_run` makes it, and starts the run in the same round trip if asked;
- `mirror`: remote run files copied into local files by byte offset, for every run at once;
- `scripts`: the sh the box runs (it needs POSIX sh and coreutils, nothing else).

asyncssh itself (~130 ms to import, tests/bench/bench_imports.py) is imported lazily, where
a connection is made or its errors are read: these modules are imported whenever an ssh
target's keys are checked or a Slurm target exists (local Slurm shares `Completed`), and
only a connection needs the library.

The ssh target starts a run with `runfolder.prepare_run(..., start=Start(...))`; a Slurm
target that submits over SSH to a login node prepares the folder the same way, then:
    await box.script("sbatch ...", what="submitting")
        # the job runs `sh WORK/bin/<box.facts.wrapper> RUN_DIR WORKDIR -- CMD`,
        # which writes exit_status like a local run
    watch = pool.mirror(box).add(Watch(run_dir, [("output.log", log)], pid=0, start_time=None))
    end = await watch.done       # pid 0: no process to watch; done when exit_status appears
"""
