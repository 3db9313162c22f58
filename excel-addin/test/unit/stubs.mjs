// @ts-check
// Stubbed Office globals for unit tests: CustomFunctions.Error and ErrorCode as Office
// defines them, and a recording associate.

export class CFError extends Error {
  /**
   * @param {string} code
   * @param {string} [message]
   */
  constructor(code, message) {
    super(message ?? "");
    this.code = code;
  }
}

/**
 * Installs the stubs as `globalThis.CustomFunctions`; returns them (with `associated`, the
 * functions by id).
 * @returns {any}
 */
export function installCustomFunctions() {
  /** @type {any} */ (globalThis).CustomFunctions = {
    Error: CFError,
    ErrorCode: {
      invalidValue: "#VALUE!",
      notAvailable: "#N/A",
      divisionByZero: "#DIV/0!",
      invalidNumber: "#NUM!",
      nullReference: "#NULL!",
      invalidName: "#NAME?",
      invalidReference: "#REF!",
    },
    associated: new Map(),
    associate(id, fn) {
      this.associated.set(id, fn);
    },
  };
  return globalThis.CustomFunctions;
}

/**
 * A fetch that answers like xlserver's batch endpoint from `answer(fn, args)` (a table, or
 * {error}), recording every request. `delay` ms before answering; `status` forces an HTTP
 * status for the whole request.
 */
/**
 * @param {(fn: string, args: Record<string, string>) => any} answer
 * @param {{ delay?: number, status?: number | ((n: number) => number) }} [options]
 * @returns {{ fetch: any, requests: { url: string, init: any, body: any }[] }}
 */
export function fakeServer(answer, { delay = 0, status } = {}) {
  const requests = [];
  const fetch = async (url, init = {}) => {
    const body = init.body ? JSON.parse(init.body) : null;
    requests.push({ url, init, body });
    if (delay) {
      await new Promise((resolve, reject) => {
        const t = setTimeout(resolve, delay);
        if (init.signal) {
          init.signal.addEventListener("abort", () => {
            clearTimeout(t);
            reject(Object.assign(new Error("The operation was aborted"), { name: "AbortError" }));
          });
        }
      });
    }
    const s = typeof status === "function" ? status(requests.length) : status;
    if (s && s !== 200) {
      return { ok: false, status: s, json: async () => ({ error: { code: "unavailable", excel: "#BUSY!", message: `status ${s}` } }) };
    }
    let json;
    if (url.endsWith("/api/v1/batch")) {
      json = {
        results: body.calls.map((c) => {
          const a = answer(c.fn, c.args);
          return a.error ? { error: a.error } : { value: a };
        }),
      };
    } else {
      const u = new URL(url);
      const fn = u.pathname.split("/").pop();
      json = answer(fn, Object.fromEntries(u.searchParams));
    }
    return { ok: !json.error, status: json.error ? 404 : 200, json: async () => json };
  };
  return { fetch, requests };
}

export const table = (columns, rows, types) => ({ columns, types: types ?? columns.map(() => "number"), rows });

/** @param {number} ms */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Promise.allSettled with the outcomes typed loosely: a test reads the value or the reason it expects.
 * @param {Promise<unknown>[]} promises
 * @returns {Promise<any[]>}
 */
export const allSettled = (promises) => Promise.allSettled(promises);
