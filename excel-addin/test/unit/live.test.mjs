// @ts-check
// Live polling (src/live.js) through the batching client, against a fake batch endpoint.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fakeServer, installCustomFunctions, sleep, table } from "./stubs.mjs";

installCustomFunctions();
const { Client } = await import("../../src/batch.js");
const { LiveHub } = await import("../../src/live.js");

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
