// @ts-check
// Builds the add-in into dist/: the task pane and functions (plain ES modules, no bundler),
// functions.json generated from the functions' JSDoc, the manifest template xlserver fills
// per request, and the development manifest for https://localhost:<port>.
//
//   npm run build [-- --dev-origin https://localhost:8443]

import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEV_ORIGIN, ROOT, render } from "./manifest.mjs";

/**
 * Generates functions.json from src/functions.js into `out`.
 * @param {string} out
 */
export function generateMetadata(out) {
  const cli = join(ROOT, "node_modules/custom-functions-metadata/cli.js");
  execFileSync(process.execPath, [cli, "generate", join(ROOT, "src/functions.js"), out], { stdio: "inherit" });
}

function main() {
  const i = process.argv.indexOf("--dev-origin");
  const devOrigin = i > 0 ? process.argv[i + 1] : process.env.XLFEED_ADDIN_DEV_ORIGIN || DEV_ORIGIN;
  const dist = join(ROOT, "dist");
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(dist, { recursive: true });
  cpSync(join(ROOT, "src"), dist, { recursive: true });
  generateMetadata(join(dist, "functions.json"));
  writeFileSync(join(dist, "manifest.template.xml"), render());
  writeFileSync(join(dist, "manifest-dev.xml"), render({ origin: devOrigin, development: true }));
  console.log(`built ${dist} (development manifest for ${devOrigin}: dist/manifest-dev.xml)`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
