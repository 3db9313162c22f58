// @ts-check
// Export to a workbook: an MKT formula (typed, or the selected cell's) read into the request
// its function makes (requests.js), asked of xlserver as xlsx (the answer's table, or a named
// report with charts), and opened as a new workbook where Office.js can
// (`Excel.createWorkbook`, ExcelApi 1.8), otherwise downloaded.
//
// The formula is parsed here, not evaluated by Excel: its arguments must be constants
// ("AAPL", 45471, TRUE, {"AAPL","MSFT"}), cell references (A1, $B$2, 'My sheet'!A1:A3, read
// from the workbook inside Excel) or omitted. Anything else (a nested function, arithmetic)
// is refused with the argument named, as is any malformed formula.

import { ArgumentError } from "./errors.js";
import { REQUESTS } from "./requests.js";

/** Excel's own limit on a formula's length, in characters. */
export const MAX_FORMULA = 8192;
/** The most cells one referenced range may hold. */
export const MAX_RANGE_CELLS = 10_000;
/** The workbook media type. */
export const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/** The named reports (server/src/report/named.rs) each function's arguments can build. */
export const REPORTS_OF = /** @type {Record<string, string[]>} */ ({
  HISTORY: ["history"],
  CHAIN: ["chain", "ivsurface"],
  COMPARE: ["compare"],
});

/**
 * An argument of a parsed formula: a constant, a cell reference, or omitted.
 * @typedef {{ kind: "value", value: string | number | boolean | (string | number | boolean)[][] }
 *   | { kind: "ref", sheet?: string, address: string, text: string }
 *   | { kind: "missing" }} FormulaArg
 */

/**
 * A value quoted for a message, cut at 40 characters.
 * @param {string} s
 */
export function quoted(s) {
  const t = s.length > 40 ? `${s.slice(0, 40)}…` : s;
  return JSON.stringify(t);
}

const NAME = /^\s*=?\s*(?:MKT\.|_xldudf_MKT_)([A-Za-z]+)\s*\(/i;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const CELL = "\\$?[A-Za-z]{1,3}\\$?\\d{1,7}";
const ADDRESS = new RegExp(`^${CELL}(?::${CELL})?$`);
const UNQUOTED_SHEET = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/**
 * Splits the text between a call's parentheses at its top-level commas; strings, braces and
 * parentheses are respected, and a stray closing one is an error.
 * @param {string} body
 * @param {string} formula for messages
 * @returns {string[]}
 */
function splitArgs(body, formula) {
  /** @type {string[]} */
  const parts = [];
  let depth = 0;
  let inString = false;
  let inSheet = false;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === '"') {
        if (body[i + 1] === '"') i++;
        else inString = false;
      }
    } else if (inSheet) {
      if (c === "'") {
        if (body[i + 1] === "'") i++;
        else inSheet = false;
      }
    } else if (c === '"') inString = true;
    else if (c === "'") inSheet = true;
    else if (c === "(" || c === "{") depth++;
    else if (c === ")" || c === "}") {
      depth--;
      if (depth < 0) throw new ArgumentError(`${quoted(formula)} has an unmatched ${quoted(c)}`);
    } else if (c === "," && depth === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  if (inString || inSheet) throw new ArgumentError(`${quoted(formula)} has an unterminated quote`);
  if (depth !== 0) throw new ArgumentError(`${quoted(formula)} has unbalanced parentheses or braces`);
  parts.push(body.slice(start));
  return parts;
}

/**
 * A string, number or boolean constant, or undefined when the text is none of them.
 * @param {string} t trimmed
 * @returns {string | number | boolean | undefined}
 */
function constant(t) {
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) {
    const inner = t.slice(1, -1);
    if (inner.replaceAll('""', "").includes('"')) return undefined;
    return inner.replaceAll('""', '"');
  }
  if (NUMBER.test(t)) {
    const n = Number(t);
    return Number.isFinite(n) ? n : undefined;
  }
  if (/^TRUE$/i.test(t)) return true;
  if (/^FALSE$/i.test(t)) return false;
  return undefined;
}

/**
 * One argument's text as a FormulaArg.
 * @param {string} raw
 * @param {number} position 1-based, for messages
 * @returns {FormulaArg}
 */
function parseArg(raw, position) {
  const t = raw.trim();
  if (t === "") return { kind: "missing" };
  const c = constant(t);
  if (c !== undefined) return { kind: "value", value: c };
  if (t.startsWith("{") && t.endsWith("}")) {
    const rows = t.slice(1, -1).split(";").map((row) =>
      splitArgs(row, t).map((cell) => {
        const v = constant(cell.trim());
        if (v === undefined) throw new ArgumentError(`argument ${position}: ${quoted(cell.trim())} in ${quoted(t)} is not a constant`);
        return v;
      }),
    );
    if (rows.some((r) => r.length !== rows[0].length)) throw new ArgumentError(`argument ${position}: the rows of ${quoted(t)} differ in length`);
    return { kind: "value", value: rows };
  }
  const bang = t.lastIndexOf("!");
  let sheet;
  let address = t;
  if (bang > 0) {
    const s = t.slice(0, bang);
    address = t.slice(bang + 1);
    if (s.length >= 2 && s.startsWith("'") && s.endsWith("'")) sheet = s.slice(1, -1).replaceAll("''", "'");
    else if (UNQUOTED_SHEET.test(s)) sheet = s;
    else throw new ArgumentError(`argument ${position}: ${quoted(s)} is not a sheet name`);
  }
  if (ADDRESS.test(address)) return { kind: "ref", sheet, address: address.replaceAll("$", "").toUpperCase(), text: t };
  throw new ArgumentError(
    `argument ${position}: ${quoted(t)} is not a constant or a cell reference (export reads constants and cells only: put the expression in a cell and refer to it)`,
  );
}

/**
 * An MKT formula parsed: the function's id (as functions.json names it) and its arguments.
 * @param {string} formula e.g. =MKT.HISTORY("AAPL", A1, "2024-06-28")
 * @returns {{ id: string, args: FormulaArg[] }}
 */
export function parseFormula(formula) {
  if (typeof formula !== "string" || formula.trim() === "") throw new ArgumentError("no formula: select a cell holding an MKT formula, or type one");
  if (formula.length > MAX_FORMULA) throw new ArgumentError(`the formula is ${formula.length} characters; Excel's limit is ${MAX_FORMULA}`);
  const m = NAME.exec(formula);
  if (!m) throw new ArgumentError(`${quoted(formula.trim())} is not an MKT formula (e.g. =MKT.HISTORY("AAPL", "2024-06-03", "2024-06-28"))`);
  const id = m[1].toUpperCase();
  if (!(id in REQUESTS)) throw new ArgumentError(`${quoted(`MKT.${m[1]}`)} is not an MKT function (${Object.keys(REQUESTS).join(", ")})`);
  const rest = formula.slice(m[0].length);
  const close = rest.trimEnd();
  if (!close.endsWith(")")) throw new ArgumentError(`${quoted(formula.trim())} does not end with the call's ")": export takes one MKT call alone`);
  const body = close.slice(0, -1);
  const parts = splitArgs(body, formula.trim());
  const args = body.trim() === "" ? [] : parts.map((p, i) => parseArg(p, i + 1));
  return { id, args };
}

/**
 * Reads a cell reference's values: (sheet or undefined for the formula's own, address) → rows.
 * @typedef {(sheet: string | undefined, address: string) => Promise<unknown[][]>} RangeReader
 */

/**
 * The number of cells of an A1 address (A1 or A1:C3).
 * @param {string} address
 */
function cellCount(address) {
  const [a, b = a] = address.split(":");
  /** @param {string} c */
  const at = (c) => {
    const [, letters, digits] = /^([A-Z]+)(\d+)$/.exec(c) ?? ["", "A", "1"];
    return [[...letters].reduce((n, ch) => n * 26 + ch.charCodeAt(0) - 64, 0), Number(digits)];
  };
  const [c1, r1] = at(a);
  const [c2, r2] = at(b);
  return (Math.abs(c2 - c1) + 1) * (Math.abs(r2 - r1) + 1);
}

/**
 * The arguments' values, the references read with `read` (absent: references are refused,
 * naming the first).
 * @param {FormulaArg[]} args
 * @param {RangeReader | undefined} read
 * @returns {Promise<unknown[]>}
 */
export async function argValues(args, read) {
  /** @type {unknown[]} */
  const values = [];
  for (const [i, a] of args.entries()) {
    if (a.kind === "missing") values.push(undefined);
    else if (a.kind === "value") values.push(a.value);
    else {
      if (!read) throw new ArgumentError(`argument ${i + 1}: ${quoted(a.text)} is a cell reference; outside Excel give its value instead`);
      const cells = cellCount(a.address);
      if (cells > MAX_RANGE_CELLS) throw new ArgumentError(`argument ${i + 1}: ${quoted(a.text)} is ${cells.toLocaleString("en-US")} cells; at most ${MAX_RANGE_CELLS.toLocaleString("en-US")}`);
      const rows = await read(a.sheet, a.address);
      values.push(rows.length === 1 && rows[0].length === 1 ? rows[0][0] : rows);
    }
  }
  return values;
}

/**
 * The request an MKT formula makes, its references read with `read`.
 * @param {string} formula
 * @param {RangeReader} [read]
 * @returns {Promise<{ id: string, request: import("./requests.js").Request }>}
 */
export async function formulaRequest(formula, read) {
  const { id, args } = parseFormula(formula);
  const values = await argValues(args, read);
  return { id, request: REQUESTS[id](...values) };
}

/**
 * The path of a request's workbook: the answer as a table, or the named report `report`
 * (which must be one of the function's, REPORTS_OF).
 * @param {string} id
 * @param {import("./requests.js").Request} request
 * @param {string} [report]
 */
export function workbookPath(id, request, report) {
  const query = new URLSearchParams(request.args).toString();
  if (!report) return `/api/v1/${encodeURIComponent(request.fn)}.xlsx?${query}`;
  const allowed = REPORTS_OF[id] ?? [];
  if (!allowed.includes(report)) {
    throw new ArgumentError(
      `the ${quoted(report)} report is not built from MKT.${id}${allowed.length ? ` (it builds: ${allowed.join(", ")})` : " (only MKT.HISTORY, MKT.CHAIN and MKT.COMPARE build reports)"}`,
    );
  }
  return `/api/v1/report/${encodeURIComponent(report)}.xlsx?${query}`;
}

/**
 * The file name a response gives (Content-Disposition), else `fallback`; only a plain name.
 * @param {string | null} disposition
 * @param {string} fallback
 */
export function fileName(disposition, fallback) {
  const m = /filename="([^"/\\]{1,120})"/.exec(disposition ?? "");
  return m && /\.xlsx$/i.test(m[1]) ? m[1] : fallback;
}

/**
 * Bytes as base64 (what Excel.createWorkbook takes), in slices so a big file does not
 * overflow the call stack.
 * @param {Uint8Array} bytes
 */
export function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
