#!/usr/bin/env python3
"""pthrun serve's page in a real browser: headless Chromium loads GET /, submits a prompt (the
page's ?autorun=1 presses Generate), and the streamed completion appears in the page; a
screenshot is saved (build/serve-page.png, or $PTHRUN_SCREENSHOT) for a person to look at.

Chromium comes from Debian (third_party/install-deps.sh --test). Without it the test says so and
is skipped, except under CI=true, where that is a failure. Every browser run is bounded.
"""
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_harness import HOST, PTHRUN, Server, test_model  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    if os.environ.get("CI") == "true":
        raise SystemExit("error: chromium is missing; run third_party/install-deps.sh --test")
    print("SKIPPING the page test: chromium is not installed (third_party/install-deps.sh --test)", file=sys.stderr)


def chromium(url, *args, budget_ms=20000):
    command = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               "--window-size=1280,720", f"--virtual-time-budget={budget_ms}", *args, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@unittest.skipIf(CHROMIUM is None, "chromium is not installed")
class PageTest(unittest.TestCase):
    def test_page_streams_a_completion_and_charts_memory(self):
        with Server(test_model(), "--name", "page-test") as server:
            url = f"http://{HOST}:{server.port}/?prompt=Every%20effort%20moves%20you&max_tokens=24&autorun=1"
            completion = ""
            for attempt in range(3):  # the budget may end before the first chunk on a loaded machine
                dom = chromium(url, "--dump-dom").stdout
                m = re.search(r'<span id="completion">(.*?)</span>', dom, re.S)
                completion = m.group(1) if m else ""
                if completion.strip():
                    break
            self.assertTrue(completion.strip(), dom[-2000:])
            self.assertIn("page-test on cpu", dom)  # /v1/models, fetched by the page
            self.assertIn('<span class="prompt">Every effort moves you</span>', dom)
            # The server saw the page's request.
            self.assertGreaterEqual(server.metric("pthrun_requests_total", endpoint="/v1/completions", status="200"), 1)
            self.assertGreaterEqual(server.metric("pthrun_requests_total", endpoint="/metrics", status="200"), 1)

            shot = os.environ.get("PTHRUN_SCREENSHOT", os.path.join(os.path.dirname(PTHRUN), "serve-page.png"))
            if os.path.exists(shot):
                os.remove(shot)
            chromium(url, f"--screenshot={shot}")
            with open(shot, "rb") as f:
                png = f.read()
            self.assertTrue(png.startswith(b"\x89PNG\r\n\x1a\n"))
            self.assertGreater(len(png), 10000)  # a blank page compresses to far less
            print(f"screenshot: {shot}", file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
