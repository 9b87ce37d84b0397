"""labkit.myshelf (the learner's package on disk) and labkit.outside (their app under the real uvicorn command)."""

from __future__ import annotations

import os
import sys
import textwrap
import time

import httpx
import psutil
import pytest
from IPython.core.interactiveshell import InteractiveShell

from labkit import myshelf, outside

APP = textwrap.dedent('''
    import os
    from fastapi import FastAPI

    app = FastAPI()
    hits = 0


    @app.get("/pid")
    async def pid() -> dict[str, int]:
        global hits
        hits += 1
        return {"pid": os.getpid(), "hits": hits}
''')


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv(myshelf.HOME_ENV, str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n == "myshelf" or n.startswith("myshelf.")]:
        del sys.modules[name]
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


def test_a_module_is_written_then_imported_fresh(home):
    path = myshelf.write_module("greet", "def greet():\n    return 'one'\n")
    assert path == home / "myshelf" / "greet.py" and (home / "myshelf" / "__init__.py").exists()
    assert "written by a `%%myshelf greet` cell" in path.read_text()
    assert myshelf.load_module("greet").greet() == "one"
    myshelf.write_module("greet.py", "def greet():\n    return 'two'\n")
    assert myshelf.load_module("greet").greet() == "two", "the second import must read the new file"


def test_a_syntax_error_keeps_the_last_good_file(home):
    myshelf.write_module("m", "x = 1\n")
    with pytest.raises(SyntaxError):
        myshelf.write_module("m", "x = (\n")
    assert myshelf.load_module("m").x == 1
    assert not [p for p in (home / "myshelf").iterdir() if p.name.endswith(".tmp")], "no temporary file left"


@pytest.mark.parametrize("bad", ["", "1app", "my-app", "_private", "a.b"])
def test_module_names_must_be_identifiers(home, bad):
    with pytest.raises(ValueError, match="module name"):
        myshelf.write_module(bad, "x = 1\n")


def test_another_myshelf_on_the_path_is_refused(home, tmp_path_factory, monkeypatch):
    other = tmp_path_factory.mktemp("other")
    (other / "myshelf").mkdir()
    (other / "myshelf" / "__init__.py").write_text("")
    (other / "myshelf" / "m.py").write_text("x = 'foreign'\n")
    myshelf.write_module("m", "x = 'mine'\n")
    assert myshelf.load_module("m").x == "mine"
    monkeypatch.syspath_prepend(str(other))  # now in front of the learner's folder
    with pytest.raises(ImportError, match="shadows yours"):
        myshelf.load_module("m")


def test_the_cell_magic_writes_imports_and_shares_names(home):
    shell = InteractiveShell.instance()
    try:
        myshelf.enable()
        myshelf.enable()  # twice is fine
        result = shell.run_cell("%%myshelf tools\nimport math\n\ndef area(r):\n    return math.pi * r * r\n")
        result.raise_error()
        assert shell.user_ns["area"](1) == pytest.approx(3.14159, rel=1e-4)
        assert shell.user_ns["area"].__module__ == "myshelf.tools"
        assert (home / "myshelf" / "tools.py").read_text().endswith("return math.pi * r * r\n")
        bad = shell.run_cell("%%myshelf tools\ndef area(r):\n    return undefined_name\nundefined_name\n")
        assert isinstance(bad.error_in_exec, NameError), "an error at import shows like any cell's error"
    finally:
        InteractiveShell.clear_instance()


def test_a_cell_that_imports_a_module_not_written_yet_is_saved_and_says_which(home, capsys):
    shell = InteractiveShell.instance()
    try:
        myshelf.enable()
        result = shell.run_cell("%%myshelf main\nfrom .details import fetch_details\n\napp = 1\n")
        result.raise_error()
        assert "it imports myshelf/details.py, which does not exist yet" in capsys.readouterr().out
        assert (home / "myshelf" / "main.py").exists()
        other = shell.run_cell("%%myshelf main\nimport myshelf_elsewhere\n")
        assert isinstance(other.error_in_exec, ModuleNotFoundError), "only a module of the package is expected"
        myshelf.write_module("details", "def fetch_details():\n    return 'mine'\n")
        shell.run_cell("%%myshelf main\nfrom .details import fetch_details\n\napp = fetch_details()\n").raise_error()
        assert shell.user_ns["app"] == "mine"
    finally:
        InteractiveShell.clear_instance()


def test_is_stub_tells_the_stub_from_an_answer(home):
    myshelf.write_module("ex", "def stub():\n    ### BEGIN SOLUTION\n    raise NotImplementedError()\n\n"
                               "def done():\n    return 1\n\nasync def astub(x):\n    raise NotImplementedError\n")
    module = myshelf.load_module("ex")
    assert myshelf.is_stub(module.stub) and myshelf.is_stub(module.astub)
    assert not myshelf.is_stub(module.done) and not myshelf.is_stub(len)


def test_part_uses_yours_or_says_which_stand_in(home, capsys):
    def stand_in():
        return "course"

    assert myshelf.part("fan", "f", lesson="03", stand_in=stand_in, what="one at a time")() == "course"
    assert "myshelf/fan.py does not exist yet" in capsys.readouterr().out
    myshelf.write_module("fan", "def f():\n    raise NotImplementedError()\n")
    assert myshelf.part("fan", "f", lesson="03", stand_in=stand_in)() == "course"
    assert "still the stub: using the course's stand-in for lesson 03's f" in capsys.readouterr().out
    myshelf.write_module("fan", "import nope_not_a_module\n")
    assert myshelf.part("fan", "f", lesson="03", stand_in=stand_in)() == "course"
    assert "fails to import (ModuleNotFoundError" in capsys.readouterr().out
    myshelf.write_module("fan", "def f():\n    return 'yours'\n")
    assert myshelf.part("fan", "f", lesson="03", stand_in=stand_in)() == "yours"
    assert "using your f from myshelf/fan.py (lesson 03)" in capsys.readouterr().out
    with pytest.raises(LookupError, match="no stand-in"):
        myshelf.part("fan", "g", lesson="03")


def _children_of(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.timeout(90)
def test_uvicorn_with_workers_runs_separate_processes_and_stops_them_all(tmp_path):
    (tmp_path / "pidapp.py").write_text(APP)
    server = outside.uvicorn("pidapp:app", name="test-workers", workers=2, cwd=tmp_path)
    try:
        assert server.command.startswith("uvicorn pidapp:app --host 127.0.0.1 --port ")
        assert "--workers 2" in server.command
        pids = set()
        with httpx.Client(base_url=server.url, timeout=5) as client:
            deadline = time.monotonic() + 30  # a second worker may still be importing the app
            while time.monotonic() < deadline:  # new connections spread over the workers as they come up
                pids.add(client.get("/pid", headers={"Connection": "close"}).json()["pid"])
                if len(pids) == 2:
                    break
        assert len(pids) == 2, f"two workers should answer, saw {pids}"
        assert server.pid not in pids, "the workers are children of the uvicorn command"
        family = _children_of(server.pid)
        assert len(family) >= 2
    finally:
        server.stop()
    _, alive = psutil.wait_procs(family, timeout=10)  # a killed worker needs a moment to be gone
    assert not server.running and not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive
    assert server not in outside.running()
    assert not outside._accepts("127.0.0.1", server.port), "the port is free again"


@pytest.mark.timeout(60)
def test_starting_the_same_name_again_stops_the_previous_process(tmp_path):
    (tmp_path / "pidapp.py").write_text(APP)
    first = outside.uvicorn("pidapp:app", name="test-rerun", cwd=tmp_path)
    second = outside.uvicorn("pidapp:app", name="test-rerun", cwd=tmp_path)
    try:
        assert not first.running and second.running
        assert outside.running().count(second) == 1 and first not in outside.running()
    finally:
        second.stop()


@pytest.mark.timeout(60)
def test_an_app_that_fails_to_import_reports_uvicorns_message(tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom at import')\n")
    with pytest.raises(RuntimeError, match="boom at import"):
        outside.uvicorn("broken:app", name="test-broken", cwd=tmp_path)
    assert not [s for s in outside.running() if s.name == "test-broken" and s.running]
    assert os.path.exists(tmp_path)


def test_app_parts_resolve_each_part_up_to_a_stage(home, capsys):
    assert myshelf.app_parts(2) == {}
    parts = myshelf.app_parts(3)
    assert set(parts) == {p.name for p in myshelf.PARTS if p.lesson == "03"}
    from bookshelf.fanout import fetch_details_sequential
    assert parts["fetch_details"] is fetch_details_sequential
    assert "myshelf/details.py does not exist yet" in capsys.readouterr().out
    myshelf.write_module("details", "async def fetch_details(upstreams, book):\n    return 'mine'\n")
    assert myshelf.app_parts(3)["fetch_details"].__module__ == "myshelf.details"


def test_every_part_names_a_stand_in_that_exists():
    import importlib
    for p in myshelf.PARTS:
        module, attribute = p.stand_in.split(":")
        assert callable(getattr(importlib.import_module(module), attribute)), p
