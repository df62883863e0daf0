"""A run's whole spec as TOML for `$EDITOR` (the `e` key), and the clone request it becomes.

What the user may change: name, command, params, target, gpus, env, tags and the code to
use. Params rewrite the command as `--set` does (see core.spec.params); a variable removed from
[env] or a tag removed from `tags` is not in the new run either.
"""

from __future__ import annotations

import json
import tomllib

from core.errors import UsageError
from core.models import Run
from core.requests import CloneRequest, here
from core.spec.params import as_text

HEADER = """\
# Run {id} ({name}) as a spec. Save and quit to launch it as a new run cloned from run {id};
# quit without saving (or empty the file) to launch nothing.
# code: "parent" reuses run {id}'s snapshot, "current" takes the project as it is now.
"""


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if value == value else "nan"
    return json.dumps(str(value), ensure_ascii=False)


def _key(name: str) -> str:
    bare = name.replace("_", "").replace("-", "").isalnum() and name.isascii()
    return name if bare else json.dumps(name)


def to_toml(run: Run) -> str:
    spec = run.spec
    lines = [HEADER.format(id=run.id, name=run.name),
             f"name = {_value(run.name)}",
             "command = [" + ", ".join(_value(a) for a in spec.template) + "]",
             f"target = {_value(spec.target)}",
             f"gpus = {spec.gpus}",
             'code = "parent"',
             "tags = [" + ", ".join(_value(t) for t in spec.tags) + "]",
             "", "[params]"]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in spec.params.items()]
    lines += ["", "[env]"]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in spec.env.items()]
    return "\n".join(lines) + "\n"


def to_clone_request(text: str, run: Run) -> CloneRequest | None:
    """The clone request the edited spec asks for (from this process's folder and
    environment); None when nothing is to launch. A value of the wrong type is refused."""
    if not text.strip():
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"the edited spec is not valid TOML: {exc}") from None
    unknown = set(data) - {"name", "command", "target", "gpus", "code", "tags", "params", "env"}
    if unknown:
        raise UsageError(f"the edited spec has an unknown key {sorted(unknown)[0]!r}")
    command = data.get("command", run.spec.template)
    if not isinstance(command, list) or not command or \
            not all(isinstance(a, str) for a in command):
        raise UsageError("command: expected a list of strings, such as [\"python\", \"train.py\"]")
    gpus = data.get("gpus", run.spec.gpus)
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
        raise UsageError(f"gpus: expected 0 or more, got {gpus!r}")
    code = data.get("code", "parent")
    if code not in ("parent", "current"):
        raise UsageError(f"code: expected \"parent\" or \"current\", got {code!r}")
    params, env, tags = data.get("params", {}), data.get("env", {}), data.get("tags", [])
    if not isinstance(params, dict) or not isinstance(env, dict):
        raise UsageError("[params] and [env] must be tables")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise UsageError("tags: expected a list of strings")
    changed = [f"{k}={as_text(v)}" for k, v in params.items()
               if k not in run.spec.params or as_text(run.spec.params[k]) != as_text(v)]
    env_changes = [f"{k}={v}" for k, v in env.items() if run.spec.env.get(k) != str(v)]
    return CloneRequest(parent=run.id, **here(),
                        name=data.get("name") if data.get("name") != run.name else None,
                        template=command if command != run.spec.template else None,
                        set=changed, env_vars=env_changes,
                        unset_env=sorted(set(run.spec.env) - set(env)),
                        target=data.get("target"), gpus=gpus, code=code, tags=tags)
