"""The course as a static website: every lesson executed at build time, with the exercises' answers left out.

The site is built by Sphinx with myst-nb (it renders notebooks with their outputs) and sphinx-book-theme,
all from the package index (``site/requirements.txt``); the build needs no other network. Steps:

1. each solution notebook runs top to bottom in a fresh kernel of this Python (two at a time, each in its own
   folder, under ``LABKIT_QUICK=1`` unless ``--full``); a cell that fails fails the build;
2. the page shows the learner's edition: every code cell's source is the learner's (exercise stubs,
   ``%%myshelf`` answers stubbed the same way, see :mod:`authoring.editions`), the outputs come from the run
   of the solutions, except that exercise cells, self-checks and any cell whose source held an answer show
   "run it yourself" instead; predictions print their question as text; interactive widgets are replaced
   by a note (they need a kernel);
3. the landing page is the course map (:mod:`authoring.navigation`); each lesson page has a Binder launch
   button and a download of the learner notebook;
4. ``answers_in`` looks in the built pages, search index and downloads for every line of every solution region
   that learners are not given anyway, and for each region's whole body: the build fails if one is there.

    python -m authoring.site build              # site/build/html (2½ to 5 minutes on 2 cores)
    python -m authoring.site build --only 00 02 # a few lessons (the landing page lists what was built)
    python -m authoring.site build --reuse      # re-run only the lessons whose solution changed since
    python -m authoring.site build --limit 900  # fail if running the lessons takes longer ($SITE_BUILD_LIMIT)
    python -m authoring.site preview            # serve site/build/html on http://127.0.0.1:8000/
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import datetime
import functools
import html
import http.server
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat

from .editions import BEGIN, END, MD_BLOCK, ROOT, strip_solutions
from .navigation import BINDER_REPO, INDEX, NAV_TAG, TIME_ROW, Lesson, binder_url, lessons

__all__ = ["SITE", "BUILD", "RUN_IT", "execute", "publish", "landing_page", "solution_lines", "page_text",
           "answers_in", "build", "preview", "main"]

SITE = ROOT / "site"                   # conf.py, static files, requirements.txt
BUILD = SITE / "build"                 # generated (git-ignored): run/, src/, extra/, html/
LIMIT_ENV = "SITE_BUILD_LIMIT"         # seconds the execution may take in all (CI sets it)
CELL_TIMEOUT = 180                     # seconds per cell, as tests/test_notebooks_run_twice.py
WIDGET = "application/vnd.jupyter.widget-view+json"
RUN_IT = {
    "exercise": "Exercise: this cell is yours to write. Launch the lesson and run it to see your own output.",
    "check": "Self-check: run it yourself in the lesson; it checks your answer and tells you what to fix.",
    "answer": "This cell holds part of an exercise: run it yourself in the lesson.",
    "widget": "An interactive panel appears here when you run the lesson: launch it to use the controls.",
}
PREDICT = re.compile(r"""ask\(\s*["'](\d{2}\.[\w.]+)["']""")
LOCAL_LINK = re.compile(r"<a\b[^>]*href=[\"']https?://(?:127\.0\.0\.1|localhost)[^>]*>(.*?)</a>", re.S)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
GITHUB = f"https://github.com/{BINDER_REPO}"


# -- 1. run the solutions ---------------------------------------------------------------------------
def _marks(cell: Any) -> set[str]:
    tags = set(cell.metadata.get("tags", []))
    for line in cell.source.splitlines():
        if line.strip().startswith("# NBVAL_"):
            tags.add(line.strip()[2:].lower().replace("_", "-"))
    return tags


def execute(path: Path, workdir: Path, quick: bool = True, timeout: int = CELL_TIMEOUT,
            deadline: float | None = None) -> Any:
    """Run the notebook at ``path`` top to bottom in a fresh kernel started in ``workdir``; returns it with outputs.

    Cells marked ``nbval-skip`` are not run (as in the tests); a cell marked ``raises-exception`` may raise;
    any other error raises ``nbclient``'s ``CellExecutionError`` naming the cell. Each cell has ``timeout``
    seconds, and none starts after ``deadline`` (a ``time.time()``), which raises ``TimeoutError``.
    """
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    workdir.mkdir(parents=True, exist_ok=True)
    runnable = copy.deepcopy(nb)
    runnable.cells = [c for c in runnable.cells if c.cell_type == "code" and "nbval-skip" not in _marks(c)]
    for cell in runnable.cells:
        if "nbval-raises-exception" in _marks(cell):
            cell.metadata.setdefault("tags", []).append("raises-exception")
    env = {**os.environ, "LABKIT_QUICK": "1" if quick else "0", "MYSHELF_HOME": str(workdir),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("JUPYTERHUB_SERVICE_PREFIX", None)  # served links as on a laptop
    client = NotebookClient(runnable, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    with client.setup_kernel(env=env):
        for index, cell in enumerate(runnable.cells):
            left = timeout if deadline is None else deadline - time.time()
            if left <= 0:
                raise TimeoutError(f"the build's time limit was reached before code cell {index} of {path.name}")
            client.timeout = int(max(1, min(timeout, left)))
            client.execute_cell(cell, index)
    ran = {c.id: c for c in runnable.cells}
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.id in ran:
            cell.outputs, cell.execution_count = ran[cell.id].outputs, ran[cell.id].execution_count
    return nb


def _execute_to(path: Path, workdir: Path, out: Path, quick: bool, deadline: float | None) -> float:
    started = time.monotonic()
    nbformat.write(execute(path, workdir, quick, deadline=deadline), out)
    return time.monotonic() - started


# -- 2. the page a reader sees ----------------------------------------------------------------------
def _note(text: str) -> Any:
    return nbformat.v4.new_output("display_data", data={
        "text/html": f'<p class="run-it-yourself">{html.escape(text)}</p>', "text/plain": text})


def _published_outputs(cell: Any, learner_source: str) -> list[Any]:
    tags = cell.metadata.get("tags", [])
    kinds = {t.split(":", 1)[0] for t in tags}
    if "check" in kinds:
        return [_note(RUN_IT["check"])]
    if "exercise" in kinds:
        return [_note(RUN_IT["exercise"])]
    if learner_source != cell.source:
        return [_note(RUN_IT["answer"])]
    if "predict" in kinds and (found := PREDICT.search(cell.source)):
        from labkit.questions import get_question
        text = get_question(found.group(1)).as_text()
        return [nbformat.v4.new_output("stream", name="stdout", text=text + "\n"),
                _note("Predict first: launch the lesson to pick an answer and check it.")]
    outputs, widget_shown = [], False
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if WIDGET in data:  # a live widget needs a kernel: its text/plain is only a repr
            if not widget_shown:
                outputs.append(_note(RUN_IT["widget"]))
            widget_shown = True
            continue
        if "text/html" in data:  # a link to a server of the build's kernel: gone by the time anyone reads it
            data["text/html"] = LOCAL_LINK.sub(r'<span class="build-server-link">\1</span>', "".join(data["text/html"]))
        outputs.append(output)
    return outputs


def _site_links(markdown: str, pages: set[str]) -> str:
    """Links that leave the notebooks folder, or go to a lesson not on the site, point at the repository;
    the course index is the landing page."""
    markdown = re.sub(r"\]\(\.\./([^)\s]+)\)", lambda m: f"]({GITHUB}/blob/HEAD/{m.group(1)})", markdown)
    markdown = re.sub(r"\]\((\d\d_\w+\.ipynb)(#[^)]*)?\)", lambda m: m.group(0) if m.group(1) in pages
                      else f"]({GITHUB}/blob/HEAD/notebooks/{m.group(1)}{m.group(2) or ''})", markdown)
    return re.sub(r"\]\(" + re.escape(INDEX) + r"(#[^)]*)?\)", lambda m: f"](index.md{m.group(1) or ''})", markdown)


def _boxed(markdown: str) -> str:
    """The lesson's time / objectives / prerequisites table, wrapped in a box (a ``lesson-box`` container)."""
    lines = markdown.split("\n")
    rows = [i for i, line in enumerate(lines) if line.lstrip().startswith("|")]
    if not rows or not TIME_ROW.search(markdown):
        return markdown
    start = next(i for i in rows if TIME_ROW.search("\n".join(lines[i:])))
    while start - 1 in rows:
        start -= 1
    end = start
    while end + 1 in rows:
        end += 1
    return "\n".join([*lines[:start], "````{container} lesson-box", *lines[start:end + 1], "````", *lines[end + 1:]])


def publish(solution: Any, learner: Any, lesson: Lesson, stamp: str = "", pages: set[str] | None = None) -> Any:
    """The page's notebook: the learner's sources, the solution run's outputs, and no answers.

    ``pages``: the lesson files on the site (links to others go to the repository); default: every lesson.
    """
    pages = {p.file for p in lessons()} if pages is None else pages
    if [c.id for c in solution.cells] != [c.id for c in learner.cells]:
        raise ValueError(f"{lesson.file}: notebooks/ does not match solutions/ (run python -m authoring.editions)")
    nb = copy.deepcopy(learner)
    nb.metadata.pop("widgets", None)
    cells = []
    for ran, cell in zip(solution.cells, nb.cells):
        if NAV_TAG in cell.metadata.get("tags", []):
            continue  # the site has its own previous / next links
        if cell.cell_type == "markdown":
            cell.source = _boxed(cell.source) if cell.source.lstrip().startswith("# ") else cell.source
            cell.source = _site_links(MD_BLOCK.sub("", cell.source), pages)
        elif cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)  # already the learner's; stubbing is idempotent
            cell.outputs = _published_outputs(ran, cell.source)
            cell.execution_count = ran.get("execution_count")
        cells.append(cell)
    about = ("Launch this lesson on Binder, or download the notebook, with the buttons at the top of the page. "
             "The outputs below are from a run on the machine that built this site"
             f"{stamp}: yours will differ, and the exercises and self-checks are yours to run.")
    intro = nbformat.v4.new_markdown_cell(f"```{{admonition}} Run it yourself\n:class: tip site-about\n{about}\n```")
    intro.id = "site-about"
    first_heading = next((i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.lstrip().startswith("# ")), 0)
    cells.insert(first_heading + 1, intro)
    nb.cells = cells
    return nb


def landing_page(course: list[Lesson], built: list[Lesson]) -> str:
    """The site's ``index.md``: the course map, linking to each lesson page, with a launch link per lesson."""
    rows = [f"| [{lesson.label}]({lesson.file}) | {lesson.builds} | {lesson.time} | "
            f"[Binder]({binder_url(lesson.file)}) · <a href=\"notebooks/{lesson.file}\" download>notebook</a> |" for lesson in built]
    missing = [lesson.label for lesson in course if lesson not in built]
    return "\n".join([
        "# Async Python web APIs, built in Jupyter",
        "",
        "Learn async Python by building a real async FastAPI application, lesson by lesson, inside JupyterLab.",
        "You run the app in the notebook's own kernel and measure, in your own run, what `async` buys and what",
        "it costs. Every exercise has a self-check.",
        "",
        "Each page below is a lesson as it looks after running it: prose, code, and the outputs and charts of a run",
        "made when this site was built. The exercises are left for you: launch a lesson on Binder (nothing to",
        "install) or download its notebook, and run it in JupyterLab. Setting up on your own machine:",
        f"see the [course README]({GITHUB}#quickstart).",
        "",
        "## Course map",
        "",
        "| lesson | what you build | time | launch |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        *([f"*Not built this time:* {', '.join(missing)}.", ""] if missing else []),
        "```{toctree}",
        ":hidden:",
        ":maxdepth: 1",
        "",
        *[lesson.file.removesuffix(".ipynb") for lesson in built],
        "```",
        "",
    ])


# -- 3. no answers on the site -----------------------------------------------------------------------
def _squash(text: str) -> str:
    return " ".join(text.split())


def solution_lines(root: Path = ROOT) -> dict[str, set[str]]:
    """``{lesson file: lines}``: each line of a solution region that would give an answer away.

    A line counts when it is at least 12 characters without its indentation, is not a comment, and appears
    nowhere in what learners are given: the learner notebooks and the course's code as released (so a line that
    a stub keeps, that a hint quotes, or that a lesson shows from the reference app's given code, is not one).
    Each region's whole body (comments left out, spaces squashed) counts too, so an answer made only of
    common lines is still found.
    """
    given = [c.source for path in sorted((root / "notebooks").glob("*.ipynb"))
             for c in nbformat.read(path, as_version=4).cells]
    for path in sorted([*(root / "labkit").rglob("*.py"), *(root / "bookshelf").rglob("*.py")]):
        text = path.read_text(encoding="utf-8")  # the course's code as learners get it (authoring.release)
        given.append(strip_solutions(text) if BEGIN in text else text)
    learner_text = _squash(" ".join(given).replace("`", ""))
    found: dict[str, set[str]] = {}
    for path in sorted((root / "solutions").glob("[0-9][0-9]_*.ipynb")):
        lines: set[str] = set()
        for cell in nbformat.read(path, as_version=4).cells:
            body: list[str] | None = None
            for line in cell.source.splitlines():
                stripped = line.strip()
                if stripped.startswith((BEGIN, "<!-- BEGIN SOLUTION -->")):
                    body = []
                elif stripped.startswith((END, "<!-- END SOLUTION -->")) and body is not None:
                    whole = _squash(" ".join(b for b in body if not b.startswith("#")))
                    if whole and whole not in learner_text:  # the whole answer, for one made of common lines
                        lines.add(whole)
                    body = None
                elif body is not None:
                    body.append(stripped)
                    if len(stripped) >= 12 and not stripped.startswith("#") and _squash(stripped) not in learner_text:
                        lines.add(_squash(stripped))
        found[path.name] = lines
    return found


def page_text(page: str) -> str:
    """A built page's text, as a reader's find-in-page sees it (tags dropped, entities decoded, spaces squashed)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return _squash(html.unescape(re.sub(r"<[^>]+>", "", page)))


def answers_in(html_dir: Path, root: Path = ROOT) -> list[str]:
    """Every solution line found in any page, file or search index of the built site (``[]`` when clean)."""
    lines = set().union(*solution_lines(root).values())
    texts = {}
    for path in sorted(html_dir.rglob("*")):
        if path.suffix in (".html", ".js", ".txt", ".ipynb", ".json") and path.is_file():
            raw = path.read_text(encoding="utf-8", errors="replace")
            texts[path.relative_to(html_dir)] = page_text(raw) if path.suffix == ".html" else _squash(raw)
    return [f"{name}: {line}" for name, text in texts.items() for line in sorted(lines) if line in text]


# -- the build ----------------------------------------------------------------------------------------
def build(only: set[str] | None = None, quick: bool = True, workers: int = 2, out: Path = BUILD,
          root: Path = ROOT, reuse: bool = False, limit: float | None = None) -> Path:
    """Execute the lessons, write the pages and run Sphinx; returns the folder of the HTML site.

    ``reuse``: keep an earlier build's run of a lesson whose solution notebook has not changed since.
    ``limit``: seconds the lessons' execution may take in all (no cell starts later; each has 180 s anyway).
    """
    course = lessons(root)
    built = [lesson for lesson in course if only is None or lesson.number in only]
    if not built:
        raise ValueError(f"no lesson numbered {sorted(only or [])}")
    for folder in ("run", "src", "extra", "html") if reuse else ("run", "executed", "src", "extra", "html"):
        shutil.rmtree(out / folder, ignore_errors=True)
    (out / "executed").mkdir(parents=True, exist_ok=True)
    mode = out / "executed" / "mode.json"
    if not mode.exists() or json.loads(mode.read_text()) != {"quick": quick}:
        for old in (out / "executed").glob("*.ipynb"):
            old.unlink()
    mode.write_text(json.dumps({"quick": quick}))
    to_run = [lesson for lesson in built if not (out / "executed" / lesson.file).exists()
              or (out / "executed" / lesson.file).stat().st_mtime < (root / "solutions" / lesson.file).stat().st_mtime]
    started = time.monotonic()
    deadline = None if limit is None else time.time() + limit
    print(f"executing {len(to_run)} lessons, {workers} at a time ({'LABKIT_QUICK=1' if quick else 'full sizes'})",
          flush=True)
    failures = []
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        jobs = {pool.submit(_execute_to, root / "solutions" / lesson.file, out / "run" / lesson.number,
                            out / "executed" / lesson.file, quick, deadline): lesson for lesson in to_run}
        for job in concurrent.futures.as_completed(jobs):
            lesson = jobs[job]
            try:
                print(f"  {lesson.file}: ran in {job.result():.0f} s", flush=True)
            except Exception as exc:  # noqa: BLE001 - every failure is reported, then the build stops
                failures.append(f"{lesson.file} failed to run:\n{ANSI.sub('', str(exc))[-4000:]}")
    if failures:
        raise RuntimeError("\n\n".join(failures))
    executed_s = time.monotonic() - started
    stamp = (f" ({datetime.date.today().isoformat()}, Python {platform.python_version()}"
             f"{', with LABKIT_QUICK=1: smaller sizes and fewer repeats than yours' if quick else ''})")
    (out / "src").mkdir()
    (out / "extra" / "notebooks").mkdir(parents=True)
    for lesson in built:
        solution = nbformat.read(out / "executed" / lesson.file, as_version=4)
        learner = nbformat.read(root / "notebooks" / lesson.file, as_version=4)
        nbformat.write(publish(solution, learner, lesson, stamp, {p.file for p in built}), out / "src" / lesson.file)
        shutil.copy2(root / "notebooks" / lesson.file, out / "extra" / "notebooks" / lesson.file)
    (out / "src" / "index.md").write_text(landing_page(course, built), encoding="utf-8")
    (out / "lessons.json").write_text(json.dumps({lesson.file: binder_url(lesson.file) for lesson in built}))
    sphinx = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going", "-E",
                             "-c", str(SITE), str(out / "src"), str(out / "html")],
                            cwd=root, env={**os.environ, "COURSE_SITE_BUILD": str(out)})
    if sphinx.returncode:
        raise RuntimeError(f"sphinx-build failed (exit {sphinx.returncode}); its messages are above")
    leaks = answers_in(out / "html", root)
    if leaks:
        raise RuntimeError("exercise answers on the site:\n  " + "\n  ".join(leaks[:20]))
    print(f"built {out / 'html'}: {len(built)} lessons ({len(to_run)} executed in {executed_s:.0f} s), "
          f"{time.monotonic() - started:.0f} s in all; no answer on any page", flush=True)
    return out / "html"


def preview(html_dir: Path, port: int) -> None:
    """Serve the built site until interrupted."""
    if not (html_dir / "index.html").is_file():
        raise SystemExit(f"{html_dir} holds no site: run `python -m authoring.site build` first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html_dir))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"serving {html_dir} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops it)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m authoring.site", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("build", help="execute the lessons and build site/build/html")
    make.add_argument("--only", nargs="+", metavar="NN", help="build these lessons only")
    make.add_argument("--full", action="store_true", help="full sizes and repeats (default: LABKIT_QUICK=1)")
    make.add_argument("--workers", type=int, default=2, help="lessons executed at a time (default 2)")
    make.add_argument("--out", type=Path, default=BUILD, help="build folder (default site/build)")
    make.add_argument("--reuse", action="store_true", help="keep earlier runs of lessons that did not change")
    make.add_argument("--limit", type=float, default=float(os.environ.get(LIMIT_ENV) or 0) or None, metavar="SECONDS",
                      help=f"fail if executing the lessons takes longer (default: ${LIMIT_ENV}, else no limit)")
    show = sub.add_parser("preview", help="serve the built site on a local port")
    show.add_argument("--port", type=int, default=8000)
    show.add_argument("--out", type=Path, default=BUILD, help="build folder (default site/build)")
    args = parser.parse_args(argv)
    if args.command == "preview":
        preview(args.out / "html", args.port)
        return 0
    try:
        build(set(args.only) if args.only else None, quick=not args.full, workers=args.workers, out=args.out,
              reuse=args.reuse, limit=args.limit)
    except (RuntimeError, ValueError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
