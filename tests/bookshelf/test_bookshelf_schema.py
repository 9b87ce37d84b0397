"""The finished app against its own OpenAPI document: schemathesis with every check, then stateful
sequences (create, read, change, delete), in-process over ASGI. Zero failures, bounded time.

Deterministic (``derandomize``) so a run that passed passes again; raise ``max_examples`` locally to
search harder.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi

from bookshelf import Settings, create_app
from bookshelf.observability import instrument
from bookshelf.recommendations import add_recommendations

app = add_recommendations(instrument(create_app(Settings.ephemeral())))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
FAST = settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


@schema.parametrize()
@settings(FAST, max_examples=40)
def test_every_operation_conforms_to_the_schema(case):
    case.call_and_validate()


class Stateful(schema.as_state_machine()):  # type: ignore[misc]
    def teardown(self) -> None:
        # End the app's lifespan after each sequence: the next one starts from a fresh in-memory database,
        # so a sequence replayed by Hypothesis meets the same answers (no "flaky precondition").
        asgi.shutdown_lifespans()


TestStatefulSequences = Stateful.TestCase
TestStatefulSequences.settings = settings(FAST, max_examples=25, stateful_step_count=6)
