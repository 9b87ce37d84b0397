"""A sandbox per learner: the command that starts a learner's kernel inside bubblewrap, with limits.

Inside, the kernel sees only what it needs: the system's programs and libraries, Python and its packages, the
parts of the course learners get (``labkit/``, ``bookshelf/``, ``data/``, ``notebooks/``) *as the learner release
has them* (the reference app's answers stubbed, so a learner cannot import them), all read-only, and one
folder of its own (``work``) it may write to. It has no network, its own process tree (every process in it dies
with the sandbox), an unprivileged user id, and limits on memory, processes, file size, open files and CPU time.
Submissions, the output folder, ``solutions/``, the tests and the hidden checks are not in it at all.

``bwrap`` (bubblewrap) does the isolation: ``apt-get install bubblewrap`` (Debian/Ubuntu) or
``dnf install bubblewrap`` (Fedora). ``setpriv`` and ``prlimit`` come with util-linux.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Limits", "SandboxMissing", "COURSE_PARTS", "learner_course", "require_sandbox", "sandbox_command",
           "sandbox_uid"]

ROOT = Path(__file__).resolve().parent.parent
COURSE_PARTS = ("labkit", "bookshelf", "data", "notebooks", "requirements.txt", "pyproject.toml")
"""What of the course a learner's kernel may read: what learners are given anyway."""

_UID_BASE = 61000  # unprivileged user ids for sandboxes, one per worker slot (process limits count per user)


@dataclass(frozen=True)
class Limits:
    """Resource limits for every process in a learner's sandbox (applied with prlimit)."""

    memory_mb: int = 2048      # address space per process (RLIMIT_AS)
    processes: int = 256       # processes and threads of the sandbox's user (RLIMIT_NPROC)
    file_mb: int = 64          # largest file a process may write, logs included (RLIMIT_FSIZE)
    cpu_seconds: int = 600     # CPU time per process (RLIMIT_CPU)
    open_files: int = 1024     # (RLIMIT_NOFILE)
    tmp_mb: int = 256          # size of the sandbox's own /tmp (a tmpfs)

    def prlimit_args(self) -> list[str]:
        """``prlimit`` options for these limits."""
        mb = 1024 * 1024
        return [f"--as={self.memory_mb * mb}", f"--nproc={self.processes}", f"--fsize={self.file_mb * mb}",
                f"--cpu={self.cpu_seconds}", f"--nofile={self.open_files}", "--core=0"]


class SandboxMissing(RuntimeError):
    """bubblewrap (or setpriv/prlimit) is not installed."""


def require_sandbox() -> None:
    """Raise :class:`SandboxMissing`, naming the install, unless bwrap, setpriv and prlimit are on PATH."""
    missing = [tool for tool in ("bwrap", "setpriv", "prlimit") if shutil.which(tool) is None]
    if missing:
        raise SandboxMissing(
            f"{', '.join(missing)} not found: the grader runs each learner in a bubblewrap sandbox. Install it "
            f"(Debian/Ubuntu: `apt-get install bubblewrap util-linux`; Fedora: `dnf install bubblewrap`), or grade "
            f"submissions you trust with `--sandbox none`.")
    if os.geteuid() != 0:
        raise SandboxMissing("the sandbox gives each learner an unprivileged user id of its own, which needs root: "
                             "run the grader as root (e.g. in a container), or use `--sandbox none` for trusted runs")


def sandbox_uid(slot: int) -> int:
    """The user id a sandbox in worker slot ``slot`` runs as."""
    return _UID_BASE + slot


def _mounts_for(paths: list[Path]) -> list[str]:
    """``--dir`` for every parent of ``paths`` (world-readable), so an unprivileged user can walk to them."""
    made: set[Path] = {Path("/"), Path("/tmp")}
    args: list[str] = []
    for path in paths:
        for parent in reversed(path.parents):
            if parent not in made:
                made.add(parent)
                args += ["--perms", "0755", "--dir", str(parent)]
    return args


_LEARNER_COURSE: list[Path] = []


def learner_course() -> Path:
    """The course as the learner release has it (``authoring.release``), written once per process."""
    if not _LEARNER_COURSE:
        from authoring.release import release

        folder = Path(tempfile.mkdtemp(prefix="grader-course-"))
        os.chmod(folder, 0o755)  # the sandbox's unprivileged user reads it
        release(folder / "course", ROOT)
        atexit.register(shutil.rmtree, folder, True)
        _LEARNER_COURSE.append(folder / "course")
    return _LEARNER_COURSE[0]


def sandbox_command(argv: list[str], work: Path, *, uid: int, limits: Limits = Limits(),
                    setenv: dict[str, str] | None = None) -> list[str]:
    """``argv`` wrapped to run inside a fresh sandbox whose only writable folder is ``work``."""
    readonly = [Path(p) for p in {sys.base_prefix, sys.prefix}]
    readonly += [ROOT / part for part in COURSE_PARTS if (ROOT / part).exists()]
    readonly = [p.resolve() for p in readonly]
    args = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    size = str(limits.tmp_mb * 1024 * 1024)
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", size, "--tmpfs", "/tmp",
             "--perms", "1777", "--size", size, "--tmpfs", "/dev/shm"]  # shared memory: multiprocessing's locks
    args += _mounts_for(readonly + [work])
    course = learner_course()
    for path in readonly:
        # a part of the course is mounted from the learner release, at the place the course's own copy has
        source = course / path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        args += ["--ro-bind", str(source if source.exists() else path), str(path)]
    args += ["--bind", str(work), str(work), "--chdir", str(work)]
    for key, value in (setenv or {}).items():
        args += ["--setenv", key, value]
    drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
    return args + ["--", *drop, "prlimit", *limits.prlimit_args(), "--", *argv]
