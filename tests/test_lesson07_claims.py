"""What lesson 07 teaches about context variables, threads and failed background tasks holds on the pinned
versions: ``asyncio.to_thread`` and Starlette's ``run_in_threadpool`` copy the caller's context into the worker
thread and ``loop.run_in_executor`` does not; a failed task nobody awaits is reported only as "Task exception was
never retrieved", outside the request's context, while a done-callback logs it with the request's id."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging

from starlette.concurrency import run_in_threadpool

rid: contextvars.ContextVar[str] = contextvars.ContextVar("lesson07_claims_rid", default="-")


def test_to_thread_and_run_in_threadpool_copy_the_context_run_in_executor_does_not():
    async def main() -> dict[str, str]:
        rid.set("req-1")
        loop = asyncio.get_running_loop()
        return {"to_thread": await asyncio.to_thread(rid.get),
                "run_in_threadpool": await run_in_threadpool(rid.get),
                "run_in_executor": await loop.run_in_executor(None, rid.get),
                "run_in_executor + copy_context": await loop.run_in_executor(None, contextvars.copy_context().run,
                                                                             rid.get)}

    assert asyncio.run(main()) == {"to_thread": "req-1", "run_in_threadpool": "req-1", "run_in_executor": "-",
                                   "run_in_executor + copy_context": "req-1"}


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((rid.get(), record.getMessage().splitlines()[0]))


def failed_task_logs(log_failures: bool) -> list[tuple[str, str]]:
    handler = Records()
    loggers = [logging.getLogger("asyncio"), logging.getLogger("lesson07_claims")]
    for logger in loggers:
        logger.addHandler(handler)

    def log_failure(task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            logging.getLogger("lesson07_claims").error("background task failed", exc_info=task.exception())

    async def main() -> None:
        async def send() -> None:
            await asyncio.sleep(0)
            raise ConnectionError("down")

        async def request() -> None:
            rid.set("req-bg")
            task = asyncio.create_task(send())
            if log_failures:
                task.add_done_callback(log_failure)

        await asyncio.create_task(request())
        for _ in range(5):
            await asyncio.sleep(0)
        gc.collect()

    try:
        asyncio.run(main())
        gc.collect()
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    return handler.seen


def test_a_failed_task_nobody_awaits_is_reported_late_and_without_the_request_id():
    assert failed_task_logs(log_failures=False) == [("-", "Task exception was never retrieved")]


def test_a_done_callback_logs_the_failure_with_the_request_id_and_retrieves_it():
    assert failed_task_logs(log_failures=True) == [("req-bg", "background task failed")]
