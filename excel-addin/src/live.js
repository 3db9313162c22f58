// @ts-check
// Live polling for MKT.LIVE: one poller per distinct call, however many cells stream it,
// asking the batching client for a fresh answer every interval while any cell listens.

import { DEFAULTS, callKey } from "./batch.js";

/** @typedef {import("./batch.js").Client} Client */
/** @typedef {import("./cells.js").Table} Table */

/**
 * Told the error (null when none) and the table (null on an error) of every poll.
 * @typedef {(error: unknown, table: Table | null) => void} Listener
 */

/**
 * One polled call and the cells listening to it.
 * @typedef {{ fn: string, args: Record<string, string>, listeners: Set<Listener>, timer: ReturnType<typeof setInterval> | undefined, last: [unknown, Table | null] | null, busy: boolean }} Feed
 */

/**
 * Live subscriptions: one poller per distinct call, however many cells show it, asking for a
 * fresh answer every `intervalMs` (through the client's batches) while anyone listens.
 */
export class LiveHub {
  /**
   * @param {Client} client
   * @param {{ intervalMs?: number }} [options]
   */
  constructor(client, { intervalMs = DEFAULTS.liveIntervalMs } = {}) {
    this.client = client;
    this.intervalMs = intervalMs;
    /** @type {Map<string, Feed>} */
    this.feeds = new Map(); // key → { fn, args, listeners: Set, timer, last, busy }
  }

  /**
   * Calls `listener(error, table)` now (when known) and on every poll; returns the unsubscribe.
   * @param {string} fn
   * @param {Record<string, string>} args
   * @param {Listener} listener
   * @returns {() => void}
   */
  subscribe(fn, args, listener) {
    const key = callKey(fn, args);
    let feed = this.feeds.get(key);
    if (!feed) {
      feed = { fn, args, listeners: new Set(), timer: undefined, last: null, busy: false };
      this.feeds.set(key, feed);
      feed.timer = setInterval(() => this.poll(key), this.intervalMs);
      this.poll(key);
    } else if (feed.last) {
      listener(...feed.last);
    }
    feed.listeners.add(listener);
    return () => {
      feed.listeners.delete(listener);
      if (feed.listeners.size === 0 && this.feeds.get(key) === feed) {
        clearInterval(feed.timer);
        this.feeds.delete(key);
      }
    };
  }

  /** The number of distinct live calls being polled. */
  get size() {
    return this.feeds.size;
  }

  /**
   * Asks for the call's answer afresh and tells every listener.
   * @param {string} key
   * @returns {Promise<void>}
   */
  async poll(key) {
    const feed = this.feeds.get(key);
    if (!feed || feed.busy) return;
    feed.busy = true;
    /** @type {[unknown, Table | null]} */
    let result;
    try {
      result = [null, await this.client.call(feed.fn, feed.args, { fresh: true })];
    } catch (e) {
      result = [e, null];
    }
    feed.busy = false;
    if (this.feeds.get(key) !== feed) return; // unsubscribed meanwhile
    feed.last = result;
    // A bad argument stays bad: stop asking (the cell keeps the error until it is edited).
    if (result[0] && /** @type {{ excel?: string }} */ (result[0]).excel === "#VALUE!") clearInterval(feed.timer);
    for (const l of feed.listeners) {
      try {
        l(...result);
      } catch {
        // a cell that went away while its value was on the way
      }
    }
  }
}
