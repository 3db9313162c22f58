// The globals of the pages the end-to-end tests and the benchmark drive (test/e2e/harness.mjs),
// read inside page.evaluate: the functions by id, the shared client and live hub, and the
// stubs a test installs.

import type { Client } from "../../src/batch.js";
import type { LiveHub } from "../../src/live.js";

declare global {
  interface Window {
    __fns: Record<string, (...args: any[]) => any>;
    __client: Client;
    __hub: LiveHub;
    __Client: typeof Client;
    __ready: boolean;
    __written: unknown[];
    __created: string[];
    __reads: [string, string][];
    Excel: any;
  }
}
