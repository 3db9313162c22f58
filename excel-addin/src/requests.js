// @ts-check
// The API call each MKT function makes, from its Excel arguments: one place shared by the
// custom functions (functions.js, which then shape the answer into cells) and the task pane's
// export (export.js, which asks for the same call as a workbook).

import { compact, countArg, dateArg, listArg, optText, tenorArg, text } from "./args.js";
import { ArgumentError } from "./errors.js";

/**
 * An xlserver function and its arguments (absent ones left out).
 * @typedef {{ fn: string, args: Record<string, string> }} Request
 */

/**
 * A request with the absent arguments dropped.
 * @param {string} fn
 * @param {Record<string, string | undefined>} args
 * @returns {Request}
 */
function request(fn, args) {
  return { fn, args: compact(args) };
}

/**
 * HISTORY(symbol, start, end, [interval], [fields]): bars.
 * @param {unknown} symbol
 * @param {unknown} start
 * @param {unknown} end
 * @param {unknown} [interval]
 * @param {unknown} [fields]
 */
export function historyRequest(symbol, start, end, interval, fields) {
  const args = {
    symbol: text("symbol", symbol).toUpperCase(),
    start: dateArg("start", start),
    end: dateArg("end", end),
    interval: optText("interval", interval),
    fields: listArg("fields", fields),
  };
  if (!args.start) throw new ArgumentError("start is required");
  if (!args.end) throw new ArgumentError("end is required");
  return request("history", args);
}

/**
 * TICKS(symbol, start, end, [limit]): trades.
 * @param {unknown} symbol
 * @param {unknown} start
 * @param {unknown} end
 * @param {unknown} [limit]
 */
export function ticksRequest(symbol, start, end, limit) {
  return request("ticks", {
    symbol: text("symbol", symbol).toUpperCase(),
    start: dateArg("start", start),
    end: dateArg("end", end),
    limit: countArg("limit", limit),
  });
}

/**
 * QUOTE(symbol, [field]) and LIVE(symbol, [field]): the latest value of a field.
 * @param {unknown} symbol
 * @param {unknown} [field]
 */
export function quoteRequest(symbol, field) {
  return request("quote", { symbol: text("symbol", symbol).toUpperCase(), field: (optText("field", field) ?? "last").toLowerCase() });
}

/**
 * CHAIN(underlying, [expiry], [date], [fields]): an option chain; the contract column always first.
 * @param {unknown} underlying
 * @param {unknown} [expiry]
 * @param {unknown} [date]
 * @param {unknown} [fields]
 */
export function chainRequest(underlying, expiry, date, fields) {
  let f = listArg("fields", fields);
  if (f && !f.split(",").some((x) => x.toLowerCase() === "contract")) f = `contract,${f}`;
  return request("chain", {
    underlying: text("underlying", underlying).toUpperCase(),
    expiry: dateArg("expiry", expiry),
    date: dateArg("date", date),
    fields: f,
  });
}

/**
 * OPTION(option_symbol, field, [date]): one field of a contract on a day.
 * @param {unknown} option_symbol
 * @param {unknown} field
 * @param {unknown} [date]
 */
export function optionRequest(option_symbol, field, date) {
  const day = dateArg("date", date);
  return request("option", {
    symbol: text("option_symbol", option_symbol).toUpperCase(),
    fields: text("field", field).toLowerCase(),
    start: day,
    end: day,
  });
}

/**
 * DIVIDENDS(symbol, [start], [end]).
 * @param {unknown} symbol
 * @param {unknown} [start]
 * @param {unknown} [end]
 */
export function dividendsRequest(symbol, start, end) {
  return request("dividends", { symbol: text("symbol", symbol).toUpperCase(), start: dateArg("start", start), end: dateArg("end", end) });
}

/**
 * RATE(tenor, [date], [curve]).
 * @param {unknown} tenor
 * @param {unknown} [date]
 * @param {unknown} [curve]
 */
export function rateRequest(tenor, date, curve) {
  return request("rate", { tenor: tenorArg(tenor), date: dateArg("date", date), curve: optText("curve", curve) });
}

/**
 * FUNDAMENTAL(symbol, field).
 * @param {unknown} symbol
 * @param {unknown} field
 */
export function fundamentalRequest(symbol, field) {
  return request("fundamentals", { symbol: text("symbol", symbol).toUpperCase(), field: text("field", field).toLowerCase() });
}

/**
 * COMPARE(symbols, start, end, [metric]).
 * @param {unknown} symbols
 * @param {unknown} start
 * @param {unknown} end
 * @param {unknown} [metric]
 */
export function compareRequest(symbols, start, end, metric) {
  const args = {
    symbols: listArg("symbols", symbols),
    start: dateArg("start", start),
    end: dateArg("end", end),
    metric: optText("metric", metric),
  };
  if (!args.symbols) throw new ArgumentError("symbols is required");
  return request("compare", args);
}

/**
 * Each function's request by the id functions.json gives it (LIVE asks what QUOTE asks).
 * @type {Record<string, (...args: any[]) => Request>}
 */
export const REQUESTS = {
  HISTORY: historyRequest,
  TICKS: ticksRequest,
  QUOTE: quoteRequest,
  LIVE: quoteRequest,
  CHAIN: chainRequest,
  OPTION: optionRequest,
  DIVIDENDS: dividendsRequest,
  RATE: rateRequest,
  FUNDAMENTAL: fundamentalRequest,
  COMPARE: compareRequest,
};
