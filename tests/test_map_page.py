"""The map page in headless Chromium, against the real server over the sample world.

Zones are drawn with the mouse and the keyboard; every figure the page shows must equal
the API's answer for the zone the page sent. Campaigns launched from the page are followed
live and their report shown equals the API's. The README's screenshot (docs/map.png) is
taken here.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import shapely
import shapely.geometry
import sqlalchemy as sa
import uvicorn
from api_helpers import serving_copy
from playwright.sync_api import Page, sync_playwright
from pyproj import Transformer

from api.app import create_app
from geoalert.campaigns.queue import CampaignStore
from geoalert.keys import create_key
from geoalert.messages.cap import parse_cap
from geoalert.settings import Settings
from geoalert.testing.ports import free_port
from geodata.stores import open_store

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_S = 60
VIEWPORT = {"width": 1366, "height": 768}
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "map.png"
MAP = "#map"
TO_METRIC = Transformer.from_crs("EPSG:4326", "EPSG:3812", always_xy=True).transform
WHOLE = {"addresses.count", "population.estimate"}
"""Figures always shown as whole numbers."""
CAMPAIGN_ZONE = "Etterbeek (21005)"
SIMULATED_RATES = {
    "sms": {"rate_per_s": 1500, "batch": 150},
    "email": {"rate_per_s": 1500, "batch": 150},
}
"""Providers' rates kept by simulations (per second), so that a campaign runs a few seconds."""
TEMPLATE = {
    "texts": {
        "nl": "Verlaat $street nu.",
        "fr": "Quittez $street maintenant.",
        "en": "Leave $street now.",
    },
    "headlines": {},
}


# -- server and browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(sample_world: Path, tmp_path_factory: pytest.TempPathFactory):
    """(base URL, federal key) of uvicorn serving the app in a thread, on a free port."""
    world = serving_copy(sample_world, tmp_path_factory.mktemp("map_page") / "world")
    with open_store(world) as store:
        secret, _ = create_key(store, "federal", None, "crisis-cell")
        mayor, _ = create_key(store, "mayor", "21004", "mayor-brussels")
        operator, _ = create_key(store, "operator", None, "operator-feed")
        CampaignStore(store.engine).save_template("evacuation", TEMPLATE)
    providers = world.parent / "providers.json"
    providers.write_text(json.dumps(SIMULATED_RATES))
    settings = Settings(
        data_dir=world, campaign_providers=providers, api_rate_per_s=1_000, api_rate_burst=1_000
    )
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=TIMEOUT_S).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    else:
        raise RuntimeError("the server did not become ready")
    with httpx.Client(base_url=base, timeout=TIMEOUT_S) as http:
        yield {"url": base, "http": http, "key": secret, "mayor": mayor, "operator": operator}
    uv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory: pytest.TempPathFactory):
    """A page of headless Chromium (fresh profile) on the map, every request off the
    server refused and recorded; the resolve requests the page makes are recorded too."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS,
            viewport=VIEWPORT,
            accept_downloads=True,
            locale="en-GB",
        )
        outside: list[str] = []
        server_host = urlsplit(server["url"]).netloc

        def only_local(route):
            url = route.request.url
            if urlsplit(url).netloc == server_host or url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                outside.append(url)
                route.abort()

        context.route("**/*", only_local)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "console",
            lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
        )
        sent: list[dict] = []
        page.on(
            "request",
            lambda r: sent.append(r.post_data_json) if r.url.endswith("/v1/resolve") else None,
        )
        page.goto(server["url"] + "/")
        yield {"page": page, "outside": outside, "errors": errors, "sent": sent}
        context.close()
    assert outside == [], f"the page asked for resources off the server: {outside}"
    assert errors == [], f"script errors or refused content in the page: {errors}"


@pytest.fixture(scope="module")
def page(browser, server) -> Page:
    """The map page, signed in with the federal key, in English."""
    page = browser["page"]
    if page.get_attribute("body", "data-ready") != "true":
        page.fill("#key-input", server["key"])
        page.keyboard.press("Enter")
        page.wait_for_selector("body[data-ready=true]", state="attached", timeout=60_000)
    page.select_option("#lang", "en")
    return page


# -- helpers -------------------------------------------------------------------------------------


def _resolved(page: Page, browser, action) -> dict:
    """Run ``action`` and wait for the page to show a new resolution; the body it sent."""
    done = "document.getElementById('results').getAttribute('aria-busy') === 'false'"
    before = int(page.get_attribute("body", "data-resolved") or 0)
    action()
    page.wait_for_function(
        f"() => Number(document.body.dataset.resolved || 0) > {before} && {done}",
        timeout=30_000,
    )
    while True:  # until no debounced resolve follows
        settled = page.get_attribute("body", "data-resolved")
        page.wait_for_timeout(400)
        if page.get_attribute("body", "data-resolved") == settled and page.evaluate(
            f"() => {done}"
        ):
            return browser["sent"][-1]


def _api(server, body: dict) -> dict:
    response = server["http"].post(
        "/v1/resolve",
        json=body,
        headers={"Authorization": f"Bearer {server['key']}"},
    )
    assert response.status_code == 200, (body, response.text)
    return response.json()


def _shown(page: Page) -> dict[str, str]:
    """Every figure in the results: API path -> text shown."""
    return page.eval_on_selector_all(
        "#results [data-value]",
        "els => Object.fromEntries(els.map(e => [e.dataset.value, e.textContent.trim()]))",
    )


def _lookup(result: dict, path: str):
    value = result
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _expected_text(path: str, value) -> str:
    """How the page writes a figure in English (en-GB)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "—not available"
    if path.endswith("_eur"):
        return f"€{value:,.2f}"
    if path == "zone.area_km2":
        digits = 2
    elif path.endswith("overshoot_km2"):
        digits = 1
    elif path in WHOLE or path.startswith(("operators.", "population.by_operator.")):
        digits = 0
    else:  # parts listed as they come: whole numbers, else two decimals
        digits = 0 if float(value).is_integer() else 2
    return f"{value:,.{digits}f}"


def _assert_figures_equal_api(page: Page, result: dict) -> dict[str, str]:
    shown = _shown(page)
    expected = {path: _expected_text(path, _lookup(result, path)) for path in shown}
    assert shown == expected
    # Nothing the API answers is left out.
    assert "zone.area_km2" in shown
    for op in result["operators"]:
        assert f"operators.{op}.cell_count" in shown
    for part, path in (("addresses", "addresses.count"), ("population", "population.estimate")):
        if part in result:
            assert shown[path] == f"{result[part][path.split('.')[1]]:,}"
    if "contacts" in result:
        contacts = result["contacts"]
        for channel in contacts["by_channel"]:
            assert f"contacts.by_channel.{channel}" in shown
        assert {"contacts.count", "contacts.cost_eur"} <= set(shown)
    if "population" in result:
        pop = result["population"]
        assert page.inner_text("#pop-interval") == f"{pop['low']:,} \N{EN DASH} {pop['high']:,}"
    total = sum(op["cell_count"] for op in result["operators"].values())
    assert page.inner_text("#status").startswith(f"{total:,} cells")
    return shown


def _blur(page: Page) -> None:
    """Leave every control, as a click on the page background would."""
    page.evaluate("() => document.activeElement?.blur()")


def _pan(page: Page, key: str) -> None:
    """Pan the focused map with an arrow key; Leaflet ignores keys while a pan runs."""
    page.keyboard.press(key)
    page.wait_for_function("() => !document.querySelector('.leaflet-pan-anim')")


def _map_point(page: Page, fx: float, fy: float) -> tuple[float, float]:
    """Where to click on the map (fractions of its box), once it stands still."""
    page.wait_for_function("() => !document.querySelector('.leaflet-zoom-anim, .leaflet-pan-anim')")
    box = page.locator(MAP).bounding_box()
    return box["x"] + fx * box["width"], box["y"] + fy * box["height"]


# -- tests ---------------------------------------------------------------------------------------


def test_page_and_assets_are_served_locally_with_a_strict_policy(server):
    response = server["http"].get("/")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["referrer-policy"] == "no-referrer"
    html = response.text
    assert "http://" not in html and "https://" not in html
    for asset in ("vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css", "app.js", "style.css"):
        assert f"/static/map/{asset}" in html
        assert server["http"].get(f"/static/map/{asset}").status_code == 200
    licence = server["http"].get("/static/map/vendor/leaflet/LICENSE")
    assert "BSD 2-Clause License" in licence.text


def test_layers_need_a_key(server):
    for path in ("/map/config", "/map/areas", "/map/sites"):
        assert server["http"].get(path).status_code == 401
    response = server["http"].post("/map/coverage", json={"zone": {"area": "21004"}})
    assert response.status_code == 401


def test_layers_answer_bad_input_with_problems(server):
    headers = {"Authorization": f"Bearer {server['key']}"}
    bad_zone = server["http"].post(
        "/map/coverage",
        json={"zone": {"circle": {"lon": 4.35, "lat": 50.85, "radius_m": -5}}},
        headers=headers,
    )
    assert bad_zone.status_code == 422
    assert bad_zone.headers["content-type"] == "application/problem+json"
    assert "radius_m" in bad_zone.json()["detail"]
    bad_cap = server["http"].post("/map/cap/zone", content=b"<alert", headers=headers)
    assert bad_cap.status_code == 422
    assert "not well-formed" in bad_cap.json()["detail"]
    outside = server["http"].post(
        "/map/coverage",
        json={"zone": {"area": "21001"}},
        headers={"Authorization": f"Bearer {server['mayor']}"},
    )
    assert outside.status_code == 403


def test_coverage_layer_draws_the_cells_resolve_selects(server):
    headers = {"Authorization": f"Bearer {server['key']}"}
    body = {"zone": {"circle": {"lon": 4.35, "lat": 50.85, "radius_m": 800}}}
    layer = server["http"].post("/map/coverage", json=body, headers=headers).json()
    result = _api(server, body)
    zone = shapely.geometry.shape(result["zone"]["geometry"])
    for feature in layer["features"]:
        props = feature["properties"]
        op = result["operators"][props["operator"]]
        assert props["cells"] == op["cell_count"]
        shape = shapely.geometry.shape(feature["geometry"])
        if props["kind"] == "coverage":
            assert shape.buffer(1e-4).covers(zone)  # the cells cover the zone
        else:  # overshoot, in km² as the API says (EPSG:3812), drawn simplified
            metric = shapely.transform(shape, TO_METRIC, interleaved=False)
            assert metric.area / 1e6 == pytest.approx(op["overshoot_km2"], rel=0.03)
    kinds = sorted(f["properties"]["kind"] for f in layer["features"])
    assert kinds == ["coverage"] * 3 + ["overshoot"] * 3


def test_a_bad_key_is_refused_and_the_good_one_kept_in_the_tab_only(browser, server):
    page = browser["page"]
    if page.get_attribute("body", "data-ready") == "true":
        pytest.skip("already signed in")  # only when run after the other tests
    page.wait_for_selector("#key-dialog[open]")
    page.fill("#key-input", "gak_not-a-key")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('key-error').textContent.length > 0")
    assert "not accepted" in page.inner_text("#key-error")
    assert page.evaluate("sessionStorage.getItem('geoalert.key')") is None
    page.fill("#key-input", server["key"])
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-ready=true]", state="attached", timeout=60_000)
    assert page.evaluate("sessionStorage.getItem('geoalert.key')") == server["key"]
    assert server["key"] not in json.dumps(page.evaluate("({...localStorage})"))
    assert "crisis-cell (federal)" in page.inner_text("#who")


def test_basemap_is_drawn_from_the_world(page: Page):
    # Municipality outlines (SVG paths) and the area picker list every municipality.
    assert page.locator(".leaflet-areas-pane path").count() >= 30
    options = page.eval_on_selector_all("#area-list option", "os => os.map(o => o.value)")
    assert "Uccle / Ukkel (21016)" in options
    assert "Provincie Vlaams-Brabant (20001)" in options
    assert page.locator(".leaflet-sites-pane canvas").count() == 1


def test_import_shortcut_opens_the_file_chooser(page: Page):
    # The click that opens the chooser; the chooser itself is refused by headless Chromium.
    page.evaluate(
        """() => document.getElementById('import-file').addEventListener(
            'click', e => { e.preventDefault(); document.body.dataset.chooser = 'asked'; },
            { once: true })"""
    )
    _blur(page)
    page.keyboard.press("i")
    assert page.get_attribute("body", "data-chooser") == "asked"


def test_area_picked_by_keyboard_shows_the_api_figures(page: Page, browser, server):
    _blur(page)
    page.keyboard.press("a")
    assert page.evaluate("document.activeElement.id") == "area-input"
    body = _resolved(
        page, browser, lambda: (page.keyboard.type("Ukkel"), page.keyboard.press("Enter"))
    )
    assert body["zone"] == {"area": "21016"}
    _assert_figures_equal_api(page, _api(server, body))


def test_polygon_drawn_and_edited_with_the_mouse_shows_the_api_figures(page: Page, browser, server):
    page.click("button[data-draw=polygon]")
    corners = [(0.35, 0.3), (0.62, 0.28), (0.66, 0.62), (0.38, 0.66)]
    for fx, fy in corners[:-1]:
        page.mouse.click(*_map_point(page, fx, fy))
    body = _resolved(page, browser, lambda: page.mouse.dblclick(*_map_point(page, *corners[-1])))
    ring = body["zone"]["coordinates"][0]
    assert body["zone"]["type"] == "Polygon" and len(ring) == 5 and ring[0] == ring[-1]
    _assert_figures_equal_api(page, _api(server, body))

    # Edit: drag the first corner outwards.
    page.click("#edit")
    handle = page.locator(".handle-vertex").first
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    def drag():
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x - 40, y - 30, steps=5)
        page.mouse.up()

    edited = _resolved(page, browser, drag)
    assert edited["zone"]["coordinates"][0][0] != ring[0]
    assert len(edited["zone"]["coordinates"][0]) == 5
    _assert_figures_equal_api(page, _api(server, edited))

    page.keyboard.press("Escape")
    _blur(page)
    page.wait_for_timeout(300)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))


def test_a_crossed_polygon_is_repaired_and_the_warning_shown(page: Page, browser, server):
    _blur(page)
    page.keyboard.press("p")
    corners = [(0.3, 0.3), (0.62, 0.58), (0.6, 0.28), (0.32, 0.62)]  # a bow tie
    for fx, fy in corners[:-1]:
        page.mouse.click(*_map_point(page, fx, fy))
    body = _resolved(page, browser, lambda: page.mouse.dblclick(*_map_point(page, *corners[-1])))
    result = _api(server, body)
    assert any("self-intersection" in w for w in result["zone"]["warnings"])
    shown = page.eval_on_selector_all("#warnings li", "lis => lis.map(li => li.textContent)")
    assert shown == result["zone"]["warnings"]
    _assert_figures_equal_api(page, result)

    # Keyboard editing: a midpoint handle adds a corner, Delete on a corner removes it.
    page.keyboard.press("e")
    page.locator(".handle-midpoint").first.focus()
    added = _resolved(page, browser, lambda: page.keyboard.press("Enter"))
    assert len(added["zone"]["coordinates"][0]) == 6
    page.locator(".handle-vertex").nth(3).focus()
    removed = _resolved(page, browser, lambda: page.keyboard.press("Delete"))
    assert len(removed["zone"]["coordinates"][0]) == 5
    assert page.locator(".handle-vertex").count() == 4
    _assert_figures_equal_api(page, _api(server, removed))
    page.keyboard.press("Escape")


def test_circle_drawn_and_edited_by_keyboard_shows_the_api_figures(page: Page, browser, server):
    _blur(page)
    page.keyboard.press("c")
    assert page.evaluate("document.activeElement.id") == "map"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")  # centre at the cross
    page.fill("#radius", "1500")
    page.focus(MAP)
    body = _resolved(page, browser, lambda: page.keyboard.press("f"))
    circle = body["zone"]["circle"]
    assert circle["radius_m"] == 1500
    _assert_figures_equal_api(page, _api(server, body))

    # Edit by keyboard: Tab to the centre handle, move it with the arrows.
    page.keyboard.press("e")
    page.locator(".handle-center").focus()
    moved = _resolved(page, browser, lambda: page.keyboard.press("ArrowRight"))
    assert moved["zone"]["circle"]["lon"] > circle["lon"]
    assert moved["zone"]["circle"]["lat"] == pytest.approx(circle["lat"], abs=1e-5)
    _assert_figures_equal_api(page, _api(server, moved))
    page.keyboard.press("Escape")


def test_corridor_drawn_by_keyboard_shows_the_api_figures(page: Page, browser, server):
    page.fill("#width", "800")
    _blur(page)
    page.keyboard.press("l")
    page.keyboard.press("Enter")
    for _ in range(4):
        _pan(page, "ArrowRight")
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowDown")  # Enter right after: the point waits for the pan
    page.keyboard.press("Enter")
    body = _resolved(page, browser, lambda: page.keyboard.press("f"))
    corridor = body["zone"]["corridor"]
    assert corridor["width_m"] == 800 and len(corridor["line"]["coordinates"]) == 3
    _assert_figures_equal_api(page, _api(server, body))


def test_time_slider_switches_the_presence_bucket(page: Page, browser, server):
    config = (
        server["http"]
        .get("/map/config", headers={"Authorization": f"Bearer {server['key']}"})
        .json()
    )
    buckets = config["buckets"]
    slider = page.locator("#time")
    if not buckets:
        assert slider.is_disabled()
        assert page.inner_text("#time-label") == "no presence data"
        return
    _blur(page)
    page.keyboard.press("t")
    assert page.evaluate("document.activeElement.id") == "time"
    body = _resolved(page, browser, lambda: page.keyboard.press("Home"))
    assert body["at"] == buckets[0]
    result = _api(server, body)
    _assert_figures_equal_api(page, result)
    assert result["population"]["at"].startswith(buckets[0][:16])
    body = _resolved(page, browser, lambda: page.keyboard.press("ArrowRight"))
    assert body["at"] == buckets[1]
    _assert_figures_equal_api(page, _api(server, body))


def test_export_geojson_and_cap_then_import_them_back(page: Page, browser, server, tmp_path):
    body = _resolved(page, browser, lambda: page.fill("#area-input", "Etterbeek (21005)"))
    assert body["zone"] == {"area": "21005"}
    _blur(page)
    with page.expect_download() as download:
        page.keyboard.press("g")
    feature = json.loads(Path(download.value.path()).read_text())
    assert feature["type"] == "Feature" and feature["properties"]["zone"] == {"area": "21005"}
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")

    page.keyboard.press("x")
    page.wait_for_selector("#cap-dialog[open]")
    page.fill("#cap-event", "Chemical fire")
    page.fill("#cap-en", "Stay indoors, close windows.")
    page.fill("#cap-fr", "Restez à l'intérieur.")
    with page.expect_download() as download:
        page.click("#cap-form button[type=submit]")
    alert = parse_cap(Path(download.value.path()).read_bytes())
    assert ("NIS", "21005") in alert.infos[0].areas[0].geocodes
    assert alert.texts() == {"en": "Stay indoors, close windows.", "fr": "Restez à l'intérieur."}
    assert alert.infos[0].event == "Chemical fire"

    # Import the CAP alert, then the GeoJSON with its geometry only.
    page.keyboard.press("Delete")
    cap_file = tmp_path / "alert.cap.xml"
    cap_file.write_bytes(Path(download.value.path()).read_bytes())

    def choose(path):
        return lambda: page.set_input_files("#import-file", str(path))

    imported = _resolved(page, browser, choose(cap_file))
    assert _api(server, imported)["zone"]["area_km2"] == pytest.approx(
        _api(server, body)["zone"]["area_km2"], rel=0.02
    )
    _assert_figures_equal_api(page, _api(server, imported))

    geometry_file = tmp_path / "zone.geojson"
    geometry_file.write_text(json.dumps({"type": "Feature", "geometry": feature["geometry"]}))
    imported = _resolved(page, browser, choose(geometry_file))
    result = _api(server, imported)
    assert result["zone"]["area_km2"] == pytest.approx(feature["properties"]["area_km2"])
    _assert_figures_equal_api(page, result)

    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "Point", "coordinates": [4.3, 50.8]}')
    choose(bad)()
    page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('bad.geojson')"
    )
    assert "expected a GeoJSON" in page.inner_text("#status")


def test_a_zone_outside_the_key_jurisdiction_shows_the_api_problem(page: Page, browser, server):
    page.evaluate(f"sessionStorage.setItem('geoalert.key', {json.dumps(server['mayor'])})")
    try:
        _resolved(page, browser, lambda: page.fill("#area-input", "Anderlecht (21001)"))
        assert "could not be resolved" in page.inner_text("#status")
        assert "Bruxelles" in page.inner_text("#status")
        assert set(_shown(page).values()) == {""}
    finally:
        page.evaluate(f"sessionStorage.setItem('geoalert.key', {json.dumps(server['key'])})")


# -- campaigns -----------------------------------------------------------------------------------


def _campaign_api(server, path: str, key: str = "key") -> dict:
    response = server["http"].get(path, headers={"Authorization": f"Bearer {server[key]}"})
    assert response.status_code == 200, response.text
    return response.json()


def _counts(page: Page) -> dict[str, str]:
    """The live counts shown: "channel/state" -> text."""
    return page.eval_on_selector_all(
        "#campaign-counts td[data-channel]",
        "tds => Object.fromEntries(tds.map(td =>"
        " [td.dataset.channel + '/' + td.dataset.state, td.textContent]))",
    )


def _launch(page: Page) -> int:
    """Click the send button; the id of the campaign the page then follows."""
    before = page.get_attribute("#campaign", "data-campaign")
    page.click("#send-submit")
    page.wait_for_function(
        f"() => (document.getElementById('campaign').dataset.campaign || null) !== {json.dumps(before)}",
        timeout=30_000,
    )
    return int(page.get_attribute("#campaign", "data-campaign"))


def _wait_for_report(page: Page, campaign_id: int) -> None:
    page.wait_for_selector(
        f"#campaign[data-report='{campaign_id}']", state="attached", timeout=60_000
    )


def _report_text(path: str, value) -> str:
    """How the page writes a figure of a campaign report in English (en-GB)."""
    if path == "state":
        return value.capitalize()
    if path.endswith("_eur"):
        return f"€{value:,.2f}"
    if path == "duration_s":
        return f"{value:,.1f} s"
    return f"{value:,}"


def _assert_report_equals_api(page: Page, report: dict) -> None:
    shown = page.eval_on_selector_all(
        "#campaign-report [data-report]",
        "els => Object.fromEntries(els.map(e => [e.dataset.report, e.textContent.trim()]))",
    )
    paths = {"state", "duration_s", "cost_eur"} | {
        f"total.{k}" for k in ("messages", "sent", "delivered", "failed", "cancelled")
    }
    for channel, figures in report["channels"].items():
        paths |= {f"channels.{channel}.{k}" for k in ("sent", "delivered", "failed", "cancelled")}
        paths.add(f"channels.{channel}.cost_eur")
        paths |= {f"channels.{channel}.failed_reasons.{r}" for r in figures["failed_reasons"]}
    if report["alert_sms_estimated_cost_eur"]:
        paths.add("alert_sms_estimated_cost_eur")
    assert set(shown) == paths
    assert shown == {path: _report_text(path, _lookup(report, path)) for path in paths}


def test_a_simulation_campaign_is_followed_live_and_reports_as_the_api(page: Page, browser, server):
    _resolved(page, browser, lambda: page.fill("#area-input", CAMPAIGN_ZONE))
    _blur(page)
    page.keyboard.press("s")
    assert page.evaluate("document.activeElement.id") == "send-h"
    assert page.is_checked("#send-form input[name=mode][value=simulation]")
    assert page.inner_text("#send-submit") == "Start the simulation"
    # A template prepared in advance, its placeholder filled in.
    page.select_option("#send-template", "evacuation")
    assert page.is_hidden("#send-texts")
    assert "Leave $street now." in page.inner_text("#send-preview")
    page.fill("#send-param-street", "Rue Gray")
    with page.expect_request("**/v1/campaigns") as sent:
        campaign_id = _launch(page)
    assert sent.value.post_data_json == {
        "zone": {"area": "21005"},
        "channels": ["sms", "email"],
        "mode": "simulation",
        "template": "evacuation",
        "params": {"street": "Rue Gray"},
    }
    # The counts change as the events arrive, while the campaign runs.
    seen: list[dict[str, str]] = []
    while page.get_attribute("#campaign", "data-report") != str(campaign_id):
        counts = _counts(page)
        running = page.get_attribute("#campaign", "data-state") in ("queued", "sending")
        if running and counts and counts not in seen:
            seen.append(counts)
        page.wait_for_timeout(50)
    assert len(seen) >= 2, seen
    delivered = [int(c.get("sms/delivered", "0").replace(",", "")) for c in seen]
    assert delivered == sorted(delivered) and delivered[-1] > delivered[0]

    report = _campaign_api(server, f"/v1/campaigns/{campaign_id}/report")
    assert report["state"] == "finished" and report["mode"] == "simulation"
    assert report["total"]["delivered"] == report["total"]["messages"] > 0
    _assert_report_equals_api(page, report)
    assert page.inner_text("#campaign-h") == f"Campaign {campaign_id} (simulation)"
    assert page.is_hidden("#campaign-cancel")
    assert _campaign_api(server, f"/v1/campaigns/{campaign_id}")["state"] == "finished"
    # Listed among the recent campaigns, marked as the one followed.
    item = page.locator(f"#recent button[data-campaign='{campaign_id}']")
    item.wait_for()
    assert item.get_attribute("aria-current") == "true"
    assert "Finished" in item.inner_text() and "crisis-cell" in item.inner_text()
    assert browser["outside"] == []


def test_a_campaign_cancelled_from_the_page_reports_its_cancellation(page: Page, browser, server):
    if page.input_value("#area-input") != CAMPAIGN_ZONE:
        _resolved(page, browser, lambda: page.fill("#area-input", CAMPAIGN_ZONE))
    page.select_option("#send-template", "")
    page.fill("#send-en", "Stay indoors, close windows.")
    page.fill("#send-nl", "Blijf binnen, sluit ramen.")
    with page.expect_request("**/v1/campaigns") as sent:
        campaign_id = _launch(page)
    # The page's language first: the text for people whose language has none.
    assert list(sent.value.post_data_json["texts"]) == ["en", "nl"]
    page.wait_for_function(
        "() => document.getElementById('campaign').dataset.state === 'sending'"
        " && document.querySelector('#campaign-counts td[data-state=queued]')",
        timeout=30_000,
    )
    page.click("#campaign-cancel")
    _wait_for_report(page, campaign_id)
    report = _campaign_api(server, f"/v1/campaigns/{campaign_id}/report")
    total = report["total"]
    assert report["state"] == "cancelled"
    assert total["cancelled"] > 0 and total["open"] == 0
    assert total["sent"] + total["cancelled"] == total["messages"]
    _assert_report_equals_api(page, report)
    assert page.inner_text("#campaign-status").startswith("Cancelled after")
    assert page.is_hidden("#campaign-cancel")


def test_a_live_alert_needs_an_explicit_confirmation(page: Page, browser, server):
    if page.input_value("#area-input") != CAMPAIGN_ZONE:
        _resolved(page, browser, lambda: page.fill("#area-input", CAMPAIGN_ZONE))
    listed = _campaign_api(server, "/v1/campaigns")["campaigns"]
    page.check("#send-form input[name=mode][value=live]")
    assert page.inner_text("#send-submit") == "Send live alert…"
    page.click("#send-submit")
    page.wait_for_selector("#live-dialog[open]")
    assert "real people" in page.inner_text("#live-text")
    assert page.is_disabled("#live-send")
    page.keyboard.press("Escape")
    page.wait_for_selector("#live-dialog", state="hidden")
    page.check("#send-form input[name=mode][value=simulation]")
    assert _campaign_api(server, "/v1/campaigns")["campaigns"] == listed  # nothing sent


def test_a_role_that_may_not_alert_sees_why(page: Page, server):
    page.evaluate(f"sessionStorage.setItem('geoalert.key', {json.dumps(server['operator'])})")
    try:
        page.reload()
        page.wait_for_selector("body[data-ready=true]", state="attached", timeout=60_000)
        assert page.is_hidden("#send-form")
        refused = page.inner_text("#send-refused")
        assert "(operator) may not send alerts for a zone" in refused
        assert page.inner_text("#recent") == "No campaigns yet."  # it launched none
    finally:
        page.evaluate(f"sessionStorage.setItem('geoalert.key', {json.dumps(server['key'])})")
        page.reload()
        page.wait_for_selector("body[data-ready=true]", state="attached", timeout=60_000)
    assert page.is_visible("#send-form")


def test_refused_launches_show_the_api_problem(page: Page, browser, server, monkeypatch):
    if page.input_value("#area-input") != CAMPAIGN_ZONE:
        _resolved(page, browser, lambda: page.fill("#area-input", CAMPAIGN_ZONE))
    # 422: neither texts nor a template.
    page.select_option("#send-template", "")
    for lang in ("nl", "fr", "de", "en"):
        page.fill(f"#send-{lang}", "")
    page.click("#send-submit")
    page.wait_for_function("() => document.getElementById('send-error').textContent")
    error = page.inner_text("#send-error")
    assert error.startswith("The campaign was not launched:")
    assert "give either texts or a template" in error
    page.fill("#send-en", "Stay indoors.")

    # 503: nothing accepted; sent again, the same Idempotency-Key makes it one campaign.
    def down(*args, **kwargs):
        raise sa.exc.OperationalError("INSERT INTO campaigns", {}, Exception("disk I/O error"))

    with monkeypatch.context() as patch:
        patch.setattr(CampaignStore, "create", down)
        with page.expect_request("**/v1/campaigns") as first:
            page.click("#send-submit")
        page.wait_for_function(
            "() => document.getElementById('send-error').textContent.includes('nothing was accepted')"
        )
    with page.expect_request("**/v1/campaigns") as again:
        campaign_id = _launch(page)
    key = first.value.headers["idempotency-key"]
    assert len(key) == 32 and again.value.headers["idempotency-key"] == key
    assert page.inner_text("#send-error") == ""
    server["http"].post(
        f"/v1/campaigns/{campaign_id}/cancel",
        headers={"Authorization": f"Bearer {server['key']}"},
    )
    _wait_for_report(page, campaign_id)

    # 403: a zone outside the key's jurisdiction names the key's own territory.
    page.evaluate(f"sessionStorage.setItem('geoalert.key', {json.dumps(server['mayor'])})")
    try:
        _resolved(page, browser, lambda: page.fill("#area-input", "Anderlecht (21001)"))
        page.click("#send-submit")
        page.wait_for_function("() => document.getElementById('send-error').textContent")
        error = page.inner_text("#send-error")
        assert "jurisdiction" in error and "Bruxelles" in error
    finally:
        page.evaluate(f"sessionStorage.setItem('geoalert.key', {json.dumps(server['key'])})")


def test_every_language_translates_every_text(page: Page):
    languages = page.evaluate(
        """async () => {
            const m = await import('/static/map/i18n.js');
            return Object.fromEntries(m.LANGUAGES.map(l => [l, Object.keys(m.TEXTS[l]).sort()]));
        }"""
    )
    assert set(languages) == {"nl", "fr", "de", "en"}
    for lang, keys in languages.items():
        assert keys == languages["en"], lang
    headings = {"nl": "Bereik", "fr": "Portée", "de": "Reichweite", "en": "Reach"}
    for lang, heading in headings.items():
        page.select_option("#lang", lang)
        assert page.inner_text("#res-h") == heading
        assert page.get_attribute("html", "lang") == lang
        assert page.get_attribute(MAP, "aria-label") != ""
    page.select_option("#lang", "en")


def test_keyboard_use_and_layout_at_1366x768(page: Page, browser):
    _resolved(page, browser, lambda: page.fill("#area-input", "Etterbeek (21005)"))
    # Every control can be named by a screen reader.
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('button, input, select, textarea, [tabindex]')]
            .filter(el => el.type !== 'file' && el.offsetParent !== null)
            .filter(el => !(el.getAttribute('aria-label') || el.labels?.length
                           || el.getAttribute('aria-labelledby') || el.textContent.trim()))
            .map(el => el.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []
    # Focus moves by Tab and shows.
    _blur(page)
    page.keyboard.press("Tab")
    seen, wrapped = set(), 0
    for _ in range(120):
        page.keyboard.press("Tab")
        outline = page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement);"
            " return [document.activeElement.id || document.activeElement.tagName,"
            " s.outlineStyle, parseFloat(s.outlineWidth)]; }"
        )
        if outline[0] == "BODY":  # the tab order wrapped round to the browser
            wrapped += 1
            if wrapped == 2:
                break
            continue
        seen.add(outline[0])
        assert outline[1] != "none" and outline[2] >= 2, outline
    controls = {"lang", "help-open", "map", "area-input", "radius", "time", "show-01", "clear"}
    assert controls <= seen
    # Help lists the shortcuts.
    page.keyboard.press("Escape")
    _blur(page)
    page.keyboard.press("?")
    assert page.locator("#help-keys dt").count() >= 10
    page.keyboard.press("Escape")
    # Nothing overflows sideways; the map and the panel share the width.
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    map_box = page.locator(MAP).bounding_box()
    panel_box = page.locator("#panel").bounding_box()
    assert map_box["width"] >= 900 and panel_box["width"] >= 340
    assert map_box["height"] >= 700
