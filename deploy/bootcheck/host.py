"""The host side of the boot check: running commands, retrying the network, installing tools.

Everything the check runs goes through `run`, so every command is logged with its duration
and a failure names the command and the tail of its output.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# Debian packages the check needs; podman-compose comes from PyPI (Debian 12's 1.0.3 knows no
# `--profile`), pinned in deploy/bootcheck/requirements.txt.
# netavark with aardvark-dns: the network backend whose DNS lets services find `db`.
# iptables is named, not left to recommends: netavark runs it for every container network
# and fails with "netavark: No such file or directory" where it is missing.
DEBIAN_PACKAGES = (
    "podman", "buildah", "runc", "debootstrap", "netavark", "aardvark-dns", "iptables",
)  # fmt: skip


class CheckFailed(Exception):
    """A step of the boot check failed; the message says which and why."""


def log(message: str) -> None:
    print(f"[boot-check {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    input: str | None = None,
    quiet: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run `argv`; with `check`, a non-zero exit raises CheckFailed with the output's tail."""
    if not quiet:
        log("$ " + shlex.join(argv))
    try:
        done = subprocess.run(  # noqa: S603 - argv lists built by this script
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            input=input,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CheckFailed(f"timed out after {timeout:.0f} s: {shlex.join(argv)}") from exc
    if check and done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-25:]
        raise CheckFailed(f"exit {done.returncode}: {shlex.join(argv)}\n    " + "\n    ".join(tail))
    return done


def retry(what: str, action: Callable[[], T], attempts: int = 4, pause: float = 10) -> T:
    """`action`, tried again after a pause when it fails: for steps that use the network."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except CheckFailed as exc:
            if attempt == attempts:
                raise CheckFailed(f"{what} failed {attempts} times; last: {exc}") from exc
            log(f"{what} failed (attempt {attempt} of {attempts}), again in {pause:.0f} s")
            time.sleep(pause)
    raise AssertionError("unreachable")


def wait_for(what: str, probe: Callable[[], bool], timeout: float, every: float = 2) -> float:
    """Poll `probe` until it is true; the seconds it took, or CheckFailed after `timeout`."""
    start = time.monotonic()
    while True:
        if probe():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise CheckFailed(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


def install_debian_packages() -> None:
    missing = [name for name in DEBIAN_PACKAGES if not _dpkg_installed(name)]
    if not missing:
        return
    log(f"installing Debian packages: {' '.join(missing)}")
    noninteractive = {"DEBIAN_FRONTEND": "noninteractive"}
    retry("apt-get update", lambda: run(["apt-get", "update", "-q"], env=noninteractive))
    retry(
        "apt-get install",
        lambda: run(
            # With recommends: slirp4netns comes that way.
            ["apt-get", "install", "-y", "-q", *missing],
            env=noninteractive,
            timeout=900,
        ),
    )


def _dpkg_installed(name: str) -> bool:
    done = run(["dpkg-query", "-W", "-f=${Status}", name], check=False, quiet=True)
    return done.returncode == 0 and done.stdout.strip() == "install ok installed"


def podman_compose(tools: Path) -> Path:
    """podman-compose in a private venv under `tools` (kept between runs), pinned and hashed."""
    requirements = Path(__file__).with_name("requirements.txt")
    venv = tools / "venv"
    stamp = venv / "requirements.txt"
    script = venv / "bin" / "podman-compose"
    if script.exists() and stamp.exists() and stamp.read_text() == requirements.read_text():
        return script
    log("installing podman-compose into a private venv")
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(venv)])
    retry(
        "pip install podman-compose",
        lambda: run(
            [str(venv / "bin" / "pip"), "install", "--quiet", "--require-hashes", "--no-deps",
             "-r", str(requirements)],
        ),
    )  # fmt: skip
    shutil.copyfile(requirements, stamp)
    return script


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses for bookworm (never a name of our own)."""
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        for stanza in path.read_text().split("\n\n"):
            fields = dict(
                line.split(":", 1) for line in stanza.splitlines() if ":" in line and line[0] != "#"
            )
            suites = fields.get("Suites", "").split()
            if "bookworm" in suites and fields.get("URIs"):
                return fields["URIs"].split()[0]
    listing = Path("/etc/apt/sources.list")
    if listing.exists():
        for line in listing.read_text().splitlines():
            words = line.split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == "bookworm":
                return words[1]
    raise CheckFailed(
        "no Debian bookworm mirror in /etc/apt/sources.list(.d): debootstrap needs one"
    )
