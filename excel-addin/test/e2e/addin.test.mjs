// @ts-check
// The add-in end to end: headless Chromium (Debian's, through playwright-core) against a real
// xlserver serving demo data and the built add-in from the same origin.

import assert from "node:assert/strict";
import { mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ROOT } from "../../scripts/manifest.mjs";
import { callIn, launchBrowser, openHarness, startServer, unzip, withoutOfficeCdn } from "./harness.mjs";

let server;
let browser;
let page;
const api = async (path) => (await fetch(`${server.url}/api/v1/${path}`)).json();
const basic = (v) => (v !== null && typeof v === "object" ? v.basicValue : v);
const ARTIFACTS = join(ROOT, "test-results");

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  page = await openHarness(browser, server.url);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

describe("served by xlserver", () => {
  it("serves the manifest for its own origin, and the add-in's files", async () => {
    const xml = await (await fetch(`${server.url}/addin/manifest.xml`)).text();
    assert.match(xml, new RegExp(`<SourceLocation DefaultValue="${server.url}/addin/taskpane.html"/>`));
    assert.doesNotMatch(xml, /\{\{/);
    const meta = await (await fetch(`${server.url}/addin/functions.json`)).json();
    assert.equal(meta.functions.length, 10);
    // Every module of src/, as a script a browser runs as a module (a JavaScript MIME type).
    const modules = readdirSync(join(ROOT, "src")).filter((f) => f.endsWith(".js"));
    assert.ok(modules.includes("batch.js") && modules.includes("functions.js"), modules.join(", "));
    for (const f of modules) {
      const r = await fetch(`${server.url}/addin/${f}`);
      assert.equal(r.status, 200, f);
      assert.match(r.headers.get("content-type") ?? "", /javascript/, f);
    }
    for (const f of ["taskpane.html", "assets/icon-32.png"]) {
      assert.equal((await fetch(`${server.url}/addin/${f}`)).status, 200, f);
    }
  });
});

describe("task pane", () => {
  it("loads, connects and shows the server version, the functions and the runs", async () => {
    const { version } = await (await fetch(`${server.url}/api/v1`)).json();
    const pane = await browser.newPage({ viewport: { width: 360, height: 900 } });
    await withoutOfficeCdn(pane);
    await pane.goto(`${server.url}/addin/taskpane.html`);
    await pane.waitForSelector('#status[data-state="ok"]', { timeout: 15_000 });
    const status = await pane.textContent("#status");
    assert.match(status, new RegExp(`Connected to xlserver ${version.replaceAll(".", "\\.")} at ${server.url}`));
    assert.equal(await pane.inputValue("#server"), server.url); // same origin by default
    await pane.waitForSelector("#fn-HISTORY");
    assert.equal(await pane.locator(".fn").count(), 10);
    assert.match(await pane.textContent("#fn-HISTORY"), /=MKT\.HISTORY\("AAPL"/);
    // Without keys the server is loopback-only and the API open; the runs need the admin
    // token the server printed, given as the key.
    assert.equal(await pane.isVisible("#admin"), false);
    assert.match(status, /admin token/);
    assert.ok(server.token, "the demo printed an admin token");
    await pane.fill("#api-key", server.token);
    await pane.click("#connect");
    await pane.waitForSelector("#admin:not([hidden])", { timeout: 15_000 });
    assert.match(await pane.textContent("#status"), /admin key/);
    mkdirSync(ARTIFACTS, { recursive: true });
    await pane.screenshot({ path: join(ARTIFACTS, "taskpane.png"), fullPage: true });

    // A run started from the pane goes to completion with its progress shown.
    await pane.selectOption("#stage", "postprocess");
    await pane.fill("#run-args", "--underlyings AAPL --from 2024-06-28 --to 2024-06-28");
    await pane.click("#start-run");
    await pane.waitForSelector('#run-message[data-state="ok"]');
    await pane.waitForFunction(() => [...document.querySelectorAll("#runs tbody tr td:nth-child(3)")].some((td) => td.textContent === "complete"), null, { timeout: 60_000 });
    assert.match(await pane.textContent("#runs tbody"), /postprocess/);

    // A bad run argument is refused with the server's message.
    await pane.fill("#run-args", "--no-such-flag");
    await pane.click("#start-run");
    await pane.waitForSelector('#run-message[data-state="error"]');
    assert.match(await pane.textContent("#run-message"), /no-such-flag/);

    // The settings persist in the add-in's storage; a wrong server is reported, not hung on.
    await pane.fill("#server", "http://127.0.0.1:9");
    await pane.click("#connect");
    await pane.waitForSelector('#status[data-state="error"]', { timeout: 15_000 });
    assert.match(await pane.textContent("#status"), /Cannot reach http:\/\/127\.0\.0\.1:9/);
    assert.equal(await pane.evaluate(() => localStorage.getItem("xlfeed.server")), "http://127.0.0.1:9");
    await pane.fill("#server", server.url);
    await pane.click("#connect");
    await pane.waitForSelector('#status[data-state="ok"]');
    await pane.close();
  });
});

describe("task pane inside Excel (a stubbed Excel global: no Excel runs headless)", () => {
  it("warns about a 1904 workbook and inserts an example formula in the selected cell", async () => {
    const pane = await browser.newPage();
    await withoutOfficeCdn(pane);
    await pane.addInitScript(() => {
      window.__written = [];
      const range = { set formulas(v) { window.__written.push(v); } };
      const workbook = { use1904DateSystem: true, load() {}, getActiveCell: () => range };
      window.Excel = { run: async (body) => body({ workbook, sync: async () => {} }) };
    });
    await pane.goto(`${server.url}/addin/taskpane.html`);
    await pane.waitForSelector("#date-system:not([hidden])");
    assert.match(await pane.textContent("#date-system"), /1904 date system/);
    await pane.click("#fn-QUOTE button");
    assert.deepEqual(await pane.evaluate(() => window.__written), [[['=MKT.QUOTE("AAPL", "bid")']]]);
    await pane.close();
  });
});

/**
 * Asserts that an xlsx's first sheet holds `table` (the JSON API's answer): a row per row
 * plus the header, and every number of the close column among its cells.
 * @param {Buffer} xlsx
 * @param {{ columns: string[], rows: any[][] }} table
 * @param {string} column
 */
function assertSheetHolds(xlsx, table, column) {
  const files = unzip(xlsx);
  const sheet = files.get("xl/worksheets/sheet1.xml")?.toString("utf8") ?? "";
  assert.equal((sheet.match(/<row /g) ?? []).length, table.rows.length + 1, "a row per answer row and the header");
  const values = new Set([...sheet.matchAll(/<v>([^<]*)<\/v>/g)].map((m) => Number(m[1])));
  const i = table.columns.indexOf(column);
  for (const r of table.rows) assert.ok(values.has(r[i]), `${column} ${r[i]} is in the sheet`);
  assert.ok(files.has("xl/tables/table1.xml"), "the answer is an Excel Table");
  return files;
}

describe("export to a workbook from the task pane", () => {
  it("downloads an MKT formula's answer and a named report, and names what it refuses", async () => {
    const want = await api("history?symbol=AAPL&start=2024-06-24&end=2024-06-28");
    const pane = await browser.newPage({ viewport: { width: 360, height: 900 } });
    await withoutOfficeCdn(pane);
    await pane.goto(`${server.url}/addin/taskpane.html`);
    await pane.waitForSelector('#status[data-state="ok"]', { timeout: 15_000 });
    assert.equal(await pane.isVisible("#use-selection"), false, "no selection outside Excel");

    /** Exports what the form holds; resolves with the downloaded file's name and bytes. */
    const exported = async () => {
      const [download] = await Promise.all([pane.waitForEvent("download", { timeout: 60_000 }), pane.click("#export-go")]);
      await pane.waitForSelector('#export-status[data-state="ok"]');
      const path = await download.path();
      return { name: download.suggestedFilename(), bytes: readFileSync(path) };
    };
    await pane.fill("#export-formula", '=MKT.HISTORY("aapl", "2024-06-24", 45471)');
    const answer = await exported();
    assert.match(answer.name, /\.xlsx$/);
    assertSheetHolds(answer.bytes, want, "close");
    assert.match(await pane.textContent("#export-status"), /downloaded/);

    await pane.selectOption("#export-as", "history");
    const report = await exported();
    const files = assertSheetHolds(report.bytes, want, "close");
    assert.ok([...files.keys()].some((f) => /^xl\/charts\/chart\d+\.xml$/.test(f)), "the history report has its charts");

    // Refused before asking: a report the function does not build, a reference outside Excel,
    // a nested function; and the server's own refusal, with its message.
    /** @type {[string, string, RegExp][]} */
    const refused = [
      ['=MKT.HISTORY("AAPL", "2024-06-24", "2024-06-28")', "chain", /"chain" report is not built from MKT\.HISTORY/],
      ['=MKT.HISTORY("AAPL", A1, "2024-06-28")', "", /"A1" is a cell reference; outside Excel give its value/],
      ['=MKT.HISTORY("AAPL", TODAY(), "2024-06-28")', "", /"TODAY\(\)" is not a constant or a cell reference/],
      ['=MKT.HISTORY("AAPX", "2024-06-24", "2024-06-28")', "", /HTTP 404: .*AAPX/],
    ];
    for (const [formula, as, why] of refused) {
      await pane.fill("#export-formula", formula);
      await pane.selectOption("#export-as", as);
      await pane.click("#export-go");
      await pane.waitForSelector('#export-status[data-state="error"]');
      assert.match(await pane.textContent("#export-status"), why, formula);
      await pane.evaluate(() => {
        /** @type {HTMLElement} */ (document.getElementById("export-status")).dataset.state = "";
      });
    }
    await pane.close();
  });

  it("inside Excel (a stubbed Excel global: no Excel runs headless) reads the selected cell and opens a new workbook", async () => {
    const want = await api("history?symbol=MSFT&start=2024-06-24&end=2024-06-28");
    const pane = await browser.newPage();
    await withoutOfficeCdn(pane);
    await pane.addInitScript(() => {
      window.__created = [];
      window.__reads = [];
      // The selected cell is inside a spill: its anchor holds the formula, whose start is in A1.
      const anchor = { formulas: [['=MKT.HISTORY("MSFT", A1, "2024-06-28")']], address: "'Q2 data'!B3", isNullObject: false, load() {} };
      const cell = { formulas: [[45467]], address: "'Q2 data'!B4", load() {}, getSpillParentOrNullObject: () => anchor };
      const sheet = (name) => ({
        getRange: (address) => {
          window.__reads.push([name, address]);
          return { values: [["2024-06-24"]], load() {} };
        },
      });
      const workbook = {
        load() {},
        getActiveCell: () => cell,
        worksheets: { getItem: (name) => sheet(name), getActiveWorksheet: () => sheet("(active)") },
      };
      window.Excel = {
        run: async (body) => body({ workbook, sync: async () => {} }),
        createWorkbook: async (base64) => {
          window.__created.push(base64);
        },
      };
    });
    await pane.goto(`${server.url}/addin/taskpane.html`);
    await pane.waitForSelector("#use-selection:not([hidden])");
    await pane.click("#use-selection");
    await pane.waitForFunction(() => /** @type {HTMLInputElement} */ (document.getElementById("export-formula")).value.startsWith("="));
    assert.equal(await pane.inputValue("#export-formula"), '=MKT.HISTORY("MSFT", A1, "2024-06-28")');
    assert.match(await pane.textContent("#export-status"), /'Q2 data'!B3/);
    await pane.click("#export-go");
    await pane.waitForSelector('#export-status[data-state="ok"]', { timeout: 60_000 });
    assert.match(await pane.textContent("#export-status"), /opened as a new workbook/);
    assert.deepEqual(await pane.evaluate(() => window.__reads), [["Q2 data", "A1"]]);
    const created = await pane.evaluate(() => window.__created);
    assert.equal(created.length, 1);
    assertSheetHolds(Buffer.from(created[0], "base64"), want, "close");
    await pane.close();
  });
});

describe("custom functions against the live server", () => {
  it("registers every function of functions.json", async () => {
    const meta = await (await fetch(`${server.url}/addin/functions.json`)).json();
    const ids = await page.evaluate(() => Object.keys(window.__fns).sort());
    assert.deepEqual(ids, meta.functions.map((f) => f.id).sort());
  });

  it("HISTORY spills the server's bars with a header row and dated first column", async () => {
    const want = await api("history?symbol=AAPL&start=2024-06-24&end=2024-06-28");
    const { value } = await callIn(page, "HISTORY", "AAPL", "2024-06-24", 45471, null, null, null);
    assert.deepEqual(value[0], want.columns);
    assert.equal(value.length, want.rows.length + 1);
    assert.deepEqual(value[1][0], { type: "Double", basicValue: want.rows[0][0], numberFormat: "yyyy-mm-dd" });
    assert.deepEqual(value.slice(1).map((r) => r.map(basic)), want.rows);
    const closes = await callIn(page, "HISTORY", "AAPL", "2024-06-24", "2024-06-28", "daily", [["close"]], [["headers=no; sort=desc"]]);
    assert.deepEqual(closes.value.map((r) => r[1]), want.rows.map((r) => r[4]).reverse());
  });

  it("TICKS, QUOTE, CHAIN, OPTION, DIVIDENDS, RATE, FUNDAMENTAL, COMPARE agree with the API", async () => {
    const ticks = await api("ticks?symbol=AAPL&start=2024-06-28T10:00&end=2024-06-28T10:01&limit=3");
    const t = await callIn(page, "TICKS", "AAPL", "2024-06-28 10:00", "2024-06-28 10:01", 3);
    assert.ok(ticks.next, "three trades in that minute leave more");
    assert.deepEqual(t.value.slice(1, -1).map((r) => r.map(basic)), ticks.rows);
    assert.match(t.value.at(-1)[0], /^more trades after these/);
    assert.equal(t.value[1][0].numberFormat, "yyyy-mm-dd hh:mm:ss.000");

    const q = await api("quote?symbol=MSFT&field=last");
    assert.equal((await callIn(page, "QUOTE", "MSFT", null)).value, q.rows[0][0]);
    const bid = await api("quote?symbol=MSFT&field=bid");
    assert.equal((await callIn(page, "QUOTE", "msft", "Bid")).value, bid.rows[0][0]);

    const chain = await api("chain?underlying=AAPL");
    const c = await callIn(page, "CHAIN", "AAPL", null, null, null);
    assert.equal(c.value.length, chain.rows.length + 1);
    assert.deepEqual(c.value.slice(1).map((r) => r.map((v) => (basic(v) === "" ? null : basic(v)))), chain.rows);

    const iv = chain.columns.indexOf("iv");
    const traded = chain.rows.find((r) => r[iv] !== null);
    assert.ok(traded, "the demo chain has a traded contract");
    const opt = await api(`option?symbol=${traded[0]}&fields=iv&start=2024-06-28&end=2024-06-28`);
    assert.equal((await callIn(page, "OPTION", traded[0], "iv", "2024-06-28")).value, opt.rows.at(-1)[1]);

    const divs = await api("dividends?symbol=AAPL&start=2023-01-01&end=2024-06-28");
    const d = await callIn(page, "DIVIDENDS", "AAPL", "2023-01-01", "2024-06-28");
    assert.deepEqual(d.value.slice(1).map((r) => r.map(basic)), divs.rows);

    const rate = await api("rate?tenor=3M&date=2024-06-03");
    assert.equal((await callIn(page, "RATE", "3M", "2024-06-03", null)).value, rate.rows[0][2]);

    const pe = await api("fundamentals?symbol=AAPL&field=pe");
    assert.equal((await callIn(page, "FUNDAMENTAL", "AAPL", "pe")).value, pe.rows[0][0]);

    const cmp = await api("compare?symbols=AAPL,MSFT,SPY&start=2024-06-26&end=2024-06-28&metric=correlation");
    const m = await callIn(page, "COMPARE", [["AAPL"], ["MSFT"], ["SPY"]], "2024-06-26", "2024-06-28", "correlation");
    assert.deepEqual(m.value.slice(1).map((r) => r.map(basic)), cmp.rows);
  });

  it("errors are CustomFunctions.Error with the Excel code and the server's message", async () => {
    const unknown = await callIn(page, "QUOTE", "AAPX", null);
    assert.deepEqual(unknown.error, { code: "#N/A", message: "unknown symbol AAPX", isCustomFunctionsError: true });
    const badDate = await callIn(page, "HISTORY", "AAPL", "2024-13-45", "2024-06-28", null, null, null);
    assert.equal(badDate.error.code, "#VALUE!");
    assert.match(badDate.error.message, /2024-13-45/);
    const badInterval = await callIn(page, "HISTORY", "AAPL", "2024-06-03", "2024-06-28", "7m", null, null);
    assert.equal(badInterval.error.code, "#VALUE!");
    assert.match(badInterval.error.message, /7m/);
    // A limit of the call itself is a bad argument, not a busy server.
    const many = Array.from({ length: 51 }, (_, i) => [`S${i}`]);
    const tooMany = await callIn(page, "COMPARE", many, "2024-06-26", "2024-06-28", null);
    assert.equal(tooMany.error.code, "#VALUE!");
    assert.match(tooMany.error.message, /51 symbols is more than 50/);
    const badField = await callIn(page, "FUNDAMENTAL", "AAPL", "colour");
    assert.match(badField.error.message, /colour/);
    const local = await callIn(page, "HISTORY", "AAPL", "soon", "2024-06-28", null, null, null);
    assert.deepEqual(local.error, { code: "#VALUE!", message: 'start "soon" is not a date (use a date cell, YYYY-MM-DD, YYYYMMDD, or today, -5D, -2W, -6M, -1Y)', isCustomFunctionsError: true });
  });

  it("calls made together go out as one batch request", async () => {
    const batches = [];
    const onRequest = (r) => r.url().endsWith("/api/v1/batch") && batches.push(r);
    page.on("request", onRequest);
    const results = await page.evaluate(async () => {
      window.__client.cache.clear();
      const f = window.__fns;
      const calls = [];
      for (const s of ["AAPL", "MSFT", "SPY"]) {
        for (const field of ["last", "bid", "ask", "volume"]) calls.push(f.QUOTE(s, field));
        calls.push(f.HISTORY(s, "2024-06-03", "2024-06-28", null, null, null));
        calls.push(f.QUOTE(s, "last")); // a duplicate
      }
      calls.push(f.QUOTE("AAPX", null).catch((e) => e.code));
      return Promise.all(calls);
    });
    page.off("request", onRequest);
    assert.equal(batches.length, 1, `${batches.length} batch requests`);
    const sent = JSON.parse(batches[0].postData()).calls;
    assert.equal(sent.length, 16); // 19 calls: 3 × 5 distinct (the repeated QUOTE sent once) + AAPX
    assert.equal(results.at(-1), "#N/A");
  });

  it("LIVE streams quotes into a cell and stops when the cell is deleted", async () => {
    const q = await api("quote?symbol=SPY&field=last");
    const seen = await page.evaluate(async () => {
      window.__hub.intervalMs = 100;
      const results = [];
      const invocation = { setResult: (v) => results.push(v) };
      window.__fns.LIVE("SPY", "last", invocation);
      const until = Date.now() + 5_000;
      while (results.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      const live = window.__hub.size;
      invocation.onCanceled();
      const left = window.__hub.size;
      const count = results.length;
      await new Promise((r) => setTimeout(r, 350));
      return { results, live, left, count, after: results.length };
    });
    assert.ok(seen.results.length >= 3, JSON.stringify(seen));
    assert.equal(seen.results[0], q.rows[0][0]);
    assert.equal(seen.live, 1);
    assert.equal(seen.left, 0);
    assert.equal(seen.after, seen.count); // nothing after the cell went
  });

  it("a server that goes away fails the cells with a message instead of leaving them busy", async () => {
    const r = await page.evaluate(async () => {
      const c = window.__client;
      const saved = c.options.server;
      c.configure({ server: "http://127.0.0.1:9" });
      try {
        await window.__fns.QUOTE("AAPL", "last");
        return "resolved";
      } catch (e) {
        return { code: e.code, message: e.message };
      } finally {
        c.configure({ server: saved });
      }
    });
    assert.equal(r.code, "#N/A");
    assert.match(r.message, /cannot reach xlserver at http:\/\/127\.0\.0\.1:9/);
  });
});
