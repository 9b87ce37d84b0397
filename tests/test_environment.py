"""labkit.environment: the lesson 00 report names each problem and how to fix it."""

from __future__ import annotations

from importlib import metadata

from labkit.environment import pinned_versions, report


def test_pins_are_read_from_requirements(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("# comment\nfastapi==0.165.0  # lesson 02\njupyterlab_widgets==3.0.17\n-e .\nfoo>=1\n")
    assert pinned_versions(req) == {"fastapi": "0.165.0", "jupyterlab-widgets": "3.0.17"}


def test_report_flags_missing_and_mismatched_packages():
    have = metadata.version("httpx")
    items = {i.name: i for i in report({"httpx": have, "fastapi": "0.0.1", "surely-not-installed-pkg": "1.0"})}
    assert items["httpx"].ok
    assert not items["fastapi"].ok and "tested with 0.0.1" in items["fastapi"].detail
    assert not items["surely-not-installed-pkg"].ok and "not installed" in items["surely-not-installed-pkg"].detail
    assert items["python"].ok
    assert items["kernel server"].ok, items["kernel server"].detail


def test_the_course_pins_match_this_environment():
    bad = [str(i) for i in report() if not i.ok]
    assert not bad, "\n".join(bad)


def test_long_names_keep_the_columns_aligned(capsys, monkeypatch):
    from labkit import environment

    items = [environment.Item("python", True, "3.11"), environment.Item("jupyter-server-proxy", True, "4.6.0")]
    monkeypatch.setattr(environment, "report", lambda pins=None: items)
    environment.check_environment()
    lines = capsys.readouterr().out.splitlines()[:2]
    assert lines[0].index("3.11") == lines[1].index("4.6.0"), lines


def test_names_longer_than_any_pin_keep_the_columns_aligned(capsys, monkeypatch):
    from labkit import environment

    long = "a-package-with-a-very-long-name-indeed"   # longer than NAME_WIDTH
    items = [environment.Item("python", True, "3.11"), environment.Item(long, False, "not installed"),
             environment.Item("kernel server", True, "started")]
    monkeypatch.setattr(environment, "report", lambda pins=None: items)
    environment.check_environment()
    lines = capsys.readouterr().out.splitlines()[:3]
    assert lines[0].index("3.11") == lines[1].index("not installed") == lines[2].index("started"), lines
    assert long + "  not installed" in lines[1]
    assert str(items[1]).index("not installed") > len(long)


def test_the_marks_are_plain_text_that_every_font_draws():
    from labkit import environment

    text = environment.format_report([environment.Item("python", True, "3.11"), environment.Item("x", False, "bad")])
    assert text.startswith("✓ python") and "\n✗ x" in text
    # No emoji (U+1F000 and up, U+2600-U+26FF symbols, U+2705/U+274C/U+23F3/U+231B, variation selectors).
    assert not [c for c in text if ord(c) >= 0x1F000 or 0x2600 <= ord(c) <= 0x26FF or c in "\u2705\u274c\u23f3\u231b\ufe0f"]
