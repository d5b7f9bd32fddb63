// The crisis cell's map page: draw or pick a zone, see at once whom it reaches.

import { ApiError, call, forgetKey, getKey, setKey } from "./api.js";
import { setupCampaigns, startCampaigns, translateCampaigns, zoneChanged } from "./campaign.js";
import { Sketch } from "./draw.js";
import { LANGUAGES, has, initialLanguage, language, money, number, setLanguage, t, time } from "./i18n.js";
import { editable, fromForm, isXml, parseGeoJSON, toFeature, toForm } from "./zone.js";

const L = window.L;
const $ = (id) => document.getElementById(id);
const OPERATOR_COLOURS = { "01": "#6a3d9a", 10: "#d95f02", 20: "#1b7f4b" };
const FALLBACK_COLOURS = ["#1f78b4", "#b2182b", "#4d4d4d"];
const ZONE_STYLE = { color: "#0b3d91", weight: 3, fillColor: "#0b3d91", fillOpacity: 0.1 };
const SHOWN_PARTS = new Set(["zone", "cells", "operators", "addresses", "contacts", "population"]);
const SHOWN_ELSEWHERE = new Set(["contacts.cost_eur"]);
const UNIT_DIGITS = { km2: 2, eur: 2 };
const DEBOUNCE_MS = 200;

const state = {
  config: null,
  areas: new Map(), // code -> GeoJSON feature
  sites: new Map(), // site id -> LatLng
  zone: null, // page zone (zone.js)
  result: null, // last /v1/resolve answer
  coverage: null, // last /map/coverage answer
  hidden: new Set(), // operators not drawn
  cap: {}, // CAP fields imported, to prefill the export
  seq: 0,
  controller: null,
  timer: null,
};

// -- map ------------------------------------------------------------------------------------

const map = L.map("map", { keyboard: true, keyboardPanDelta: 60, zoomSnap: 0.5, minZoom: 7 });
map.attributionControl.setPrefix("Leaflet");
map.attributionControl.addAttribution("Statbel (CC BY 4.0)");
for (const [name, z] of [["areas", 300], ["sites", 350], ["coverage", 380], ["zone", 420], ["selected", 450]]) {
  map.createPane(name).style.zIndex = z;
}
const layers = {
  areas: L.layerGroup().addTo(map),
  sites: L.layerGroup().addTo(map),
  coverage: L.layerGroup().addTo(map),
  zone: L.layerGroup().addTo(map),
  selected: L.layerGroup().addTo(map),
};
const canvas = L.canvas({ pane: "sites" });
const selectedCanvas = L.canvas({ pane: "selected" });

const sketch = new Sketch(map, {
  done: (zone) => setZone(zone, { edit: false }),
  changed: (zone) => {
    state.zone = zone;
    syncFields();
    resolveSoon();
  },
  hint: showHint,
  radius: () => positive($("radius").value, 1000),
  width: () => positive($("width").value, 500),
  label: (kind, i) => t(`handle_${kind}`, { n: i + 1 }),
});

/** Operator MNCs in order ("01" before "10": object keys would put it last). */
function operators(map) {
  return Object.keys(map || {}).sort();
}

function colour(op) {
  const ops = operators(state.config?.operators);
  return OPERATOR_COLOURS[op] || FALLBACK_COLOURS[ops.indexOf(op) % FALLBACK_COLOURS.length];
}

function areaName(props) {
  const lang = language();
  return (lang !== "en" && props[`name_${lang}`]) || props.name;
}

function drawAreas() {
  layers.areas.clearLayers();
  const features = [...state.areas.values()].filter((f) => f.properties.level !== "region");
  // Provinces under municipalities, so that municipality names show on hover.
  features.sort((a, b) => (a.properties.level === "province" ? -1 : 1) - (b.properties.level === "province" ? -1 : 1));
  L.geoJSON(features, {
    pane: "areas",
    style: (f) =>
      f.properties.level === "province"
        ? { color: "#5a6570", weight: 2.5, fill: false, interactive: false }
        : { color: "#8a96a3", weight: 1, fillColor: "#eef1f4", fillOpacity: 1 },
    onEachFeature: (f, layer) => {
      if (f.properties.level === "municipality") {
        layer.bindTooltip(areaName(f.properties), { direction: "center", className: "area-label", permanent: true });
      }
    },
  }).addTo(layers.areas);
  labelsByZoom();
}

// Names and masts only once zoomed in enough to read them.
function labelsByZoom() {
  const near = map.getZoom() >= 11;
  map.getContainer().classList.toggle("labels", near);
  map.getPane("sites").style.display = near ? "" : "none";
}
map.on("zoomend", labelsByZoom);

function drawSites(collection) {
  for (const f of collection.features) {
    const [lon, lat] = f.geometry.coordinates;
    state.sites.set(f.properties.site_id, L.latLng(lat, lon));
    L.circleMarker([lat, lon], {
      renderer: canvas,
      radius: 1.8,
      stroke: false,
      fillColor: "#6b7280",
      fillOpacity: 0.7,
      interactive: false,
    }).addTo(layers.sites);
  }
}

// -- zone -----------------------------------------------------------------------------------

function setZone(zone, { edit = false, fit = false } = {}) {
  state.zone = zone;
  sketch.stop();
  if (edit && editable(zone)) sketch.edit(zone);
  syncFields();
  updateButtons();
  if (zone === null) {
    clearResults();
    return;
  }
  resolveNow({ fit });
}

function syncFields() {
  const zone = state.zone;
  if (zone?.kind === "circle") $("radius").value = zone.radius_m;
  if (zone?.kind === "corridor") $("width").value = zone.width_m;
  if (zone?.kind !== "area") $("area-input").value = "";
}

function updateButtons() {
  const has = state.zone !== null;
  $("clear").disabled = !has;
  $("edit").disabled = !editable(state.zone);
  $("edit").setAttribute("aria-pressed", String(sketch.mode === "edit"));
  $("export-geojson").disabled = !state.result;
  $("export-cap").disabled = !state.result;
  for (const button of document.querySelectorAll("[data-draw]")) {
    button.setAttribute("aria-pressed", String(sketch.mode === button.dataset.draw));
  }
  zoneChanged();
}

function showHint(mode, points) {
  const text = mode ? t(`hint_${mode}`) + (points ? ` ${t("points", { n: points })}` : "") : "";
  $("draw-hint").textContent = text;
  updateButtons();
}

function startDrawing(kind) {
  sketch.start(kind);
  map.getContainer().focus();
}

function toggleEdit() {
  if (sketch.mode === "edit") sketch.stop();
  else if (editable(state.zone)) sketch.edit(state.zone);
  updateButtons();
}

function pickArea(text) {
  const value = text.trim();
  const code = /\((\d{5})\)\s*$/.exec(value)?.[1];
  const wanted = value.toLowerCase();
  const feature =
    (code && state.areas.get(code)) ||
    [...state.areas.values()].find(
      (f) =>
        f.properties.level !== "region" &&
        [f.properties.code, f.properties.name, f.properties.name_nl, f.properties.name_fr, f.properties.name_de]
          .filter(Boolean)
          .some((n) => n.toLowerCase() === wanted),
    );
  if (!feature) return false;
  if (state.zone?.kind === "area" && state.zone.code === feature.properties.code) return true;
  setZone({ kind: "area", code: feature.properties.code }, { fit: true });
  $("area-input").value = `${areaName(feature.properties)} (${feature.properties.code})`;
  return true;
}

function fillAreaList() {
  const list = $("area-list");
  list.replaceChildren();
  const features = [...state.areas.values()]
    .filter((f) => f.properties.level !== "region")
    .sort((a, b) => areaName(a.properties).localeCompare(areaName(b.properties), language()));
  for (const f of features) {
    const option = document.createElement("option");
    option.value = `${areaName(f.properties)} (${f.properties.code})`;
    list.append(option);
  }
}

// -- resolving ------------------------------------------------------------------------------

function requestBody() {
  const body = { zone: toForm(state.zone) };
  const buckets = state.config?.buckets || [];
  if (buckets.length) body.at = buckets[Number($("time").value)];
  return body;
}

function resolveSoon() {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => resolveNow(), DEBOUNCE_MS);
}

async function resolveNow({ fit = false } = {}) {
  clearTimeout(state.timer);
  if (state.zone === null) return;
  state.controller?.abort();
  const controller = new AbortController();
  state.controller = controller;
  const seq = ++state.seq;
  const body = requestBody();
  $("results").setAttribute("aria-busy", "true");
  $("status").textContent = t("resolving");
  const started = performance.now();
  try {
    const [result, coverage] = await Promise.all([
      call("/v1/resolve", { method: "POST", body, signal: controller.signal }),
      call("/map/coverage", { method: "POST", body: { zone: body.zone }, signal: controller.signal }).catch(
        (error) => (error.name === "AbortError" ? Promise.reject(error) : null),
      ),
    ]);
    if (seq !== state.seq) return;
    state.result = result;
    showResult(result, Math.round(performance.now() - started));
    drawResult(result, coverage, fit);
  } catch (error) {
    if (error.name === "AbortError" || seq !== state.seq) return;
    if (error instanceof ApiError && error.status === 401) askKey();
    state.result = null;
    clearResults();
    $("status").textContent = t("resolve_failed", { detail: error.message });
  } finally {
    if (seq === state.seq) {
      $("results").setAttribute("aria-busy", "false");
      document.body.dataset.resolved = String(seq);
      updateButtons();
    }
  }
}

function drawResult(result, coverage, fit) {
  layers.zone.clearLayers();
  const zone = L.geoJSON(result.zone.geometry, { pane: "zone", style: ZONE_STYLE, interactive: false });
  zone.addTo(layers.zone);
  if (fit) map.fitBounds(zone.getBounds(), { padding: [30, 30], maxZoom: 15 });
  drawCoverage(coverage);
  drawSelectedSites(result.cells || []);
}

function drawCoverage(coverage) {
  layers.coverage.clearLayers();
  if (!coverage) return;
  const shown = coverage.features.filter((f) => !state.hidden.has(f.properties.operator));
  L.geoJSON(shown, {
    pane: "coverage",
    interactive: false,
    style: (f) =>
      f.properties.kind === "overshoot"
        ? { stroke: false, fillColor: colour(f.properties.operator), fillOpacity: 0.1 }
        : { color: colour(f.properties.operator), weight: 1.5, dashArray: "2 4", fill: false },
  }).addTo(layers.coverage);
  state.coverage = coverage;
}

function drawSelectedSites(cells) {
  layers.selected.clearLayers();
  const ops = operators(state.config?.operators);
  const seen = new Set();
  for (const cell of cells) {
    const key = `${cell.operator}/${cell.site_id}`;
    const at = state.sites.get(cell.site_id);
    if (seen.has(key) || !at || state.hidden.has(cell.operator)) continue;
    seen.add(key);
    L.circleMarker(at, {
      renderer: selectedCanvas,
      radius: 3 + 2.5 * Math.max(0, ops.indexOf(cell.operator)),
      color: colour(cell.operator),
      weight: 2,
      fill: false,
      interactive: false,
    }).addTo(layers.selected);
  }
}

// -- results --------------------------------------------------------------------------------

function pick(object, path) {
  return path.split(".").reduce((v, k) => (v == null ? undefined : v[k]), object);
}

function figure(element, value, digits = 0, unit = null) {
  const known = typeof value === "number" && Number.isFinite(value);
  show(element, !known ? null : unit === "eur" ? money(value) : number(value, digits));
}

/** Show `text`, or a dash read out as "not available". */
function show(element, text) {
  element.classList.toggle("missing", text === null);
  if (text !== null) {
    element.textContent = text;
    return;
  }
  const dash = document.createElement("span");
  dash.setAttribute("aria-hidden", "true");
  dash.textContent = "—";
  const said = document.createElement("span");
  said.className = "sr-only";
  said.textContent = t("not_available");
  element.replaceChildren(dash, said);
}

function showResult(result, ms) {
  for (const dd of document.querySelectorAll("#results dd[data-value]")) {
    const unit = dd.dataset.unit;
    figure(dd, pick(result, dd.dataset.value), UNIT_DIGITS[unit] ?? 0, unit);
  }
  const warnings = $("warnings");
  warnings.replaceChildren();
  for (const text of result.zone.warnings || []) {
    const li = document.createElement("li");
    li.textContent = text;
    warnings.append(li);
  }
  const pop = result.population;
  show($("pop-interval"), pop && pop.low != null ? `${number(pop.low)} – ${number(pop.high)}` : null);
  show($("pop-at"), pop?.at ? time(pop.at) : null);
  showOperators(result);
  showFlat($("contacts"), result.contacts, "contacts");
  const more = $("more");
  more.replaceChildren();
  for (const [part, value] of Object.entries(result)) {
    if (SHOWN_PARTS.has(part) || value === null || typeof value !== "object") continue;
    const h = document.createElement("h3");
    h.textContent = has(part) ? t(part) : part;
    const dl = document.createElement("dl");
    dl.className = "figures";
    showFlat(dl, value, part);
    more.append(h, dl);
  }
  const cells = Object.values(result.operators || {}).reduce((n, op) => n + op.cell_count, 0);
  const said = [t("n_cells", { n: number(cells) })];
  if (result.addresses) said.push(t("n_addresses", { n: number(result.addresses.count) }));
  if (pop) said.push(t("n_people", { n: number(pop.estimate) }));
  $("status").textContent = `${said.join(", ")} (${ms} ms).`;
}

function showOperators(result) {
  const body = $("ops");
  body.replaceChildren();
  for (const op of operators(result.operators)) {
    const info = result.operators[op];
    const row = document.createElement("tr");
    const name = document.createElement("th");
    name.scope = "row";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = !state.hidden.has(op);
    box.id = `show-${op}`;
    box.setAttribute("aria-label", `${t("show_on_map")}: ${info.name}`);
    box.addEventListener("change", () => {
      if (box.checked) state.hidden.delete(op);
      else state.hidden.add(op);
      drawCoverage(state.coverage);
      drawSelectedSites(state.result?.cells || []);
    });
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.borderColor = colour(op);
    const label = document.createElement("label");
    label.htmlFor = box.id;
    label.textContent = info.name;
    name.append(box, swatch, label);
    row.append(name);
    for (const [path, digits] of [["cell_count", 0], ["overshoot_km2", 1]]) {
      const td = document.createElement("td");
      td.dataset.value = `operators.${op}.${path}`;
      figure(td, info[path], digits);
      row.append(td);
    }
    const devices = document.createElement("td");
    devices.dataset.value = `population.by_operator.${op}`;
    figure(devices, result.population?.by_operator?.[op]);
    row.append(devices);
    body.append(row);
  }
}

/** The numbers of a part as they come: nested objects under a subheading. */
function showFlat(dl, value, path) {
  dl.replaceChildren();
  const label = (key, parent) =>
    parent === "by_language" ? languageName(key) : has(key) ? t(key) : key;
  const walk = (v, p, key, parent) => {
    if (SHOWN_ELSEWHERE.has(p)) return;
    if (typeof v === "number") {
      const dt = document.createElement("dt");
      dt.textContent = key === null ? t("total") : label(key, parent);
      const dd = document.createElement("dd");
      dd.dataset.value = p;
      const unit = key?.endsWith("_eur") ? "eur" : null;
      figure(dd, v, Number.isInteger(v) ? 0 : 2, unit);
      dl.append(dt, dd);
    } else if (v && typeof v === "object" && !Array.isArray(v)) {
      if (key !== null) {
        const head = document.createElement("dt");
        head.className = "sub";
        head.textContent = label(key, parent);
        dl.append(head);
      }
      for (const [k, x] of Object.entries(v)) walk(x, `${p}.${k}`, k, key);
    }
  };
  walk(value, path, null, null);
  if (dl.children.length === 0) {
    const dt = document.createElement("dt");
    dt.textContent = t("total");
    const dd = document.createElement("dd");
    dd.dataset.value = path;
    figure(dd, undefined);
    dl.append(dt, dd);
  }
}

function languageName(code) {
  return document.querySelector(`#lang option[value="${CSS.escape(code)}"]`)?.textContent ?? code;
}

function clearResults() {
  state.result = null;
  for (const layer of [layers.zone, layers.coverage, layers.selected]) layer.clearLayers();
  for (const dd of document.querySelectorAll("#results dd")) dd.textContent = "";
  for (const id of ["ops", "warnings", "contacts", "more"]) $(id).replaceChildren();
  $("status").textContent = t("no_zone");
  updateButtons();
}

// -- time -----------------------------------------------------------------------------------

function setupTime() {
  const buckets = state.config.buckets;
  const slider = $("time");
  slider.max = String(Math.max(0, buckets.length - 1));
  slider.value = slider.max;
  slider.disabled = buckets.length === 0;
  showTime();
}

function showTime() {
  const buckets = state.config?.buckets || [];
  const label = buckets.length ? time(buckets[Number($("time").value)]) : t("no_buckets");
  $("time-label").textContent = label;
  $("time").setAttribute("aria-valuetext", label);
}

// -- export and import ----------------------------------------------------------------------

function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
  $("status").textContent = t("exported", { name });
}

function exportGeoJSON() {
  if (!state.result) return;
  const feature = toFeature(state.zone, state.result.zone);
  download(new Blob([JSON.stringify(feature)], { type: "application/geo+json" }), "geoalert-zone.geojson");
}

function openCap() {
  if (!state.result) return;
  $("cap-error").textContent = "";
  $("cap-dialog").showModal();
}

async function exportCap(event) {
  event.preventDefault();
  const texts = {};
  for (const lang of LANGUAGES) {
    const text = $(`cap-${lang}`).value.trim();
    if (text) texts[lang] = text;
  }
  const body = {
    zone: toForm(state.zone),
    texts,
    event: $("cap-event").value.trim(),
    severity: $("cap-severity").value,
    urgency: $("cap-urgency").value,
    certainty: $("cap-certainty").value,
    status: $("cap-status").value,
  };
  try {
    const blob = await call("/v1/alerts/cap", { method: "POST", body, as: "blob" });
    $("cap-dialog").close();
    download(blob, "geoalert-alert.cap.xml");
  } catch (error) {
    $("cap-error").textContent = error.message;
  }
}

async function importFile(file) {
  try {
    const text = await file.text();
    let form;
    if (isXml(text)) {
      const alert = await call("/map/cap/zone", { method: "POST", body: text, type: "application/cap+xml" });
      form = alert.zone;
      for (const [lang, value] of Object.entries(alert.texts || {})) {
        if ($(`cap-${lang}`)) $(`cap-${lang}`).value = value;
      }
      for (const name of ["event", "severity", "urgency", "certainty"]) {
        if (alert[name]) $(`cap-${name}`).value = alert[name];
      }
    } else {
      form = parseGeoJSON(text);
    }
    setZone(fromForm(form), { fit: true });
    $("status").textContent = t("imported", { name: file.name });
  } catch (error) {
    $("status").textContent = t("import_failed", { name: file.name, detail: error.message });
  }
}

// -- key ------------------------------------------------------------------------------------

function askKey(message = "") {
  $("key-error").textContent = message;
  $("key-input").value = "";
  if (!$("key-dialog").open) $("key-dialog").showModal();
  $("key-input").focus();
}

function refused(error) {
  if (error instanceof ApiError && error.status === 401) forgetKey();
  askKey(t("key_invalid", { detail: error.message }));
}

async function start() {
  state.config = await call("/map/config");
  const who = state.config.key;
  $("who").textContent = t("key_ok", { name: who.name, role: who.role });
  setupTime();
  const [areas, sites] = await Promise.all([call("/map/areas"), call("/map/sites")]);
  for (const f of areas.features) state.areas.set(f.properties.code, f);
  drawAreas();
  fillAreaList();
  const municipalities = areas.features.filter((f) => f.properties.level === "municipality");
  map.fitBounds(L.geoJSON(municipalities).getBounds());
  drawSites(sites);
  clearResults();
  await startCampaigns(state.config);
  document.body.dataset.ready = "true";
}

// -- keyboard -------------------------------------------------------------------------------

const SHORTCUTS = [
  ["← ↑ → ↓", "key_map_pan"],
  ["+ −", "key_map_zoom"],
  ["P / C / L", "hint_polygon"],
  ["Enter", "key_add"],
  ["F", "key_finish"],
  ["Backspace", "key_undo"],
  ["Esc", "key_escape"],
  ["E", "hint_edit"],
  ["Delete", "key_delete"],
  ["A", "key_area"],
  ["T", "key_time"],
  ["M", "key_map"],
  ["R", "key_results"],
  ["G", "key_export_geojson"],
  ["X", "key_export_cap"],
  ["I", "key_import"],
  ["S", "key_send"],
  ["?", "key_help"],
];

function fillHelp() {
  const dl = $("help-keys");
  dl.replaceChildren();
  for (const [keys, text] of SHORTCUTS) {
    const dt = document.createElement("dt");
    const kbd = document.createElement("kbd");
    kbd.textContent = keys;
    dt.append(kbd);
    const dd = document.createElement("dd");
    dd.textContent = text === "hint_polygon" ? `${t("polygon")} / ${t("circle")} / ${t("corridor")}` : t(text);
    dl.append(dt, dd);
  }
}

// Points taken at the cross wait for a keyboard pan to end.
let moving = false;
map.on("movestart", () => (moving = true));
map.on("moveend", () => (moving = false));

/** Run `action` now, or once the map has stopped moving, in the order asked. */
function afterMove(action) {
  if (moving) map.once("moveend", action);
  else action();
}

const TEXT_INPUTS = new Set(["text", "search", "number", "password", "email", "url", "tel"]);

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey || document.querySelector("dialog[open]")) return;
  const target = e.target;
  const typing =
    target.closest?.("textarea, select, [contenteditable]") ||
    (target.tagName === "INPUT" && TEXT_INPUTS.has(target.type));
  const onMap = target === map.getContainer();
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  if (key === "Escape") {
    if (sketch.mode) {
      sketch.stop();
      e.preventDefault();
    }
    return;
  }
  if (typing) return;
  const actions = {
    p: () => startDrawing("polygon"),
    c: () => startDrawing("circle"),
    l: () => startDrawing("corridor"),
    f: () => afterMove(() => sketch.drawing && sketch.finish()),
    e: () => toggleEdit(),
    Delete: () => setZone(null),
    a: () => $("area-input").focus(),
    t: () => $("time").focus(),
    m: () => map.getContainer().focus(),
    r: () => $("panel").focus(),
    g: () => exportGeoJSON(),
    x: () => openCap(),
    i: () => $("import-file").click(),
    s: () => $("send-h").focus(),
    "?": () => $("help-dialog").showModal(),
  };
  if (onMap && sketch.drawing && key === "Enter") {
    actions.Enter = () => afterMove(() => sketch.add(map.getCenter()));
  }
  if (onMap && sketch.drawing && key === "Backspace") actions.Backspace = () => sketch.undo();
  if (!actions[key]) return;
  e.preventDefault();
  actions[key]();
}

// -- wiring ---------------------------------------------------------------------------------

function positive(text, fallback) {
  const value = Number(text);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

function onLanguage(lang) {
  setLanguage(lang);
  $("lang").value = language();
  fillHelp();
  if (state.areas.size) {
    drawAreas();
    fillAreaList();
  }
  if (state.config) {
    showTime();
    $("who").textContent = t("key_ok", { name: state.config.key.name, role: state.config.key.role });
  }
  if (state.result) showResult(state.result, 0);
  else $("status").textContent = state.config ? t("no_zone") : "";
  translateCampaigns();
  sketch.render();
}

function wire() {
  document.addEventListener("keydown", onKey);
  setupCampaigns({ zone: () => (state.zone ? toForm(state.zone) : null), reach: () => state.result });
  $("lang").addEventListener("change", (e) => onLanguage(e.target.value));
  for (const button of document.querySelectorAll("[data-draw]")) {
    button.addEventListener("click", () => startDrawing(button.dataset.draw));
  }
  $("edit").addEventListener("click", toggleEdit);
  $("clear").addEventListener("click", () => setZone(null));
  $("area-input").addEventListener("change", (e) => pickArea(e.target.value));
  $("area-input").addEventListener("input", (e) => {
    // A choice from the list ("Name (code)") is taken at once; typed text on Enter.
    if (/\(\d{5}\)$/.test(e.target.value)) pickArea(e.target.value);
  });
  $("area-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter") pickArea(e.target.value);
  });
  for (const [id, field] of [["radius", "radius_m"], ["width", "width_m"]]) {
    $(id).addEventListener("input", () => {
      const zone = state.zone;
      const kind = id === "radius" ? "circle" : "corridor";
      if (zone?.kind !== kind) return;
      zone[field] = positive($(id).value, zone[field]);
      sketch.update(zone);
      resolveSoon();
    });
  }
  $("time").addEventListener("input", () => {
    showTime();
    resolveSoon();
  });
  $("export-geojson").addEventListener("click", exportGeoJSON);
  $("export-cap").addEventListener("click", openCap);
  $("cap-form").addEventListener("submit", exportCap);
  $("cap-cancel").addEventListener("click", () => $("cap-dialog").close());
  $("import").addEventListener("click", () => $("import-file").click());
  $("import-file").addEventListener("change", (e) => {
    const [file] = e.target.files;
    if (file) importFile(file);
    e.target.value = "";
  });
  $("help-open").addEventListener("click", () => $("help-dialog").showModal());
  $("help-close").addEventListener("click", () => $("help-dialog").close());
  $("key-forget").addEventListener("click", () => {
    forgetKey();
    location.reload();
  });
  $("key-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    setKey($("key-input").value);
    $("key-dialog").close();
    await start().catch(refused);
  });
  $("key-dialog").addEventListener("cancel", (e) => e.preventDefault());
}

wire();
onLanguage(initialLanguage());
if (getKey()) start().catch(refused);
else askKey();
