"""The viewer in a real headless Chromium, served by http.server as a user would serve it.

Needs Debian's chromium and chromium-driver and the selenium package (.ci/run installs them);
without them the tests skip, unless REQUIRE_BROWSER=1 (CI) makes that a failure.
"""
import functools
import http.server
import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from NetworkWrapper import NetworkWrapper
from othello.bitboard import bitboard_rules
from othello.OthelloPlayers import SHIPPED_MODEL
from othello.squares import parse_square
from sae.activations import load_activations
from sae.export import export_saelens, load_saelens
from sae.model import SAEConfig, SparseAutoencoder
from tests.conftest import REPO, SolvedPlayer
from vis import generate_vis_data

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
PAGE_FILES = tuple(p.name for p in (REPO / "vis").iterdir() if p.suffix in (".html", ".js", ".css"))


def browser_missing():
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        return "Debian's chromium and chromium-driver are not installed"
    return None


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    missing = browser_missing()
    if missing:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--window-size=1400,1800",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    browser.set_page_load_timeout(30)
    yield browser
    browser.quit()


def trained_like(config, x):
    """An untrained SAE of `config` whose encoding rule is exercised on `x`: the input scale
    set, and a threshold encoder's thresholds at the 90th percentile of its pre-activations."""
    sae = SparseAutoencoder(config)
    sae.set_input_scale(x)
    if config.architecture in ("batchtopk", "matryoshka", "jumprelu"):
        with torch.no_grad():
            quantile = sae.pre_activations(x).quantile(0.9, dim=0)
            if config.architecture == "jumprelu":
                sae.log_threshold.copy_(quantile.clamp_min(1e-3).log())
            else:
                sae.global_threshold.fill_(quantile.median())
    return sae


# The site's SAEs: two L1 ones (the feature viewer's width picker) and two threshold encoders,
# one centred, for the explorer's encoding rules.
SITE_SAES = {"sae-32": SAEConfig(n_features=32, l1_penalty=3.0), "sae-64": SAEConfig(n_features=64, l1_penalty=3.0),
             "batchtopk-48": SAEConfig(n_features=48, architecture="batchtopk", k=6, centre=True),
             "jumprelu-40": SAEConfig(n_features=40, architecture="jumprelu", l0_penalty=0.1)}


@pytest.fixture(scope="module")
def site(tiny_activations, tmp_path_factory):
    """The page files plus viewer data for small SAEs (SITE_SAES), in a fresh folder."""
    root = tmp_path_factory.mktemp("site")
    for name in PAGE_FILES:
        shutil.copy(REPO / "vis" / name, root / name)
    x = torch.from_numpy(np.array(load_activations(tiny_activations[0], "train", ["resid_2"])["resid_2"]))
    folders = []
    for name, config in SITE_SAES.items():
        torch.manual_seed(config.n_features)
        sae = trained_like(config, x)
        folder = root.parent / f"{root.name}-{name}"
        export_saelens(sae, folder)
        (folder / "record.json").write_text(json.dumps({"architecture": config.architecture, "l1_penalty": config.l1_penalty,
                                                        "k": config.k, "l0_penalty": config.l0_penalty,
                                                        "n_features": config.n_features, "l0": 10.0, "fve": 0.5}))
        folders.append(str(folder))
    generate_vis_data.main(["--saes", ",".join(folders), "--activations", str(tiny_activations[0]),
                            "--out", str(root / "data"), "--no-progress"])
    return root


def serve(folder):
    """http.server on 127.0.0.1, as the README says; returns (server, base URL)."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def wait_for(driver, css, count=1, timeout=20, text=None):
    """The first `count` elements matching css, once visible (and, given text, once the first says it).

    The page re-renders on every choice, so an element found may be replaced before it is read:
    a stale element means "look again", not a failure."""
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            found = driver.find_elements("css selector", css)
            if (len(found) >= count and all(e.is_displayed() for e in found[:count])
                    and (text is None or text in found[0].text)):
                return found
        except StaleElementReferenceException:
            pass
        time.sleep(0.1)
    saying = f" saying {text!r}" if text else ""
    raise AssertionError(f"no {count} visible '{css}'{saying} within {timeout}s; page says: "
                         f"{driver.find_element('tag name', 'body').text[:500]}")


def requested_urls(driver):
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_browse_features(driver, site, tmp_path):
    from selenium.webdriver.support.ui import Select

    server, base = serve(site)
    try:
        driver.get_log("browser"), driver.get_log("performance")  # start clean
        driver.get(f"{base}/index.html")
        wait_for(driver, "[data-testid=board]", 6)
        width = Select(driver.find_element("css selector", "[data-testid=sae-width]"))
        assert sorted(o.text for o in width.options) == ["32", "64"]
        width.select_by_visible_text("64")
        wait_for(driver, "[data-testid=sae-summary]", text="of 64 features alive")
        wait_for(driver, "[data-testid=board]", 6)
        first = driver.find_element("css selector", "[data-testid=feature-picker]").get_attribute("value")
        driver.find_element("css selector", "[data-testid=next]").click()
        assert driver.find_element("css selector", "[data-testid=feature-picker]").get_attribute("value") != first
        boards = wait_for(driver, "[data-testid=samples] [data-testid=board]", 6)
        assert len(boards[0].find_elements("css selector", ".square")) == 36
        assert driver.find_elements("css selector", "[data-testid=samples] [data-testid^=overlay-]")
        assert driver.find_elements("css selector", "[data-testid=samples] .last-move")
        assert driver.find_elements("css selector", "[data-testid=histogram] rect")
        assert "Value effect" in driver.find_element("css selector", "[data-testid=value-effect]").text
        assert "Best-matching concepts" in driver.find_element("css selector", "[data-testid=feature-concepts]").text
        assert "Ablated" in driver.find_element("css selector", "[data-testid=interventions]").text
        assert driver.find_element("css selector", "[data-testid=explorer-link]").is_displayed()
        driver.find_element("css selector", "[data-testid=unexplained-only]").click()
        wait_for(driver, "#position")
        if "no feature matches" not in driver.find_element("css selector", "#position").text:
            assert "Unexplained" in driver.find_element("css selector", "[data-testid=feature-concepts]").text
        driver.find_element("css selector", "[data-testid=unexplained-only]").click()
        concept = driver.find_element("css selector", "[data-testid=concept-filter]")
        concept.send_keys("no such concept")
        concept.send_keys("\n")
        wait_for(driver, "#position")
        assert driver.find_element("css selector", "#position").text == "no feature matches these filters"
        driver.find_element("css selector", "[data-testid=tab-bands]").click()
        wait_for(driver, ".band-title")
        driver.save_screenshot(str(tmp_path / "viewer.png"))
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        # Network requests only: chromium's own chrome:// pages may load resources of their own.
        outside = [u for u in requested_urls(driver) if u.startswith(("http", "ws")) and not u.startswith(base)]
        assert not outside, outside
    finally:
        server.shutdown()


@pytest.mark.parametrize("damage, says", [(None, "is missing"), ("{broken", "not valid JSON")])
def test_missing_or_broken_data_says_what_to_run(driver, tmp_path, damage, says):
    for name in PAGE_FILES:
        shutil.copy(REPO / "vis" / name, tmp_path / name)
    if damage is not None:
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "index.json").write_text(damage)
    server, base = serve(tmp_path)
    try:
        driver.get(f"{base}/index.html")
        (error,) = wait_for(driver, "[data-testid=error]")
        assert "generate_vis_data.py" in error.text and "data/index.json" in error.text and says in error.text
        assert not driver.find_element("css selector", "[data-testid=feature]").is_displayed()
    finally:
        server.shutdown()


def page_features(driver):
    rows = wait_for(driver, "[data-testid=explorer-feature]")
    rows = driver.find_elements("css selector", "[data-testid=explorer-feature]")
    return {int(r.get_attribute("data-feature")): float(r.find_elements("tag name", "td")[1].text) for r in rows}


def expected_features(sae, network, mine, theirs):
    """Feature activations of the position (bitboards from the side to move), computed in torch."""
    board = bitboard_rules(6).to_boards(np.array([mine], np.uint64), np.array([theirs], np.uint64)).reshape(1, -1)
    with torch.no_grad():
        return sae.encode(network.net.residual_stream(torch.from_numpy(board).float(), 2))[0].numpy()


def assert_same_features(shown, expected):
    """The page lists the strongest features with their activations (3 decimals; its SAE weights
    are float16)."""
    order = np.argsort(-expected)[:8]
    assert set(order[expected[order] > 0].tolist()) <= set(shown), (shown, expected)
    for feature, activation in shown.items():
        assert activation == pytest.approx(float(expected[feature]), abs=0.02 * float(expected.max()) + 1e-3)


def test_explorer_plays_moves_and_shows_the_features_of_each_position(driver, site):
    rules = bitboard_rules(6)
    sae = load_saelens(site.parent / f"{site.name}-sae-32")  # the first SAE in the index
    network = NetworkWrapper.load_checkpoint(SHIPPED_MODEL, "cpu")
    network.net.eval()
    black, white = rules.pack(np.isin(np.arange(36), [15, 20])[None])[0], rules.pack(np.isin(np.arange(36), [14, 21])[None])[0]
    server, base = serve(site)
    try:
        driver.get_log("browser")
        driver.get(f"{base}/explorer.html")
        wait_for(driver, "[data-testid=explorer-board]")
        assert driver.find_element("css selector", "[data-testid=to-move]").text == "Black to move"
        assert_same_features(page_features(driver), expected_features(sae, network, black, white))
        assert "%" in driver.find_element("css selector", "[data-testid=explorer-policy]").text

        driver.find_element("css selector", "[data-testid=square-e4]").click()
        wait_for(driver, "[data-testid=moves]")
        assert driver.find_element("css selector", "[data-testid=moves]").text == "Moves: e4"
        assert driver.find_element("css selector", "[data-testid=to-move]").text == "White to move"
        white_view = rules.next_position(int(black), int(white), parse_square("e4"))  # (white's, black's)
        assert_same_features(page_features(driver), expected_features(sae, network, *white_view))

        driver.find_element("css selector", "[data-testid=square-a1]").click()  # illegal: nothing changes
        assert "not a legal move for White" in driver.find_element("css selector", "[data-testid=message]").text
        assert driver.find_element("css selector", "[data-testid=moves]").text == "Moves: e4"
        driver.find_element("css selector", "[data-testid=undo]").click()
        assert driver.find_element("css selector", "[data-testid=moves]").text == "Moves: none yet"
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        server.shutdown()


@pytest.mark.parametrize("name", ["batchtopk-48", "jumprelu-40"])
def test_explorer_encodes_with_each_architectures_rule(driver, site, name):
    rules = bitboard_rules(6)
    sae = load_saelens(site.parent / f"{site.name}-{name}")
    assert sae.config.architecture == SITE_SAES[name].architecture
    network = NetworkWrapper.load_checkpoint(SHIPPED_MODEL, "cpu")
    network.net.eval()
    black, white = rules.pack(np.isin(np.arange(36), [15, 20])[None])[0], rules.pack(np.isin(np.arange(36), [14, 21])[None])[0]
    server, base = serve(site)
    try:
        driver.get(f"{base}/explorer.html#sae={site.name}-{name}")
        wait_for(driver, "[data-testid=explorer-board]")
        driver.find_element("css selector", "[data-testid=square-e4]").click()
        wait_for(driver, "[data-testid=moves]")
        expected = expected_features(sae, network, *rules.next_position(int(black), int(white), parse_square("e4")))
        assert 0 < (expected > 0).sum() < len(expected)  # the threshold keeps some latents and drops others
        assert_same_features(page_features(driver), expected)
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def superhuman_site(site, tiny_activations, tmp_path_factory):
    """A copy of the site whose first SAE carries the superhuman analysis (vis/superhuman.py
    --viewer), its classical player a stand-in that loses the outcome wherever it can."""
    from vis import superhuman

    root = tmp_path_factory.mktemp("superhuman-site")
    shutil.copytree(site, root, dirs_exist_ok=True)
    out = tmp_path_factory.mktemp("superhuman-out")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(superhuman, "classical_players", lambda depths, seed: {"worst": SolvedPlayer(min)})
        superhuman.main(["--sae", str(site.parent / f"{site.name}-sae-32"), "--activations", str(tiny_activations[0]),
                         "--per-phase", "4", "--min-empties", "10", "--max-empties", "16", "--sims", "4",
                         "--workers", "1", "--top", "3", "--together", "2", "--data", str(root / "data"),
                         "--viewer", "--out", str(out), "--no-progress"])
    return root, json.loads((out / f"{site.name}-sae-32.json").read_text())


def test_the_superhuman_block_joins_the_viewer_data_as_valid_json(site, superhuman_site):
    root, result = superhuman_site
    before = json.loads((site / "data" / f"{site.name}-sae-32.json").read_text())
    after = json.loads((root / "data" / f"{site.name}-sae-32.json").read_text(), parse_constant=pytest.fail)  # no NaN
    assert after["superhuman"]["superhuman"] == result["superhuman"] > 0
    index = json.loads((root / "data" / "index.json").read_text())
    entry = next(e for e in index["saes"] if e["name"] == result["sae"])
    assert entry["bytes"] == (root / "data" / entry["file"]).stat().st_size
    assert after["boards"][: len(before["boards"])] == before["boards"] and len(after["last_moves"]) == len(after["boards"])
    assert len(set(after["boards"])) == len(after["boards"])  # every board once
    for feature in after["features"]:
        assert ("superhuman" in feature) == (feature["frequency"] > 0)
    candidates = [f for f in after["features"] if f.get("superhuman", {}).get("causal")]
    assert [f["id"] for f in sorted(candidates, key=lambda f: f["superhuman"]["rank"])] == [f["id"] for f in result["features"]]
    for feature in candidates:
        for example in feature["superhuman"]["examples"]:
            board = after["boards"][example["board"]]
            assert board[example["network"]] == board[example["classical"]] == "*"  # both legal moves
            assert example["network_outcome"] != example["classical_outcome"]


def test_the_superhuman_block_needs_the_sae_in_the_viewer_data(site):
    from vis import superhuman_report

    untouched = {p.name: p.read_bytes() for p in (site / "data").iterdir()}
    with pytest.raises(ValueError, match="no-such-sae is not in .*index.json: export it with vis/generate_vis_data.py"):
        superhuman_report.add_to_viewer({"sae": "no-such-sae"}, site / "data", "")
    assert {p.name: p.read_bytes() for p in (site / "data").iterdir()} == untouched


def test_the_viewer_filters_and_sorts_by_the_superhuman_analysis(driver, superhuman_site, tmp_path):
    from selenium.webdriver.support.ui import Select

    root, result = superhuman_site
    server, base = serve(root)
    try:
        driver.get_log("browser")
        sae = result["sae"]
        driver.get(f"{base}/index.html#sae={sae}")
        wait_for(driver, "[data-testid=board]", 6)
        checkbox = wait_for(driver, "[data-testid=superhuman-only]")[0]
        checkbox.click()
        candidates = [f["id"] for f in result["features"]]
        wait_for(driver, "#position", text=f"of {len(candidates)} shown")
        Select(driver.find_element("css selector", "[data-testid=sort]")).select_by_value("superhuman-desc")
        wait_for(driver, "#position", text=f"1 of {len(candidates)} shown")
        assert int(driver.find_element("css selector", "[data-testid=feature-picker]").get_attribute("value")) == candidates[0]
        (section,) = wait_for(driver, "[data-testid=superhuman]", text="Candidate 1")
        assert "worst" in section.text and "random feature of matched frequency" in section.text
        examples = wait_for(driver, "[data-testid=superhuman-example]", len(result["features"][0]["examples"]))
        for example in examples:
            assert len(example.find_elements("css selector", ".square.network-move")) == 1
            assert len(example.find_elements("css selector", ".square.classical-move")) == 1
            assert "network" in example.text and "empty" in example.text
        driver.save_screenshot(str(tmp_path / "superhuman.png"))
        # An SAE without the analysis: no superhuman filter, sort or section.
        Select(driver.find_element("css selector", "[data-testid=sae-width]")).select_by_visible_text("64")
        wait_for(driver, "[data-testid=sae-summary]", text="of 64 features alive")
        assert not driver.find_element("css selector", "[data-testid=superhuman-only]").is_displayed()
        assert not driver.find_element("css selector", "[data-testid=superhuman]").is_displayed()
        assert driver.find_elements("css selector", "[data-testid=samples] [data-testid=board]")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        server.shutdown()
