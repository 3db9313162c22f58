// @ts-check
// The add-in's benchmark: 1,000 cell calls (quotes and histories) issued at once in headless
// Chromium, timed until every one has resolved, batched (the add-in) vs one request per call,
// against the same running xlserver demo. Medians of --runs alternating runs after a warm-up.
//
//   npm run bench [-- --runs 5 --data /tmp/xlfeed-bench-data]
//
// Uses the release xlserver (cargo build --release --bin xlserver) unless XLFEED_XLSERVER
// names another; the demo data is made once in --data and reused.

import { launchBrowser, openHarness, startServer, xlserverBinary } from "../test/e2e/harness.mjs";

/**
 * A command-line option's value.
 * @param {string} name
 * @param {string} def
 */
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const runs = Number(arg("runs", "5"));
const data = arg("data", "/tmp/xlfeed-bench-data");
const calls = Number(arg("calls", "1000"));

/** @param {number[]} xs */
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const server = await startServer({ binary: xlserverBinary("release"), symbols: "AAPL,MSFT,AMZN,NVDA,TSLA,JPM,XOM,KO,SPY,QQQ", days: 20, data });
const browser = await launchBrowser();
try {
  const page = await openHarness(browser, server.url);
  /**
   * One run of `calls` calls in the page.
   * @param {"batch" | "single"} mode
   * @param {number} round
   * @returns {Promise<{ ms: number, requests: number, errors: number, firstError?: string }>}
   */
  const once = (mode, round) =>
    page.evaluate(
      /** @param {[string, number, number]} a */
      async ([mode, round, n]) => {
        const c = window.__client;
        c.options.mode = /** @type {"batch" | "single"} */ (mode);
        c.cache.clear();
        const f = window.__fns;
        const symbols = ["AAPL", "MSFT", "AMZN", "NVDA", "TSLA", "JPM", "XOM", "KO", "SPY", "QQQ"];
        const fields = ["last", "bid", "ask", "size", "volume", "change", "change_pct", "open", "high", "low", "prev_close", "time"];
        const work = [];
        // 120 quotes (10 symbols × 12 fields) and 880 one-month daily histories, all distinct
        // (each run shifts the histories' dates; the client cache is cleared before each run).
        for (let i = 0; work.length < n; i++) {
          const s = symbols[i % symbols.length];
          if (i < 120) {
            work.push(() => f.QUOTE(s, fields[Math.floor(i / symbols.length)]));
          } else {
            const start = 45150 + Math.floor((i - 120) / symbols.length) + 40 * round; // 2023-08-12 on
            work.push(() => f.HISTORY(s, start, start + 30, null, null, null));
          }
        }
        const before = c.stats.requests;
        const t0 = performance.now();
        const settled = await Promise.allSettled(work.map((w) => w()));
        const ms = performance.now() - t0;
        const errors = settled.filter((r) => r.status === "rejected").map((r) => r.reason.message);
        c.options.mode = "batch";
        return { ms, requests: c.stats.requests - before, errors: errors.length, firstError: errors[0] };
      },
      /** @type {[string, number, number]} */ ([mode, round, calls]),
    );
  await once("batch", 0); // warm-up: the server's chunk cache, the page's JIT
  await once("single", 0);
  /** @type {Record<"batch" | "single", Awaited<ReturnType<typeof once>>[]>} */
  const results = { batch: [], single: [] };
  for (let r = 1; r <= runs; r++) {
    for (const mode of /** @type {const} */ (["batch", "single"])) {
      const x = await once(mode, r);
      if (x.errors) throw new Error(`${mode} run ${r}: ${x.errors} calls failed, first: ${x.firstError}`);
      results[mode].push(x);
    }
  }
  const b = median(results.batch.map((x) => x.ms));
  const s = median(results.single.map((x) => x.ms));
  console.log(
    JSON.stringify(
      {
        calls,
        runs,
        batched_ms: results.batch.map((x) => Math.round(x.ms)),
        single_ms: results.single.map((x) => Math.round(x.ms)),
        batched_requests: results.batch[0].requests,
        single_requests: results.single[0].requests,
        median_batched_ms: Math.round(b),
        median_single_ms: Math.round(s),
        speedup: Number((s / b).toFixed(1)),
      },
      null,
      2,
    ),
  );
} finally {
  await browser.close();
  await server.stop();
}
