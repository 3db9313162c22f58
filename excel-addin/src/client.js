// The add-in's connection to xlserver: settings, argument conversion, the batching client,
// live subscriptions, and the mapping of answers and errors to Excel values.
//
// Everything here is plain JavaScript with no Office dependency except `CustomFunctions`
// (read from the global at the moment an error is built), so node's test runner exercises it
// with a stubbed global.

/** Where the settings live in the add-in's storage (never in the workbook). */
export const STORAGE_KEYS = { server: "xlfeed.server", apiKey: "xlfeed.apiKey" };

/** Defaults of the batching client (see docs/excel-addin.md, "How calls reach xlserver"). */
export const DEFAULTS = {
  windowMs: 50, // calls made within this window go out as one batch
  maxCalls: 1000, // xlserver's limit of calls per batch
  maxRequestBytes: 900_000, // under xlserver's request body limit (limits.max_body_bytes, 1 MiB)
  timeoutMs: 40_000, // past xlserver's 30 s request timeout, under the ~60 s of Excel on Mac
  concurrency: 4, // batches in flight at once
  retries: 1, // resends on a lost connection, 429 (after Retry-After), 502 or 504
  cacheMs: 5_000, // answers reused for recalculation storms (structural edits)
  liveIntervalMs: 2_000, // how often MKT.LIVE asks for a new quote (Excel's RTD throttle)
};

/** A problem with a function's arguments, found before anything is sent. */
export class ArgumentError extends Error {
  constructor(message) {
    super(message);
    this.name = "ArgumentError";
    this.excel = "#VALUE!";
  }
}

/** An error answered by xlserver (or the failure to reach it), with its Excel code. */
export class ServerError extends Error {
  constructor(excel, code, message, status) {
    super(message);
    this.name = "ServerError";
    this.excel = excel;
    this.code = code;
    this.status = status;
  }
}

// ---------------------------------------------------------------------------------------
// Arguments

const MS_PER_DAY = 86_400_000;
const EXCEL_EPOCH_MS = Date.UTC(1899, 11, 30); // serial 0 in the 1900 system, for serials ≥ 61
const MAX_SERIAL = 2_958_465; // 9999-12-31

/** Whether a value is the trailing invocation object Excel passes (stale metadata, #2777). */
function isInvocation(v) {
  return (
    v !== null &&
    typeof v === "object" &&
    !Array.isArray(v) &&
    ("setResult" in v || "address" in v || "functionName" in v || "onCanceled" in v)
  );
}

/** A scalar argument: omitted, empty cell, "" and a stray invocation object read as absent. */
export function present(v) {
  if (v === null || v === undefined || isInvocation(v)) return undefined;
  if (Array.isArray(v)) {
    const flat = v.flat(Infinity).filter((x) => present(x) !== undefined);
    if (flat.length === 0) return undefined;
    if (flat.length > 1) throw new ArgumentError(`expected one value, got a range of ${flat.length}`);
    return present(flat[0]);
  }
  if (typeof v === "string" && v.trim() === "") return undefined;
  return v;
}

/** A required text argument. */
export function text(name, v) {
  const p = present(v);
  if (p === undefined) throw new ArgumentError(`${name} is required`);
  if (typeof p === "boolean") throw new ArgumentError(`${name} ${p} is not text`);
  return String(p).trim();
}

/** An optional text argument. */
export function optText(name, v) {
  return present(v) === undefined ? undefined : text(name, v);
}

/** An Excel serial (1900 date system) as an ISO date, or date and time when it has a fraction. */
export function serialToIso(serial) {
  if (!Number.isFinite(serial)) throw new ArgumentError(`date ${serial} is not a number`);
  if (serial < 61 || serial > MAX_SERIAL) {
    throw new ArgumentError(
      `date ${serial} is outside the serial dates Excel and xlfeed share (61 = 1900-03-01 to ${MAX_SERIAL} = 9999-12-31)`,
    );
  }
  const ms = Math.round(serial * MS_PER_DAY);
  const iso = new Date(EXCEL_EPOCH_MS + ms).toISOString(); // the serial's wall clock, read as UTC
  if (ms % MS_PER_DAY === 0) return iso.slice(0, 10);
  return ms % 1000 === 0 ? iso.slice(0, 19) : iso.slice(0, 23);
}

/** An ISO date of `now` (a Date, the user's clock) shifted by `n` units of D, W, M or Y. */
function shifted(now, n, unit) {
  const d = new Date(Date.UTC(now.getFullYear(), now.getMonth(), now.getDate()));
  if (unit === "D") d.setUTCDate(d.getUTCDate() + n);
  if (unit === "W") d.setUTCDate(d.getUTCDate() + 7 * n);
  if (unit === "M" || unit === "Y") {
    const months = unit === "M" ? n : 12 * n;
    const day = d.getUTCDate();
    d.setUTCDate(1);
    d.setUTCMonth(d.getUTCMonth() + months);
    const last = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
    d.setUTCDate(Math.min(day, last));
  }
  return d.toISOString().slice(0, 10);
}

/**
 * A date or time argument for xlserver: an Excel serial (a date cell or a number), an ISO
 * date or time, YYYYMMDD, or a date relative to today ("today", "-5D", "-2W", "-6M", "-1Y").
 */
export function dateArg(name, v, now = new Date()) {
  const p = present(v);
  // A blank cell arrives as 0 in Excel on the desktop (null on the web): no date is serial 0.
  if (p === undefined || p === 0) return undefined;
  if (typeof p === "boolean") throw new ArgumentError(`${name} ${p} is not a date`);
  if (typeof p === "number") {
    if (Number.isInteger(p) && p >= 19000101 && p <= 99991231) return String(p); // YYYYMMDD
    try {
      return serialToIso(p);
    } catch (e) {
      throw new ArgumentError(`${name}: ${e.message}`);
    }
  }
  const s = String(p).trim();
  if (/^today$/i.test(s)) return shifted(now, 0, "D");
  const rel = /^([+-]?\d{1,5})\s*([DWMY])$/i.exec(s);
  if (rel) return shifted(now, Number(rel[1]), rel[2].toUpperCase());
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.test(s) || /^\d{8}$/.test(s)) {
    return s.replace(" ", "T");
  }
  if (/^\d+(\.\d+)?$/.test(s)) return dateArg(name, Number(s), now);
  throw new ArgumentError(
    `${name} "${s}" is not a date (use a date cell, YYYY-MM-DD, YYYYMMDD, or today, -5D, -2W, -6M, -1Y)`,
  );
}

/**
 * A list argument (a range, or one comma-separated text) as xlserver's comma list. Blank
 * cells (null on the web, 0 on the desktop: no symbol or field is 0) are left out.
 */
export function listArg(name, v) {
  if (v === null || v === undefined || isInvocation(v)) return undefined;
  const items = (Array.isArray(v) ? v.flat(Infinity) : [v])
    .filter((x) => x !== null && x !== undefined && x !== 0 && !isInvocation(x))
    .flatMap((x) => {
      if (typeof x === "boolean") throw new ArgumentError(`${name} ${x} is not text`);
      return String(x).split(",");
    })
    .map((x) => x.trim())
    .filter((x) => x !== "");
  return items.length ? items.join(",") : undefined;
}

/** A positive whole number argument. */
export function countArg(name, v) {
  const p = present(v);
  if (p === undefined || p === 0) return undefined; // a blank cell on the desktop is 0
  const n = typeof p === "number" ? p : Number(String(p).trim());
  if (!Number.isInteger(n) || n <= 0) throw new ArgumentError(`${name} ${JSON.stringify(p)} is not a positive whole number`);
  return String(n);
}

/** The tenor of MKT.RATE: days (a number) or 1W, 3M, 1Y. */
export function tenorArg(v) {
  const p = present(v);
  if (p === undefined) throw new ArgumentError("tenor is required (days, or 1W, 3M, 1Y)");
  if (typeof p === "number") {
    if (!(p > 0)) throw new ArgumentError(`tenor ${p} is not a positive number of days`);
    return String(p);
  }
  return text("tenor", p);
}

/** The layout options of a table function: "headers=no; sort=desc" or a two-column range. */
export function layoutOptions(v) {
  const out = { headers: true, sort: "asc" };
  if (v === null || v === undefined || isInvocation(v)) return out;
  let pairs = [];
  if (Array.isArray(v) && v.length && Array.isArray(v[0]) && v[0].length === 2 && v.length > 0) {
    // Rows with a blank name (null, "" or the desktop's 0) are skipped.
    pairs = v.filter((r) => present(r[0]) !== undefined && r[0] !== 0).map((r) => [String(r[0]), String(r[1] ?? "")]);
  } else {
    const s = listArg("options", v) ?? "";
    pairs = s
      .split(/[;,]/)
      .map((x) => x.trim())
      .filter(Boolean)
      .map((x) => {
        const eq = x.indexOf("=");
        if (eq < 0) throw new ArgumentError(`option "${x}" is not name=value (options are headers, sort)`);
        return [x.slice(0, eq), x.slice(eq + 1)];
      });
  }
  for (const [k0, v0] of pairs) {
    const k = k0.trim().toLowerCase();
    const val = v0.trim().toLowerCase();
    if (k === "headers") {
      if (["yes", "y", "true", "1", "show"].includes(val)) out.headers = true;
      else if (["no", "n", "false", "0", "hide"].includes(val)) out.headers = false;
      else throw new ArgumentError(`headers "${v0}" is not yes or no`);
    } else if (k === "sort") {
      if (val === "asc" || val === "a") out.sort = "asc";
      else if (val === "desc" || val === "d") out.sort = "desc";
      else throw new ArgumentError(`sort "${v0}" is not asc or desc`);
    } else {
      throw new ArgumentError(`option "${k0}" is not one of headers, sort`);
    }
  }
  return out;
}

/** Arguments without the absent ones, for the batch request. */
export function compact(args) {
  const out = {};
  for (const [k, v] of Object.entries(args)) if (v !== undefined) out[k] = v;
  return out;
}

// ---------------------------------------------------------------------------------------
// Answers and errors as Excel values

/** Number formats by column type. */
const FORMATS = { date: "yyyy-mm-dd", time: "yyyy-mm-dd hh:mm:ss", tick: "yyyy-mm-dd hh:mm:ss.000" };

/** One cell: dates and times as formatted numbers, empty as "" (a returned null shows 0). */
export function excelCell(v, type, precise = false) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number" && (type === "date" || type === "time")) {
    const numberFormat = type === "date" ? FORMATS.date : precise ? FORMATS.tick : FORMATS.time;
    return { type: "Double", basicValue: v, numberFormat };
  }
  return v;
}

/** A table answer as a spilled matrix. */
export function toMatrix(table, { headers = true, sort = "asc", precise = false } = {}) {
  const types = table.types ?? [];
  let rows = table.rows.map((r) => r.map((v, i) => excelCell(v, types[i], precise)));
  if (sort === "desc") rows = rows.reverse();
  return headers ? [table.columns.slice(), ...rows] : rows;
}

/** The one value of `column` (default: the first) in the last row of a table answer. */
export function scalar(table, column, what) {
  const i = column === undefined ? 0 : table.columns.indexOf(column);
  const row = table.rows[table.rows.length - 1];
  if (i < 0 || !row || row[i] === null || row[i] === undefined) {
    throw new ServerError("#N/A", "not_found", `no ${what}`);
  }
  return excelCell(row[i], (table.types ?? [])[i]);
}

const ERROR_CODES = {
  "#N/A": "notAvailable",
  "#VALUE!": "invalidValue",
  "#NUM!": "invalidNumber",
  "#DIV/0!": "divisionByZero",
  "#NULL!": "nullReference",
};

/**
 * Any failure as a `CustomFunctions.Error`: the server's Excel code and one-line message.
 * Only #VALUE! and #N/A carry a message in Excel, so the codes that cannot be returned
 * (#BUSY! from a busy server, and anything unknown) become #N/A with the message kept.
 */
export function toExcelError(e) {
  const CF = globalThis.CustomFunctions;
  if (CF && e instanceof CF.Error) return e;
  let excel = e && e.excel;
  let message = (e && e.message) || String(e);
  let name = ERROR_CODES[excel];
  if (!name) {
    if (excel === "#BUSY!") message = `xlserver is busy: ${message}`;
    name = e instanceof ArgumentError ? "invalidValue" : "notAvailable";
  }
  const code = CF.ErrorCode[name];
  message = message.length > 255 ? `${message.slice(0, 252)}...` : message;
  return name === "invalidValue" || name === "notAvailable" ? new CF.Error(code, message) : new CF.Error(code);
}

// ---------------------------------------------------------------------------------------
// The batching client

/** The key that identifies a call: same function and same arguments, same answer. */
export function callKey(fn, args) {
  const sorted = Object.keys(args)
    .sort()
    .map((k) => [k, args[k]]);
  return `${fn}?${JSON.stringify(sorted)}`;
}

/** The bytes of a string in UTF-8. */
function utf8Length(s) {
  return new TextEncoder().encode(s).length;
}

// 503 is not resent: it is the server's own request timeout or a store that is down, and a
// resend would double the wait before the cells learn why.
const RETRYABLE = new Set([429, 502, 504]);

/**
 * Whether a per-call error is the server's response budget cutting the batch (worth resending
 * in a later batch): xlserver marks it `"resend": true` (older servers said so in words).
 */
function cutByBudget(error) {
  return error.resend === true || /answers of this batch exceed/.test(error.message || "");
}

/**
 * Sends function calls to xlserver. Calls made within `windowMs` of the first go out as one
 * `POST /api/v1/batch`, identical calls (queued or in flight) share one answer, batches are
 * split to stay under `maxCalls` and `maxRequestBytes`, every request has a timeout, and every
 * call's promise settles: with its table, or with a ServerError carrying the Excel code.
 *
 * `mode: "single"` sends each call as its own `GET /api/v1/{fn}` (the benchmark's baseline).
 */
export class Client {
  constructor(options = {}) {
    this.options = { ...DEFAULTS, mode: "batch", server: "", apiKey: "", ...options };
    this.fetch = this.options.fetch ?? ((...a) => globalThis.fetch(...a));
    this.now = this.options.now ?? (() => Date.now());
    this.queue = [];
    this.timer = null;
    this.inflight = new Map(); // key → promise of a table
    this.cache = new Map(); // key → { table, until }
    this.active = 0;
    this.waiting = []; // sends waiting for a free slot
    this.stats = { calls: 0, requests: 0, deduplicated: 0, cached: 0 };
  }

  /** Changes the server or key; answers cached for the old ones are dropped. */
  configure({ server, apiKey } = {}) {
    if (server !== undefined) this.options.server = server;
    if (apiKey !== undefined) this.options.apiKey = apiKey;
    this.cache.clear();
  }

  /** The API's base URL, without a trailing slash. */
  base() {
    return String(this.options.server || "").replace(/\/+$/, "");
  }

  headers(json) {
    const h = {};
    if (json) h["Content-Type"] = "application/json";
    if (this.options.apiKey) h.Authorization = `Bearer ${this.options.apiKey}`;
    return h;
  }

  /** Calls `fn` with `args`; resolves with the table answer. `fresh` skips the cache. */
  call(fn, args, { fresh = false } = {}) {
    this.stats.calls += 1;
    const key = callKey(fn, args);
    if (!fresh && this.options.cacheMs > 0) {
      const hit = this.cache.get(key);
      if (hit && hit.until > this.now()) {
        this.stats.cached += 1;
        return Promise.resolve(hit.table);
      }
    }
    const pending = this.inflight.get(key);
    if (pending) {
      this.stats.deduplicated += 1;
      return pending;
    }
    const promise = new Promise((resolve, reject) => {
      this.queue.push({ key, fn, args, resolve, reject });
    });
    this.inflight.set(key, promise);
    const forget = () => this.inflight.delete(key);
    promise.then((table) => {
      forget();
      if (this.options.cacheMs > 0) this.cache.set(key, { table, until: this.now() + this.options.cacheMs });
      if (this.cache.size > 5_000) this.cache.delete(this.cache.keys().next().value);
    }, forget);
    if (this.options.mode === "single") {
      this.flush();
    } else if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), this.options.windowMs);
    }
    return promise;
  }

  /** Sends everything queued now. */
  flush() {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const items = this.queue.splice(0, this.queue.length);
    if (items.length === 0) return;
    if (this.options.mode === "single") {
      for (const item of items) this.schedule(() => this.sendOne(item));
      return;
    }
    for (const group of this.split(items)) this.schedule(() => this.sendBatch(group));
  }

  /** Groups of calls within the count and request-size limits. */
  split(items) {
    const groups = [];
    let group = [];
    let bytes = 0;
    for (const item of items) {
      const size = utf8Length(JSON.stringify({ fn: item.fn, args: item.args })) + 1;
      if (group.length && (group.length >= this.options.maxCalls || bytes + size > this.options.maxRequestBytes)) {
        groups.push(group);
        group = [];
        bytes = 0;
      }
      group.push(item);
      bytes += size;
    }
    if (group.length) groups.push(group);
    return groups;
  }

  /** Runs `send` when fewer than `concurrency` requests are in flight. */
  schedule(send) {
    const run = () => {
      this.active += 1;
      send()
        .catch(() => {}) // every send settles its own calls
        .finally(() => {
          this.active -= 1;
          const next = this.waiting.shift();
          if (next) next();
        });
    };
    const limit = this.options.mode === "single" ? Infinity : this.options.concurrency;
    if (this.active < limit) run();
    else this.waiting.push(run);
  }

  /** One HTTP request with the timeout and retries; resolves with the parsed JSON body. */
  async request(url, init, what) {
    let attempt = 0;
    for (;;) {
      const controller = typeof AbortController === "function" ? new AbortController() : null;
      const timer = setTimeout(() => controller && controller.abort(), this.options.timeoutMs);
      let response;
      try {
        this.stats.requests += 1;
        response = await this.fetch(url, { ...init, signal: controller ? controller.signal : undefined });
      } catch (e) {
        clearTimeout(timer);
        const timedOut = controller && controller.signal.aborted;
        if (!timedOut && attempt < this.options.retries) {
          attempt += 1;
          continue;
        }
        throw new ServerError(
          "#N/A",
          "unavailable",
          timedOut
            ? `xlserver at ${this.base() || "this origin"} did not answer ${what} within ${this.options.timeoutMs / 1000} s`
            : `cannot reach xlserver at ${this.base() || "this origin"}: ${e.message || e}`,
        );
      }
      let body;
      try {
        body = await response.json();
      } catch {
        body = null;
      } finally {
        clearTimeout(timer);
      }
      if (response.ok && body) return body;
      if (RETRYABLE.has(response.status) && attempt < this.options.retries) {
        attempt += 1;
        const after = Number(response.headers && response.headers.get && response.headers.get("retry-after"));
        const wait = Number.isFinite(after) && after > 0 ? Math.min(after, 5) * 1000 : 200 * attempt;
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
      const err = body && body.error;
      if (err && err.message) {
        throw new ServerError(err.excel || "#N/A", err.code || "unknown", err.message, response.status);
      }
      throw new ServerError("#N/A", "unavailable", `xlserver answered ${what} with HTTP ${response.status}`, response.status);
    }
  }

  async sendBatch(items) {
    let body;
    try {
      body = await this.request(
        `${this.base()}/api/v1/batch`,
        {
          method: "POST",
          headers: this.headers(true),
          body: JSON.stringify({ calls: items.map((i) => ({ fn: i.fn, args: i.args })) }),
        },
        `a batch of ${items.length} calls`,
      );
    } catch (e) {
      // Too big for the server's body limit (or its call limit): each half goes again.
      if (e.status === 413 && items.length > 1) {
        const half = Math.ceil(items.length / 2);
        this.schedule(() => this.sendBatch(items.slice(0, half)));
        this.schedule(() => this.sendBatch(items.slice(half)));
        return;
      }
      for (const item of items) item.reject(e);
      return;
    }
    const results = Array.isArray(body.results) ? body.results : [];
    const again = [];
    items.forEach((item, i) => {
      const r = results[i];
      if (r && "value" in r) item.resolve(r.value);
      else if (r && r.error && cutByBudget(r.error) && items.length > 1) again.push(item);
      else if (r && r.error) item.reject(new ServerError(r.error.excel, r.error.code, r.error.message));
      else item.reject(new ServerError("#N/A", "unavailable", `xlserver's batch answer has no result for call ${i}`));
    });
    // Answers past the response budget come back as errors and go again: together while some
    // of this batch fitted, else each on its own (alone, the error is final).
    if (again.length && again.length < items.length) this.schedule(() => this.sendBatch(again));
    else for (const item of again) this.schedule(() => this.sendBatch([item]));
  }

  async sendOne(item) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(item.args)) params.set(k, v);
    try {
      const url = `${this.base()}/api/v1/${encodeURIComponent(item.fn)}?${params}`;
      item.resolve(await this.request(url, { headers: this.headers(false) }, `${item.fn}`));
    } catch (e) {
      item.reject(e);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Live values

/**
 * Live subscriptions: one poller per distinct call, however many cells show it, asking for a
 * fresh answer every `intervalMs` (through the client's batches) while anyone listens.
 */
export class LiveHub {
  constructor(client, { intervalMs = DEFAULTS.liveIntervalMs } = {}) {
    this.client = client;
    this.intervalMs = intervalMs;
    this.feeds = new Map(); // key → { fn, args, listeners: Set, timer, last, busy }
  }

  /** Calls `listener(error, table)` now (when known) and on every poll; returns the unsubscribe. */
  subscribe(fn, args, listener) {
    const key = callKey(fn, args);
    let feed = this.feeds.get(key);
    if (!feed) {
      feed = { fn, args, listeners: new Set(), timer: null, last: null, busy: false };
      this.feeds.set(key, feed);
      feed.timer = setInterval(() => this.poll(key), this.intervalMs);
      this.poll(key);
    } else if (feed.last) {
      listener(...feed.last);
    }
    feed.listeners.add(listener);
    return () => {
      feed.listeners.delete(listener);
      if (feed.listeners.size === 0 && this.feeds.get(key) === feed) {
        clearInterval(feed.timer);
        this.feeds.delete(key);
      }
    };
  }

  /** The number of distinct live calls being polled. */
  get size() {
    return this.feeds.size;
  }

  async poll(key) {
    const feed = this.feeds.get(key);
    if (!feed || feed.busy) return;
    feed.busy = true;
    let result;
    try {
      result = [null, await this.client.call(feed.fn, feed.args, { fresh: true })];
    } catch (e) {
      result = [e, null];
    }
    feed.busy = false;
    if (this.feeds.get(key) !== feed) return; // unsubscribed meanwhile
    feed.last = result;
    // A bad argument stays bad: stop asking (the cell keeps the error until it is edited).
    if (result[0] && result[0].excel === "#VALUE!") clearInterval(feed.timer);
    for (const l of feed.listeners) {
      try {
        l(...result);
      } catch {
        // a cell that went away while its value was on the way
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// The shared instance, configured from the add-in's storage

function storage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

/** The settings saved by the task pane; the server defaults to the add-in's own origin. */
export function loadSettings() {
  const s = storage();
  const origin = globalThis.location && /^https?:/.test(globalThis.location.protocol) ? globalThis.location.origin : "";
  return {
    server: (s && s.getItem(STORAGE_KEYS.server)) || origin,
    apiKey: (s && s.getItem(STORAGE_KEYS.apiKey)) || "",
  };
}

/** Saves the settings and points the shared client at them. */
export function saveSettings({ server, apiKey }) {
  const s = storage();
  if (s) {
    s.setItem(STORAGE_KEYS.server, server);
    if (apiKey) s.setItem(STORAGE_KEYS.apiKey, apiKey);
    else s.removeItem(STORAGE_KEYS.apiKey);
  }
  client.configure({ server, apiKey });
}

/** The client every function and the task pane share (one JS context: the shared runtime). */
export const client = new Client(loadSettings());

/** The live subscriptions of MKT.LIVE. */
export const live = new LiveHub(client);
