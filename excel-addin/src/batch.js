// @ts-check
// The batching client: function calls to xlserver as few `POST /api/v1/batch` requests, with
// de-duplication, splitting, the response budget's resends, timeouts, retries, concurrency
// and a short cache (docs/excel-addin.md, "How calls reach xlserver").

import { ServerError } from "./errors.js";

/** @typedef {import("./cells.js").Table} Table */

/**
 * The answer of `fetch` the client reads (a real Response, or a test's fake).
 * @typedef {{ ok: boolean, status: number, headers?: { get(name: string): string | null }, json(): Promise<any> }} FetchResponse
 */

/** @typedef {(url: string, init?: RequestInit) => Promise<FetchResponse>} FetchLike */

/**
 * The client's options: the DEFAULTS' numbers, the server and key, `mode` "batch" or
 * "single", and for tests a `fetch` and a clock (`now`, in ms).
 * @typedef {typeof DEFAULTS & { mode: "batch" | "single", server: string, apiKey: string, fetch?: FetchLike, now?: () => number }} ClientOptions
 */

/**
 * A queued call with the settlers of its promise.
 * @typedef {{ key: string, fn: string, args: Record<string, string>, resolve: (table: Table) => void, reject: (error: unknown) => void }} Item
 */

/**
 * A per-call error of a batch answer.
 * @typedef {{ code: string, excel: string, message: string, resend?: boolean }} CallError
 */

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

/**
 * The key that identifies a call: same function and same arguments, same answer.
 * @param {string} fn
 * @param {Record<string, string>} args
 * @returns {string}
 */
export function callKey(fn, args) {
  const sorted = Object.keys(args)
    .sort()
    .map((k) => [k, args[k]]);
  return `${fn}?${JSON.stringify(sorted)}`;
}

/**
 * The bytes of a string in UTF-8.
 * @param {string} s
 */
function utf8Length(s) {
  return new TextEncoder().encode(s).length;
}

// 503 is not resent: it is the server's own request timeout or a store that is down, and a
// resend would double the wait before the cells learn why.
const RETRYABLE = new Set([429, 502, 504]);

/**
 * Whether a per-call error is the server's response budget cutting the batch (worth resending
 * in a later batch): xlserver marks it `"resend": true` (older servers said so in words).
 * @param {CallError} error
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
  /** @param {Partial<ClientOptions>} [options] */
  constructor(options = {}) {
    /** @type {ClientOptions} */
    this.options = { ...DEFAULTS, mode: "batch", server: "", apiKey: "", ...options };
    /** @type {FetchLike} */
    this.fetch = this.options.fetch ?? ((...a) => globalThis.fetch(...a));
    this.now = this.options.now ?? (() => Date.now());
    /** @type {Item[]} */
    this.queue = [];
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    /** @type {Map<string, Promise<Table>>} */
    this.inflight = new Map(); // key → promise of a table
    /** @type {Map<string, { table: Table, until: number }>} */
    this.cache = new Map(); // key → { table, until }
    this.active = 0;
    /** @type {(() => void)[]} */
    this.waiting = []; // sends waiting for a free slot
    this.stats = { calls: 0, requests: 0, deduplicated: 0, cached: 0 };
  }

  /**
   * Changes the server or key; answers cached for the old ones are dropped.
   * @param {{ server?: string, apiKey?: string }} [settings]
   */
  configure({ server, apiKey } = {}) {
    if (server !== undefined) this.options.server = server;
    if (apiKey !== undefined) this.options.apiKey = apiKey;
    this.cache.clear();
  }

  /** The API's base URL, without a trailing slash. */
  base() {
    return String(this.options.server || "").replace(/\/+$/, "");
  }

  /**
   * The headers of a request: the key as a bearer token, and the JSON content type.
   * @param {boolean} json Whether the request has a JSON body.
   * @returns {Record<string, string>}
   */
  headers(json) {
    /** @type {Record<string, string>} */
    const h = {};
    if (json) h["Content-Type"] = "application/json";
    if (this.options.apiKey) h.Authorization = `Bearer ${this.options.apiKey}`;
    return h;
  }

  /**
   * Calls `fn` with `args`; resolves with the table answer. `fresh` skips the cache.
   * @param {string} fn
   * @param {Record<string, string>} args
   * @param {{ fresh?: boolean }} [how]
   * @returns {Promise<Table>}
   */
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
    /** @type {Promise<Table>} */
    const promise = new Promise((resolve, reject) => {
      this.queue.push({ key, fn, args, resolve, reject });
    });
    this.inflight.set(key, promise);
    const forget = () => this.inflight.delete(key);
    promise.then((table) => {
      forget();
      if (this.options.cacheMs > 0) this.cache.set(key, { table, until: this.now() + this.options.cacheMs });
      if (this.cache.size > 5_000) this.cache.delete(/** @type {string} */ (this.cache.keys().next().value));
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

  /**
   * Groups of calls within the count and request-size limits.
   * @param {Item[]} items
   * @returns {Item[][]}
   */
  split(items) {
    const groups = [];
    /** @type {Item[]} */
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

  /**
   * Runs `send` when fewer than `concurrency` requests are in flight.
   * @param {() => Promise<void>} send
   */
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

  /**
   * One HTTP request with the timeout and retries; resolves with the parsed JSON body.
   * @param {string} url
   * @param {RequestInit} init
   * @param {string} what The request in words, for the error messages.
   * @returns {Promise<any>}
   */
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
            : `cannot reach xlserver at ${this.base() || "this origin"}: ${/** @type {Error} */ (e).message || e}`,
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

  /**
   * Sends calls as one batch and settles each with its answer or error.
   * @param {Item[]} items
   * @returns {Promise<void>}
   */
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
      if (/** @type {ServerError} */ (e).status === 413 && items.length > 1) {
        const half = Math.ceil(items.length / 2);
        this.schedule(() => this.sendBatch(items.slice(0, half)));
        this.schedule(() => this.sendBatch(items.slice(half)));
        return;
      }
      for (const item of items) item.reject(e);
      return;
    }
    const results = Array.isArray(body.results) ? body.results : [];
    /** @type {Item[]} */
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

  /**
   * Sends one call as its own GET (`mode: "single"`).
   * @param {Item} item
   * @returns {Promise<void>}
   */
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
