"""What a run's container is: the Docker Engine API body that creates it, and its code tar.

Inside the container the run's copy of its snapshot is `/runyard/code` (its working
folder is the subfolder it was launched from) and `$RUNYARD_METRICS` is
`/runyard/metrics.jsonl`. With a local engine both are bind mounts of the run folder's
`code/` and `metrics.jsonl`; with a remote engine the code is copied in as a tar and the
metrics file is copied back while the run goes on.
"""

from __future__ import annotations

import io
import logging
import os
import tarfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from core.store.blobs import BlobStore
from core.store.snapshot import manifest

log = logging.getLogger("runyard.engine")

ROOT = "/runyard"
CODE = f"{ROOT}/code"
METRICS = f"{ROOT}/metrics.jsonl"
LABEL_STORE = "runyard.store"
LABEL_RUN = "runyard.run"
LABEL_TARGET = "runyard.target"
LABEL_LOG_BASE = "runyard.log-base"


# Docker's "local" log driver keeps output bytes as written (json-file turns invalid UTF-8
# into U+FFFD). Its files rotate; mirroring replays the log from its start, so the limits
# are set far above any run's output (compressed, 256 MB x 1000 files) rather than to its
# default 100 MB in all, past which a reattach would skip the wrong bytes.
LOG_CONFIG = {"Type": "local", "Config": {"max-size": "256m", "max-file": "1000",
                                          "compress": "true"}}


def store_id(home: Path) -> str:
    """This store's random id (made once), so containers of two stores never mix."""
    path = home / "store-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        tmp = home / f"store-id.{os.getpid()}.tmp"
        tmp.write_text(uuid.uuid4().hex[:16] + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            log.debug("%s was made by another process first; using that one", path)
        finally:
            tmp.unlink()
        return path.read_text().strip()


def container_name(store: str, run_id: int) -> str:
    return f"runyard-{store[:8]}-run{run_id}"


def volume_name(store: str, run_id: int) -> str:
    """The volume holding a run's /runyard (code copy, files it wrote, metrics) on a remote
    engine; it outlives the container until `tui rm`."""
    return f"runyard-{store[:8]}-run{run_id}"


RESUME = f"{ROOT}/resume"       # where a checkpoint to resume from is mounted or copied


def container_env(env: dict[str, str], target_env: dict[str, str],
                  gpu_ids: list[int]) -> dict[str, str]:
    """The run's variables as the container sees them: paths inside the container, and GPUs
    numbered from 0 (Docker exposes only the requested GPUs, renumbered)."""
    out = {**target_env, **env, "RUNYARD_RUN_DIR": ROOT, "RUNYARD_METRICS": METRICS}
    if "CUDA_VISIBLE_DEVICES" in out:
        out["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(len(gpu_ids)))
    return out


def device_requests(target_gpus, gpu_ids: list[int]) -> list[dict]:
    """Docker device requests: the run's placed GPU ids, or the target's fixed request."""
    if gpu_ids:
        return [{"Driver": "", "DeviceIDs": [str(i) for i in gpu_ids],
                 "Capabilities": [["gpu"]]}]
    if target_gpus == "all":
        return [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]
    if isinstance(target_gpus, int) and not isinstance(target_gpus, bool):
        return [{"Driver": "", "Count": target_gpus, "Capabilities": [["gpu"]]}]
    return []


def container_body(*, options: dict, command: list[str], workdir: str, env: dict[str, str],
                   labels: dict[str, str], devices: list[dict],
                   code_dir: Path | None, metrics_file: Path | None,
                   volume: str | None = None, more_mounts: list[dict] | None = None) -> dict:
    """The `POST /containers/create` body. `code_dir`/`metrics_file` are bind-mounted when
    given (local engine); otherwise the code is copied in before the start, into `volume`
    (mounted at /runyard) when given, which keeps the run's files after the container.
    `more_mounts`: a checkpoint to resume from (read-only)."""
    mounts = []
    if volume is not None:
        mounts.append({"Type": "volume", "Source": volume, "Target": ROOT})
    if code_dir is not None:
        mounts.append({"Type": "bind", "Source": str(code_dir), "Target": CODE})
    if metrics_file is not None:
        mounts.append({"Type": "bind", "Source": str(metrics_file), "Target": METRICS})
    mounts += more_mounts or []
    host = {
        "Mounts": mounts,
        "Binds": list(options.get("mounts", [])),
        "Init": options.get("init", True),
        "AutoRemove": False,                     # removed by runyard once its end is recorded
        "LogConfig": LOG_CONFIG,
        "DeviceRequests": devices,
    }
    if "network" in options:
        host["NetworkMode"] = options["network"]
    if "shm_size" in options:
        host["ShmSize"] = options["shm_size"]
    body = {
        "Image": options["image"],
        "Cmd": list(command),
        "WorkingDir": f"{CODE}/{workdir}" if workdir else CODE,
        "Env": [f"{key}={value}" for key, value in env.items()],
        "Labels": labels,
        "Tty": False, "OpenStdin": False, "AttachStdin": False,
        "AttachStdout": False, "AttachStderr": False,
        "HostConfig": host,
    }
    if "user" in options:
        body["User"] = options["user"]
    return body


def write_code_tar(snapshot_id: str | None, blobs: BlobStore, shared: bool, out,
                   extra: Sequence[tuple[str, Path]] = ()) -> None:
    """Write the snapshot as a tar of `runyard/code/...` (and an empty metrics file), to
    extract at `/`, into the binary file `out`. `shared`: folders and files writable by any
    user (for a container `user` other than root). `extra`: (path in the tar, local file)
    more files, such as a checkpoint under runyard/resume/."""
    dir_mode, file_mode = (0o777, 0o666) if shared else (0o755, 0o644)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        made = set()

        def add_dir(name: str) -> None:
            if name in made:
                return
            parent = os.path.dirname(name)
            if parent:
                add_dir(parent)
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, dir_mode
            tar.addfile(info)
            made.add(name)

        add_dir("runyard/code")
        metrics = tarfile.TarInfo("runyard/metrics.jsonl")
        metrics.mode = file_mode
        tar.addfile(metrics, io.BytesIO(b""))
        for name, kind, size, ref in (manifest(snapshot_id, blobs) if snapshot_id else []):
            path = f"runyard/code/{name}"
            add_dir(os.path.dirname(path))
            info = tarfile.TarInfo(path)
            if kind == "l":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, ref, 0o777
                tar.addfile(info)
                continue
            info.size = size
            info.mode = (file_mode | 0o111) if kind == "x" else file_mode
            with open(blobs.path(ref), "rb") as handle:
                tar.addfile(info, handle)
        for name, source in extra:
            add_dir(os.path.dirname(name))
            info = tar.gettarinfo(str(source), arcname=name)
            info.mode, info.uid, info.gid, info.uname, info.gname = 0o444, 0, 0, "", ""
            with open(source, "rb") as handle:
                tar.addfile(info, handle)
