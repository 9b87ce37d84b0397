"""The app's docs reach the learner's browser through jupyter-server-proxy, as on Binder or JupyterHub.

A real ``jupyter server`` (with jupyter-server-proxy) runs under a hub-like base URL; a kernel started
through its REST API serves a FastAPI app with ``labkit.serve`` while ``JUPYTERHUB_SERVICE_PREFIX`` is
set; the test then fetches Swagger UI and the ``openapi.json`` that page asks for, through the Jupyter
server, exactly as a browser would.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from apps import ROOT

pytest.importorskip("jupyter_server_proxy", reason="jupyter-server-proxy is not installed")
websocket = pytest.importorskip("websocket", reason="websocket-client (a jupyter_server dependency) is missing")

BASE_URL = "/user/learner/"  # what JupyterHub gives a user's server; Binder's looks the same

KERNEL_CODE = f"""
import os
os.environ["JUPYTERHUB_SERVICE_PREFIX"] = {BASE_URL!r}
from fastapi import FastAPI
import labkit

app = FastAPI(title="proxy check")

@app.get("/hello")
async def hello() -> dict:
    return {{"hello": "through the proxy"}}

server = labkit.serve(app, name="proxy-check")
import httpx
direct = httpx.get(server.url + "/hello").status_code
print("SERVED", server.port, server.docs_url, direct)
"""


@dataclass
class Jupyter:
    url: str  # http://127.0.0.1:<port>/user/learner/
    token: str

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"token {self.token}"}, timeout=10)


@pytest.fixture
def jupyter(tmp_path: Path) -> Iterator[Jupyter]:
    token = secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("JUPYTERHUB_SERVICE_PREFIX", None)
    log = (tmp_path / "jupyter.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--allow-root", "--no-browser", "--ip=127.0.0.1",
         "--port=0", f"--IdentityProvider.token={token}",  # port 0: the OS picks a free one, no race
         f"--ServerApp.base_url={BASE_URL}", f"--ServerApp.root_dir={tmp_path}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        info = tmp_path / "runtime" / f"jpserver-{proc.pid}.json"  # written once the server listens
        port = None
        while port is None:
            if proc.poll() is not None:
                pytest.fail("jupyter server exited:\n" + (tmp_path / "jupyter.log").read_text())
            if time.monotonic() > deadline:
                pytest.fail("jupyter server did not start within 30 s:\n" + (tmp_path / "jupyter.log").read_text())
            try:
                port = json.loads(info.read_text())["port"]
            except (OSError, ValueError):  # not there yet, or still being written
                time.sleep(0.1)
        server = Jupyter(f"http://127.0.0.1:{port}{BASE_URL}", token)
        with server.client() as client:
            while True:
                if proc.poll() is not None:
                    pytest.fail("jupyter server exited:\n" + (tmp_path / "jupyter.log").read_text())
                try:
                    if client.get("api/status").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail("jupyter server did not answer within 30 s:\n" + (tmp_path / "jupyter.log").read_text())
                time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def execute(jupyter: Jupyter, kernel_id: str, code: str, timeout: float = 30) -> str:
    """Run ``code`` in the kernel over its websocket; return its stdout (fail on an error)."""
    ws_url = jupyter.url.replace("http://", "ws://") + f"api/kernels/{kernel_id}/channels"
    ws = websocket.create_connection(ws_url, header=[f"Authorization: token {jupyter.token}"], timeout=timeout)
    try:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": uuid.uuid4().hex,
                       "date": "", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                pytest.fail("kernel error:\n" + "\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)
        pytest.fail(f"kernel did not finish within {timeout} s; output so far: {''.join(out)!r}")
    finally:
        ws.close()


@pytest.mark.timeout(120)
def test_swagger_and_openapi_load_through_the_jupyter_proxy(jupyter: Jupyter):
    with jupyter.client() as client:
        kernel_id = client.post("api/kernels", json={"name": "python3"}).json()["id"]
        try:
            _, port, docs_url, direct = execute(jupyter, kernel_id, KERNEL_CODE).split()
            # The link labkit shows the learner goes through the proxy; the kernel still calls the direct URL.
            assert docs_url == f"{BASE_URL}proxy/{port}/docs"
            assert direct == "200"

            origin = jupyter.url[: -len(BASE_URL)]
            docs = client.get(origin + docs_url)
            assert docs.status_code == 200, docs.text[:500]
            assert "swagger-ui" in docs.text
            match = re.search(r"""url: ['"]([^'"]+openapi\.json)['"]""", docs.text)
            assert match, f"no openapi.json URL in the Swagger page:\n{docs.text[:1500]}"
            openapi_url = match.group(1)
            assert openapi_url == f"{BASE_URL}proxy/{port}/openapi.json", "Swagger would show 'Not Found /openapi.json'"

            schema = client.get(origin + openapi_url)
            assert schema.status_code == 200, schema.text[:500]
            assert "/hello" in schema.json()["paths"]
            # "Try it out" calls the server URL the schema names: that must go through the proxy too.
            server_url = schema.json()["servers"][0]["url"]
            assert client.get(origin + server_url + "/hello").json() == {"hello": "through the proxy"}

            assert execute(jupyter, kernel_id, "server.stop(); print('STOPPED', server.running)").split() == [
                "STOPPED", "False"]
        finally:
            client.delete(f"api/kernels/{kernel_id}")
