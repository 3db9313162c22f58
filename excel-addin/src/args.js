// @ts-check
// Argument coercion: what Excel passes to a custom function (a number, text, a boolean, an
// empty cell, a range as a matrix, or a stray invocation object) turned into the text
// xlserver's API takes, or an ArgumentError (#VALUE! with a message) before anything is sent.

import { ArgumentError } from "./errors.js";

/**
 * A cell value as Excel passes it (null for an empty cell on the web, 0 on the desktop).
 * @typedef {string | number | boolean | null | undefined} CellValue
 */

/**
 * An argument as Excel passes it: a value, a range (a matrix of values), or the invocation
 * object a stale metadata can put in an argument's place.
 * @typedef {unknown} Arg
 */

const MS_PER_DAY = 86_400_000;
const EXCEL_EPOCH_MS = Date.UTC(1899, 11, 30); // serial 0 in the 1900 system, for serials ≥ 61
const MAX_SERIAL = 2_958_465; // 9999-12-31

/**
 * Whether a value is the trailing invocation object Excel passes (stale metadata, #2777).
 * @param {Arg} v
 * @returns {boolean}
 */
function isInvocation(v) {
  return (
    v !== null &&
    typeof v === "object" &&
    !Array.isArray(v) &&
    ("setResult" in v || "address" in v || "functionName" in v || "onCanceled" in v)
  );
}

/**
 * A scalar argument: omitted, empty cell, "" and a stray invocation object read as absent.
 * @param {Arg} v
 * @returns {string | number | boolean | undefined}
 */
export function present(v) {
  if (v === null || v === undefined || isInvocation(v)) return undefined;
  if (Array.isArray(v)) {
    const flat = v.flat(Infinity).filter((x) => present(x) !== undefined);
    if (flat.length === 0) return undefined;
    if (flat.length > 1) throw new ArgumentError(`expected one value, got a range of ${flat.length}`);
    return present(flat[0]);
  }
  if (typeof v === "string" && v.trim() === "") return undefined;
  return /** @type {string | number | boolean} */ (v);
}

/**
 * A required text argument.
 * @param {string} name
 * @param {Arg} v
 * @returns {string}
 */
export function text(name, v) {
  const p = present(v);
  if (p === undefined) throw new ArgumentError(`${name} is required`);
  if (typeof p === "boolean") throw new ArgumentError(`${name} ${p} is not text`);
  return String(p).trim();
}

/**
 * An optional text argument.
 * @param {string} name
 * @param {Arg} v
 * @returns {string | undefined}
 */
export function optText(name, v) {
  return present(v) === undefined ? undefined : text(name, v);
}

/**
 * An Excel serial (1900 date system) as an ISO date, or date and time when it has a fraction.
 * @param {number} serial
 * @returns {string}
 */
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

/** The exchange's zone: "today" is its date, on the server and here. */
const EXCHANGE_ZONE = "America/New_York";

/** Reads a Date's calendar date in New York. */
const newYorkDate = new Intl.DateTimeFormat("en-US", {
  timeZone: EXCHANGE_ZONE,
  year: "numeric",
  month: "numeric",
  day: "numeric",
});

/**
 * The date in New York at `now` (the exchange's "today", as xlserver's `today`), shifted by
 * `n` units of D, W, M or Y, as an ISO date. The user's own zone plays no part: at 23:30 in
 * New York it is still New York's day, though it is the next in London or Tokyo.
 * @param {Date} now
 * @param {number} n
 * @param {string} unit
 * @returns {string}
 */
function shifted(now, n, unit) {
  /** @type {Record<string, number>} */
  const part = {};
  for (const p of newYorkDate.formatToParts(now)) {
    if (p.type === "year" || p.type === "month" || p.type === "day") part[p.type] = Number(p.value);
  }
  const d = new Date(Date.UTC(part.year, part.month - 1, part.day));
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
 * date or time, YYYYMMDD, or a date relative to today in New York ("today", "-5D", "-2W",
 * "-6M", "-1Y"; the exchange's date, whatever the computer's zone).
 * @param {string} name
 * @param {Arg} v
 * @param {Date} [now]
 * @returns {string | undefined}
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
      throw new ArgumentError(`${name}: ${/** @type {Error} */ (e).message}`);
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
 * @param {string} name
 * @param {Arg} v
 * @returns {string | undefined}
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

/**
 * A positive whole number argument.
 * @param {string} name
 * @param {Arg} v
 * @returns {string | undefined}
 */
export function countArg(name, v) {
  const p = present(v);
  if (p === undefined || p === 0) return undefined; // a blank cell on the desktop is 0
  const n = typeof p === "number" ? p : Number(String(p).trim());
  if (!Number.isInteger(n) || n <= 0) throw new ArgumentError(`${name} ${JSON.stringify(p)} is not a positive whole number`);
  return String(n);
}

/**
 * The tenor of MKT.RATE: days (a number) or 1W, 3M, 1Y.
 * @param {Arg} v
 * @returns {string}
 */
export function tenorArg(v) {
  const p = present(v);
  if (p === undefined) throw new ArgumentError("tenor is required (days, or 1W, 3M, 1Y)");
  if (typeof p === "number") {
    if (!(p > 0)) throw new ArgumentError(`tenor ${p} is not a positive number of days`);
    return String(p);
  }
  return text("tenor", p);
}

/**
 * The layout of a spilled table: a header row or not, oldest or newest row first.
 * @typedef {{ headers: boolean, sort: "asc" | "desc" }} Layout
 */

/**
 * The layout options of a table function: "headers=no; sort=desc" or a two-column range.
 * @param {Arg} v
 * @returns {Layout}
 */
export function layoutOptions(v) {
  /** @type {Layout} */
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

/**
 * Arguments without the absent ones, for the batch request.
 * @param {Record<string, string | undefined>} args
 * @returns {Record<string, string>}
 */
export function compact(args) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const [k, v] of Object.entries(args)) if (v !== undefined) out[k] = v;
  return out;
}
