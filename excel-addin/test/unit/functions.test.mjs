// @ts-check
import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";
import { fakeServer, installCustomFunctions, table } from "./stubs.mjs";

const CF = installCustomFunctions();
const { client, live: hub } = await import("../../src/client.js");
const F = await import("../../src/functions.js");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let server;

function answer(fn, args) {
  if (args.symbol === "AAPX" || args.underlying === "AAPX") {
    return { error: { code: "not_found", excel: "#N/A", message: "unknown symbol AAPX" } };
  }
  switch (fn) {
    case "history":
      return table(["date", "close"], [[45470, 204.02], [45471, 201.03]], ["date", "number"]);
    case "quote":
      return args.field === "time" ? table(["time"], [[45471.66]], ["time"]) : table([args.field], [[201.03]]);
    case "rate":
      return table(["date", "tenor_days", "rate", "curve"], [[45446, 91.25, 0.0529, "SOFR"]], ["date", "number", "number", "text"]);
    case "option":
      return table(["date", args.fields], [[45471, 0.17]], ["date", "number"]);
    case "dividends":
      return table(["ex_date", "amount"], [], ["empty", "empty"]);
    default:
      return table(["fn"], [[fn]], ["text"]);
  }
}

beforeEach(() => {
  server = fakeServer(answer);
  globalThis.fetch = server.fetch;
  client.configure({ server: "http://xl.test", apiKey: "" });
});

const calls = () => server.requests.flatMap((r) => r.body.calls);

describe("MKT functions", () => {
  it("are all associated under their frozen ids", () => {
    assert.deepEqual([...CF.associated.keys()].sort(), ["CHAIN", "COMPARE", "DIVIDENDS", "FUNDAMENTAL", "HISTORY", "LIVE", "OPTION", "QUOTE", "RATE", "TICKS"]);
  });

  it("HISTORY sends its arguments and spills a table with dates formatted", async () => {
    const m = await F.history("aapl", 45446, "2024-06-28", null, [["close"]], null);
    assert.deepEqual(calls()[0], { fn: "history", args: { symbol: "AAPL", start: "2024-06-03", end: "2024-06-28", fields: "close" } });
    assert.deepEqual(m[0], ["date", "close"]);
    assert.deepEqual(m[1][0], { type: "Double", basicValue: 45470, numberFormat: "yyyy-mm-dd" });
    const desc = await F.history("AAPL", "2024-06-03", "2024-06-28", "1h", null, [["headers=no;sort=desc"]]);
    assert.equal(desc.length, 2);
    assert.equal(desc[0][1], 201.03);
  });

  it("HISTORY names a bad argument as #VALUE! without calling the server", async () => {
    await assert.rejects(F.history("AAPL", "soon", "2024-06-28"), (/** @type {any} */ e) => e instanceof CF.Error && e.code === "#VALUE!" && e.message.includes('start "soon" is not a date'));
    await assert.rejects(F.history("AAPL", null, "2024-06-28"), (/** @type {any} */ e) => e.code === "#VALUE!" && e.message === "start is required");
    await assert.rejects(F.history("AAPL", "-1M", "today", null, null, [["colour=red"]]), /option "colour"/);
    assert.equal(server.requests.length, 0);
  });

  it("an unknown symbol is #N/A with the server's message", async () => {
    await assert.rejects(F.quote("AAPX"), (/** @type {any} */ e) => e instanceof CF.Error && e.code === "#N/A" && e.message === "unknown symbol AAPX");
  });

  it("an empty answer is #N/A saying what was empty", async () => {
    await assert.rejects(F.dividends("KO", "2024-01-01", "2024-02-01"), (/** @type {any} */ e) => e.code === "#N/A" && e.message === "no dividends of KO from 2024-01-01 to 2024-02-01");
  });

  it("QUOTE defaults to last; a time comes back formatted", async () => {
    assert.equal(await F.quote("AAPL"), 201.03);
    assert.deepEqual(calls()[0].args, { symbol: "AAPL", field: "last" });
    const t = await F.quote("AAPL", "Time");
    assert.equal(t.numberFormat, "yyyy-mm-dd hh:mm:ss");
  });

  it("scalar functions pick their column", async () => {
    assert.equal(await F.rate("3M", 45446), 0.0529);
    assert.deepEqual(calls().at(-1).args, { tenor: "3M", date: "2024-06-03" });
    assert.equal(await F.rate(91), 0.0529);
    assert.deepEqual(calls().at(-1).args, { tenor: "91" });
    await assert.rejects(F.rate(-3), /tenor -3 is not a positive number of days/);
    assert.equal(await F.option("aapl2428f200", "IV", "2024-06-28"), 0.17);
    assert.deepEqual(calls().at(-1).args, { symbol: "AAPL2428F200", fields: "iv", start: "2024-06-28", end: "2024-06-28" });
  });

  it("CHAIN keeps the contract column when fields are chosen; COMPARE joins a range", async () => {
    await F.chain("AAPL", "2024-07-19", null, [["iv", "delta"]]);
    assert.deepEqual(calls().at(-1).args, { underlying: "AAPL", expiry: "2024-07-19", fields: "contract,iv,delta" });
    await F.compare([["AAPL"], ["MSFT"], [""]], "2024-06-03", "2024-06-28", "correlation");
    assert.deepEqual(calls().at(-1).args, { symbols: "AAPL,MSFT", start: "2024-06-03", end: "2024-06-28", metric: "correlation" });
    await assert.rejects(F.compare([[""]], "2024-06-03", "2024-06-28"), /symbols is required/);
  });

  it("TICKS formats times to the millisecond and passes the limit", async () => {
    server = fakeServer(() => table(["time", "price"], [[45471.41667519898, 199.96]], ["time", "number"]));
    globalThis.fetch = server.fetch;
    const m = await F.ticks("AAPL", 45471.416666666664, "2024-06-28 10:01", 3);
    assert.deepEqual(calls()[0].args, { symbol: "AAPL", start: "2024-06-28T10:00:00", end: "2024-06-28T10:01", limit: "3" });
    assert.equal(m[1][0].numberFormat, "yyyy-mm-dd hh:mm:ss.000");
    await assert.rejects(F.ticks("AAPL", "2024-06-28", "2024-06-28", -5), /limit -5 is not a positive whole number/);
    // A blank limit cell (0 on the desktop) means the default.
    await F.ticks("AAPL", "2024-06-28", "2024-06-28", 0);
    assert.deepEqual(calls().at(-1).args, { symbol: "AAPL", start: "2024-06-28", end: "2024-06-28" });
  });

  it("TICKS says in a last row when the limit cut the trades", async () => {
    server = fakeServer(() => ({ ...table(["time", "price"], [[45471.4, 199.96]], ["time", "number"]), next: "cursor" }));
    globalThis.fetch = server.fetch;
    const m = await F.ticks("AAPL", "2024-06-28", "2024-06-28", 1);
    assert.equal(m.length, 3);
    assert.match(m[2][0], /more trades after these/);
    assert.equal(m[2][1], "");
  });

  it("ignores a stray invocation object passed for a missing optional argument", async () => {
    const invocation = { address: "Sheet1!A1", functionName: "QUOTE" };
    assert.equal(await F.quote("AAPL", invocation), 201.03);
    assert.deepEqual(calls().at(-1).args, { symbol: "AAPL", field: "last" });
  });
});

describe("MKT.LIVE", () => {
  it("streams values into the cell and stops polling when the cell is deleted", async () => {
    hub.intervalMs = 20;
    client.options.windowMs = 1;
    let price = 100;
    server = fakeServer(() => table(["last"], [[price++]]));
    globalThis.fetch = server.fetch;
    const results = [];
    const invocation = { setResult: (v) => results.push(v) };
    F.live("AAPL", "last", invocation);
    for (let i = 0; i < 100 && results.length < 3; i++) await sleep(10);
    const stop = invocation.onCanceled;
    if (results.length < 3) stop(); // so a failure does not leave the poller running
    assert.ok(results.length >= 3, `${results}`);
    assert.ok(results.every((v, i) => i === 0 || v > results[i - 1]), `${results}`);
    assert.equal(typeof invocation.onCanceled, "function");
    invocation.onCanceled();
    assert.equal(hub.size, 0);
    const sent = server.requests.length;
    await sleep(60);
    assert.equal(server.requests.length, sent);
  });

  it("shows errors in the cell instead of throwing", async () => {
    const results = [];
    F.live("", "last", { setResult: (v) => results.push(v) });
    assert.equal(results[0].code, "#VALUE!");
    assert.equal(results[0].message, "symbol is required");
    const inv = { setResult: (v) => results.push(v) };
    F.live("AAPX", null, inv);
    await sleep(30);
    inv.onCanceled();
    assert.equal(results[1].code, "#N/A");
    assert.equal(results[1].message, "unknown symbol AAPX");
  });
});
