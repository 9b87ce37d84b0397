"""Your own app as a real package on disk: the ``%%myshelf`` cell magic and the parts lessons reuse.

A cell that starts with ``%%myshelf app`` is a module of *your* package ``myshelf``: the cell's text is
written to ``myshelf/app.py`` next to your notebooks, imported fresh, and its names are put in the
notebook (so the cells below, and your self-checks, use exactly the code the file holds). The file is
what ``uvicorn myshelf.main:app`` runs outside Jupyter. Re-running the cell rewrites the file and
imports it again; edit the notebook, not the file, or your next run of the cell overwrites your edit.

    import labkit.myshelf
    labkit.myshelf.enable()           # once per kernel (the Setup cell does it); safe to repeat

Later lessons reuse a part you wrote earlier with :func:`part`: it says in one line whether it uses your
code or, when yours is missing or still a stub, the course's stand-in for that earlier part.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import inspect
import os
import sys
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["PACKAGE", "HOME_ENV", "home", "package_dir", "enable", "write_module", "load_module", "part",
           "app_target", "is_stub", "Part", "PARTS", "app_parts", "app_parts_quietly", "stand_in_parts"]

PACKAGE = "myshelf"
HOME_ENV = "MYSHELF_HOME"
"""Environment variable naming the folder that holds ``myshelf/`` (default: the kernel's working folder)."""

_INIT = '"""myshelf: the Bookshelf app you build in this course, one module per notebook cell."""\n'
_HEADER = ("# This file is written by a `%%myshelf {module}` cell of your notebook ({notebook}).\n"
           "# Change the cell and run it again: an edit made here is overwritten by the next run.\n\n")


def home() -> Path:
    """The folder that holds your package: ``$MYSHELF_HOME``, or the kernel's working folder."""
    return Path(os.environ.get(HOME_ENV) or os.getcwd()).resolve()


def package_dir() -> Path:
    """``<home>/myshelf``, created (with its ``__init__.py``) if it is not there yet."""
    folder = home() / PACKAGE
    folder.mkdir(parents=True, exist_ok=True)
    init = folder / "__init__.py"
    if not init.exists():
        _write_atomically(init, _INIT)
    return folder


def _write_atomically(path: Path, text: str) -> None:
    # Write a temporary file beside the target, then rename it over the target: a reader (another
    # kernel, uvicorn's reloader) sees the old file or the new one, never half of one.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_module_name(module: str) -> str:
    module = module.strip().removesuffix(".py")
    if not module.isidentifier() or module.startswith("_"):
        raise ValueError(f"%%myshelf needs a module name such as `app` or `fanout`, got {module!r}")
    return module


def write_module(module: str, source: str, *, notebook: str = "this notebook") -> Path:
    """Write ``source`` as ``myshelf/<module>.py`` (only if it compiles) and return the path."""
    module = _check_module_name(module)
    path = package_dir() / f"{module}.py"
    compile(source, str(path), "exec")  # a SyntaxError leaves the previous file as it was
    _write_atomically(path, _HEADER.format(module=module, notebook=notebook) + source)
    return path


def _forget(module: str) -> None:
    """Drop ``myshelf`` and its modules from the import cache, so the next import reads the files."""
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def load_module(module: str) -> Any:
    """Import ``myshelf.<module>`` fresh from the files on disk (never a cached or foreign copy)."""
    module = _check_module_name(module)
    folder = str(home())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    _forget(module)
    importlib.invalidate_caches()
    loaded = importlib.import_module(f"{PACKAGE}.{module}")
    where = Path(loaded.__file__ or "").resolve()
    if where.parent != package_dir().resolve():
        raise ImportError(f"`{PACKAGE}.{module}` was imported from {where}, not from {package_dir()}: "
                          f"another `{PACKAGE}` package shadows yours; remove it or set ${HOME_ENV}")
    return loaded


def _public_names(loaded: Any) -> dict[str, Any]:
    names = getattr(loaded, "__all__", None)
    if names is None:
        names = [n for n in vars(loaded) if not n.startswith("_")]
    return {n: getattr(loaded, n) for n in names}


def _myshelf_cell(line: str, cell: str) -> None:
    """``%%myshelf <module>``: write the cell to ``myshelf/<module>.py``, import it, share its names."""
    from IPython import get_ipython

    shell = get_ipython()
    notebook = Path(shell.user_ns.get("__session__") or os.environ.get("JPY_SESSION_NAME") or "this notebook").name
    path = write_module(line, cell, notebook=notebook)
    try:
        loaded = load_module(line)
    except NotImplementedError:
        # importing it ran into an exercise stub: the file is saved, nothing else is wrong yet
        print(f"saved {PACKAGE}/{path.name}, but importing it reaches an exercise that is still a stub "
              "(`raise NotImplementedError()`): finish that exercise, then run this cell again")
        return
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith(f"{PACKAGE}.") or exc.name == f"{PACKAGE}.{path.stem}":
            raise
        # it imports a module of your package that an earlier lesson's cell writes: not there yet
        print(f"saved {PACKAGE}/{path.name}, but it imports {exc.name.replace('.', '/')}.py, which does not "
              f"exist yet: run the lesson's `%%myshelf {exc.name.split('.', 1)[1]}` cell, then this one again")
        return
    names = _public_names(loaded)
    shell.user_ns.update(names)
    own = [n for n, v in names.items()
           if callable(v) and not isinstance(v, TypeVar) and getattr(v, "__module__", None) == loaded.__name__]
    print(f"saved {PACKAGE}/{path.name}" + (f"; defined here: {', '.join(own)}" if own else ""))


def enable() -> None:
    """Register the ``%%myshelf`` cell magic in this kernel (doing it again changes nothing)."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("%%myshelf is a notebook cell magic: call enable() inside Jupyter/IPython")
    shell.register_magic_function(_myshelf_cell, magic_kind="cell", magic_name=PACKAGE)


def is_stub(fn: Callable[..., Any]) -> bool:
    """True when ``fn``'s body is still the exercise stub (it raises ``NotImplementedError``)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(target, ast.Name) and target.id == "NotImplementedError":
                return True
    return False


def part(module: str, name: str, *, lesson: str, stand_in: Any = None, what: str = "") -> Any:
    """Your ``myshelf.<module>.<name>`` from lesson ``lesson``, or the course's stand-in, with one line saying which.

    Your part is used when the module imports and ``name`` is defined and is not the untouched stub.
    Otherwise the stand-in is used (``what`` says in a few words what the stand-in does), and only for
    that part: the rest of the app is still yours.
    """
    where = f"myshelf/{module}.py"
    try:
        found = getattr(load_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name not in (PACKAGE, f"{PACKAGE}.{module}"):
            why = f"{where} fails to import (ModuleNotFoundError: {exc})"
        else:
            why = f"{where} does not exist yet (run lesson {lesson}'s `%%myshelf {module}` cell)"
    except AttributeError:
        why = f"{where} has no `{name}`"
    except Exception as exc:  # the learner's module failed to import
        why = f"{where} fails to import ({type(exc).__name__}: {exc})"
    else:
        if not (callable(found) and is_stub(found)):
            print(f"using your {name} from {where} (lesson {lesson})")
            return found
        why = f"your {name} in {where} is still the stub"
    if stand_in is None:
        raise LookupError(f"{why}, and there is no stand-in for it: do lesson {lesson}'s exercise first")
    print(f"{why}: using the course's stand-in for lesson {lesson}'s {name}" + (f" ({what})" if what else ""))
    return stand_in


def _stubbed_parts(loaded: Any) -> list[str]:
    """The functions of your package that ``loaded`` uses and that are still exercise stubs."""
    return sorted({f"{v.__name__} ({v.__module__.replace('.', '/')}.py)" for v in vars(loaded).values()
                   if inspect.isfunction(v) and v.__module__.startswith(PACKAGE + ".") and is_stub(v)})


def app_target(module: str = "main", attr: str = "app", *, lesson: str, stand_in: str, what: str = "") -> str:
    """``"myshelf.main:app"`` for uvicorn when your app imports and is complete, else ``stand_in``, said in one line."""
    where = f"{PACKAGE}/{module}.py"
    try:
        loaded = load_module(module)
        getattr(loaded, attr)
    except NotImplementedError:
        why = f"{where} still reaches an exercise stub"
    except ModuleNotFoundError as exc:
        why = (f"{where} does not exist yet" if exc.name in (PACKAGE, f"{PACKAGE}.{module}")
               else f"{where} fails to import (ModuleNotFoundError: {exc})")
    except AttributeError:
        why = f"{where} has no `{attr}`"
    except Exception as exc:
        why = f"{where} fails to import ({type(exc).__name__}: {exc})"
    else:
        stubs = _stubbed_parts(loaded)
        if not stubs:
            print(f"serving your app: {PACKAGE}.{module}:{attr}")
            return f"{PACKAGE}.{module}:{attr}"
        why = f"{where} uses parts that are still stubs: {', '.join(stubs)}"
    print(f"{why}: serving the course's stand-in for lesson {lesson}'s app instead" + (f" ({what})" if what else ""))
    return stand_in


@dataclass(frozen=True)
class Part:
    """A piece of the app an exercise has you write: where yours lives, and what stands in until it does."""

    name: str          # the name ``bookshelf.create_app(parts=...)`` knows it by
    lesson: str        # the lesson whose exercise writes it
    module: str        # your module: myshelf/<module>.py
    stand_in: str      # "module:attribute" of the course's stand-in (never the answer)
    what: str          # what the stand-in does, in a few words
    function: str = ""  # the name your module defines, when it is not ``name``

    def stand_in_function(self) -> Any:
        """The course's stand-in itself."""
        module, attribute = self.stand_in.split(":")
        return getattr(importlib.import_module(module), attribute)

    def resolve(self) -> Any:
        """Your function, or the stand-in (one line says which)."""
        return part(self.module, self.function or self.name, lesson=self.lesson, stand_in=self.stand_in_function(),
                    what=self.what)


PARTS: tuple[Part, ...] = (
    Part("fetch_details", "03", "details", "bookshelf.fanout:fetch_details_sequential",
         "it asks the services one after another"),
    Part("with_retries", "03", "retries", "labkit.standins:call_once", "one attempt, never a retry"),
    Part("search_titles", "04", "search", "labkit.standins:search_exact_case",
         "it matches the title's case exactly"),
    Part("add_to_shelf", "04", "shelf", "labkit.standins:add_as_want_to_read",
         "every book goes in as want_to_read, without its note"),
    Part("move_between_lists", "04", "moves", "labkit.standins:move_nothing",
         "it reads the entries back and moves nothing"),
    Part("offload", "05", "offload", "labkit.standins:run_inline",
         "it runs the work on the event loop, blocking it"),
    Part("refresher_stop", "06", "refresher", "labkit.standins:stop_now",
         "it cancels the workers at once: nothing queued is finished", function="stop"),
)
"""Every part of the app a learner writes, in lesson order (later lessons add theirs here)."""


def app_parts(stage: int) -> dict[str, Any]:
    """``{name: function}`` for every part written in lessons up to ``stage``: yours, or its stand-in."""
    return {p.name: p.resolve() for p in PARTS if int(p.lesson) <= stage}


def stand_in_parts(stage: int) -> dict[str, Any]:
    """``{name: stand-in}`` for every part of lessons up to ``stage``: the app with none of your parts."""
    return {p.name: p.stand_in_function() for p in PARTS if int(p.lesson) <= stage}


def app_parts_quietly(stage: int) -> tuple[dict[str, Any], str]:
    """:func:`app_parts` without printing: the parts, and one line saying whose each one is (for a check)."""
    with contextlib.redirect_stdout(io.StringIO()):
        parts = app_parts(stage)
    whose = []
    for p in PARTS:
        if p.name in parts:
            module, attribute = p.stand_in.split(":")
            stand_in = getattr(importlib.import_module(module), attribute)
            whose.append(f"{p.name} {'(stand-in)' if parts[p.name] is stand_in else f'(yours, myshelf/{p.module}.py)'}")
    return parts, ", ".join(whose)
