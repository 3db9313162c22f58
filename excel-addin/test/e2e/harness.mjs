// @ts-check
// End-to-end plumbing shared by the headless-browser tests and the benchmark: a real xlserver
// serving demo data and the built add-in, and Debian's Chromium driven by playwright-core.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateRawSync } from "node:zlib";
import { chromium } from "playwright-core";
import { ROOT } from "../../scripts/manifest.mjs";

const REPO = join(ROOT, "..");

/**
 * The xlserver binary: XLFEED_XLSERVER, else the newest of target/{debug,release}/xlserver.
 * @param {"debug" | "release"} [prefer]
 * @returns {string}
 */
export function xlserverBinary(prefer) {
  if (process.env.XLFEED_XLSERVER) return process.env.XLFEED_XLSERVER;
  const candidates = (prefer ? [prefer] : ["debug", "release"])
    .map((p) => join(REPO, "target", p, "xlserver"))
    .filter((p) => existsSync(p))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (!candidates.length) {
    throw new Error(`no xlserver binary in ${join(REPO, "target")}: run cargo build --bin xlserver (or set XLFEED_XLSERVER)`);
  }
  return candidates[0];
}

/**
 * Starts `xlserver demo` on free loopback ports over fresh demo data, serving the built
 * add-in (dist/ must exist: npm run build). Resolves with { url, token, stop }: token is the
 * admin token the server prints without API keys (the admin routes need it).
 * @param {{ binary?: string, symbols?: string, days?: number, data?: string }} [options]
 */
export async function startServer({ binary = xlserverBinary(), symbols = "AAPL,MSFT,SPY", days = 3, data } = {}) {
  const dist = join(ROOT, "dist");
  if (!existsSync(join(dist, "manifest.template.xml"))) throw new Error(`${dist} is not built: npm run build`);
  const dir = data ?? mkdtempSync(join(tmpdir(), "xlfeed-addin-e2e-"));
  const child = spawn(binary, ["demo", "--data", dir, "--symbols", symbols, "--days", String(days)], {
    env: {
      ...process.env,
      XLFEED_SERVER__HTTP: "127.0.0.1:0",
      XLFEED_SERVER__GRPC: "127.0.0.1:0",
      XLFEED_SERVER__ADDIN_DIR: dist,
      RUST_LOG: process.env.RUST_LOG ?? "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let token = null;
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`xlserver demo did not start within 300 s:\n${output}`)), 300_000);
    /** @param {Buffer | string} chunk */
    const read = (chunk) => {
      output += chunk;
      const m = /HTTP\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      const t = /token (xlf_admin_[0-9a-f]+)/.exec(output);
      if (t) token = t[1];
      if (m && /Stop with ctrl-c/.test(output)) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`xlserver demo exited with ${code} before serving:\n${output}`));
    });
  });
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGINT");
      await exited;
    }
    if (!data) rmSync(dir, { recursive: true, force: true });
  };
  return { url, token, stop, output: () => output };
}

/** Debian's Chromium, headless (CHROMIUM overrides the path; never a browser download). */
export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  if (!existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath}: apt-get install chromium (or set CHROMIUM)`);
  return chromium.launch({ executablePath, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
}

/**
 * office.js comes from Microsoft's CDN, unreachable here: the page runs as outside Office.
 * @param {import("playwright-core").Page} page
 */
export async function withoutOfficeCdn(page) {
  await page.route("https://appsforoffice.microsoft.com/**", (route) => route.abort());
}

/**
 * Opens a harness page on the server's origin that loads the real functions.js with a
 * recording CustomFunctions.associate; `window.__fns` holds the functions by id and
 * `window.__client` / `window.__hub` the shared client and live hub.
 * @param {import("playwright-core").Browser} browser
 * @param {string} url
 */
export async function openHarness(browser, url) {
  const page = await browser.newPage();
  await withoutOfficeCdn(page);
  const harness = `${url}/addin/__harness.html`;
  await page.route(harness, (route) =>
    route.fulfill({
      contentType: "text/html",
      body: `<!doctype html><meta charset="utf-8"><title>harness</title>
<script>
  class CFError extends Error { constructor(code, message) { super(message || ""); this.code = code; } }
  window.__fns = {};
  window.CustomFunctions = {
    Error: CFError,
    ErrorCode: { invalidValue: "#VALUE!", notAvailable: "#N/A", divisionByZero: "#DIV/0!", invalidNumber: "#NUM!", nullReference: "#NULL!" },
    associate(id, fn) { window.__fns[id] = fn; },
  };
</script>
<script type="module">
  import { client, live } from "./client.js";
  import { Client } from "./batch.js";
  await import("./functions.js");
  window.__client = client;
  window.__hub = live;
  window.__Client = Client;
  window.__ready = true;
</script>`,
    }),
  );
  await page.goto(harness);
  await page.waitForFunction(() => window.__ready === true, null, { timeout: 30_000 });
  return page;
}

/**
 * Calls MKT.<id>(...args) in the page: { value } or { error: { code, message } }.
 * @param {import("playwright-core").Page} page
 * @param {string} id
 * @param {...unknown} args
 * @returns {Promise<{ value?: any, error?: { code: string, message?: string, isCustomFunctionsError: boolean } }>}
 */
export function callIn(page, id, ...args) {
  return page.evaluate(
    async ([id, args]) => {
      try {
        return { value: await window.__fns[id](...args) };
      } catch (caught) {
        const e = /** @type {CustomFunctions.Error} */ (caught);
        return { error: { code: e.code, message: e.message, isCustomFunctionsError: e instanceof CustomFunctions.Error } };
      }
    },
    /** @type {[string, unknown[]]} */ ([id, args]),
  );
}

/**
 * The files of a zip archive (an xlsx) by name, inflated: enough of the format (end of central
 * directory, central directory, local headers; stored or deflated) to read what xlserver writes.
 * @param {Buffer} buf
 * @returns {Map<string, Buffer>}
 */
export function unzip(buf) {
  let end = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65_557); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new Error(`not a zip archive (${buf.length} bytes, no end of central directory)`);
  const files = new Map();
  let p = buf.readUInt32LE(end + 16);
  for (let n = buf.readUInt16LE(end + 10); n > 0; n--) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`bad central directory entry at ${p}`);
    const method = buf.readUInt16LE(p + 10);
    const size = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString("utf8", p + 46, p + 46 + nameLen);
    const data = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(data, data + size);
    files.set(name, method === 8 ? inflateRawSync(raw) : raw);
    p += 46 + nameLen + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
  }
  return files;
}
