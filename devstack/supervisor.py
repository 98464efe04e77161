"""The process supervisor: supervisord from PyPI restarts whatever dies, one log file each."""

from __future__ import annotations

import configparser
import shlex
import subprocess
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from devstack import layout


@dataclass
class Program:
    """One supervised long-lived process."""

    name: str
    command: str
    group: str  # "infra" or "apps": infra starts first, apps once infra is ready
    environment: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    stopsignal: str = "TERM"
    stopwaitsecs: int = 20
    directory: str = str(layout.REPO)


def render(programs: list[Program]) -> bool:
    """Write supervisord.conf; True if it changed."""
    parser = configparser.RawConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser["unix_http_server"] = {"file": str(layout.SUPERVISOR_SOCK), "chmod": "0700"}
    parser["supervisord"] = {
        "logfile": str(layout.LOG_DIR / "supervisord.log"),
        "pidfile": str(layout.RUN_DIR / "supervisord.pid"),
        "childlogdir": str(layout.LOG_DIR),
        "logfile_maxbytes": "10MB",
        "user": "root",
    }
    parser["rpcinterface:supervisor"] = {
        "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
    }
    parser["supervisorctl"] = {"serverurl": f"unix://{layout.SUPERVISOR_SOCK}"}
    for program in programs:
        log_file = layout.LOG_DIR / f"{program.name}.log"
        section: dict[str, str] = {
            "command": _direct_to_log(program, log_file),
            "directory": program.directory,
            "autostart": "false",
            "autorestart": "true",
            "startsecs": "2",
            "startretries": "100",
            "stopsignal": program.stopsignal,
            "stopwaitsecs": str(program.stopwaitsecs),
            "stopasgroup": "true",
            "killasgroup": "true",
            "redirect_stderr": "true",
            # Written by the program itself, or through supervisord for another user's program.
            "stdout_logfile": str(log_file) if program.user else "NONE",
            "stdout_logfile_maxbytes": "0",  # rotated by rotate_log() before a (re)start
        }
        if program.user:
            section["user"] = program.user
        if program.environment:
            section["environment"] = ",".join(
                f"{key}={_quote(value)}" for key, value in program.environment.items()
            )
        parser[f"program:{program.name}"] = section
    layout.LOG_DIR.mkdir(parents=True, exist_ok=True)
    layout.RUN_DIR.mkdir(parents=True, exist_ok=True)
    new = layout.SUPERVISOR_CONF.with_suffix(".new")
    with new.open("w") as handle:
        new.chmod(0o600)  # it holds every process's environment, database passwords included
        parser.write(handle)
    old = layout.SUPERVISOR_CONF.read_text() if layout.SUPERVISOR_CONF.exists() else None
    new.replace(layout.SUPERVISOR_CONF)
    return old != layout.SUPERVISOR_CONF.read_text()


def _direct_to_log(program: Program, log_file: Path) -> str:
    """The command, writing its output straight to its log file.

    Relaying every line through supervisord's pipes cost about 2 ms of CPU per order in the saga
    benchmark; appending to the file directly costs the writer nothing extra. Programs that run
    as another user (PostgreSQL) keep the pipe: they may not write to our log directory.
    """
    if program.user:
        return program.command
    redirected = f"exec {program.command} >>{shlex.quote(str(log_file))} 2>&1"
    return f"/bin/sh -c {shlex.quote(redirected)}"


def rotate_log(name: str, max_bytes: int = 50 * 1024 * 1024, backups: int = 2) -> None:
    """Keep a stopped program's log under max_bytes: the current file becomes .1, .1 becomes .2."""
    current = layout.LOG_DIR / f"{name}.log"
    if not current.exists() or current.stat().st_size < max_bytes:
        return
    for index in range(backups, 0, -1):
        older = current.with_name(f"{current.name}.{index}")
        newer = current if index == 1 else current.with_name(f"{current.name}.{index - 1}")
        if newer.exists():
            newer.replace(older)


def _quote(value: str) -> str:
    """Quote a value for supervisor's environment= (shell-like lexing, % escaped)."""
    value = value.replace("%", "%%")
    if "'" in value:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"'{value}'"


def rpc() -> Any:
    """XML-RPC proxy to the running supervisord."""
    transport = SupervisorTransport(None, None, f"unix://{layout.SUPERVISOR_SOCK}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor


def is_running() -> bool:
    """True when supervisord answers on its socket."""
    try:
        return bool(rpc().getState()["statename"] == "RUNNING")
    except (OSError, xmlrpc.client.Fault):
        return False


def ensure_running(config_changed: bool) -> None:
    """Start supervisord, or make a running one pick up a changed config."""
    if is_running():
        if config_changed:
            ctl("update")
        return
    subprocess.run(
        [str(layout.PYTHON), "-m", "supervisor.supervisord", "-c", str(layout.SUPERVISOR_CONF)],
        check=True,
    )
    deadline = time.monotonic() + 15
    while not is_running():
        if time.monotonic() > deadline:
            raise SystemExit(f"supervisord did not start: see {layout.LOG_DIR}/supervisord.log")
        time.sleep(0.1)


def ctl(*args: str) -> subprocess.CompletedProcess[str]:
    """Run supervisorctl against our config."""
    return subprocess.run(
        [
            str(layout.PYTHON),
            "-m",
            "supervisor.supervisorctl",
            "-c",
            str(layout.SUPERVISOR_CONF),
            *args,
        ],
        check=False,
        capture_output=True,
        text=True,
    )


def start(name: str) -> bool:
    """Start a program unless it already runs; whether this started it."""
    info = rpc().getProcessInfo(name)
    if info["statename"] in ("RUNNING", "STARTING"):
        return False
    rotate_log(name)
    rpc().startProcess(name, False)
    return True


def process_info() -> list[dict[str, Any]]:
    """State of every program."""
    return list(rpc().getAllProcessInfo())
