// @ts-check
// The batching client of src/batch.js against a fake batch endpoint.
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { allSettled, fakeServer, installCustomFunctions, sleep, table } from "./stubs.mjs";

installCustomFunctions();
const { Client, callKey } = await import("../../src/batch.js");
const { toExcelError } = await import("../../src/errors.js");

describe("batching", () => {
  it("keys calls by function and arguments, whatever their order", () => {
    assert.equal(callKey("quote", { a: "1", b: "2" }), callKey("quote", { b: "2", a: "1" }));
    assert.notEqual(callKey("quote", { a: "1" }), callKey("history", { a: "1" }));
  });
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
