"""The app's dependencies are `async def` unless they block: a `def` dependency costs a thread-pool hop per request."""

import inspect

from fastapi.routing import APIRoute

from bookshelf import create_app
from bookshelf.settings import Settings


def _calls(dependant):
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def _api_routes(routes):
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # a router included with include_router
            yield from _api_routes(route.original_router.routes)


def test_no_route_runs_a_dependency_in_the_thread_pool(tmp_path):
    app = create_app(Settings(database=tmp_path / "shelf.db", simulate="inprocess"))
    checked = 0
    for route in _api_routes(app.routes):
        for call in _calls(route.dependant):
            checked += 1
            assert inspect.iscoroutinefunction(call) or inspect.isclass(call), (
                f"{route.path}: dependency {call.__qualname__} is a plain def (runs in the thread pool)")
    assert checked > 5
