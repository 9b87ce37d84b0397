"""Run the README's commands as written, in a fresh copy of the course with a fresh virtual environment.

Every line of every ```bash block in README.md runs with ``bash`` from the copy's root, in the order the
README gives them, without the caller's virtual environment or ``PYTHONPATH``. pip's cache is reused, so
the installs cost little after the first. What cannot run as written is said in the output:

* the Learn command ends in ``jupyter lab``, which runs until stopped: the check waits until it serves the
  first lesson and the README (the index links to it), then stops it. As root it gets a config with
  ``allow_root`` (the README's Troubleshooting tells root users to add ``--allow-root``);
* placeholders (``path/to/that/folder``, ``DIR``) are replaced by real folders;
* the full benchmark (about 2 minutes of measurement) is skipped; its ``--quick`` line runs the same code.

    python3 scripts/readme_commands.py            # everything, the whole test suite included (CI)
    python3 scripts/readme_commands.py --no-suite # all but the README's Test command (the whole suite)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED = {".venv/bin/python benchmarks/run.py": "the full benchmark takes minutes; --quick runs the same code"}


def readme_commands(readme: Path = ROOT / "README.md") -> list[str]:
    """Every command line of the README's bash blocks, in order."""
    blocks = re.findall(r"```bash\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def fresh_copy(dest: Path) -> Path:
    """The course's tracked files (as they are in the work tree), copied to ``dest``."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in filter(None, files.split("\0")):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def clean_env(course: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if "venv" not in p)
    if os.geteuid() == 0:  # jupyter lab refuses root without --allow-root: a root user's config says it
        config = course.parent / "jupyter-config"
        config.mkdir(exist_ok=True)
        (config / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {"allow_root": True}}))
        env["JUPYTER_CONFIG_DIR"] = str(config)
    env["BROWSER"] = "true"  # `jupyter lab` would open a browser: a no-op here
    return env


def run_learn(command: str, course: Path, env: dict[str, str]) -> None:
    """Start the Learn command, check Lab serves the first lesson and the README, then stop it."""
    lab = subprocess.Popen(["bash", "-c", command],
                           cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    log: list[str] = []
    try:
        deadline = time.monotonic() + 900  # it installs first
        url = None
        while url is None:
            line = lab.stdout.readline() if lab.stdout else ""
            if not line and lab.poll() is not None:
                raise AssertionError("the Learn command exited:\n" + "".join(log[-40:]))
            log.append(line)
            if match := re.search(r"(http://(?:localhost|127\.0\.0\.1):\d+/)lab\?token=(\w+)", line):
                url = match
            if time.monotonic() > deadline:
                raise TimeoutError("JupyterLab did not start")
        base, token = url.group(1), url.group(2)
        ready = time.monotonic() + 60  # Lab prints its URL a moment before it accepts connections
        while True:
            try:
                urllib.request.urlopen(f"{base}api/status?token={token}", timeout=5)
                break
            except OSError:
                if time.monotonic() > ready:
                    raise
                time.sleep(0.5)
        try:
            for path in ("notebooks/00_welcome.ipynb", "README.md", "notebooks/index.ipynb"):
                answer = urllib.request.urlopen(f"{base}api/contents/{path}?content=0&token={token}", timeout=10)
                assert answer.status == 200, path
        except Exception:
            print("".join(log[-30:]))
            raise
        print(f"  JupyterLab served the first lesson and the README from the course root at {base}")
    finally:
        os.killpg(lab.pid, 15)
        try:
            lab.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, 9)
            lab.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-suite", action="store_true", help="skip the Test command (the whole test suite)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="readme-commands-"))
    course = fresh_copy(work / "course")
    env = clean_env(course)
    failed = []
    try:
        for command in readme_commands():
            print(f"$ {command}", flush=True)
            reason = SKIPPED.get(command.split("#")[0].strip())
            if reason or (args.no_suite and command.endswith("-m pytest")):
                print(f"  not run: {reason or '--no-suite'}")
                continue
            if "jupyter lab" in command:
                run_learn(command, course, env)
                continue
            runnable = command.replace("path/to/that/folder", "notebooks").replace("--out DIR", f"--quick --out {work / 'out'}")
            if runnable != command:
                print(f"  as: {runnable}")
            started = time.monotonic()
            result = subprocess.run(["bash", "-c", runnable], cwd=course, env=env)
            print(f"  exit {result.returncode} after {time.monotonic() - started:.0f} s", flush=True)
            if result.returncode != 0:
                failed.append(command)
    finally:
        if (course / "test-artifacts").is_dir():  # the browser check's screenshots, kept beside the course
            shutil.copytree(course / "test-artifacts", ROOT / "test-artifacts", dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    if failed:
        print("FAIL: these README commands failed as written:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    print("PASS: every README command ran as written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
