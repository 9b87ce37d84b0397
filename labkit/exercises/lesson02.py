"""Lesson 02 exercises (filled in by that lesson)."""
