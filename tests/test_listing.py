"""labkit.listing: show() wraps long docstrings and comments between words, to the width it prints."""

from __future__ import annotations

import ast

from labkit.listing import WIDTH, reflow, source

LONG = "word " * 40

CODE = f'''def f(x):
    """{LONG.strip()}

    Second paragraph: {LONG.strip()}
    """
    # {LONG.strip()}
    return [x, "{LONG.strip()}"]  # a code line stays as it is
'''


def test_docstrings_and_comments_are_wrapped_between_words():
    out = reflow(CODE, 60)
    lines = out.splitlines()
    prose = [line for line in lines if "return" not in line]
    assert all(len(line) <= 60 for line in prose), [line for line in prose if len(line) > 60]
    assert all(not line.rstrip().endswith("wor") for line in lines)          # no word split at the edge
    assert " ".join(out.split()).count("word") == " ".join(CODE.split()).count("word")
    assert [line for line in lines if "return" in line] == [line for line in CODE.splitlines() if "return" in line]
    assert [line for line in lines if line.lstrip().startswith("#")][1].startswith("    # word")
    ast.parse(out)   # still valid Python


def test_short_code_is_unchanged():
    code = 'def g():\n    """Short."""\n    return 1\n'
    assert reflow(code) == code


def test_the_courses_own_listings_fit_the_width():
    import bookshelf.db

    too_wide = [line for line in reflow(source(bookshelf.db)).splitlines()
                if len(line) > WIDTH and line.lstrip().startswith(("#", '"""'))]
    assert not too_wide
