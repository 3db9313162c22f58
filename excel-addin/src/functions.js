// @ts-check
// The MKT.* custom functions. Their JSDoc is the metadata: `npm run build` turns it into
// functions.json with custom-functions-metadata, and `npm run check` compares that with the
// committed snapshot (metadata.snapshot.json), so a signature never changes by accident.
// Ids are frozen: add a new function rather than change one (Office caches the metadata).

import { layoutOptions } from "./args.js";
import { scalar, toMatrix } from "./cells.js";
import { client, live as liveHub } from "./client.js";
import { ServerError, toExcelError } from "./errors.js";
import {
  chainRequest,
  compareRequest,
  dividendsRequest,
  fundamentalRequest,
  historyRequest,
  optionRequest,
  quoteRequest,
  rateRequest,
  ticksRequest,
} from "./requests.js";

/** @typedef {import("./cells.js").Table} Table */

/**
 * Makes a request (requests.js) of xlserver.
 * @param {import("./requests.js").Request} request
 * @returns {Promise<Table>}
 */
function ask({ fn, args }) {
  return client.call(fn, args);
}

/**
 * Runs `body`: any failure (a bad argument, the server's error) becomes a CustomFunctions.Error.
 * @template T
 * @param {() => Promise<T>} body
 * @returns {Promise<T>}
 */
async function guarded(body) {
  try {
    return await body();
  } catch (e) {
    throw toExcelError(e);
  }
}

/**
 * A table answer as a spilled range; no rows is #N/A saying what was empty.
 * @param {Table} table
 * @param {string} what
 * @param {Parameters<typeof toMatrix>[1]} [layout]
 */
function spill(table, what, layout) {
  if (table.rows.length === 0) throw new ServerError("#N/A", "not_found", `no ${what}`);
  return toMatrix(table, layout);
}

/**
 * A date range in words.
 * @param {string | undefined} start
 * @param {string | undefined} end
 */
function range(start, end) {
  return `${start ?? "the start"} to ${end ?? "the end"}`;
}

// interval's description starts on a line of its own: right after "]", tsc reads "1m" as a
// malformed number (the description, and so functions.json, is the same either way).
/**
 * Bars of a symbol over a date range, as a table with a header row: date (or time), open,
 * high, low, close, volume. Example: =MKT.HISTORY("AAPL", "2024-06-03", "2024-06-28")
 * @customfunction HISTORY
 * @param {string} symbol Ticker, e.g. "AAPL".
 * @param {any} start First day: a date cell, "2024-06-03", or relative like "-1M".
 * @param {any} end Last day (inclusive), same forms as start.
 * @param {any} [interval]
 * 1m, 5m, 15m, 30m, 1h, daily (default), weekly or monthly.
 * @param {any[][]} [fields] Columns: open, high, low, close, volume, vwap, trades (a range or "close,volume").
 * @param {any[][]} [options] Layout: "headers=no; sort=desc", or a two-column range of name and value.
 * @returns {Promise<any[][]>} The bars, oldest first, with a header row.
 */
export function history(symbol, start, end, interval, fields, options) {
  return guarded(async () => {
    const request = historyRequest(symbol, start, end, interval, fields);
    const { args } = request;
    const layout = layoutOptions(options);
    const table = await ask(request);
    return spill(table, `${args.interval ?? "daily"} bars of ${args.symbol} from ${range(args.start, args.end)}`, layout);
  });
}

/**
 * Trades of a symbol between two times, oldest first: time, price, size, bid, ask, ...
 * Example: =MKT.TICKS("AAPL", "2024-06-28 09:30", "2024-06-28 09:35", 100)
 * @customfunction TICKS
 * @param {string} symbol Ticker, e.g. "AAPL".
 * @param {any} start First time (New York): a date-time cell or "2024-06-28 09:30".
 * @param {any} end Last time (New York), same forms as start.
 * @param {any} [limit] At most this many trades (default 10,000; a last row says when there are more).
 * @returns {Promise<any[][]>} The trades with a header row.
 */
export function ticks(symbol, start, end, limit) {
  return guarded(async () => {
    const request = ticksRequest(symbol, start, end, limit);
    const { args } = request;
    const table = await ask(request);
    const rows = spill(table, `trades of ${args.symbol} from ${range(args.start, args.end)}`, { precise: true });
    if (table.next) {
      // Cut at the limit: say so in the last row rather than end silently.
      const more = `more trades after these: raise limit (at most 100,000) or narrow the range`;
      rows.push([more, ...table.columns.slice(1).map(() => "")]);
    }
    return rows;
  });
}

/**
 * The latest value of one field of a symbol. Example: =MKT.QUOTE("AAPL", "bid")
 * @customfunction QUOTE
 * @param {string} symbol Ticker, e.g. "AAPL".
 * @param {any} [field] last (default), bid, ask, size, volume, change, change_pct, open, high, low, prev_close, time.
 * @returns {Promise<any>} The value.
 */
export function quote(symbol, field) {
  return guarded(async () => {
    const request = quoteRequest(symbol, field);
    const { args } = request;
    const table = await ask(request);
    return scalar(table, undefined, `${args.field} for ${args.symbol}`);
  });
}

/**
 * The latest value of one field of a symbol, updated every 2 seconds while the cell exists.
 * Example: =MKT.LIVE("AAPL", "last")
 * @customfunction LIVE
 * @param {string} symbol Ticker, e.g. "AAPL".
 * @param {any} [field] last (default), bid, ask, size, volume, change, change_pct, open, high, low, prev_close, time.
 * @param {CustomFunctions.StreamingInvocation<any>} invocation The cell the value streams to.
 */
// @ts-expect-error TS1016: Excel passes the invocation after the optional field (functions.json
// needs "[field]"), an order TypeScript refuses for its own signatures.
export function live(symbol, field, invocation) {
  let args;
  try {
    args = quoteRequest(symbol, field).args;
  } catch (e) {
    invocation.setResult(toExcelError(e));
    return;
  }
  const unsubscribe = liveHub.subscribe("quote", args, (error, table) => {
    try {
      if (error) throw error;
      invocation.setResult(scalar(/** @type {Table} */ (table), undefined, `${args.field} for ${args.symbol}`));
    } catch (e) {
      invocation.setResult(toExcelError(e));
    }
  });
  invocation.onCanceled = () => unsubscribe();
}

/**
 * An underlying's option chain with IV and Greeks, on the latest processed day or a date.
 * Example: =MKT.CHAIN("AAPL", "2024-07-19")
 * @customfunction CHAIN
 * @param {string} underlying Underlying ticker, e.g. "AAPL".
 * @param {any} [expiry] Only this expiry (a date).
 * @param {any} [date] The trading day (default: the latest processed).
 * @param {any[][]} [fields] Columns: bid, ask, last, volume, iv, delta, gamma, vega, theta, rho (contract always first).
 * @returns {Promise<any[][]>} One row per contract with a header row.
 */
export function chain(underlying, expiry, date, fields) {
  return guarded(async () => {
    const request = chainRequest(underlying, expiry, date, fields);
    const { args } = request;
    const table = await ask(request);
    const which = args.expiry ? ` expiring ${args.expiry}` : "";
    return spill(table, `options of ${args.underlying}${which} on ${args.date ?? "the latest day"}`);
  });
}

/**
 * One field of an option contract on a day: iv, delta, gamma, vega, theta, rho, last, volume, ...
 * Example: =MKT.OPTION("AAPL2428F200", "iv")
 * @customfunction OPTION
 * @param {string} option_symbol The contract: IQFeed (AAPL2428F200) or OCC (AAPL  240628C00200000).
 * @param {string} field iv, delta, gamma, vega, theta, rho, or another column of the option's day.
 * @param {any} [date] The trading day (default: the latest with a trade).
 * @returns {Promise<any>} The value.
 */
export function option(option_symbol, field, date) {
  return guarded(async () => {
    const request = optionRequest(option_symbol, field, date);
    const { args } = request;
    const day = args.start;
    const table = await ask(request);
    return scalar(table, args.fields, `${args.fields} for ${args.symbol}${day ? ` on ${day}` : ""}`);
  });
}

/**
 * Dividends of a symbol: ex-date, pay date, amount, yield. Example: =MKT.DIVIDENDS("KO", "-2Y")
 * @customfunction DIVIDENDS
 * @param {string} symbol Ticker, e.g. "KO".
 * @param {any} [start] First ex-date (default: all known).
 * @param {any} [end] Last ex-date.
 * @returns {Promise<any[][]>} The dividends with a header row.
 */
export function dividends(symbol, start, end) {
  return guarded(async () => {
    const request = dividendsRequest(symbol, start, end);
    const { args } = request;
    const table = await ask(request);
    return spill(table, `dividends of ${args.symbol} from ${range(args.start, args.end)}`);
  });
}

/**
 * The continuously compounded zero rate for a tenor on a date. Example: =MKT.RATE("3M", "2024-06-03")
 * @customfunction RATE
 * @param {any} tenor Days (91), or 1W, 3M, 1Y.
 * @param {any} [date] The day (default: today in New York).
 * @param {any} [curve] SOFR, LIBOR or UST_PAR (default: the market's curve for the date).
 * @returns {Promise<any>} The rate, e.g. 0.0530 for 5.30%.
 */
export function rate(tenor, date, curve) {
  return guarded(async () => {
    const request = rateRequest(tenor, date, curve);
    const { args } = request;
    const table = await ask(request);
    return scalar(table, "rate", `${args.tenor} rate`);
  });
}

/**
 * One fundamental of a symbol: pe, eps, shares_outstanding, high_52w, low_52w, dividend_yield_pct, ...
 * Example: =MKT.FUNDAMENTAL("AAPL", "pe")
 * @customfunction FUNDAMENTAL
 * @param {string} symbol Ticker, e.g. "AAPL".
 * @param {string} field pe, eps, shares_outstanding, high_52w, low_52w, dividend_amount, dividend_yield_pct, dividend_rate, pay_date, ex_date, as_of.
 * @returns {Promise<any>} The value.
 */
export function fundamental(symbol, field) {
  return guarded(async () => {
    const request = fundamentalRequest(symbol, field);
    const { args } = request;
    const table = await ask(request);
    return scalar(table, undefined, `${args.field} for ${args.symbol}`);
  });
}

/**
 * A comparison of two or more symbols over a date range, computed by xlserver.
 * Example: =MKT.COMPARE("AAPL,MSFT,SPY", "2024-01-02", "2024-06-28", "correlation")
 * @customfunction COMPARE
 * @param {any[][]} symbols Two or more tickers: a range, or "AAPL,MSFT".
 * @param {any} start First day.
 * @param {any} end Last day.
 * @param {any} [metric] summary (default), returns, correlation, drawdown, ivrv, consistency.
 * @returns {Promise<any[][]>} The comparison with a header row.
 */
export function compare(symbols, start, end, metric) {
  return guarded(async () => {
    const request = compareRequest(symbols, start, end, metric);
    const { args } = request;
    const table = await ask(request);
    return spill(table, `${args.metric ?? "summary"} of ${args.symbols} from ${range(args.start, args.end)}`);
  });
}

/** The functions by id, as functions.json names them. */
export const FUNCTIONS = {
  HISTORY: history,
  TICKS: ticks,
  QUOTE: quote,
  LIVE: live,
  CHAIN: chain,
  OPTION: option,
  DIVIDENDS: dividends,
  RATE: rate,
  FUNDAMENTAL: fundamental,
  COMPARE: compare,
};

if (typeof CustomFunctions !== "undefined" && typeof CustomFunctions.associate === "function") {
  for (const [id, fn] of Object.entries(FUNCTIONS)) CustomFunctions.associate(id, fn);
}
