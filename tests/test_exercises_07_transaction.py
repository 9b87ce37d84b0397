"""Exercise 7.4's check: a transaction that survives a cancellation at every await passes; the lesson's buggy
version (BEGIN before the ``try``), and the usual half-fixes, fail with a message that names the problem."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bookshelf.db import Database
from labkit.checks import run_check


@asynccontextmanager
async def fixed(db: Database) -> AsyncIterator[Any]:
    async with db._write_lock:
        try:
            await db.conn.execute("BEGIN IMMEDIATE")
            yield db.conn
            await db.conn.execute("COMMIT")
        except BaseException:
            await asyncio.shield(db._rollback())
            raise


@asynccontextmanager
async def own_rollback(db: Database) -> AsyncIterator[Any]:
    """Correct too: a try/finally that rolls back whatever is still open, without the package's helper."""
    async with db._write_lock:
        committed = False
        try:
            await db.conn.execute("BEGIN IMMEDIATE")
            yield db.conn
            await db.conn.execute("COMMIT")
            committed = True
        finally:
            if not committed:
                try:
                    await asyncio.shield(db.conn.execute("ROLLBACK"))
                except sqlite3.OperationalError:
                    if db.conn.in_transaction:
                        raise


@asynccontextmanager
async def begin_before_try(db: Database) -> AsyncIterator[Any]:
    """The lesson's bug: a cancellation at BEGIN skips the try that would roll it back."""
    async with db._write_lock:
        await db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db.conn
        except BaseException:
            await db.conn.execute("ROLLBACK")
            raise
        await db.conn.execute("COMMIT")


@asynccontextmanager
async def catches_exception_only(db: Database) -> AsyncIterator[Any]:
    async with db._write_lock:
        try:
            await db.conn.execute("BEGIN IMMEDIATE")
            yield db.conn
            await db.conn.execute("COMMIT")
        except Exception:
            await db._rollback()
            raise


@asynccontextmanager
async def strict_rollback(db: Database) -> AsyncIterator[Any]:
    async with db._write_lock:
        try:
            await db.conn.execute("BEGIN IMMEDIATE")
            yield db.conn
            await db.conn.execute("COMMIT")
        except BaseException:
            await db.conn.execute("ROLLBACK")   # fails when a cancelled COMMIT has already run
            raise


@asynccontextmanager
async def no_lock(db: Database) -> AsyncIterator[Any]:
    try:
        await db.conn.execute("BEGIN IMMEDIATE")
        yield db.conn
        await db.conn.execute("COMMIT")
    except BaseException:
        await asyncio.shield(db._rollback())
        raise


def verdict(fn: Any) -> Any:
    return run_check("07.transaction", {"transaction": fn})


def test_the_fixed_transaction_passes_in_both_styles():
    for answer in (fixed, own_rollback):
        result = verdict(answer)
        assert result.passed, (answer.__name__, result)


def test_the_package_transaction_passes():
    @asynccontextmanager
    async def package(db: Database) -> AsyncIterator[Any]:
        async with db.transaction() as conn:
            yield conn

    assert verdict(package).passed


def test_the_lessons_buggy_version_fails_at_begin():
    result = verdict(begin_before_try)
    assert result.status == "failed", result
    assert "BEGIN" in result.message and "stayed inside a transaction" in result.message, result


def test_half_fixes_fail_with_their_reason():
    result = verdict(catches_exception_only)
    assert result.status == "failed" and "CancelledError is not an Exception" in result.message, result
    result = verdict(strict_rollback)
    assert result.status == "failed" and "COMMIT" in result.message and "tolerate" in result.message, result
    result = verdict(no_lock)
    assert result.status == "failed" and "_write_lock" in result.message, result


def test_the_stub_and_a_plain_coroutine():
    @asynccontextmanager
    async def stub(db: Database) -> AsyncIterator[Any]:
        # YOUR CODE HERE
        raise NotImplementedError()

    assert verdict(stub).status == "not attempted"

    async def no_yield(db: Database) -> None:
        await db.conn.execute("BEGIN IMMEDIATE")
        await db.conn.execute("COMMIT")

    result = verdict(no_yield)
    assert result.status == "failed" and "asynccontextmanager" in result.message, result
