// The cdpkit mock's dashboard. Reads the control API of the mock that served it (same origin), writes
// only through JSON POSTs (which the control guard admits from this page and refuses from any other
// site), and puts every journal value in the page as text, never as HTML: the journal holds whatever
// clients sent.
"use strict";

const POLL_MS = 500;           // how often the page asks whether anything changed (two tiny GETs)
const HIDDEN_POLL_MS = 5000;   // the same while the tab is in the background
const PAGE = 100;              // requests shown
const STATE_LIMIT = 50;        // entries per state collection
const TOKEN_KEY = "cdpkit-admin-token";

const $ = (sel) => document.querySelector(sel);
const STATE_EVERY_MS = 2000;   // a busy vendor's state is read again at most this often
const view = { asked: 0, fingerprint: null, summary: null, knownNewest: 0, entries: [], picked: null,
               stateKey: null, stateAt: 0, vendors: [] };
const catalog = new Map();  // requirement ID -> Promise of its entry

// -- the admin token: ?token= once (dropped from the address bar at once), then sessionStorage ----------
(function takeTokenFromUrl() {
  const url = new URL(location.href);
  const given = url.searchParams.get("token");
  if (given !== null) {
    sessionStorage.setItem(TOKEN_KEY, given);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
})();

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers["X-Cdpkit-Token"] = token;
  const answer = await fetch("/__mock" + path, { ...options, headers, credentials: "same-origin", cache: "no-store" });
  if (answer.status === 401) throw new Unauthorized();
  if (!answer.ok) throw new Error(`${answer.status} ${path}`);
  return answer.json();
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "data") Object.assign(node.dataset, v);
    else node[k] = v;
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function pretty(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

// -- counts per vendor -------------------------------------------------------------------------------
function renderSummary(summary) {
  const rows = Object.entries(summary.vendors).map(([vendor, c]) =>
    el("tr", { data: { vendor } }, el("td", { class: "vendor" }, vendor), el("td", { class: "num good" }, c.good),
       el("td", { class: "num bad" }, c.bad), el("td", { class: "num total" }, c.total)));
  rows.push(el("tr", { data: { vendor: "*" } }, el("th", {}, "all"), el("th", { class: "num good" }, summary.total.good),
               el("th", { class: "num bad" }, summary.total.bad), el("th", { class: "num total" }, summary.total.total)));
  $("#summary tbody").replaceChildren(...rows);
  const vendors = Object.keys(summary.vendors);
  if (vendors.join() !== view.vendors.join()) {
    view.vendors = vendors;
    const keep = $("#filter-vendor").value;
    $("#filter-vendor").replaceChildren(el("option", { value: "" }, "all"), ...vendors.map((v) => el("option", { value: v }, v)));
    $("#filter-vendor").value = keep;
    const keepState = $("#state-vendor").value;
    $("#state-vendor").replaceChildren(...vendors.map((v) => el("option", { value: v }, v)));
    if (keepState) $("#state-vendor").value = keepState;
  }
}

// -- the journal -------------------------------------------------------------------------------------
function matchesText(entry, text) {
  if (!text) return true;
  const hay = [entry.vendor, entry.operation, entry.request.method, entry.request.path, entry.response.status,
               entry.verdict, ...entry.violations].join(" ").toLowerCase();
  return text.toLowerCase().split(/\s+/).every((word) => hay.includes(word));
}

function renderRequests() {
  const text = $("#filter-text").value.trim();
  const shown = view.entries.filter((e) => matchesText(e, text));
  $("#requests tbody").replaceChildren(...shown.map((e) => {
    const time = (e.time || "").slice(11, 23);
    const row = el("tr", { class: `verdict-${e.verdict}` + (view.picked && view.picked.id === e.id ? " picked" : ""),
                           data: { id: e.id, verdict: e.verdict, vendor: e.vendor } },
      el("td", { class: "num" }, e.id), el("td", { class: "time" }, time), el("td", { class: "vendor" }, e.vendor),
      el("td", { class: "operation" }, e.operation || "—"),
      el("td", { class: "path", title: e.request.path }, `${e.request.method} ${e.request.path}`),
      el("td", { class: "num status" }, e.response.status), el("td", { class: `verdict ${e.verdict}` }, e.verdict),
      el("td", { class: "ids" }, e.violations.join(" ")));
    row.addEventListener("click", () => openEntry(e));
    return row;
  }));
  $("#empty").hidden = view.entries.length > 0;
  $("#shown").textContent = view.entries.length ? `${shown.length} of the newest ${view.entries.length} shown` : "";
  if (view.picked && !view.entries.some((e) => e.id === view.picked.id)) closeEntry();
}

function filterParams(limit) {
  const params = new URLSearchParams({ limit });
  if ($("#filter-vendor").value) params.set("vendor", $("#filter-vendor").value);
  if ($("#filter-verdict").value) params.set("verdict", $("#filter-verdict").value);
  return params;
}

// The whole page of the newest PAGE entries (on start, after a reset, a filter change).
async function refreshRequests() {
  const page = await api("/requests?" + filterParams(PAGE));
  view.entries = page.requests;
  renderRequests();
}

// Only what arrived since the last look: the `arrived` entries up to `newestId` (before= pins the window,
// so requests landing meanwhile wait for the next look instead of pushing older ones out of it) hold every
// new one, filtered or not. Keeps a busy mock's dashboard to what changed, never PAGE full entries twice a
// second.
async function appendRequests(newestId) {
  const arrived = newestId - view.knownNewest;
  if (arrived <= 0 || arrived >= PAGE) return refreshRequests();
  const params = filterParams(arrived);
  params.set("before", newestId + 1);
  const page = await api("/requests?" + params);
  const shown = Math.max(view.knownNewest, view.entries.length ? view.entries[0].id : 0);
  view.entries = page.requests.filter((e) => e.id > shown).concat(view.entries).slice(0, PAGE);
  renderRequests();
}

// -- one request opened ------------------------------------------------------------------------------
function entryOf(id) {
  if (!catalog.has(id)) {
    catalog.set(id, api("/catalog/" + encodeURIComponent(id)).catch((err) => {
      catalog.delete(id);
      if (err instanceof Unauthorized) throw err;
      return { id, quote: "", english: "(not in the catalog)" };
    }));
  }
  return catalog.get(id);
}

function requestText(e) {
  const r = e.request;
  const query = new URLSearchParams(r.query || {}).toString();
  const lines = [`${r.method} ${r.path}${query ? "?" + query : ""}`];
  for (const [k, v] of Object.entries(r.headers || {})) lines.push(`${k}: ${v}`);
  if (r.body !== null && r.body !== undefined) lines.push("", pretty(r.body));
  return lines.join("\n");
}

async function openEntry(e) {
  view.picked = e;
  for (const row of document.querySelectorAll("#requests tbody tr")) row.classList.toggle("picked", row.dataset.id === String(e.id));
  $("#detail").hidden = false;
  $("#detail").dataset.id = e.id;
  $("#detail-id").textContent = `#${e.id}`;
  $("#detail-line").replaceChildren(`${e.time} · ${e.vendor} · ${e.operation || "no operation"} · `,
    el("span", { class: `verdict-${e.verdict}` }, e.verdict), ` · ${e.duration_ms} ms`);
  $("#detail-request").textContent = requestText(e);
  $("#detail-status").textContent = e.response.status;
  $("#detail-response").textContent = pretty(e.response.body);
  $("#violations-block").hidden = e.violations.length === 0;
  $("#violations").replaceChildren(...e.violations.map((id) => el("li", { data: { id } }, el("span", { class: "id" }, id))));
  for (const id of e.violations) {
    const entry = await entryOf(id);
    if (view.picked !== e) return;
    const item = $(`#violations li[data-id="${CSS.escape(id)}"]`);
    if (!item) continue;
    item.replaceChildren(el("span", { class: "id" }, id), el("span", { class: "kind" }, [entry.kind, entry.seed, entry.section].filter(Boolean).join(" · ")),
      el("p", { class: "quote", dir: "auto" }, entry.quote), el("p", { class: "english", lang: "en" }, entry.english));
  }
}

function closeEntry() {
  view.picked = null;
  $("#detail").hidden = true;
  delete $("#detail").dataset.id;
  for (const row of document.querySelectorAll("#requests tbody tr.picked")) row.classList.remove("picked");
}

// -- a vendor's state --------------------------------------------------------------------------------
function tree(key, value, depth) {
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value);
    const box = el("details", { open: depth < 2 },
      el("summary", {}, el("span", { class: "key" }, key), " ", el("span", { class: "count" }, Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`)));
    for (const [k, v] of entries) box.append(tree(k, v, depth + 1));
    return box;
  }
  return el("div", { class: "leaf" }, el("span", { class: "key" }, key), ": ", JSON.stringify(value));
}

async function refreshState() {
  const vendor = $("#state-vendor").value;
  if (!vendor) return;
  const state = await api(`/ui/state/${encodeURIComponent(vendor)}?limit=${STATE_LIMIT}`);
  $("#state").dataset.vendor = vendor;
  $("#state").replaceChildren(...Object.entries(state).map(([k, v]) => tree(k, v, 0)));
}

// -- live --------------------------------------------------------------------------------------------
async function tick() {
  const asked = view.asked;  // a refresh asked while this look is under way (a filter changed) redoes it
  const [summary, newest] = await Promise.all([api("/summary"), api("/requests?limit=1")]);
  const head = newest.requests[0];
  const fingerprint = JSON.stringify([summary, head ? [head.id, head.time] : null]);
  if (fingerprint !== view.fingerprint) {
    // Only more requests since the last look (no reset in between) can be appended; anything else redraws.
    const grew = view.summary && head && summary.total.total > view.summary.total.total && head.id > view.knownNewest
      && Object.entries(summary.vendors).every(([v, c]) => c.total >= (view.summary.vendors[v] || { total: 0 }).total);
    renderSummary(summary);
    if (grew) await appendRequests(head.id);
    else await refreshRequests();
    if (asked !== view.asked) return;
    view.fingerprint = fingerprint;
    view.summary = summary;
    view.knownNewest = head ? head.id : 0;
  }
  const stateVendor = $("#state-vendor").value;
  const stateKey = JSON.stringify([stateVendor, summary.vendors[stateVendor]]);
  if (stateKey !== view.stateKey && Date.now() - view.stateAt >= STATE_EVERY_MS) {
    view.stateKey = stateKey;
    view.stateAt = Date.now();
    await refreshState();
  }
}

function askForToken() {
  $("#token-form").hidden = false;
  $("#live").dataset.state = "error";
  $("#live").textContent = "needs the admin token";
  $("#token-input").focus();
}

let timer = null;
let running = false;
let again = false;
async function loop() {
  if (running) { again = true; return; }  // one poller at a time; a refresh asked meanwhile runs right after
  running = true;
  clearTimeout(timer);
  try {
    await tick();
    $("#live").dataset.state = "live";
    $("#live").textContent = "live";
  } catch (err) {
    if (err instanceof Unauthorized) { running = false; askForToken(); return; }  // resumes once a token is given
    $("#live").dataset.state = "error";
    $("#live").textContent = "mock unreachable, retrying";
  }
  running = false;
  if (again) { again = false; loop(); return; }
  timer = setTimeout(loop, document.hidden ? HIDDEN_POLL_MS : POLL_MS);
}

function refreshNow() {
  view.asked += 1;
  view.fingerprint = null;
  view.summary = null;
  view.stateKey = null;
  view.stateAt = 0;
  loop();
}

$("#token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("#token-input").value);
  $("#token-input").value = "";
  $("#token-form").hidden = true;
  refreshNow();
});

$("#reset").addEventListener("click", async () => {
  $("#reset").disabled = true;
  try {
    await api("/reset", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    closeEntry();
  } catch (err) {
    if (err instanceof Unauthorized) askForToken();
  } finally {
    $("#reset").disabled = false;
    refreshNow();
  }
});

$("#filter-vendor").addEventListener("change", refreshNow);
$("#filter-verdict").addEventListener("change", refreshNow);
$("#filter-text").addEventListener("input", renderRequests);
$("#state-vendor").addEventListener("change", () => { view.stateKey = null; view.stateAt = 0; refreshState().catch(() => {}); });
$("#detail-close").addEventListener("click", closeEntry);
document.addEventListener("visibilitychange", () => { if (!document.hidden) loop(); });
loop();
