"""Explaining a host key that known_hosts does not vouch for: unknown, or changed."""

from __future__ import annotations

import os


def known_hosts_files(options) -> list[str]:
    """The known_hosts files asyncssh checked (its default is ~/.ssh/known_hosts)."""
    value = options.known_hosts
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    files = [os.fspath(f) for f in value or () if isinstance(f, (str, os.PathLike))]
    return files or [os.path.expanduser("~/.ssh/known_hosts")]


def host_key_error(label: str, ssh_command: str, options, error_class):
    """An error saying whether the key is unknown or changed, with the command that fixes it."""
    import asyncssh  # lazy: see core/remote/__init__.py
    host = options.host_key_alias or options.host
    port = options.port or 22
    files = known_hosts_files(options)
    shown = f"[{host}]:{port}" if port != 22 else host
    known = False
    for path in files:
        try:
            keys = asyncssh.read_known_hosts(os.path.expanduser(path)).match(host, "", port)[0]
        except (OSError, ValueError, asyncssh.Error):
            continue
        known = known or bool(keys)
    if known:
        return error_class(
            f"{label}: the host key of {shown} does not match the one in {', '.join(files)}: "
            "the box was reinstalled, or someone is intercepting the connection",
            hint=f"if you trust the change, remove the old key with: ssh-keygen -R '{shown}' "
                 f"-f {files[0]}, then add the new one (connect once with: {ssh_command})")
    scan = f"ssh-keyscan{f' -p {port}' if port != 22 else ''} {host} >> {files[0]}"
    return error_class(
        f"{label}: the host key of {shown} is not in {', '.join(files)}; runyard never "
        "accepts an unknown key",
        hint=f"connect once with: {ssh_command}, or add the key with: {scan} "
             "(check its fingerprint first)")
