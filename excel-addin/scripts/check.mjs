// @ts-check
// The add-in's static checks, run in CI by `npm run check` after the type check (tsc on the
// sources, the scripts and the tests: tsconfig*.json) and the linter (eslint.config.mjs):
//  1. functions.json generated from src/functions.js equals the committed snapshot
//     (metadata.snapshot.json): a signature never changes by accident. After a deliberate
//     change (a new function; never a changed id), `npm run check -- --update` rewrites it.
//  2. the served and development manifests validate against the manifest XML schema
//     (offline, xmllint + schema/), pass the extra lint, and a broken manifest is rejected.
//  3. every function in functions.json is associated by functions.js, and nothing else.
//  4. the linter applies the Office add-in rules to src/: a snippet that reads a range's values
//     without load and sync is reported (a lint that silently skips the sources is no lint).

import { ESLint } from "eslint";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateMetadata } from "./build.mjs";
import { DEV_ORIGIN, ROOT, lint, render, validate } from "./manifest.mjs";

const tmp = mkdtempSync(join(tmpdir(), "xlfeed-addin-check-"));
/** @type {string[]} */
const failures = [];
/** @param {string} m */
const fail = (m) => failures.push(m);

// 1. Metadata snapshot.
const generated = join(tmp, "functions.json");
generateMetadata(generated);
const fresh = JSON.parse(readFileSync(generated, "utf8"));
const snapshotFile = join(ROOT, "metadata.snapshot.json");
if (process.argv.includes("--update")) {
  writeFileSync(snapshotFile, `${JSON.stringify(fresh, null, 2)}\n`);
  console.log(`updated ${snapshotFile}`);
}
const snapshot = JSON.parse(readFileSync(snapshotFile, "utf8"));
/** @param {{ functions: { id: string }[] }} m */
const byId = (m) => new Map(m.functions.map((f) => [f.id, f]));
const [was, now] = [byId(snapshot), byId(fresh)];
for (const [id, f] of was) {
  if (!now.has(id)) fail(`function ${id} is gone from functions.json (ids are frozen: Office caches the metadata)`);
  else if (JSON.stringify(now.get(id)) !== JSON.stringify(f)) {
    fail(`function ${id} changed:\n  snapshot:  ${JSON.stringify(f)}\n  generated: ${JSON.stringify(now.get(id))}`);
  }
}
for (const id of now.keys()) if (!was.has(id)) fail(`function ${id} is new: accept it with npm run check -- --update`);
if (JSON.stringify({ ...fresh, functions: [] }) !== JSON.stringify({ ...snapshot, functions: [] })) {
  fail("functions.json's top-level settings differ from the snapshot");
}
console.log(`metadata: ${now.size} functions compared with metadata.snapshot.json`);

// 2. Manifests.
const cases = [
  ["served (as xlserver renders it)", render({ origin: "https://xlfeed.example.com" }), "https://xlfeed.example.com"],
  ["development", render({ origin: DEV_ORIGIN, development: true }), DEV_ORIGIN],
];
for (const [name, xml, origin] of cases) {
  const file = join(tmp, `${name.split(" ")[0]}.xml`);
  writeFileSync(file, xml);
  const [ok, out] = validate(file);
  if (!ok) fail(`the ${name} manifest does not validate against the schema:\n${out}`);
  for (const p of lint(xml, origin)) fail(`the ${name} manifest: ${p}`);
  console.log(`manifest: ${name} ${ok ? "validates" : "INVALID"}`);
}
// The validator must reject a manifest with an element out of order (a check that cannot fail is no check).
const broken = join(tmp, "broken.xml");
writeFileSync(broken, cases[0][1].replace(/(<Version>[^<]*<\/Version>)\s*(<ProviderName>[^<]*<\/ProviderName>)/, "$2$1"));
if (validate(broken)[0]) fail("the schema accepted a manifest with Version after ProviderName: the validation is not working");

// 3. Associations.
/** @type {Map<string, Function>} */
const associated = new Map();
/** @type {any} */ (globalThis).CustomFunctions = {
  /** @type {(id: string, fn: Function) => void} */
  associate(id, fn) {
    associated.set(id, fn);
  },
};
await import(join(ROOT, "src/functions.js"));
const ids = [...associated.keys()].sort();
const declared = [...now.keys()].sort();
if (JSON.stringify(ids) !== JSON.stringify(declared)) {
  fail(`functions.js associates ${ids.join(", ")} but functions.json declares ${declared.join(", ")}`);
}

// 4. The Office rules reach the sources.
const probe = `export async function probe() {
  await Excel.run(async (context) => {
    const range = context.workbook.getSelectedRange();
    return range.values;
  });
}
`;
const [linted] = await new ESLint({ cwd: ROOT }).lintText(probe, { filePath: join(ROOT, "src/probe.js") });
const reported = new Set(linted.messages.map((m) => m.ruleId));
for (const rule of ["office-addins/load-object-before-read", "office-addins/call-sync-before-read"]) {
  if (!reported.has(rule)) fail(`the linter does not apply ${rule} to src/ (eslint.config.mjs)`);
}
console.log(`lint: the Office add-in rules apply to src/ (${[...reported].join(", ")})`);

if (failures.length) {
  for (const f of failures) console.error(`FAIL ${f}`);
  process.exit(1);
}
console.log("add-in checks passed");
