"""How fast the viewer opens each SAE of vis/data from localhost, in headless Chromium: from
navigation to the first feature's example boards on screen (fetching and parsing the SAE's
JSON included); and the position explorer, to the start position's features on screen (the
network's and the SAE's weights fetched, decoded and run). Needs Debian's chromium and
chromium-driver and selenium (requirements-dev).

    python benchmarks/bench_viewer.py [--repeats 3] [--data vis/data]
"""
import functools
import http.server
import json
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere

from othello.cli import parse_config, require_at_least  # noqa: E402


@dataclass
class BenchConfig:
    """Time the viewer opening each SAE of vis/data."""

    repeats: int = 3
    """loads per SAE (the best is reported)"""
    data: str = str(REPO / "vis" / "data")
    """the viewer data to serve with the page (e.g. one made for a 4096-feature SAE)"""

    def __post_init__(self):
        require_at_least(self, 1, "repeats")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def chrome(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def seconds_until(driver, url, css):
    """From navigating to `url` until an element matching `css` exists."""
    driver.get("about:blank")
    start = time.perf_counter()
    driver.get(url)
    while not driver.find_elements("css selector", css):
        if time.perf_counter() - start > 60:
            raise TimeoutError(f"{url}: no {css} after 60 s")
        time.sleep(0.005)
    return time.perf_counter() - start


def main(argv=None):
    config = parse_config(BenchConfig, argv)
    data = Path(config.data).resolve()
    if not (data / "index.json").is_file():
        sys.exit(f"error: no viewer data in {data} (index.json missing): make it with `python vis/generate_vis_data.py`")
    index = json.loads((data / "index.json").read_text())
    with tempfile.TemporaryDirectory() as site, tempfile.TemporaryDirectory() as profile:
        for page_file in (REPO / "vis").iterdir():
            if page_file.suffix in (".html", ".js", ".css"):
                shutil.copy(page_file, site)
        (Path(site) / "data").symlink_to(data)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=site))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        driver = chrome(profile)
        try:
            for entry in sorted(index["saes"], key=lambda e: e["bytes"]):
                url = f"{base}/index.html#sae={entry['name']}"
                best = min(seconds_until(driver, url, "[data-testid=samples] [data-testid=board]")
                           for _ in range(config.repeats))
                print(f"{entry['name']:<22} {entry['bytes'] / 1e6:6.2f} MB  first boards on screen in {best:.2f} s")
            for name, weights in index.get("explorer", {}).get("saes", {}).items():
                url = f"{base}/explorer.html#sae={name}"
                best = min(seconds_until(driver, url, "[data-testid=explorer-feature]") for _ in range(config.repeats))
                megabytes = sum((data / f).stat().st_size for f in (weights["file"], "network.bin")) / 1e6
                print(f"explorer, {name:<13} {megabytes:6.2f} MB  start position's features in {best:.2f} s")
        finally:
            driver.quit()
            server.shutdown()


if __name__ == "__main__":
    main()
