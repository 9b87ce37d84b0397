"""A real browser check: JupyterLab in headless Chromium renders a widget and opens the app's docs link.

Starts ``jupyter lab`` on a free port with a throwaway notebook, opens it in headless Chromium (driven
over the DevTools protocol with websocket-client, which Jupyter Server already depends on), runs all its
cells, then checks that

* the ipywidgets slider rendered (no "Error displaying widget"),
* the docs link that ``labkit.serve`` displays goes through jupyter-server-proxy and opens Swagger UI
  with the app's title (its ``openapi.json`` loaded).

Screenshots land in ``test-artifacts/``. Chromium comes from Debian (``apt-get install chromium``);
where it is not installed the check prints SKIP and exits 0.

    python scripts/browser_check.py
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import websocket

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
TITLE = "Browser check app"
CELLS = [
    f"""import os
os.environ["JUPYTERHUB_SERVICE_PREFIX"] = "/"   # this server's base URL: links go through its proxy
from fastapi import FastAPI
import labkit

app = FastAPI(title="{TITLE}")

@app.get("/hello")
async def hello() -> dict:
    return {{"hello": "browser"}}

server = labkit.serve(app, name="browser-check")
server.show_docs_link()""",
    """import ipywidgets
ipywidgets.IntSlider(value=7, description="rendered")""",
]


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


class Page:
    """The smallest DevTools-protocol client: send a command, wait for its answer."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def js(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"timed out after {timeout} s waiting for {what}")

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))
        print(f"screenshot: {path.relative_to(ROOT)}")


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("SKIP: Chromium is not installed (on Debian: apt-get install chromium); no browser check ran")
        return 0
    ARTIFACTS.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="browser-check-"))
    kernelspec = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS], metadata={"kernelspec": kernelspec})
    nbformat.write(nb, work / "check.ipynb")
    lab_port, cdp_port, token = free_port(), free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(work / "runtime"), "PYTHONPATH": str(ROOT)}
    env.pop("JUPYTERHUB_SERVICE_PREFIX", None)
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser", "--ip=127.0.0.1", f"--port={lab_port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True"],
        env=env, cwd=work, stdout=(work / "lab.log").open("w"), stderr=subprocess.STDOUT)
    browser = subprocess.Popen(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         f"--user-data-dir={work / 'chromium'}", f"--remote-debugging-port={cdp_port}", "--window-size=1280,900",
         "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lab_url = f"http://127.0.0.1:{lab_port}/"
        wait_http(f"{lab_url}api/status?token={token}", 60)
        wait_http(f"http://127.0.0.1:{cdp_port}/json/version", 30)
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{cdp_port}/json").read())
        page = Page(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        page.send("Page.enable")
        page.send("Page.navigate", url=f"{lab_url}lab/tree/check.ipynb?token={token}")
        page.wait_for("!!(window.jupyterapp && document.querySelector('.jp-Notebook .jp-CodeCell'))", 90,
                      "JupyterLab to open the notebook")
        notebook = "Array.from(window.jupyterapp.shell.widgets('main')).find(w => w.sessionContext)"
        page.wait_for(f"{notebook}?.sessionContext?.session?.kernel?.status === 'idle'", 90, "the kernel to be idle")
        # A headless window has no focus, so make the notebook the current widget before running it.
        page.js(f"window.jupyterapp.shell.activateById({notebook}.id)")
        page.js("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        slider = page.wait_for("!!document.querySelector('.jp-OutputArea-output .widget-slider, "
                               ".jp-OutputArea-output .widget-hslider')", 60, "the slider widget to render")
        link = page.wait_for("document.querySelector('.jp-OutputArea-output a[href*=\"/proxy/\"]')?.href", 30,
                             "the docs link")
        time.sleep(0.5)
        page.screenshot(ARTIFACTS / "browser-check-lab.png")
        text = page.js("document.body.innerText")
        if "Error displaying widget" in text or "model not found" in text:
            raise AssertionError("the widget did not render: 'Error displaying widget'")
        print(f"widget rendered: {bool(slider)}; docs link: {link}")
        page.send("Page.navigate", url=link)
        page.wait_for("!!document.getElementById('swagger-ui')", 30, "the Swagger UI page")
        # Swagger UI's script comes from a CDN (absent on a closed network): ask the page for the
        # openapi.json it names, from the page itself, as Swagger UI would.
        title = page.wait_for(
            "(async () => { const m = document.documentElement.innerHTML.match(/url: ['\"]([^'\"]+openapi\\.json)/);"
            " if (!m) return null; const r = await fetch(m[1]); return r.ok ? (await r.json()).info.title : null; })()",
            30, "the openapi.json that the docs page names")
        rendered = page.js("!!document.querySelector('.swagger-ui .info .title')")
        page.screenshot(ARTIFACTS / "browser-check-docs.png")
        if title != TITLE:
            raise AssertionError(f"the docs page's openapi.json has title {title!r}, not {TITLE!r}")
        print(f"docs page opened through the proxy; its openapi.json loaded ({title!r}); "
              f"Swagger UI drawn: {rendered} (needs the CDN its script comes from)")
        print("PASS: widget rendered and the docs link opened in a real browser")
        return 0
    except Exception as exc:  # noqa: BLE001 - report and keep the log
        print(f"FAIL: {exc}\n--- jupyter lab log ---\n{(work / 'lab.log').read_text()[-3000:]}", file=sys.stderr)
        return 1
    finally:
        for proc in (browser, lab):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
