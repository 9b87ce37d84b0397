"""The course website in a real browser: every page opens, its figures render, its links lead somewhere.

Serves the built site (``python -m authoring.site build`` writes ``site/build/html``) on a free local port and
opens every page in headless Chromium (driven as ``scripts/browser_check.py`` drives it, over the DevTools
protocol), checking that:

* every image has loaded and has a width (``naturalWidth > 0``): the lessons' charts render;
* every link inside the site leads to a page or file that exists, and its ``#anchor`` to an element there;
* every lesson page has its sidebar, previous / next links, time and objectives box, a *Launch on Binder*
  button for that lesson and a *Download notebook* button for its learner edition;
* the full-text search works offline: searching for a word of the lessons lists lesson pages;
* on a phone-sized screen (390 px) no page is wider than the screen: wide tables and code scroll in their box;
* no answer of an exercise is on any page (``authoring.site.answers_in``);
* nothing is fetched from outside this machine (every other host resolves to nothing, and the browser's
  network log must name only 127.0.0.1): fonts, scripts and icons are bundled.

Screenshots of the landing page and of one lesson (its top, a chart, an exercise), at desktop and phone
widths, land in ``test-artifacts/site/``. Without Chromium (``apt-get install chromium``; Google Chrome will do) it prints SKIP
and exits 0.

    python scripts/site_check.py              # check site/build/html
    python scripts/site_check.py --html DIR   # check another build
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from browser_check import LOCAL_HOSTS, LOCAL_SCHEMES, Browser, Page, wait_http  # noqa: E402

from authoring.site import BUILD, answers_in  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "site"
DESKTOP, PHONE = (1280, 900), (390, 844)
SCREENSHOT_LESSON = "01_async_fundamentals.html"  # its measured charts are the point of the site

LOADED = """new Promise(resolve => {
    const done = () => Promise.all(Array.from(document.images).map(i => i.complete ? null :
        new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); }))).then(resolve);
    if (document.readyState === 'complete') done(); else addEventListener('load', done);
})"""
PAGE_FACTS = """(() => ({
    url: location.href,
    title: document.title,
    images: Array.from(document.images).map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth,
                                                  complete: i.complete})),
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    prevnext: !!document.querySelector('.prev-next-area, .footer-article-items a.left-prev, a.right-next, a.left-prev'),
    sidebar: document.querySelectorAll('.bd-sidebar-primary a.reference').length,
    binder: document.querySelector('.btn-launch-binder-button')?.href || '',
    download: document.querySelector('.btn-download-notebook-button')?.href || '',
    box: !!document.querySelector('.lesson-box'),
}))()"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def serve(html_dir: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, name="site-check-server", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def open_page(page: Page, url: str) -> dict:
    page.send("Page.navigate", url=url)
    page.wait_for("document.readyState === 'complete'", 30, f"{url} to load")
    page.js(LOADED)
    return page.js(PAGE_FACTS)


def screen(page: Page, size: tuple[int, int], mobile: bool) -> None:
    page.send("Emulation.setDeviceMetricsOverride", width=size[0], height=size[1], deviceScaleFactor=1, mobile=mobile)


def screenshot(page: Page, name: str) -> None:
    time.sleep(0.5)  # the theme lays out once more after load
    (ARTIFACTS / name).write_bytes(base64.b64decode(page.send("Page.captureScreenshot", format="png")["data"]))
    print(f"  screenshot: test-artifacts/site/{name}")


def check_site(page: Page, base: str, html_dir: Path) -> list[str]:
    """Open every page at desktop width, then at phone width; returns the problems found."""
    failures: list[str] = []
    pages = sorted(p.relative_to(html_dir).as_posix() for p in html_dir.rglob("*.html"))
    anchors: dict[str, set[str]] = {}
    wanted: list[tuple[str, str]] = []  # (page that links, link)
    figures = 0
    screen(page, DESKTOP, mobile=False)
    for name in pages:
        facts = open_page(page, base + name)
        anchors[name] = set(facts["ids"])
        for image in facts["images"]:
            if not image["complete"] or image["width"] == 0:
                failures.append(f"{name}: an image did not render: {image['src'][:100]}")
            figures += 1
        wanted += [(name, link) for link in facts["links"] if link.startswith(base)]
        if name[:2].isdigit():  # a lesson page
            notebook = name.replace(".html", ".ipynb")
            if not facts["prevnext"] or facts["sidebar"] < 2:
                failures.append(f"{name}: no previous/next links or no sidebar")
            if not facts["binder"].startswith("https://mybinder.org/") or notebook not in urllib.parse.unquote(facts["binder"]):
                failures.append(f"{name}: no Binder button for {notebook} (found {facts['binder']!r})")
            if not facts["download"].endswith(f"/notebooks/{notebook}"):
                failures.append(f"{name}: no download button for the learner's {notebook}")
            if not facts["box"]:
                failures.append(f"{name}: no time / objectives box")
            if facts["download"]:
                wanted.append((name, facts["download"]))
    for name, link in wanted:
        parts = urllib.parse.urlsplit(link)
        target = urllib.parse.unquote(parts.path[len(urllib.parse.urlsplit(base).path):]) or "index.html"
        if target.endswith("/"):
            target += "index.html"
        if not (html_dir / target).is_file():
            failures.append(f"{name}: broken link to {target}")
        elif parts.fragment and target in anchors and urllib.parse.unquote(parts.fragment) not in anchors[target]:
            failures.append(f"{name}: link to {target}#{parts.fragment}, which has no such anchor")
    print(f"  {len(pages)} pages, {figures} images rendered, {len(wanted)} internal links followed")
    screen(page, PHONE, mobile=True)
    for name in pages:
        facts = open_page(page, base + name)
        if facts["overflow"] > 1:
            failures.append(f"{name}: {facts['overflow']} px wider than a {PHONE[0]} px phone screen")
    print(f"  every page checked at {PHONE[0]} px for horizontal overflow")
    return failures


def check_search(page: Page, base: str, html_dir: Path) -> list[str]:
    if not (html_dir / "search.html").is_file():
        return ["the site has no search page"]
    screen(page, DESKTOP, mobile=False)
    page.send("Page.navigate", url=f"{base}search.html?q=gather")
    try:
        page.wait_for("document.querySelectorAll('#search-results li').length", 30, "search results for 'gather'")
    except TimeoutError as exc:
        return [f"search: {exc}"]
    time.sleep(0.5)  # results arrive one page at a time
    hits = page.js("document.querySelectorAll('#search-results li').length")
    names = page.js("Array.from(document.querySelectorAll('#search-results li a')).map(a => a.textContent).join(' | ')")
    print(f"  search for 'gather': {hits} results ({names[:120]})")
    return [] if any(c.isdigit() for c in names) else [f"searching 'gather' found no lesson: {names!r}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=BUILD / "html", help="the built site (default site/build/html)")
    args = parser.parse_args(argv)
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if chromium is None:
        print("SKIP: Chromium is not installed (on Debian: apt-get install chromium); the site was not checked")
        return 0
    if not (args.html / "index.html").is_file():
        print(f"FAIL: {args.html} holds no site: run `python -m authoring.site build` first", file=sys.stderr)
        return 1
    started = time.monotonic()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="site-check-"))
    server, base = serve(args.html)
    browser = Browser(chromium, work)
    try:
        wait_http(f"http://127.0.0.1:{browser.port}/json/version", 30)
        page = browser.new_page()
        failures = check_site(page, base, args.html)
        failures += check_search(page, base, args.html)
        lessons = sorted(p.name for p in args.html.glob("[0-9][0-9]_*.html"))
        lesson = SCREENSHOT_LESSON if SCREENSHOT_LESSON in lessons else (lessons or ["index.html"])[0]
        for size, mobile, kind in ((DESKTOP, False, "desktop"), (PHONE, True, "phone")):
            screen(page, size, mobile)
            open_page(page, base)
            screenshot(page, f"landing-{kind}.png")
            open_page(page, base + lesson)
            screenshot(page, f"lesson-{kind}.png")  # its title, launch buttons and objectives box
            for part, selector in (("chart", ".cell_output img"), ("exercise", ".run-it-yourself")):
                page.js(f"document.querySelector('{selector}')?.scrollIntoView({{block: 'center'}})")
                screenshot(page, f"lesson-{part}-{kind}.png")
        failures += [f"an exercise answer is on the site: {leak}" for leak in answers_in(args.html)]
        outside = sorted({u for u in browser.requests if urllib.parse.urlsplit(u).scheme not in LOCAL_SCHEMES
                          and urllib.parse.urlsplit(u).hostname not in LOCAL_HOSTS})
        if outside:
            failures.append(f"the browser asked for addresses outside this machine: {outside[:10]}")
        else:
            print(f"  network: {len(browser.requests)} requests, all to 127.0.0.1")
        if failures:
            print("FAIL:\n  " + "\n  ".join(failures), file=sys.stderr)
            return 1
        print(f"PASS: every page of the site renders, links and searches offline, no answer on it "
              f"({time.monotonic() - started:.0f} s)")
        return 0
    finally:
        browser.stop()
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
