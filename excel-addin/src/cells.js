// @ts-check
// Answers as cell values: xlserver's table answers as a spilled matrix or one value, with
// dates and times as numbers carrying a number format, and empty values as blank cells.

import { ServerError } from "./errors.js";

/**
 * A table answer of xlserver's API: the column names, their types ("number", "text", "date",
 * "time", ...), the rows, and a `next` cursor when the answer was cut at a limit.
 * @typedef {{ columns: string[], types?: string[], rows: any[][], next?: unknown }} Table
 */

/**
 * A date or time cell: an Excel serial shown with a number format.
 * @typedef {{ type: "Double", basicValue: number, numberFormat: string }} FormattedNumber
 */

/** @typedef {string | number | boolean | FormattedNumber} Cell */

/** Number formats by column type. */
const FORMATS = { date: "yyyy-mm-dd", time: "yyyy-mm-dd hh:mm:ss", tick: "yyyy-mm-dd hh:mm:ss.000" };

/**
 * One cell: dates and times as formatted numbers, empty as "" (a returned null shows 0).
 * @param {unknown} v A value of the answer.
 * @param {string | undefined} type Its column's type.
 * @param {boolean} [precise] Times with milliseconds (ticks).
 * @returns {Cell}
 */
export function excelCell(v, type, precise = false) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number" && (type === "date" || type === "time")) {
    const numberFormat = type === "date" ? FORMATS.date : precise ? FORMATS.tick : FORMATS.time;
    return { type: "Double", basicValue: v, numberFormat };
  }
  return /** @type {Cell} */ (v);
}

/**
 * A table answer as a spilled matrix.
 * @param {Table} table
 * @param {{ headers?: boolean, sort?: "asc" | "desc", precise?: boolean }} [layout]
 * @returns {Cell[][]}
 */
export function toMatrix(table, { headers = true, sort = "asc", precise = false } = {}) {
  const types = table.types ?? [];
  let rows = table.rows.map((r) => r.map((v, i) => excelCell(v, types[i], precise)));
  if (sort === "desc") rows = rows.reverse();
  return headers ? [table.columns.slice(), ...rows] : rows;
}

/**
 * The one value of `column` (default: the first) in the last row of a table answer.
 * @param {Table} table
 * @param {string | undefined} column
 * @param {string} what What the value is, for the #N/A message when there is none.
 * @returns {Cell}
 */
export function scalar(table, column, what) {
  const i = column === undefined ? 0 : table.columns.indexOf(column);
  const row = table.rows[table.rows.length - 1];
  if (i < 0 || !row || row[i] === null || row[i] === undefined) {
    throw new ServerError("#N/A", "not_found", `no ${what}`);
  }
  return excelCell(row[i], (table.types ?? [])[i]);
}
