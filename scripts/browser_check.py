"""A real browser check: the lessons' widgets and docs links work in JupyterLab in headless Chromium.

Starts ``jupyter lab`` on a free port over a temporary copy of the lessons, opens them in headless
Chromium (driven over the DevTools protocol with websocket-client, which Jupyter Server already depends
on), and checks what a learner sees:

* each lesson opens without being marked as changed (no metadata churn), and its cells run without error;
* every interactive widget: it moves each slider and picks another dropdown entry with the mouse and
  keyboard events a learner would send, clicks each button, and asserts that the chart (its PNG) and the
  table under it changed and name the new settings;
* every predict-then-run question (``labkit.ask``): *Check* with no answer asks for one; a wrong answer,
  then the right one, each shows the verdict the question defines for it;
* every docs link a lesson displays, once as the kernel prints it on a laptop (``http://127.0.0.1:<port>``)
  and once behind a hub prefix (through jupyter-server-proxy): Swagger UI draws the operations and
  *Try it out* then *Execute* gets a 200, and the same app's ReDoc page draws its operations;
* no request leaves the machine: the browser resolves every other host to nothing, and its network log
  must name only 127.0.0.1.

The lessons and widgets it must cover are found in ``solutions/``, so a new widget or docs link in a
lesson fails the check until a driver covers it. Screenshots land in ``test-artifacts/``. Chromium comes
from Debian (``apt-get install chromium``); where it is not installed the check prints SKIP and exits 0.

    python scripts/browser_check.py
"""

from __future__ import annotations

import base64
import json
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import websocket

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from authoring.editions import LANGUAGE_INFO  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
HUB_KERNEL = "python3-behind-hub"  # same Python, with JUPYTERHUB_SERVICE_PREFIX set as on Binder
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
LOCAL_SCHEMES = {"data", "blob", "about", "chrome", "devtools", "chrome-extension"}
NOTEBOOK = "Array.from(window.jupyterapp.shell.widgets('main')).find(w => w.id === window.__check_id)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout} s") from None
            time.sleep(0.2)


# -- what the lessons hold ------------------------------------------------------------------------
def widget_cells(nb: Any) -> list[int]:
    """Cells that display an interactive widget."""
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and re.search(
        r"MeasurementPanel\(|widgets\.(Button|IntSlider|FloatSlider|Dropdown)\(", c.source)]


def question_cells(nb: Any) -> list[tuple[int, str]]:
    """Cells that show a predict-then-run question, with the question's id."""
    found = []
    for i, c in enumerate(nb.cells):
        match = re.search(r"""\bask\(\s*["']([0-9]{2}\.[\w.]+)["']\s*\)""", c.source) if c.cell_type == "code" else None
        if match:
            found.append((i, match.group(1)))
    return found


def docs_link_cells(nb: Any) -> list[int]:
    """Cells that display a link to an app's docs."""
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and re.search(
        r"show_docs_link\(|docs_url", c.source)]


def lesson_plan() -> dict[str, tuple[str, int]]:
    """``{lesson file: (what to check, index of the last cell to run)}`` for every lesson with widgets, docs
    links or questions. A lesson whose questions come after its last checked cell also gets a copy of its own,
    ``ask-<lesson>``, run up to its last question."""
    plan = {}
    for path in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        questions = question_cells(nb)
        if widget_cells(nb):
            plan[path.name] = ("widgets", widget_cells(nb)[-1])
        elif docs_link_cells(nb):
            plan[path.name] = ("docs", docs_link_cells(nb)[0])
        if questions and (path.name not in plan or questions[-1][0] > plan[path.name][1]):
            plan[("ask-" if path.name in plan else "") + path.name] = ("questions", questions[-1][0])
    return plan


# -- the DevTools protocol ------------------------------------------------------------------------
class Page:
    """The smallest DevTools-protocol client: send a command, wait for its answer, log network requests."""

    def __init__(self, ws_url: str, requests: list[str]) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.requests = requests
        self.send("Page.enable")
        self.send("Network.enable")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("method") in ("Network.requestWillBeSent", "Network.webSocketCreated"):
                self.requests.append(msg["params"].get("request", msg["params"]).get("url", ""))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def js(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}...: {result['exceptionDetails'].get('exception', {}).get('description')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float, what: str, check: Callable[[], None] | None = None) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            if check:
                check()
            time.sleep(0.2)
        raise TimeoutError(f"timed out after {timeout} s waiting for {what}")

    def center(self, selector_js: str) -> tuple[float, float]:
        """Scroll the element into view and return its centre in page coordinates."""
        box = self.js(f"(() => {{ const e = {selector_js}; e.scrollIntoView({{block: 'center'}});"
                      f" const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()")
        return box[0], box[1]

    def click(self, selector_js: str) -> None:
        x, y = self.center(selector_js)
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def drag(self, selector_js: str, dx: float) -> None:
        x, y = self.center(selector_js)
        self.send("Input.dispatchMouseEvent", type="mousePressed", x=x, y=y, button="left", clickCount=1)
        for step in range(1, 6):
            self.send("Input.dispatchMouseEvent", type="mouseMoved", x=x + dx * step / 5, y=y, button="left")
        self.send("Input.dispatchMouseEvent", type="mouseReleased", x=x + dx, y=y, button="left", clickCount=1)

    def screenshot(self, name: str, selector_js: str | None = None) -> None:
        params: dict[str, Any] = {"format": "png"}
        if selector_js:
            r = self.js(f"(() => {{ const e = {selector_js}; e.scrollIntoView({{block: 'start'}});"
                        " const r = e.getBoundingClientRect();"
                        " return [r.x, r.y, r.width, r.height, innerHeight, scrollX, scrollY]; })()")
            time.sleep(0.3)
            top = max(r[1] - 8, 0)  # the clip is in page coordinates: add the window's scroll
            params["clip"] = {"x": max(r[0] - 8, 0) + r[5], "y": top + r[6], "width": r[2] + 16,
                              "height": min(r[3] + 16, r[4] - top), "scale": 1}
        (ARTIFACTS / name).write_bytes(base64.b64decode(self.send("Page.captureScreenshot", **params)["data"]))
        print(f"  screenshot: test-artifacts/{name}")


# -- JupyterLab -----------------------------------------------------------------------------------
def open_notebook(page: Page, path: str) -> bool:
    """Open ``path`` in Lab, wait for its kernel; returns whether Lab marked it changed on opening."""
    page.js(f"window.jupyterapp.commands.execute('docmanager:open', {{path: {json.dumps(path)}}})"
            ".then(w => { window.__check_id = w.id; })")
    page.wait_for(f"{NOTEBOOK}?.sessionContext?.session?.kernel?.status === 'idle'", 90,
                  f"{path} to open with an idle kernel")
    time.sleep(0.5)
    return bool(page.js(f"{NOTEBOOK}.context.model.dirty"))


def errors_in(page: Page) -> str:
    return page.js(f"""(() => {{ for (const cell of {NOTEBOOK}.content.widgets) {{
        if (cell.model.type !== 'code') continue;
        for (const o of cell.model.outputs.toJSON()) if (o.output_type === 'error')
            return o.ename + ': ' + o.evalue + ' in: ' + cell.model.sharedModel.getSource().slice(0, 120); }}
        return ''; }})()""")


def run_all(page: Page, path: str, timeout: float = 120) -> None:
    page.js(f"window.jupyterapp.shell.activateById({NOTEBOOK}.id)")
    page.js("window.jupyterapp.commands.execute('notebook:run-all-cells')")

    def no_error() -> None:
        if error := errors_in(page):
            raise AssertionError(f"{path}: a cell failed: {error}")

    page.wait_for(f"""(() => {{ const nb = {NOTEBOOK}; return nb.content.widgets.every(
        c => c.model.type !== 'code' || c.model.executionCount !== null)
        && nb.sessionContext.session.kernel.status === 'idle'; }})()""", timeout, f"{path} to run", no_error)
    no_error()


SETTLED = f"""(async () => {{
    for (const cell of {NOTEBOOK}.content.widgets) for (const out of (cell.outputArea?.widgets || []))
        for (const view of (out.widgets || [])) if (view._manager?.promise) {{
            const manager = await view._manager.promise;
            const models = await Promise.all(Object.values(manager._models));
            return models.every(m => !m._pending_msgs && !m._msg_buffer);
        }}
    return false;
}})()"""
"""True once every widget change made in the page has reached the kernel (ipywidgets sends a model's next
change only after the kernel has handled the previous one, so a click can overtake a slider's last move).
It stays false for good when a change was sent while a cell awaited: ipykernel 7 never acknowledges it, and
ipywidgets then holds back every later change of that widget (labkit.widgets avoids sending one)."""


CHART_STATE = """(async (area) => {
    const img = area.querySelector('img'); const text = area.innerText;
    if (!img || !img.src) return {digest: '', text};
    const bytes = await (await fetch(img.src)).arrayBuffer();
    const digest = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)))
        .map(b => b.toString(16).padStart(2, '0')).join('');
    return {digest, text, width: img.naturalWidth};
})"""


def chart_state(page: Page, area_js: str) -> dict[str, Any]:
    return page.js(f"{CHART_STATE}({area_js})")


def wait_redrawn(page: Page, area_js: str, before: dict[str, Any], must_mention: list[str], what: str,
                 timeout: float = 60) -> dict[str, Any]:
    def redrawn() -> dict[str, Any] | None:
        now = chart_state(page, area_js)
        return now if now["digest"] and now["digest"] != before["digest"] and now["text"] != before["text"] else None

    deadline = time.monotonic() + timeout
    while (now := redrawn()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: the chart or its text did not change after the click")
        time.sleep(0.3)
    missing = [m for m in must_mention if m not in now["text"]]
    if missing:
        raise AssertionError(f"{what}: the new text does not mention {missing}:\n{now['text']}")
    return now


def drive_measurement_panel(page: Page, lesson: str) -> None:
    """Lesson 01: move both sliders, press Measure, and see a new chart measured with the new values.

    The sliders move towards smaller values, so the new measurement takes less time than the first one
    (without LABKIT_QUICK, on a busy machine, a larger one could outlast any fixed wait), and each waits
    until the panel is idle: no measurement running, every change received by the kernel.
    """
    panel = "document.querySelector('.labkit-panel')"
    area = f"{panel}.querySelector('.labkit-chart-area')"
    button = f"{panel}.querySelector('button')"
    page.wait_for(f"!!{area}?.querySelector('img')?.src", 180, "the panel's first chart")
    page.wait_for(f"!{button}.disabled", 180, "the first measurement to end")
    before = chart_state(page, area)
    readouts = []
    sliders = page.js(f"{panel}.querySelectorAll('.noUi-handle').length")
    for k in range(sliders):
        handle = f"{panel}.querySelectorAll('.noUi-handle')[{k}]"
        readout = f"{panel}.querySelectorAll('.widget-readout')[{k}].innerText"
        old = page.js(readout)
        for dx in (-30, 30):   # towards the minimum; a slider already there moves up
            page.drag(handle, dx)
            try:
                page.wait_for(f"{readout} !== {json.dumps(old)}", 20, f"slider {k} to move")
                break
            except TimeoutError:
                continue
        else:
            raise AssertionError(f"{lesson}: slider {k} did not move when dragged")
        readouts.append(page.js(readout))
        page.wait_for(SETTLED, 120, f"slider {k}'s value to reach the kernel")
    page.wait_for(SETTLED, 120, "the sliders' values to reach the kernel")
    page.wait_for(f"!{button}.disabled", 180, "the panel to be idle")
    page.click(button)
    now = wait_redrawn(page, area, before, [], lesson, timeout=240)
    status = page.js(f"{panel}.innerText")
    settings = re.search(r"measured with (.*)", status)
    if not settings or any(value not in settings.group(1) for value in readouts):
        raise AssertionError(f"{lesson}: the panel says {settings and settings.group(0)!r}, not the sliders' {readouts}")
    print(f"  panel redrew: sliders moved to {readouts}, {settings.group(0)}, new chart {now['digest'][:12]}")
    page.screenshot(f"{lesson[:2]}-measurement-panel.png", panel)


def drive_load_panel(page: Page, lesson: str) -> None:
    """Lesson 09: pick another endpoint, move the concurrency slider, press Run load, see the new results."""
    area = "document.querySelector('.labkit-chart-area')"
    panel = f"{area}.closest('.jp-OutputArea-output')"
    page.wait_for(f"!!{area}?.querySelector('img')?.src", 90, "the load panel's first chart")
    before = chart_state(page, area)
    select = f"{panel}.querySelector('select')"
    page.click(select)  # focus it as a learner would, then choose with the keyboard
    page.js(f"{select}.focus()")
    for key in ("End", "Enter"):
        page.send("Input.dispatchKeyEvent", type="keyDown", key=key, code=key,
                  windowsVirtualKeyCode={"End": 35, "Enter": 13}[key])
        page.send("Input.dispatchKeyEvent", type="keyUp", key=key, code=key,
                  windowsVirtualKeyCode={"End": 35, "Enter": 13}[key])
    endpoint = page.js(f"{select}.value")
    if endpoint == "/async":  # the keyboard did not reach the native list: choose as a script would
        page.js(f"(() => {{ const s = {select}; s.value = s.options[s.options.length - 1].value;"
                " s.dispatchEvent(new Event('change', {bubbles: true})); })()")
        endpoint = page.js(f"{select}.value")
    readout = f"{panel}.querySelector('.widget-readout').innerText"
    old = page.js(readout)
    page.drag(f"{panel}.querySelector('.noUi-handle')", -60)
    page.wait_for(f"{readout} !== {json.dumps(old)}", 60, "the concurrency slider to move")
    concurrency = page.js(readout)
    page.wait_for(SETTLED, 60, "the controls' values to reach the kernel")
    page.click(f"{panel}.querySelector('button')")
    now = wait_redrawn(page, area, before, [], lesson)
    old_row, new_row = (state["text"].strip().splitlines()[-1].split() for state in (before, now))
    if new_row[1] != concurrency or new_row[0] == old_row[0]:
        raise AssertionError(f"{lesson}: after choosing {endpoint!r} at concurrency {concurrency} the table's row is "
                             f"{new_row} (before: {old_row})")
    progress = page.js(f"{panel}.querySelector('.progress-bar')?.style.width || ''")
    print(f"  load panel redrew for {endpoint!r} ({new_row[0]}) at concurrency {concurrency} (progress bar {progress}), "
          f"new chart {now['digest'][:12]}")
    page.screenshot(f"{lesson[:2]}-load-panel.png", panel)


def drive_questions(page: Page, copy: str, asked: list[tuple[int, str]]) -> None:
    """Every predict-then-run question: Check without an answer, then a wrong answer, then the right one."""
    from labkit.questions import get_question

    for index, qid in asked:
        question = get_question(qid)
        # Lab draws only the cells near the view: bring the question's own cell there, then find its box in it
        page.js(f"(async () => {{ const nb = {NOTEBOOK}.content; if (nb.scrollToItem) await nb.scrollToItem({index}, 'center');"
                f" else nb.widgets[{index}].node.scrollIntoView({{block: 'center'}}); }})()")
        box = f"{NOTEBOOK}.content.widgets[{index}].node.querySelector('.labkit-question')"
        page.wait_for(f"!!{box}?.isConnected", 60, f"question {qid} (cell {index}) of {copy} to show")
        # textContent, not innerText: a cell scrolled out of view renders no text (Lab skips drawing it)
        feedback = f"Array.from({box}.querySelectorAll('.widget-html')).pop().textContent"
        check = f"Array.from({box}.querySelectorAll('button')).find(b => b.textContent.trim() === 'Check')"
        page.js(f"{box}.scrollIntoView({{block: 'center'}})")

        def answer(letter: str | None, expected: str) -> str:
            # Clicks go to the elements themselves: in a long lesson Lab keeps re-measuring the cells around the
            # view, and a click by coordinates can land on the neighbouring question.
            if letter is not None:
                page.js(f"{box}.querySelectorAll('input[type=radio]')[{question.letters.index(letter)}].click()")
                page.wait_for(f"{box}.querySelectorAll('input[type=radio]')[{question.letters.index(letter)}].checked",
                              30, f"answer {letter} of {qid} to be picked")
                page.wait_for(SETTLED, 60, f"answer {letter} of {qid} to reach the kernel")
            old = page.js(feedback)
            changed = f"(() => {{ const t = {feedback}; return t !== {json.dumps(old)} && t; }})()"
            step = f"answer {letter})" if letter else "no answer"
            page.js(f"{check}.click()")
            try:
                shown = page.wait_for(changed, 30, f"the feedback of {qid} after Check ({step})")
            except TimeoutError:   # a click that landed while the page still moved: click once more
                page.js(f"{check}.click()")
                try:
                    shown = page.wait_for(changed, 60, f"the feedback of {qid} after a second Check ({step})")
                except TimeoutError as exc:
                    status = page.js(f"{NOTEBOOK}.sessionContext.session?.kernel?.status")
                    raise AssertionError(f"{copy}: {exc} (kernel {status}; feedback still {old!r})") from None
            if expected not in " ".join(shown.split()):
                raise AssertionError(f"{copy}: {qid} answered {letter!r} shows {shown!r}, expected {expected!r}")
            return shown

        answer(None, "Pick an answer first")
        right = next(l for l, o in zip(question.letters, question.options) if o.correct)
        wrong = next(l for l in question.letters if l != right)
        answer(wrong, " ".join(question.verdict(wrong).replace("`", "").split())[:60])   # code marks become <code>
        shown = answer(right, " ".join(question.verdict(right).replace("`", "").split())[:60])
        print(f"  question {qid}: no answer, wrong {wrong}), right {right}) -> {shown.splitlines()[0][:60]!r}")
        page.screenshot(f"{copy.removeprefix('ask-')[:2]}-question-{qid.split('.', 1)[1]}.png", box)


def docs_links(page: Page) -> list[str]:
    return page.js(f"""Array.from({NOTEBOOK}.node.querySelectorAll('.jp-OutputArea-output a'))
        .map(a => a.href).filter(h => /\\/docs$/.test(h))""")


def check_swagger(browser: "Browser", url: str, name: str) -> None:
    """Open a docs link in a new tab: operations drawn, Try it out then Execute answers 200."""
    page = browser.new_page()
    try:
        page.send("Page.navigate", url=url)
        page.wait_for("document.querySelectorAll('.swagger-ui .opblock').length > 0", 90,
                      f"Swagger UI to draw the operations of {url}")
        block = ("Array.from(document.querySelectorAll('.opblock-get')).find(b => !b.querySelector("
                 "'.opblock-summary-path').getAttribute('data-path').includes('{'))")
        path = page.js(f"{block}.querySelector('.opblock-summary-path').getAttribute('data-path')")
        page.click(f"{block}.querySelector('.opblock-summary')")
        page.wait_for(f"!!{block}.querySelector('.try-out__btn')", 60, "the Try it out button")
        page.click(f"{block}.querySelector('.try-out__btn')")
        page.wait_for(f"!!{block}.querySelector('.execute')", 60, "the Execute button")
        page.click(f"{block}.querySelector('.execute')")
        status = page.wait_for(f"{block}.querySelector('.live-responses-table tbody .response-col_status')?.innerText", 90,
                               "the response to Execute")
        page.screenshot(name, f"{block}")
        if status.strip() != "200":
            raise AssertionError(f"{url}: Try it out on GET {path} answered {status!r}")
        ops = page.js("document.querySelectorAll('.swagger-ui .opblock').length")
        print(f"  {url}: Swagger UI drew {ops} operations; Try it out -> Execute on GET {path}: 200")
    finally:
        page.ws.close()


def check_redoc(browser: "Browser", url: str, name: str) -> None:
    """Open the app's ReDoc page (the docs link with /redoc): it draws the operations from local assets."""
    page = browser.new_page()
    try:
        page.send("Page.navigate", url=url)
        ops = page.wait_for("new Set(Array.from(document.querySelectorAll('[data-section-id*=\"operation/\"]'))"
                            ".map(e => e.getAttribute('data-section-id').split('operation/').pop())).size", 90,
                            f"ReDoc to draw the operations of {url}")
        if page.js("!!document.querySelector('.redoc-wrap') && !/Something went wrong/.test(document.body.innerText)") \
                is not True:
            raise AssertionError(f"{url}: ReDoc shows an error: {page.js('document.body.innerText.slice(0, 300)')!r}")
        page.screenshot(name)
        print(f"  {url}: ReDoc drew {ops} operations")
    finally:
        page.ws.close()


class Browser:
    """Headless Chromium with every host but this machine's resolving to nothing."""

    def __init__(self, chromium: str, work: Path) -> None:
        self.port = free_port()
        self.requests: list[str] = []
        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
             f"--user-data-dir={work / 'chromium'}", f"--remote-debugging-port={self.port}",
             "--window-size=1280,1000", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def new_page(self) -> Page:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        target = json.loads(urllib.request.urlopen(request).read())
        return Page(target["webSocketDebuggerUrl"], self.requests)

    def stop(self) -> None:
        stop(self.proc)


def stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def prepare(work: Path, plan: dict[str, tuple[str, int]]) -> dict[str, str]:
    """Copies of the lessons, each cut after its last checked cell (later cells stop the servers)."""
    course = work / "course"
    course.mkdir()
    copies = {}
    for copy, (kind, last) in plan.items():
        lesson = copy.removeprefix("ask-")
        nb = nbformat.read(ROOT / "solutions" / lesson, as_version=4)
        nb.cells = nb.cells[: last + 1]
        nbformat.write(nb, course / copy)
        copies[copy] = copy
        if kind == "docs":  # the same lesson behind a hub: its links go through jupyter-server-proxy
            nb.metadata["kernelspec"] = {"name": HUB_KERNEL, "display_name": "Python 3 (behind a hub)",
                                         "language": "python"}
            nbformat.write(nb, course / f"hub-{lesson}")
            copies[f"hub-{lesson}"] = f"hub-{lesson}"
    spec = work / "share" / "kernels" / HUB_KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (behind a hub)", "language": "python",
        "env": {"JUPYTERHUB_SERVICE_PREFIX": "/"}}))
    return copies


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("SKIP: Chromium is not installed (on Debian: apt-get install chromium); no browser check ran")
        return 0
    started = time.monotonic()
    ARTIFACTS.mkdir(exist_ok=True)
    plan = lesson_plan()
    drivers = {"01_async_fundamentals.ipynb": drive_measurement_panel, "09_performance_capstone.ipynb": drive_load_panel}
    uncovered = [lesson for lesson, (kind, _) in plan.items() if kind == "widgets" and lesson not in drivers]
    if uncovered:
        print(f"FAIL: lessons with widgets that no driver here exercises: {uncovered}", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="browser-check-"))
    copies = prepare(work, plan)
    lab_port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(work / "runtime"), "JUPYTER_PATH": str(work / "share"),
           "JUPYTER_CONFIG_DIR": str(work / "config"), "JUPYTERLAB_SETTINGS_DIR": str(work / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(work / "workspaces"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("JUPYTERHUB_SERVICE_PREFIX", None)
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser", "--ip=127.0.0.1", f"--port={lab_port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work / 'course'}",
         "--LabApp.expose_app_in_browser=True"],
        env=env, cwd=work, stdout=(work / "lab.log").open("w"), stderr=subprocess.STDOUT)
    browser = Browser(chromium, work)
    failures: list[str] = []
    try:
        lab_url = f"http://127.0.0.1:{lab_port}/"
        wait_http(f"{lab_url}api/status?token={token}", 60)
        wait_http(f"http://127.0.0.1:{browser.port}/json/version", 30)
        page = browser.new_page()
        page.send("Emulation.setDeviceMetricsOverride", width=1280, height=1000, deviceScaleFactor=1, mobile=False)
        page.send("Page.navigate", url=f"{lab_url}lab?token={token}")
        page.wait_for("!!(window.jupyterapp && window.jupyterapp.shell && document.querySelector('.jp-LabShell'))",
                      90, "JupyterLab to start")
        page.wait_for("window.jupyterapp.serviceManager.isReady", 90, "Lab's services")
        links: list[str] = []
        for copy in copies.values():
            lesson = copy.removeprefix("hub-")
            kind = plan[lesson][0]
            lesson = lesson.removeprefix("ask-")
            print(f"{copy}:")
            if open_notebook(page, copy) and platform.python_version() == LANGUAGE_INFO["version"]:
                failures.append(f"{copy} is marked as changed as soon as it opens")
            run_all(page, copy, timeout=360)   # without LABKIT_QUICK, on a busy machine
            if kind == "widgets":
                drivers[lesson](page, lesson)
            cut = len(nbformat.read(work / "course" / copy, as_version=4).cells)
            asked = [q for q in question_cells(nbformat.read(ROOT / "solutions" / lesson, as_version=4)) if q[0] < cut]
            if asked and (kind == "questions" or f"ask-{lesson}" not in plan) and not copy.startswith("hub-"):
                drive_questions(page, copy, asked)
            found = docs_links(page)
            if kind == "docs":
                if not found:
                    failures.append(f"{copy} displayed no docs link")
                page.screenshot(f"{copy[:-6]}-docs-link.png",
                                f"Array.from({NOTEBOOK}.node.querySelectorAll('.jp-OutputArea-output a'))"
                                ".find(a => /\\/docs$/.test(a.href)).closest('.jp-Cell')")
            if not copy.startswith("ask-"):   # its links are checked with the lesson's own copy
                links += found
            page.js(f"{NOTEBOOK}.dispose()")  # close the tab; its kernel and servers keep running
        proxied = [link for link in links if "/proxy/" in link]
        if not proxied or len(proxied) == len(links):
            failures.append(f"expected docs links both direct and through the proxy, got {links}")
        for n, link in enumerate(links):
            where = "proxy" if "/proxy/" in link else "direct"
            check_swagger(browser, link, f"docs-{n}-{where}.png")
            check_redoc(browser, re.sub(r"/docs$", "/redoc", link), f"redoc-{n}-{where}.png")
        outside = sorted({u for u in browser.requests if urllib.parse.urlsplit(u).scheme not in LOCAL_SCHEMES
                          and urllib.parse.urlsplit(u).hostname not in LOCAL_HOSTS})
        if outside:
            failures.append(f"the browser asked for addresses outside this machine: {outside[:10]}")
        print(f"network: {len(browser.requests)} requests, all to 127.0.0.1" if not outside else "")
        page.js("window.jupyterapp.serviceManager.sessions.shutdownAll()")
        if failures:
            raise AssertionError("\n".join(failures))
        print(f"PASS: widgets redraw, questions answer, docs pages (Swagger UI and ReDoc) work directly and "
              f"through the proxy, nothing left the machine "
              f"({time.monotonic() - started:.0f} s)")
        return 0
    except Exception as exc:  # noqa: BLE001 - report and keep the log
        print(f"FAIL: {exc}\n--- jupyter lab log ---\n{(work / 'lab.log').read_text()[-3000:]}", file=sys.stderr)
        return 1
    finally:
        browser.stop()
        stop(lab)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
