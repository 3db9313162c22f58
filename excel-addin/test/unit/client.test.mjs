// @ts-check
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { fakeServer, installCustomFunctions, table } from "./stubs.mjs";

installCustomFunctions();
const { ArgumentError, ServerError, toExcelError } = await import("../../src/errors.js");
const { dateArg, layoutOptions, listArg, present, serialToIso } = await import("../../src/args.js");
const { excelCell, scalar, toMatrix } = await import("../../src/cells.js");
const { Client, callKey } = await import("../../src/batch.js");
const { LiveHub } = await import("../../src/live.js");

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Promise.allSettled with the outcomes typed loosely: a test reads the value or the reason it expects.
 * @param {Promise<unknown>[]} promises
 * @returns {Promise<any[]>}
 */
const allSettled = (promises) => Promise.allSettled(promises);

describe("dates", () => {
  it("converts Excel serials of the 1900 system", () => {
    assert.equal(serialToIso(61), "1900-03-01");
    assert.equal(serialToIso(45471), "2024-06-28");
    assert.equal(serialToIso(45471.5), "2024-06-28T12:00:00");
    assert.equal(serialToIso(45471.396527777775), "2024-06-28T09:31:00");
    assert.equal(serialToIso(45471 + 0.5 + 0.25 / 86400), "2024-06-28T12:00:00.250");
    assert.equal(serialToIso(2958465), "9999-12-31");
  });

  it("rejects serials Excel and xlfeed do not share, naming them", () => {
    assert.throws(() => serialToIso(60), /date 60 is outside/);
    assert.throws(() => serialToIso(0), /date 0/);
    assert.throws(() => serialToIso(3e6), /3000000/);
  });

  it("accepts date cells, ISO, YYYYMMDD and relative dates", () => {
    const now = new Date(2024, 5, 28, 15, 0); // local 2024-06-28
    assert.equal(dateArg("start", 45471, now), "2024-06-28");
    assert.equal(dateArg("start", "2024-06-03", now), "2024-06-03");
    assert.equal(dateArg("start", " 2024-06-28 09:30 ", now), "2024-06-28T09:30");
    assert.equal(dateArg("start", 20240603, now), "20240603");
    assert.equal(dateArg("start", "20240603", now), "20240603");
    assert.equal(dateArg("start", "45471", now), "2024-06-28");
    assert.equal(dateArg("start", "today", now), "2024-06-28");
    assert.equal(dateArg("start", "-5D", now), "2024-06-23");
    assert.equal(dateArg("start", "-2w", now), "2024-06-14");
    assert.equal(dateArg("start", "-1M", now), "2024-05-28");
    assert.equal(dateArg("start", "-1Y", now), "2023-06-28");
    assert.equal(dateArg("start", "-1M", new Date(2024, 2, 31)), "2024-02-29"); // month end clamps
    assert.equal(dateArg("start", null, now), undefined);
    assert.equal(dateArg("start", "", now), undefined);
    assert.equal(dateArg("start", 0, now), undefined); // a blank cell on the desktop
    assert.equal(dateArg("start", "2024-06-28T13:30:00Z", now), "2024-06-28T13:30:00Z");
    assert.equal(dateArg("start", "2024-06-28 09:30-04:00", now), "2024-06-28T09:30-04:00");
  });

  it("names a bad date and its argument", () => {
    assert.throws(() => dateArg("start", "June 3rd"), (e) => e instanceof ArgumentError && /start "June 3rd" is not a date/.test(e.message));
    assert.throws(() => dateArg("end", true), /end true is not a date/);
    assert.throws(() => dateArg("end", 12), /end: date 12 is outside/);
  });
});

describe("arguments", () => {
  it("reads absent values: null, empty text, and a stray invocation object", () => {
    assert.equal(present(null), undefined);
    assert.equal(present("  "), undefined);
    assert.equal(present({ address: "Sheet1!A1", setResult() {} }), undefined);
    assert.equal(present([["x"]]), "x");
    assert.throws(() => present([["a", "b"]]), /range of 2/);
  });

  it("joins ranges and comma lists", () => {
    assert.equal(listArg("fields", [["close", "volume"], ["", null]]), "close,volume");
    assert.equal(listArg("fields", [["close, volume"]]), "close,volume");
    assert.equal(listArg("fields", "AAPL,MSFT"), "AAPL,MSFT");
    assert.equal(listArg("fields", [[null]]), undefined);
    assert.equal(listArg("fields", null), undefined);
    // Excel on the desktop passes blank cells of a range as 0.
    assert.equal(listArg("symbols", [["AAPL"], ["MSFT"], [0], [0]]), "AAPL,MSFT");
  });

  it("parses layout options from text or a two-column range", () => {
    assert.deepEqual(layoutOptions(null), { headers: true, sort: "asc" });
    assert.deepEqual(layoutOptions([["headers=no; sort=desc"]]), { headers: false, sort: "desc" });
    assert.deepEqual(layoutOptions([["headers", "no"], ["sort", "d"]]), { headers: false, sort: "desc" });
    assert.deepEqual(layoutOptions([["sort", "desc"], [0, 0], ["", ""]]), { headers: true, sort: "desc" });
    assert.throws(() => layoutOptions([["colour=red"]]), /option "colour" is not one of headers, sort/);
    assert.throws(() => layoutOptions([["sort=sideways"]]), /sort "sideways"/);
    assert.throws(() => layoutOptions([["headers"]]), /not name=value/);
  });

  it("keys calls by function and arguments, whatever their order", () => {
    assert.equal(callKey("quote", { a: "1", b: "2" }), callKey("quote", { b: "2", a: "1" }));
    assert.notEqual(callKey("quote", { a: "1" }), callKey("history", { a: "1" }));
  });
});

describe("answers as Excel values", () => {
  const t = table(["date", "close", "note"], [[45470, 204.02, null], [45471, 201.03, "x"]], ["date", "number", "text"]);

  it("spills tables with a header row, dates formatted, empty cells blank", () => {
    const m = toMatrix(t);
    assert.deepEqual(m[0], ["date", "close", "note"]);
    assert.deepEqual(m[1][0], { type: "Double", basicValue: 45470, numberFormat: "yyyy-mm-dd" });
    assert.equal(m[1][2], "");
    assert.deepEqual(toMatrix(t, { headers: false, sort: "desc" })[0][1], 201.03);
  });

  it("formats times with seconds, and ticks with milliseconds", () => {
    assert.equal(/** @type {any} */ (excelCell(45471.4, "time")).numberFormat, "yyyy-mm-dd hh:mm:ss");
    assert.equal(/** @type {any} */ (excelCell(45471.4, "time", true)).numberFormat, "yyyy-mm-dd hh:mm:ss.000");
    assert.equal(excelCell(5, "number"), 5);
  });

  it("takes one value, or says there is none", () => {
    assert.equal(scalar(t, "close", "close"), 201.03);
    assert.equal(scalar(t, "note", "note"), "x");
    assert.throws(() => scalar(table(["a"], []), undefined, "last for AAPL"), /no last for AAPL/);
    assert.throws(() => scalar(t, "iv", "iv for X"), /no iv for X/);
    assert.throws(() => scalar(table(["a"], [[null]]), undefined, "bid for KO"), /no bid for KO/);
  });

  it("maps errors to CustomFunctions.Error with the server's message", () => {
    const na = toExcelError(new ServerError("#N/A", "not_found", "unknown symbol AAPX"));
    assert.ok(na instanceof CustomFunctions.Error);
    assert.equal(na.code, "#N/A");
    assert.equal(na.message, "unknown symbol AAPX");
    const bad = toExcelError(new ArgumentError("start \"x\" is not a date"));
    assert.equal(bad.code, "#VALUE!");
    const num = toExcelError(new ServerError("#NUM!", "out_of_range", "no IV"));
    assert.equal(num.code, "#NUM!");
    assert.equal(num.message, ""); // Excel shows messages on #VALUE! and #N/A only
    const busy = toExcelError(new ServerError("#BUSY!", "resource_exhausted", "rate limit"));
    assert.equal(busy.code, "#N/A");
    assert.equal(busy.message, "xlserver is busy: rate limit");
    assert.equal(toExcelError(new Error("boom")).code, "#N/A");
  });
});

describe("batching", () => {
  let server;
  const answer = (fn, args) =>
    args.symbol === "AAPX"
      ? { error: { code: "not_found", excel: "#N/A", message: "unknown symbol AAPX" } }
      : table(["fn", "symbol"], [[fn, args.symbol]], ["text", "text"]);
  beforeEach(() => {
    server = fakeServer(answer);
  });

  it("sends the calls of one window as one batch, in order, with per-call errors", async () => {
    const c = new Client({ fetch: server.fetch, server: "http://xl.test/", apiKey: "k1", cacheMs: 0 });
    const calls = ["AAPL", "AAPX", "MSFT"].map((s) => c.call("quote", { symbol: s }));
    const results = await allSettled(calls);
    assert.equal(server.requests.length, 1);
    assert.equal(server.requests[0].url, "http://xl.test/api/v1/batch");
    assert.equal(server.requests[0].init.headers.Authorization, "Bearer k1");
    assert.deepEqual(server.requests[0].body.calls.map((x) => x.args.symbol), ["AAPL", "AAPX", "MSFT"]);
    assert.equal(results[0].value.rows[0][1], "AAPL");
    assert.equal(results[1].status, "rejected");
    assert.equal(results[1].reason.excel, "#N/A");
    assert.equal(results[1].reason.message, "unknown symbol AAPX");
    assert.equal(results[2].value.rows[0][1], "MSFT");
  });

  it("waits for the window, and starts a new batch after it", async () => {
    const c = new Client({ fetch: server.fetch, windowMs: 150, cacheMs: 0 });
    const first = c.call("quote", { symbol: "A" });
    await sleep(10);
    const second = c.call("quote", { symbol: "B" });
    assert.equal(server.requests.length, 0); // nothing before the window ends
    await Promise.all([first, second]);
    assert.equal(server.requests.length, 1);
    await c.call("quote", { symbol: "C" });
    assert.equal(server.requests.length, 2);
  });

  it("sends identical calls once, queued or in flight", async () => {
    const slow = fakeServer(answer, { delay: 40 });
    const c = new Client({ fetch: slow.fetch, windowMs: 5, cacheMs: 0 });
    const a = c.call("history", { symbol: "AAPL", start: "2024-06-03" });
    const b = c.call("history", { start: "2024-06-03", symbol: "AAPL" });
    await sleep(15); // the batch is in flight now
    const d = c.call("history", { symbol: "AAPL", start: "2024-06-03" });
    const [ra, rb, rd] = await Promise.all([a, b, d]);
    assert.equal(slow.requests.length, 1);
    assert.equal(slow.requests[0].body.calls.length, 1);
    assert.equal(ra, rb);
    assert.equal(ra, rd);
    assert.equal(c.stats.deduplicated, 2);
  });

  it("splits batches by count and by request size", async () => {
    const c = new Client({ fetch: server.fetch, maxCalls: 400, cacheMs: 0 });
    await Promise.all(Array.from({ length: 1000 }, (_, i) => c.call("quote", { symbol: `S${i}` })));
    assert.deepEqual(server.requests.map((r) => r.body.calls.length), [400, 400, 200]);

    const big = fakeServer(answer);
    const d = new Client({ fetch: big.fetch, maxRequestBytes: 2_000, cacheMs: 0 });
    await Promise.all(Array.from({ length: 30 }, (_, i) => d.call("compare", { symbols: `${"X".repeat(200)}${i}` })));
    assert.ok(big.requests.length > 1, `${big.requests.length} requests`);
    for (const r of big.requests) assert.ok(r.init.body.length <= 2_000 + 20, `${r.init.body.length} bytes`);
    assert.equal(big.requests.reduce((n, r) => n + r.body.calls.length, 0), 30);
  });

  it("resends calls cut by the server's response budget on their own", async () => {
    let n = 0;
    const budget = fakeServer((fn, args) => {
      n += 1;
      if (args.symbol === "LIMIT") {
        return { error: { code: "resource_exhausted", excel: "#BUSY!", message: "5000 days of intraday bars: ask for a shorter range" } };
      }
      return args.symbol === "BIG" && n <= 3
        ? { error: { code: "resource_exhausted", excel: "#BUSY!", message: "the answers of this batch exceed 5000000 bytes" } }
        : table(["s"], [[args.symbol]], ["text"]);
    });
    const c = new Client({ fetch: budget.fetch, cacheMs: 0 });
    const [a, big, limit] = await allSettled([
      c.call("quote", { symbol: "A" }),
      c.call("quote", { symbol: "BIG" }),
      c.call("quote", { symbol: "LIMIT" }),
    ]);
    assert.equal(a.value.rows[0][0], "A");
    assert.equal(big.value.rows[0][0], "BIG");
    assert.equal(budget.requests.length, 2);
    assert.deepEqual(budget.requests[1].body.calls.map((x) => x.args.symbol), ["BIG"]);
    assert.match(limit.reason.message, /shorter range/); // a limit of the call itself: not resent
  });

  it("times out, so no cell waits forever, and says so", async () => {
    const hung = fakeServer(answer, { delay: 10_000 });
    const c = new Client({ fetch: hung.fetch, server: "http://xl.test", timeoutMs: 50, windowMs: 1, cacheMs: 0 });
    const started = Date.now();
    await assert.rejects(c.call("quote", { symbol: "AAPL" }), (/** @type {any} */ e) => e.excel === "#N/A" && /did not answer a batch of 1 calls within 0.05 s/.test(e.message));
    assert.ok(Date.now() - started < 2_000);
  });

  it("fails every call of a batch the server refuses, with its message", async () => {
    const down = fakeServer(answer, { status: 503 });
    const c = new Client({ fetch: down.fetch, retries: 1, windowMs: 1, cacheMs: 0 });
    const r = await allSettled([c.call("quote", { symbol: "A" }), c.call("quote", { symbol: "B" })]);
    assert.deepEqual(r.map((x) => x.status), ["rejected", "rejected"]);
    assert.equal(r[0].reason.message, "status 503");
    assert.equal(down.requests.length, 1); // 503 is not resent
    const e = toExcelError(r[0].reason);
    assert.equal(e.code, "#N/A");
    assert.equal(e.message, "xlserver is busy: status 503");
  });

  it("resends after a 429, and halves a batch the server finds too big (413)", async () => {
    const limited = fakeServer(answer, { status: (n) => (n === 1 ? 429 : 200) });
    const c = new Client({ fetch: limited.fetch, windowMs: 1, cacheMs: 0 });
    assert.equal((await c.call("quote", { symbol: "A" })).rows[0][1], "A");
    assert.equal(limited.requests.length, 2);

    const sizes = [];
    const picky = async (url, init) => {
      const n = JSON.parse(init.body).calls.length;
      sizes.push(n);
      if (n > 3) return { ok: false, status: 413, json: async () => { throw new SyntaxError("not JSON"); } };
      return server.fetch(url, init);
    };
    const d = new Client({ fetch: picky, windowMs: 1, cacheMs: 0 });
    const r = await Promise.all(Array.from({ length: 10 }, (_, i) => d.call("quote", { symbol: `S${i}` })));
    assert.deepEqual(r.map((t) => t.rows[0][1]), Array.from({ length: 10 }, (_, i) => `S${i}`));
    assert.deepEqual(sizes.slice(0, 3), [10, 5, 5]);
    assert.ok(sizes.filter((n) => n <= 3).reduce((a, b) => a + b, 0) === 10, `${sizes}`);
  });

  it("answers a short batch answer's missing calls with an error", async () => {
    const short = async () => ({ ok: true, status: 200, json: async () => ({ results: [{ value: table(["x"], [[1]]) }] }) });
    const c = new Client({ fetch: short, windowMs: 1, cacheMs: 0 });
    const r = await allSettled([c.call("quote", { symbol: "A" }), c.call("quote", { symbol: "B" })]);
    assert.equal(r[0].status, "fulfilled");
    assert.match(r[1].reason.message, /no result for call 1/);
  });

  it("retries a lost connection once, then names the server", async () => {
    let tries = 0;
    const flaky = async (url, init) => {
      tries += 1;
      if (tries === 1) throw new TypeError("Failed to fetch");
      return server.fetch(url, init);
    };
    const c = new Client({ fetch: flaky, windowMs: 1, cacheMs: 0 });
    assert.equal((await c.call("quote", { symbol: "A" })).rows[0][1], "A");
    const dead = new Client({ fetch: async () => { throw new TypeError("Failed to fetch"); }, server: "http://down.test", windowMs: 1 });
    await assert.rejects(dead.call("quote", { symbol: "A" }), /cannot reach xlserver at http:\/\/down.test: Failed to fetch/);
  });

  it("reuses an answer for a recalculation within cacheMs", async () => {
    let now = 0;
    const c = new Client({ fetch: server.fetch, windowMs: 1, cacheMs: 1000, now: () => now });
    await c.call("quote", { symbol: "A" });
    await c.call("quote", { symbol: "A" });
    assert.equal(server.requests.length, 1);
    now = 2000;
    await c.call("quote", { symbol: "A" });
    assert.equal(server.requests.length, 2);
    await c.call("quote", { symbol: "A" }, { fresh: true });
    assert.equal(server.requests.length, 3);
  });

  it("in single mode sends one GET per call", async () => {
    const c = new Client({ fetch: server.fetch, mode: "single", server: "http://xl.test", cacheMs: 0 });
    const r = await Promise.all([c.call("quote", { symbol: "A", field: "bid" }), c.call("quote", { symbol: "B" })]);
    assert.equal(server.requests.length, 2);
    assert.equal(server.requests[0].url, "http://xl.test/api/v1/quote?symbol=A&field=bid");
    assert.equal(r[1].rows[0][1], "B");
  });
});

describe("live values", () => {
  it("polls one feed per distinct call, fans out, and stops when the last cell goes", async () => {
    let price = 100;
    const server = fakeServer((fn, args) => table(["last"], [[price++]]));
    const c = new Client({ fetch: server.fetch, windowMs: 1, cacheMs: 0 });
    const hub = new LiveHub(c, { intervalMs: 20 });
    const a = [];
    const b = [];
    const offA = hub.subscribe("quote", { symbol: "AAPL" }, (e, t) => a.push(t.rows[0][0]));
    await sleep(5);
    const offB = hub.subscribe("quote", { symbol: "AAPL" }, (e, t) => b.push(t.rows[0][0]));
    assert.equal(hub.size, 1);
    for (let i = 0; i < 100 && (a.length < 3 || b.length < 2); i++) await sleep(10);
    assert.ok(a.length >= 3, `a got ${a}`);
    assert.ok(b.length >= 2, `b got ${b}`);
    assert.deepEqual(b.slice(-1), a.slice(-1)); // same feed
    offA();
    assert.equal(hub.size, 1);
    offB();
    assert.equal(hub.size, 0);
    const requests = server.requests.length;
    await sleep(60);
    assert.equal(server.requests.length, requests); // no polling after the last cell went
  });

  it("stops polling a call whose arguments the server rejects", async () => {
    const server = fakeServer(() => ({ error: { code: "invalid_argument", excel: "#VALUE!", message: 'field "colour" is not one of last, bid' } }));
    const c = new Client({ fetch: server.fetch, windowMs: 1, cacheMs: 0 });
    const hub = new LiveHub(c, { intervalMs: 10 });
    const seen = [];
    const off = hub.subscribe("quote", { symbol: "AAPL", field: "colour" }, (/** @type {any} */ e) => seen.push(e.excel));
    for (let i = 0; i < 100 && seen.length === 0; i++) await sleep(10);
    await sleep(60);
    assert.deepEqual(seen, ["#VALUE!"]);
    assert.equal(server.requests.length, 1);
    off();
    assert.equal(hub.size, 0);
  });

  it("resends a call the server marks resend, whatever its message", async () => {
    let n = 0;
    const server = fakeServer((fn, args) => {
      n += 1;
      return args.symbol === "B" && n <= 2 ? { error: { code: "resource_exhausted", excel: "#BUSY!", message: "later", resend: true } } : table(["s"], [[args.symbol]], ["text"]);
    });
    const c = new Client({ fetch: server.fetch, windowMs: 1, cacheMs: 0 });
    const [a, b] = await Promise.all([c.call("quote", { symbol: "A" }), c.call("quote", { symbol: "B" })]);
    assert.deepEqual([a.rows[0][0], b.rows[0][0]], ["A", "B"]);
    assert.equal(server.requests.length, 2);
  });

  it("passes errors to the cells and keeps polling", async () => {
    let fail = true;
    const server = fakeServer(() => (fail ? { error: { code: "not_found", excel: "#N/A", message: "unknown symbol AAPX" } } : table(["last"], [[1]])));
    const c = new Client({ fetch: server.fetch, windowMs: 1, cacheMs: 0 });
    const hub = new LiveHub(c, { intervalMs: 15 });
    const seen = [];
    const off = hub.subscribe("quote", { symbol: "AAPX" }, (/** @type {any} */ e, t) => seen.push(e ? e.message : t.rows[0][0]));
    for (let i = 0; i < 100 && seen.length === 0; i++) await sleep(10);
    fail = false;
    for (let i = 0; i < 100 && seen.at(-1) !== 1; i++) await sleep(10);
    off();
    assert.equal(seen[0], "unknown symbol AAPX");
    assert.equal(seen.at(-1), 1);
  });
});
