// Campaigns from the page: send an alert for the zone (a simulation unless a live one is
// confirmed), follow a campaign's messages per channel and state as they change, its final
// report, cancel it; the recent campaigns, to follow one launched elsewhere.

import { ApiError, call, events } from "./api.js";
import { LANGUAGES, language, money, number, t, time } from "./i18n.js";

const $ = (id) => document.getElementById(id);
/** Message states in the order of their life (geoalert.campaigns.model.MessageState). */
const STATES = ["queued", "retry", "sending", "sent", "delivered", "failed", "cancelled"];
const DONE = new Set(["sent", "delivered", "failed", "cancelled"]);
const FINAL = new Set(["finished", "cancelled", "failed"]);
const REPORT_COLUMNS = ["sent", "delivered", "failed", "cancelled"];
const RECENT = 8;
const RECONNECT_MS = 2000;
const RECENT_REFRESH_MS = 20_000;
const PLACEHOLDER = /\$(?:\$|(\w+)|\{(\w+)\})/g;

const state = {
  zone: () => null, // the zone form of the page, or null
  reach: () => null, // the last /v1/resolve answer
  role: null, // the key's role
  refused: null, // why the key may not alert zones (null when it may)
  templates: new Map(), // name -> {texts, headlines}
  idempotency: null, // Idempotency-Key of a launch to repeat as is
  sentZone: "null", // the zone form the panel last saw (JSON)
  launching: false, // a launch request waiting for its answer
  run: null, // the campaign followed: {id, view, report, controller, events, said}
  pending: null, // a live launch waiting for its confirmation
  recent: [], // views of the recent campaigns
  recentError: null,
  poll: null, // timer refreshing the recent campaigns
};

// -- sending ---------------------------------------------------------------------------------

/** Wire the panel; `zone()` gives the API zone form (or null), `reach()` the last resolution. */
export function setupCampaigns({ zone, reach }) {
  state.zone = zone;
  state.reach = reach;
  const form = $("send-form");
  form.addEventListener("submit", submit);
  form.addEventListener("input", () => (state.idempotency = null));
  form.addEventListener("change", () => showMode());
  $("send-template").addEventListener("change", showTemplate);
  $("live-check").addEventListener("change", () => ($("live-send").disabled = !$("live-check").checked));
  $("live-form").addEventListener("submit", (e) => {
    e.preventDefault();
    $("live-dialog").close();
    launch(state.pending);
  });
  $("live-cancel").addEventListener("click", () => $("live-dialog").close());
  $("campaign-cancel").addEventListener("click", cancel);
  $("recent-refresh").addEventListener("click", refreshRecent);
}

/** Start with the key's config: whether it may alert zones, the templates, recent campaigns. */
export async function startCampaigns(config) {
  state.role = config.key.role;
  state.refused = config.key.alert_refused;
  $("send-form").hidden = state.refused !== null;
  $("send-refused").hidden = state.refused === null;
  try {
    const { templates } = await call("/v1/campaigns/templates");
    state.templates = new Map(templates.map((tpl) => [tpl.name, tpl]));
  } catch {
    state.templates = new Map(); // texts can still be written
  }
  const select = $("send-template");
  select.replaceChildren(select.options[0]);
  for (const name of state.templates.keys()) select.add(new Option(name, name));
  translateCampaigns();
  await refreshRecent();
  state.poll ??= setInterval(() => document.visibilityState === "visible" && refreshRecent(), RECENT_REFRESH_MS);
}

/** Enable sending once there is a zone (called whenever the zone changes). */
export function zoneChanged() {
  const zone = JSON.stringify(state.zone());
  if (zone !== state.sentZone) state.idempotency = null;
  state.sentZone = zone;
  const ready = zone !== "null";
  $("send-submit").disabled = !ready || state.launching;
  if (!state.launching) $("send-hint").textContent = ready ? "" : t("send_no_zone");
}

/** Texts of the panel in the current language. */
export function translateCampaigns() {
  $("send-refused").textContent = t("send_refused", { role: state.role ?? "" });
  showMode();
  showTemplate();
  zoneChanged();
  renderRecent();
  if (state.run) {
    renderRun();
    if (state.run.report) renderReport(state.run.report);
  }
}

function showMode() {
  const live = modeOf() === "live";
  const button = $("send-submit");
  button.textContent = t(live ? "send_live" : "send_simulation");
  button.classList.toggle("live", live);
}

function modeOf() {
  return document.querySelector("#send-form input[name=mode]:checked").value;
}

function showTemplate() {
  const template = state.templates.get($("send-template").value);
  $("send-texts").hidden = Boolean(template);
  const params = $("send-params");
  const values = Object.fromEntries([...params.querySelectorAll("input")].map((i) => [i.name, i.value]));
  params.replaceChildren();
  $("send-preview").hidden = !template;
  if (!template) return;
  const texts = template.texts || {};
  const lang = texts[language()] ? language() : Object.keys(texts)[0];
  $("send-preview").textContent = lang ? `(${lang}) ${texts[lang]}` : "";
  const names = new Set();
  for (const text of [...Object.values(texts), ...Object.values(template.headlines || {})]) {
    for (const m of text.matchAll(PLACEHOLDER)) if (m[1] || m[2]) names.add(m[1] || m[2]);
  }
  for (const name of names) {
    const label = document.createElement("label");
    label.htmlFor = `send-param-${name}`;
    label.textContent = `$${name}`;
    const input = document.createElement("input");
    input.id = `send-param-${name}`;
    input.name = name;
    input.value = values[name] ?? "";
    params.append(label, input);
  }
}

/** The launch request of the panel (the API checks it and says what is wrong). */
function request() {
  const body = {
    zone: state.zone(),
    channels: [...document.querySelectorAll("#send-form input[name=channel]:checked")].map((b) => b.value),
    mode: modeOf(),
  };
  const template = $("send-template").value;
  if (template) {
    body.template = template;
    body.params = Object.fromEntries([...$("send-params").querySelectorAll("input")].map((i) => [i.name, i.value]));
    return body;
  }
  // The page's language first: people whose language has no text receive that one.
  const texts = {};
  for (const lang of [language(), ...LANGUAGES]) {
    const text = $(`send-${lang}`).value.trim();
    if (text && !(lang in texts)) texts[lang] = text;
  }
  if (Object.keys(texts).length) body.texts = texts;
  return body;
}

function submit(event) {
  event.preventDefault();
  if (state.zone() === null || state.refused !== null) return;
  const body = request();
  if (body.mode !== "live") {
    launch(body);
    return;
  }
  state.pending = body;
  const channels = body.channels.map((c) => t(c)).join(", ") || "—";
  const contacts = state.reach()?.contacts?.count;
  $("live-text").textContent =
    t("live_text", { channels }) +
    (typeof contacts === "number" ? ` ${t("live_reach", { n: number(contacts) })}` : "");
  $("live-check").checked = false;
  $("live-send").disabled = true;
  $("live-dialog").showModal();
}

async function launch(body) {
  // The same key until the server answers, so that a repeat after a time-out or a 503 is
  // the same campaign.
  state.idempotency ??= randomKey();
  state.launching = true;
  $("send-submit").disabled = true;
  $("send-error").textContent = "";
  $("send-hint").textContent = t("sending_request");
  try {
    const view = await call("/v1/campaigns", {
      method: "POST",
      body,
      headers: { "Idempotency-Key": state.idempotency },
    });
    state.idempotency = null;
    document.querySelector("#send-form input[name=mode][value=simulation]").checked = true;
    showMode();
    follow(view);
    refreshRecent();
  } catch (error) {
    const again = !(error instanceof ApiError) || error.status >= 500 || error.status === 429;
    if (!again) state.idempotency = null;
    $("send-error").textContent = t("send_failed", { detail: error.message });
  } finally {
    state.launching = false;
    zoneChanged();
  }
}

function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// -- following ------------------------------------------------------------------------------

/** Follow a campaign (its view from the API): live counts, then its report. */
function follow(view) {
  state.run?.controller.abort();
  const run = { id: view.campaign_id, view, report: null, controller: new AbortController(), events: 0 };
  state.run = run;
  const section = $("campaign");
  section.hidden = false;
  section.dataset.campaign = String(run.id);
  delete section.dataset.report;
  $("campaign-report").replaceChildren();
  renderRun();
  renderRecent();
  listen(run);
}

async function listen(run) {
  const { signal } = run.controller;
  while (!signal.aborted && run.report === null) {
    try {
      await events(`/v1/campaigns/${run.id}/events`, (name, data) => onEvent(run, name, data), { signal });
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status < 500 && error.status !== 429) {
        showStatus(t("follow_failed", { detail: error.message }));
        return;
      }
      showStatus(t("reconnecting", { detail: error.message }));
    }
    if (run.report === null) await new Promise((done) => setTimeout(done, RECONNECT_MS));
  }
}

function onEvent(run, name, data) {
  if (run !== state.run) return;
  if (name === "progress") {
    run.view = data;
    run.events += 1;
    renderRun();
  } else if (name === "report") {
    // The report counts the messages themselves: the sender's last progress may predate a
    // cancellation.
    run.report = data;
    run.view = { ...run.view, state: data.state, progress: { channels: reportCounts(data) } };
    renderRun();
    renderReport(data);
    refreshRecent();
  }
}

function renderRun() {
  const { view, report } = state.run;
  const section = $("campaign");
  section.dataset.state = view.state;
  section.dataset.events = String(state.run.events);
  $("campaign-h").textContent = t("campaign_title", { id: view.campaign_id, mode: t(`mode_${view.mode}`) });
  const counts = view.progress?.channels || {};
  const channels = [...new Set([...view.channels, ...Object.keys(counts)])];
  const shown = STATES.filter((s) => channels.some((c) => counts[c]?.[s]));
  const total = channels.reduce((n, c) => n + sum(Object.values(counts[c] || {})), 0);
  const done = channels.reduce((n, c) => n + sum([...DONE].map((s) => counts[c]?.[s] || 0)), 0);

  const head = document.createElement("tr");
  head.append(cell("th", t("channel"), "col"));
  for (const s of shown) head.append(cell("th", t(`msg_${s}`), "col"));
  const body = document.createElement("tbody");
  for (const c of channels) {
    const row = document.createElement("tr");
    row.append(cell("th", t(c), "row"));
    for (const s of shown) {
      const td = cell("td", number(counts[c]?.[s] || 0));
      td.dataset.channel = c;
      td.dataset.state = s;
      row.append(td);
    }
    body.append(row);
  }
  const table = $("campaign-counts");
  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceWith(body);

  const bar = $("campaign-progress");
  bar.max = Math.max(total, 1);
  bar.value = done;
  bar.setAttribute("aria-valuetext", t("handled", { done: number(done), total: number(total) }));
  let detail = total ? t("handled", { done: number(done), total: number(total) }) : "";
  if (!total && !FINAL.has(view.state)) detail = t("preparing");
  if (report === null && FINAL.has(view.state) && total > done) detail = t("closing");
  if (view.state === "failed" && view.error) detail = view.error;
  const status = t(`state_${view.state}`);
  // Screen readers hear the changes of state, not every count.
  showStatus(detail ? t("status_line", { status, detail }) : status, state.run.said !== view.state);
  state.run.said = view.state;
  $("campaign-cancel").hidden = FINAL.has(view.state);
  $("campaign-cancel").disabled = false;
}

/** Messages per channel and state, from a report ("sent" there includes "delivered"). */
function reportCounts(report) {
  const counts = {};
  for (const [c, f] of Object.entries(report.channels)) {
    counts[c] = {
      queued: f.open,
      sent: f.sent - f.delivered,
      delivered: f.delivered,
      failed: f.failed,
      cancelled: f.cancelled,
    };
  }
  return counts;
}

function renderReport(report) {
  const box = $("campaign-report");
  const h = document.createElement("h3");
  h.textContent = t("report");
  const totals = document.createElement("dl");
  totals.className = "figures";
  const figure = (label, path, text) => {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.dataset.report = path;
    dd.textContent = text;
    totals.append(dt, dd);
  };
  figure(t("report_state"), "state", t(`state_${report.state}`));
  figure(t("report_messages"), "total.messages", number(report.total.messages));
  for (const s of REPORT_COLUMNS) figure(t(`msg_${s}`), `total.${s}`, number(report.total[s]));
  figure(t("duration"), "duration_s", t("seconds", { n: number(report.duration_s, 1) }));
  figure(t("cost"), "cost_eur", money(report.cost_eur));
  if (report.alert_sms_estimated_cost_eur) {
    figure(t("alert_sms_cost"), "alert_sms_estimated_cost_eur", money(report.alert_sms_estimated_cost_eur));
  }

  const table = document.createElement("table");
  table.className = "counts";
  const caption = document.createElement("caption");
  caption.textContent = t("report_by_channel");
  const head = document.createElement("tr");
  head.append(cell("th", t("channel"), "col"));
  for (const s of REPORT_COLUMNS) head.append(cell("th", t(`msg_${s}`), "col"));
  head.append(cell("th", t("cost"), "col"));
  const thead = document.createElement("thead");
  thead.append(head);
  const body = document.createElement("tbody");
  const reasons = document.createElement("ul");
  reasons.className = "reasons";
  for (const [c, figures] of Object.entries(report.channels)) {
    const row = document.createElement("tr");
    row.append(cell("th", t(c), "row"));
    for (const s of REPORT_COLUMNS) {
      const td = cell("td", number(figures[s]));
      td.dataset.report = `channels.${c}.${s}`;
      row.append(td);
    }
    const cost = cell("td", money(figures.cost_eur));
    cost.dataset.report = `channels.${c}.cost_eur`;
    row.append(cost);
    body.append(row);
    for (const [reason, n] of Object.entries(figures.failed_reasons)) {
      const li = document.createElement("li");
      const count = document.createElement("span");
      count.dataset.report = `channels.${c}.failed_reasons.${reason}`;
      count.textContent = number(n);
      li.append(`${t(c)}: ${reason} — `, count);
      reasons.append(li);
    }
  }
  table.append(caption, thead, body);
  box.replaceChildren(h, totals, table);
  if (reasons.children.length) {
    const rh = document.createElement("h3");
    rh.textContent = t("failed_reasons");
    box.append(rh, reasons);
  }
  showStatus(t("campaign_done", {
    state: t(`state_${report.state}`),
    duration: t("seconds", { n: number(report.duration_s, 1) }),
    sent: number(report.total.sent),
    failed: number(report.total.failed),
    cancelled: number(report.total.cancelled),
    cost: money(report.cost_eur),
  }));
  $("campaign").dataset.report = String(report.campaign_id);
}

async function cancel() {
  const run = state.run;
  const button = $("campaign-cancel");
  button.disabled = true;
  try {
    run.view = await call(`/v1/campaigns/${run.id}/cancel`, { method: "POST" });
    if (run === state.run) renderRun();
  } catch (error) {
    showStatus(t("cancel_failed", { detail: error.message }));
    button.disabled = false;
  }
}

/** Show the campaign's status; screen readers hear it when `announce`. */
function showStatus(text, announce = true) {
  $("campaign-status").textContent = text;
  if (announce) $("campaign-announce").textContent = text;
}

function cell(tag, text, scope) {
  const el = document.createElement(tag);
  if (scope) el.scope = scope;
  el.textContent = text;
  return el;
}

function sum(values) {
  return values.reduce((a, b) => a + b, 0);
}

// -- recent campaigns -------------------------------------------------------------------------

async function refreshRecent() {
  try {
    state.recent = (await call(`/v1/campaigns?limit=${RECENT}`)).campaigns;
    state.recentError = null;
  } catch (error) {
    state.recentError = error.message;
  }
  renderRecent();
}

function renderRecent() {
  const list = $("recent");
  const focused = list.contains(document.activeElement) ? document.activeElement.dataset.campaign : null;
  list.replaceChildren();
  if (state.recentError) {
    const li = document.createElement("li");
    li.className = "error";
    li.textContent = t("recent_failed", { detail: state.recentError });
    list.append(li);
    return;
  }
  if (!state.recent.length) {
    const li = document.createElement("li");
    li.textContent = t("no_campaigns");
    list.append(li);
  }
  for (const view of state.recent) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.campaign = String(view.campaign_id);
    button.setAttribute("aria-current", String(state.run?.id === view.campaign_id));
    const channels = view.channels.map((c) => t(c)).join(", ");
    const by = view.launched_by ? ` · ${view.launched_by}` : "";
    button.textContent =
      `#${view.campaign_id} · ${time(view.created_at)} · ${t(`mode_${view.mode}`)} · ` +
      `${t(`state_${view.state}`)} · ${channels}${by}`;
    button.addEventListener("click", () => follow(view));
    li.append(button);
    list.append(li);
  }
  // A refresh keeps the keyboard where it was.
  if (focused) list.querySelector(`button[data-campaign="${focused}"]`)?.focus();
}
