// @ts-check
// The task pane: the server and API key (in the add-in's storage), the connection's status
// and server version, the function reference (from functions.json), and, for an admin key,
// the pipeline runs with their progress, and the export of an MKT formula's answer or a named
// report as a workbook (export.js).

import { client, loadSettings, saveSettings } from "./client.js";
import { XLSX, fileName, formulaRequest, toBase64, workbookPath } from "./export.js";

/**
 * An element of the page by id (the page has them all).
 * @param {string} id
 */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * A form field of the page by id.
 * @param {string} id
 */
const field = (id) => /** @type {HTMLInputElement | HTMLSelectElement} */ ($(id));

/**
 * A new element with attributes (`class`, `on<event>` listeners, others as attributes) and children.
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {...(Node | string | number)} children
 * @returns {HTMLElement}
 */
function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

/**
 * Shows a status line: its state ("ok", "error", "unknown") styles it.
 * @param {HTMLElement} node
 * @param {string} state
 * @param {string} message
 */
function setStatus(node, state, message) {
  node.dataset.state = state;
  node.textContent = message;
}

/**
 * GET or POST to the server with the saved key; resolves with [status, json].
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<[number, any]>}
 */
async function api(path, init = {}) {
  const headers = client.headers(Boolean(init.body));
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 10_000);
  try {
    const r = await fetch(`${client.base()}${path}`, { ...init, headers, signal: controller.signal });
    let body = null;
    try {
      body = await r.json();
    } catch {
      body = null;
    }
    return [r.status, body];
  } finally {
    clearTimeout(timer);
  }
}

/** Checks the server and the key; shows the version and the key's role. */
async function connect() {
  const status = $("status");
  setStatus(status, "unknown", `Connecting to ${client.base() || "this origin"}…`);
  let role = "none";
  try {
    const [code, body] = await api("/api/v1");
    if (code !== 200 || !body || !body.version) {
      const why = body && body.error ? body.error.message : `HTTP ${code}`;
      setStatus(status, "error", `Cannot use ${client.base()}: ${why}`);
      $("admin").hidden = true;
      return;
    }
    const [adminCode] = await api("/admin/v1/runs");
    role = adminCode === 200 ? "admin" : "analyst";
    // A server without keys answers without one; its admin routes need the token it printed.
    const hint = !client.options.apiKey ? " Pipeline runs need the admin token xlserver printed at start: paste it as the API key." : "";
    setStatus(
      status,
      "ok",
      `Connected to ${body.server} ${body.version} at ${client.base()} (${role === "admin" ? "admin key" : client.options.apiKey ? "analyst key" : "no key"}).${hint}`,
    );
    status.dataset.version = body.version;
  } catch (e) {
    const err = /** @type {Error} */ (e);
    setStatus(status, "error", `Cannot reach ${client.base()}: ${err.name === "AbortError" ? "no answer within 10 s" : err.message}`);
  }
  $("admin").hidden = role !== "admin";
  if (role === "admin") refreshRuns();
}

/**
 * A function as functions.json describes it (the parts the reference shows).
 * @typedef {{ id: string, name: string, description: string, parameters: { name: string, description: string, optional?: boolean }[] }} FunctionMetadata
 */

/** The function reference, from the same functions.json Excel reads. */
async function showFunctions() {
  const box = $("functions");
  /** @type {{ functions?: FunctionMetadata[] }} */
  let meta;
  try {
    meta = await (await fetch("functions.json")).json();
  } catch (e) {
    box.textContent = `The function list could not be loaded: ${/** @type {Error} */ (e).message}`;
    return;
  }
  for (const f of meta.functions ?? []) {
    const [summary, example] = f.description.split(/\s+Example:\s+/);
    const params = f.parameters.map((p) => (p.optional ? `[${p.name}]` : p.name)).join(", ");
    const list = el("ul");
    for (const p of f.parameters) list.append(el("li", {}, el("code", {}, p.name), `: ${p.description}`));
    const entry = el("div", { class: "fn", id: `fn-${f.id}` }, el("h3", {}, `MKT.${f.name}(${params})`), el("p", {}, summary), list);
    if (example) {
      entry.append(el("code", { class: "example" }, example));
      if (typeof Excel !== "undefined") {
        const onclick = () => insert(example).catch((e) => setStatus($("status"), "error", `Cannot insert the formula: ${e.message}`));
        entry.append(el("button", { class: "secondary", type: "button", onclick }, "Insert in the selected cell"));
      }
    }
    box.append(entry);
  }
}

/**
 * Writes a formula into the selected cell (inside Excel only).
 * @param {string} formula
 */
async function insert(formula) {
  await Excel.run(async (context) => {
    context.workbook.getActiveCell().formulas = [[formula]];
    await context.sync();
  });
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let runsTimer;

/** The runs of the server's process, refreshed every second while one is running. */
async function refreshRuns() {
  clearTimeout(runsTimer);
  const [code, body] = await api("/admin/v1/runs").catch(() => [0, null]);
  const tbody = /** @type {HTMLTableSectionElement} */ ($("runs").querySelector("tbody"));
  if (code !== 200 || !body || !Array.isArray(body.runs)) return;
  tbody.replaceChildren();
  let running = false;
  for (const r of body.runs.slice().reverse()) {
    const p = r.progress || {};
    const bar = el("progress", { max: String(p.units_total || 1), value: String(p.units_done || 0) });
    const label = `${p.units_done ?? 0}/${p.units_total ?? 0} units, ${(p.rows ?? 0).toLocaleString()} rows`;
    const cancel = r.status === "running"
      ? el("button", { class: "secondary", type: "button", onclick: () => cancelRun(r.id) }, "Cancel")
      : "";
    if (r.status === "running" || r.status === "cancelling") running = true;
    tbody.append(
      el("tr", { "data-run": String(r.id) },
        el("td", {}, r.id),
        el("td", {}, r.stage),
        el("td", { title: r.error || "" }, r.status),
        el("td", {}, bar, el("div", { class: "hint" }, label)),
        el("td", {}, cancel)),
    );
  }
  if (running) runsTimer = setTimeout(refreshRuns, 1000);
}

/**
 * Splits a command line into arguments (quotes group words).
 * @param {string} line
 * @returns {string[]}
 */
function splitArgs(line) {
  return (line.match(/"[^"]*"|'[^']*'|\S+/g) || []).map((a) => a.replace(/^["']|["']$/g, ""));
}

/**
 * Starts a pipeline run from the form.
 * @param {SubmitEvent} event
 */
async function startRun(event) {
  event.preventDefault();
  const message = $("run-message");
  const stage = field("stage").value;
  const args = splitArgs(field("run-args").value);
  const [code, body] = await api("/admin/v1/runs", { method: "POST", body: JSON.stringify({ stage, args }) }).catch((e) => [0, { error: { message: e.message } }]);
  if (code === 202 || code === 200) setStatus(message, "ok", `Run ${body.id} started: ${stage} ${args.join(" ")}`);
  else setStatus(message, "error", (body && body.error && body.error.message) || `HTTP ${code}`);
  refreshRuns();
}

/**
 * Cancels a run.
 * @param {number} id
 */
async function cancelRun(id) {
  await api(`/admin/v1/runs/${id}`, { method: "DELETE" }).catch(() => {});
  refreshRuns();
}

/**
 * Warns when the workbook uses the 1904 date system: the functions read and return serials of
 * the 1900 system, which such a workbook shows 1,462 days (four years and a day) late.
 */
async function check1904() {
  if (typeof Excel === "undefined" || typeof Excel.run !== "function") return;
  try {
    await Excel.run(async (context) => {
      // use1904DateSystem is in Excel's preview API only (ExcelApi BETA, not in @types/office-js).
      const wb = /** @type {Excel.Workbook & { use1904DateSystem?: boolean }} */ (context.workbook);
      wb.load("use1904DateSystem");
      await context.sync();
      if (wb.use1904DateSystem) {
        const note = $("date-system");
        note.hidden = false;
        note.textContent =
          "This workbook uses the 1904 date system: MKT dates are 1900-system serials and show 1,462 days late. Turn it off in Excel's options (Calculation, Use 1904 date system).";
      }
    });
  } catch {
    // Where Excel's API has no such property (the released API sets), the load fails: no warning.
  }
}

/** Whether Excel's API runs here (inside Office; a plain browser has none). */
function inExcel() {
  return typeof Excel !== "undefined" && typeof Excel.run === "function";
}

/** The sheet of the cell whose formula the export field holds (its references' sheet). */
let formulaSheet = /** @type {string | undefined} */ (undefined);

/**
 * A reference's values from the workbook: on `sheet`, else the formula's sheet, else the active one.
 * @param {string | undefined} sheet
 * @param {string} address
 * @returns {Promise<unknown[][]>}
 */
async function readRange(sheet, address) {
  return Excel.run(async (context) => {
    const name = sheet ?? formulaSheet;
    const ws = name ? context.workbook.worksheets.getItem(name) : context.workbook.worksheets.getActiveWorksheet();
    const range = ws.getRange(address);
    range.load("values");
    await context.sync();
    return range.values;
  });
}

/** Puts the selected cell's formula in the export field (a spilled cell's: its anchor's). */
async function useSelection() {
  const status = $("export-status");
  try {
    const { formula, address } = await Excel.run(async (context) => {
      let cell = context.workbook.getActiveCell();
      cell.load("formulas, address");
      await context.sync();
      if (!String(cell.formulas[0][0]).startsWith("=") && excelApi("1.12")) {
        const parent = cell.getSpillParentOrNullObject();
        parent.load("formulas, address");
        await context.sync();
        if (!parent.isNullObject) cell = parent;
      }
      return { formula: String(cell.formulas[0][0]), address: cell.address };
    });
    const bang = address.lastIndexOf("!");
    formulaSheet = bang > 0 ? address.slice(0, bang).replace(/^'(.*)'$/, "$1").replaceAll("''", "'") : undefined;
    field("export-formula").value = formula;
    if (formula.startsWith("=")) setStatus(status, "unknown", `The formula of ${address}.`);
    else setStatus(status, "error", `${address} holds no formula: select a cell with an MKT formula (or one of its spilled cells).`);
  } catch (e) {
    setStatus(status, "error", `Cannot read the selected cell: ${/** @type {Error} */ (e).message}`);
  }
}

/**
 * Saves bytes as a download named `name`.
 * @param {Uint8Array<ArrayBuffer>} bytes
 * @param {string} name
 */
function download(bytes, name) {
  const url = URL.createObjectURL(new Blob([bytes], { type: XLSX }));
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * Whether the host supports an ExcelApi requirement set (true where Office cannot say).
 * @param {string} version e.g. "1.8"
 */
function excelApi(version) {
  const req = typeof Office !== "undefined" && Office.context && Office.context.requirements;
  return !req || req.isSetSupported("ExcelApi", version);
}

/** Whether Excel can open a workbook from bytes here (ExcelApi 1.8's createWorkbook). */
function canCreateWorkbook() {
  return typeof Excel !== "undefined" && typeof Excel.createWorkbook === "function" && excelApi("1.8");
}

/**
 * Opens the workbook as a new one in Excel where it can, else downloads it; says which.
 * @param {Uint8Array<ArrayBuffer>} bytes
 * @param {string} name
 */
async function openWorkbook(bytes, name) {
  if (canCreateWorkbook()) {
    try {
      await Excel.createWorkbook(toBase64(bytes));
      return "opened as a new workbook";
    } catch (e) {
      download(bytes, name);
      return `downloaded (Excel could not open it as a new workbook: ${/** @type {Error} */ (e).message})`;
    }
  }
  download(bytes, name);
  return "downloaded";
}

/** How long a workbook may take (the server's reports.timeout_secs default). */
const EXPORT_TIMEOUT_MS = 600_000;

/**
 * Exports the formula's answer, or the chosen named report, as a workbook.
 * @param {SubmitEvent} event
 */
async function exportWorkbook(event) {
  event.preventDefault();
  const status = $("export-status");
  const button = /** @type {HTMLButtonElement} */ ($("export-go"));
  button.disabled = true;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), EXPORT_TIMEOUT_MS);
  try {
    const { id, request } = await formulaRequest(field("export-formula").value, inExcel() ? readRange : undefined);
    const report = field("export-as").value || undefined;
    const path = workbookPath(id, request, report);
    setStatus(status, "unknown", `Building ${path.split("?")[0]}…`);
    const r = await fetch(`${client.base()}${path}`, { headers: client.headers(false), signal: controller.signal });
    if (!r.ok) {
      const body = await r.json().catch(() => null);
      throw new Error(`HTTP ${r.status}: ${(body && body.error && body.error.message) || r.statusText}`);
    }
    if (!(r.headers.get("content-type") ?? "").startsWith(XLSX)) throw new Error(`the answer is ${r.headers.get("content-type") || "untyped"}, not a workbook`);
    const bytes = new Uint8Array(await r.arrayBuffer());
    const name = fileName(r.headers.get("content-disposition"), `${report ?? request.fn}.xlsx`);
    const how = await openWorkbook(bytes, name);
    status.dataset.file = name;
    setStatus(status, "ok", `${name} (${Math.max(1, Math.round(bytes.length / 1024)).toLocaleString("en-US")} KB): ${how}.`);
  } catch (e) {
    const err = /** @type {Error} */ (e);
    setStatus(status, "error", `Cannot export: ${err.name === "AbortError" ? `no workbook within ${EXPORT_TIMEOUT_MS / 1000} s` : err.message}`);
  } finally {
    clearTimeout(timer);
    button.disabled = false;
  }
}

function init() {
  const s = loadSettings();
  field("server").value = s.server;
  field("api-key").value = s.apiKey;
  $("settings").addEventListener("submit", (event) => {
    event.preventDefault();
    const server = field("server").value.trim();
    const apiKey = field("api-key").value.trim();
    saveSettings({ server, apiKey });
    connect().then(() => {
      if (apiKey && /^http:/.test(server) && !/^http:\/\/(localhost|127\.0\.0\.1|\[::1\])[:/]/.test(`${server}/`)) {
        setStatus($("status"), "error", `${$("status").textContent} Warning: ${server} is not HTTPS, so the API key travels unencrypted.`);
      }
    });
  });
  $("run-form").addEventListener("submit", startRun);
  $("export-form").addEventListener("submit", exportWorkbook);
  field("export-formula").addEventListener("input", () => {
    formulaSheet = undefined;
  });
  if (inExcel()) {
    $("use-selection").hidden = false;
    $("use-selection").addEventListener("click", useSelection);
  }
  showFunctions();
  connect();
  check1904();
}

let started = false;
function start() {
  if (started) return;
  started = true;
  init();
}

// Inside Office wait for it; in a plain browser (or if office.js could not load) start at once.
if (typeof Office !== "undefined" && typeof Office.onReady === "function") {
  Office.onReady(start);
  setTimeout(start, 3000); // Office.onReady never fires outside an Office host
} else {
  start();
}
