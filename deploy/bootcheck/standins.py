"""Stand-ins for the base images the Dockerfile and docker-compose.yml name, from Debian packages.

No image registry is reachable here, so `python:3.11-slim` and `postgres:15-bookworm` are built
with debootstrap from Debian 12 (bookworm): its python3.11 and its PostgreSQL 15, shaped like
the official images where habitctl's files rely on them. They are tagged with the names the
files use and kept in podman's storage between runs; a change to a recipe below (or to the
postgres entrypoint) changes the label that says which recipe built an image, and rebuilds it.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bootcheck.host import apt_mirror, log, retry, run

HERE = Path(__file__).resolve().parent
ENTRYPOINT = HERE.parent / "standins" / "postgres-entrypoint.sh"
LABEL = "org.habitctl.standin"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class StandIn:
    name: str  # the fully qualified name `FROM python:3.11-slim` resolves to
    packages: tuple[str, ...]
    setup: str  # a shell script run in the new root (chroot) before it becomes an image
    changes: tuple[str, ...]  # Dockerfile instructions for `podman import --change`
    files: tuple[tuple[Path, str], ...] = ()

    def recipe(self) -> str:
        text = repr((self.name, self.packages, self.setup, self.changes))
        for source, _ in self.files:
            text += source.read_text()
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# Shaped like python:3.11-slim: `python`, `pip` on /usr/local/bin, venv and ensurepip work,
# and pip may install outside a venv (Debian's EXTERNALLY-MANAGED marker removed, as upstream).
PYTHON = StandIn(
    name="docker.io/library/python:3.11-slim",
    packages=("python3.11", "python3-pip", "python3-venv", "ca-certificates"),
    setup=(
        "ln -sf /usr/bin/python3.11 /usr/local/bin/python"
        " && ln -sf /usr/bin/python3.11 /usr/local/bin/python3"
        " && ln -sf /usr/bin/pip3 /usr/local/bin/pip"
        " && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED"
    ),
    changes=(f"ENV PATH={PATH}", "ENV LANG=C.UTF-8", 'CMD ["python3"]'),
)

# Shaped like postgres:15-bookworm: the entrypoint honours POSTGRES_USER, POSTGRES_PASSWORD and
# POSTGRES_DB, the server binaries (pg_isready among them) are on PATH, auth_delay ships with
# Debian's server package. Debian's packaging makes a `main` cluster on install: removed.
POSTGRES = StandIn(
    name="docker.io/library/postgres:15-bookworm",
    packages=("postgresql-15",),
    setup=(
        "rm -rf /etc/postgresql/15 /var/lib/postgresql/15"
        " && mkdir -p /var/lib/postgresql/data /docker-entrypoint-initdb.d"
        " && chown -R postgres:postgres /var/lib/postgresql"
        " && test -f /usr/lib/postgresql/15/lib/auth_delay.so"
    ),
    changes=(
        f"ENV PATH=/usr/lib/postgresql/15/bin:{PATH}",
        "ENV LANG=C.UTF-8",
        "ENV PGDATA=/var/lib/postgresql/data",
        'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]',
        'CMD ["postgres"]',
        "STOPSIGNAL SIGINT",
        "EXPOSE 5432",
    ),
    files=((ENTRYPOINT, "usr/local/bin/docker-entrypoint.sh"),),
)

STAND_INS = (PYTHON, POSTGRES)


def ensure(stand_in: StandIn, workdir: Path) -> bool:
    """Build `stand_in` unless podman already holds one from the same recipe; True if built."""
    recipe = stand_in.recipe()
    have = run(
        ["podman", "image", "inspect", "--format", f'{{{{index .Labels "{LABEL}"}}}}',
         stand_in.name],
        check=False,
        quiet=True,
    )  # fmt: skip
    if have.returncode == 0 and have.stdout.strip() == recipe:
        log(f"{stand_in.name}: cached (recipe {recipe})")
        return False
    log(f"{stand_in.name}: building from Debian packages (recipe {recipe})")
    root = Path(tempfile.mkdtemp(prefix="standin-", dir=workdir))
    try:
        mirror = apt_mirror()

        def bootstrap() -> None:
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            run(
                ["debootstrap", "--variant=minbase", f"--include={','.join(stand_in.packages)}",
                 "bookworm", str(root), mirror],
                timeout=1200,
            )  # fmt: skip

        retry("debootstrap", bootstrap, attempts=3, pause=20)
        for source, target in stand_in.files:
            destination = root / target
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
            destination.chmod(0o755)
        run(["chroot", str(root), "/bin/sh", "-ec", stand_in.setup])
        run(["chroot", str(root), "apt-get", "clean"])
        for junk in ("var/lib/apt/lists", "var/cache/apt", "var/log", "tmp"):
            shutil.rmtree(root / junk, ignore_errors=True)
            (root / junk).mkdir(parents=True, exist_ok=True)
        (root / "tmp").chmod(0o1777)
        changes = [arg for change in (*stand_in.changes, f"LABEL {LABEL}={recipe}")
                   for arg in ("--change", change)]  # fmt: skip
        tarball = workdir / f"{root.name}.tar"
        try:
            run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball), "."])
            run(["podman", "import", *changes, str(tarball), stand_in.name])
        finally:
            tarball.unlink(missing_ok=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return True
