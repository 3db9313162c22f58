// @ts-check
// The add-in's connection to xlserver: the settings in the add-in's storage, and the one
// batching client and live hub every function and the task pane share (one JS context: the
// shared runtime). The parts live in their own modules:
//
//   args.js    argument coercion (Excel's values to the API's arguments, #VALUE! before sending)
//   cells.js   answers as cell values (spilled tables, one value, formatted dates)
//   errors.js  ArgumentError, ServerError, and any failure as a CustomFunctions.Error
//   batch.js   the batching client (DEFAULTS, Client)
//   live.js    live polling for MKT.LIVE (LiveHub)

import { Client } from "./batch.js";
import { LiveHub } from "./live.js";

/** Where the settings live in the add-in's storage (never in the workbook). */
export const STORAGE_KEYS = { server: "xlfeed.server", apiKey: "xlfeed.apiKey" };

/** @typedef {{ server: string, apiKey: string }} Settings */

/** The add-in's storage, or null where there is none (node, a sandbox that denies it). */
function storage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

/**
 * The settings saved by the task pane; the server defaults to the add-in's own origin.
 * @returns {Settings}
 */
export function loadSettings() {
  const s = storage();
  const origin = globalThis.location && /^https?:/.test(globalThis.location.protocol) ? globalThis.location.origin : "";
  return {
    server: (s && s.getItem(STORAGE_KEYS.server)) || origin,
    apiKey: (s && s.getItem(STORAGE_KEYS.apiKey)) || "",
  };
}

/**
 * Saves the settings and points the shared client at them.
 * @param {Settings} settings
 */
export function saveSettings({ server, apiKey }) {
  const s = storage();
  if (s) {
    s.setItem(STORAGE_KEYS.server, server);
    if (apiKey) s.setItem(STORAGE_KEYS.apiKey, apiKey);
    else s.removeItem(STORAGE_KEYS.apiKey);
  }
  client.configure({ server, apiKey });
}

/** The client every function and the task pane share (one JS context: the shared runtime). */
export const client = new Client(loadSettings());

/** The live subscriptions of MKT.LIVE. */
export const live = new LiveHub(client);
