"""Lesson 06's checks pass correct answers and reject the typical wrong ones, every time."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from labkit.checks import run_check

# -- 06.reserve_copy -------------------------------------------------------------------------------


async def reserve_locked(stock, book_id):
    async with stock.lock:
        if stock.available[book_id] <= 0:
            return False
        await stock.audit(book_id)
        stock.available[book_id] -= 1
        return True


async def reserve_racy(stock, book_id):
    n = stock.available[book_id]
    if n <= 0:
        return False
    await stock.audit(book_id)
    stock.available[book_id] = n - 1
    return True


async def reserve_rereads(stock, book_id):
    if stock.available[book_id] <= 0:
        return False
    await stock.audit(book_id)
    stock.available[book_id] -= 1
    return True


async def reserve_without_audit(stock, book_id):
    if stock.available[book_id] <= 0:
        return False
    stock.available[book_id] -= 1
    return True


async def reserve_audit_after(stock, book_id):
    if stock.available[book_id] <= 0:
        return False
    stock.available[book_id] -= 1  # no await between the read and the write: atomic, but audited too late
    await stock.audit(book_id)
    return True


def test_reserve_copy_accepts_the_locked_version():
    for _ in range(3):
        assert run_check("06.reserve_copy", {"reserve_copy": reserve_locked}).passed


def test_reserve_copy_rejects_the_racy_versions_every_time():
    for wrong in (reserve_racy, reserve_rereads):
        for _ in range(3):
            result = run_check("06.reserve_copy", {"reserve_copy": wrong})
            assert result.status == "failed" and "oversold" in result.message, result


def test_reserve_copy_rejects_dropping_or_moving_the_audit():
    result = run_check("06.reserve_copy", {"reserve_copy": reserve_without_audit})
    assert result.status == "failed" and "awaited 0 time" in result.message
    result = run_check("06.reserve_copy", {"reserve_copy": reserve_audit_after})
    assert result.status == "failed" and "before" in result.message


# -- 06.worker_pool --------------------------------------------------------------------------------


async def pool_good(items, handler, workers):
    queue = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    failed = []

    async def work():
        while True:
            item = await queue.get()
            try:
                await handler(item)
            except Exception:
                failed.append(item)
            finally:
                queue.task_done()

    tasks = [asyncio.create_task(work()) for _ in range(workers)]
    await queue.join()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return failed


async def pool_semaphore(items, handler, workers):
    sem = asyncio.Semaphore(workers)
    failed = []

    async def one(item):
        async with sem:
            try:
                await handler(item)
            except Exception:
                failed.append(item)

    await asyncio.gather(*(one(i) for i in items))
    return failed


async def pool_leaves_workers(items, handler, workers):
    queue = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    failed = []

    async def work():
        while True:
            item = await queue.get()
            try:
                await handler(item)
            except Exception:
                failed.append(item)
            finally:
                queue.task_done()

    for _ in range(workers):
        asyncio.create_task(work())
    await queue.join()
    return failed


async def pool_no_task_done_on_error(items, handler, workers):
    queue = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def work():
        while True:
            item = await queue.get()
            await handler(item)  # an error kills the worker and task_done is never called
            queue.task_done()

    tasks = [asyncio.create_task(work()) for _ in range(workers)]
    await queue.join()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return []


def test_worker_pool_accepts_a_queue_with_workers():
    for _ in range(2):
        assert run_check("06.worker_pool", {"process_all": pool_good}).passed


def test_worker_pool_rejects_a_task_per_item_and_leftover_workers():
    result = run_check("06.worker_pool", {"process_all": pool_semaphore})
    assert result.status == "failed" and "different tasks" in result.message, result
    result = run_check("06.worker_pool", {"process_all": pool_leaves_workers})
    assert result.status == "failed" and "still pending" in result.message, result


def test_worker_pool_reports_a_worker_killed_by_an_error():
    result = run_check("06.worker_pool", {"process_all": pool_no_task_done_on_error})
    assert result.status == "failed" and "task_done" in result.message, result


# -- 06.graceful_stop ------------------------------------------------------------------------------


async def stop_good(self, drain: float = 2.0) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(self.queue.join(), drain)
    for task in self._tasks:
        task.cancel()
    await asyncio.gather(*self._tasks, return_exceptions=True)
    self._tasks = []


async def stop_cancel_at_once(self, drain: float = 2.0) -> None:
    for task in self._tasks:
        task.cancel()
    await asyncio.gather(*self._tasks, return_exceptions=True)


async def stop_without_awaiting(self, drain: float = 2.0) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(self.queue.join(), drain)
    for task in self._tasks:
        task.cancel()


async def stop_without_limit(self, drain: float = 2.0) -> None:
    await self.queue.join()
    for task in self._tasks:
        task.cancel()
    await asyncio.gather(*self._tasks, return_exceptions=True)


async def stop_gather_raises(self, drain: float = 2.0) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(self.queue.join(), drain)
    for task in self._tasks:
        task.cancel()
    await asyncio.gather(*self._tasks)


def test_graceful_stop_accepts_the_package_version_and_a_copy():
    from bookshelf.jobs import RatingsRefresher

    assert run_check("06.graceful_stop", {"stop": RatingsRefresher.stop}).passed
    assert run_check("06.graceful_stop", {"stop": stop_good}).passed


def test_graceful_stop_rejects_the_typical_mistakes():
    expected = {stop_cancel_at_once: "never finished", stop_without_awaiting: "still running",
                stop_without_limit: "time limit", stop_gather_raises: "CancelledError"}
    for wrong, words in expected.items():
        result = run_check("06.graceful_stop", {"stop": wrong})
        assert result.status == "failed" and words in result.message, (wrong.__name__, result)
    assert not [t for t in threading.enumerate() if t.name == "labkit-check" and t.is_alive()]
