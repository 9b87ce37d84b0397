"""Lesson 01 exercises (filled in by that lesson)."""
