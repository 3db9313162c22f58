// @ts-check
// Errors and their Excel values: a bad argument (ArgumentError, found before anything is
// sent), an error answered by xlserver or the failure to reach it (ServerError), and the
// mapping of any failure to the `CustomFunctions.Error` a cell shows.
//
// `CustomFunctions` is read from the global at the moment an error is built, so node's test
// runner exercises this module with a stubbed global.

/** A problem with a function's arguments, found before anything is sent. */
export class ArgumentError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "ArgumentError";
    /** The Excel error code of the cell. */
    this.excel = "#VALUE!";
  }
}

/** An error answered by xlserver (or the failure to reach it), with its Excel code. */
export class ServerError extends Error {
  /**
   * @param {string} excel The Excel error code, e.g. "#N/A".
   * @param {string} code xlserver's error code, e.g. "not_found".
   * @param {string} message One line for the cell.
   * @param {number} [status] The HTTP status of the answer, when there was one.
   */
  constructor(excel, code, message, status) {
    super(message);
    this.name = "ServerError";
    this.excel = excel;
    this.code = code;
    this.status = status;
  }
}

/** @typedef {keyof typeof CustomFunctions.ErrorCode} ErrorCodeName */

/**
 * The `CustomFunctions.ErrorCode` names of the Excel codes a custom function can return.
 * @type {Record<string, ErrorCodeName | undefined>}
 */
const ERROR_CODES = {
  "#N/A": "notAvailable",
  "#VALUE!": "invalidValue",
  "#NUM!": "invalidNumber",
  "#DIV/0!": "divisionByZero",
  "#NULL!": "nullReference",
};

/**
 * Any failure as a `CustomFunctions.Error`: the server's Excel code and one-line message.
 * Only #VALUE! and #N/A carry a message in Excel, so the codes that cannot be returned
 * (#BUSY! from a busy server, and anything unknown) become #N/A with the message kept.
 *
 * @param {unknown} e
 * @returns {CustomFunctions.Error}
 */
export function toExcelError(e) {
  const CF = globalThis.CustomFunctions;
  if (CF && e instanceof CF.Error) return e;
  const err = /** @type {{ excel?: string, message?: string } | null | undefined} */ (e);
  const excel = err && err.excel;
  let message = (err && err.message) || String(e);
  let name = excel ? ERROR_CODES[excel] : undefined;
  if (!name) {
    if (excel === "#BUSY!") message = `xlserver is busy: ${message}`;
    name = e instanceof ArgumentError ? "invalidValue" : "notAvailable";
  }
  const code = CF.ErrorCode[name];
  message = message.length > 255 ? `${message.slice(0, 252)}...` : message;
  return name === "invalidValue" || name === "notAvailable" ? new CF.Error(code, message) : new CF.Error(code);
}
