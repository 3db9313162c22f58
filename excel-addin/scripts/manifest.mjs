// @ts-check
// Renders manifest.template.xml for an origin, and validates manifests against the add-in
// manifest XML schema (schema/, validated offline with xmllint).

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The add-in's ids: the served manifest and the development one (both use the MKT namespace: install one). */
export const IDS = {
  production: "733fdc27-0b39-40d6-938a-8cd75b30a53d",
  development: "c152e9a0-9e6b-49db-8f4b-4c581c3214e4",
};

/** The default origin of the development manifest (xlserver serve with its dev certificate). */
export const DEV_ORIGIN = "https://localhost:8443";

/** The manifest version: the package's, with four parts as Office wants. */
export function manifestVersion() {
  const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  return `${version}.0`;
}

/**
 * The template with the id, version and name suffix filled; `origin` fills {{ORIGIN}} too
 * (left as is, xlserver fills it per request).
 * @param {{ origin?: string, development?: boolean }} [options]
 * @returns {string}
 */
export function render({ origin, development = false } = {}) {
  let xml = readFileSync(join(ROOT, "manifest.template.xml"), "utf8")
    .replaceAll("{{ID}}", development ? IDS.development : IDS.production)
    .replaceAll("{{VERSION}}", manifestVersion())
    .replaceAll("{{SUFFIX}}", development ? " (dev)" : "");
  if (origin !== undefined) {
    const u = new URL(origin);
    if (u.protocol !== "https:") throw new Error(`the manifest's origin ${origin} is not https (Office requires it)`);
    xml = xml.replaceAll("{{ORIGIN}}", u.origin);
  }
  return xml;
}

/**
 * Validates a manifest file against the schema; returns [ok, xmllint's output].
 * @param {string} file
 * @returns {[boolean, string]}
 */
export function validate(file) {
  try {
    const out = execFileSync("xmllint", ["--noout", "--schema", join(ROOT, "schema/OfficeAppManifestV1_1.xsd"), file], {
      stdio: ["ignore", "pipe", "pipe"],
      encoding: "utf8",
    });
    return [true, out];
  } catch (caught) {
    const e = /** @type {NodeJS.ErrnoException & { stdout?: string, stderr?: string }} */ (caught);
    if (e.code === "ENOENT") throw new Error("xmllint is needed to validate the manifest (Debian: apt-get install libxml2-utils)");
    return [false, `${e.stdout || ""}${e.stderr || ""}`];
  }
}

/**
 * Checks beyond the schema: every resid is defined, every URL is https on the origin.
 * @param {string} xml
 * @param {string} origin
 * @returns {string[]}
 */
export function lint(xml, origin) {
  /** @type {string[]} */
  const problems = [];
  let urls = 0;
  const defined = new Set([...xml.matchAll(/<bt:(?:Image|Url|String) id="([^"]+)"/g)].map((m) => m[1]));
  for (const [, id] of xml.matchAll(/resid="([^"]+)"/g)) {
    if (!defined.has(id)) problems.push(`resid "${id}" is not defined in Resources`);
  }
  for (const [, url] of xml.matchAll(/(?:DefaultValue="|<AppDomain>)(https?:\/\/[^"<\s]+)/g)) {
    urls += 1;
    if (!url.startsWith(`${origin}/`) && url !== origin) problems.push(`URL ${url} is not on ${origin}`);
  }
  if (urls < 8) problems.push(`only ${urls} URLs found on ${origin}`);
  if (!/<bt:String id="Functions.Namespace" DefaultValue="MKT"\/>/.test(xml)) problems.push("the namespace is not MKT");
  if (!/<Runtime resid="Taskpane.Url" lifetime="long"\/>/.test(xml)) problems.push("no shared runtime (Runtime lifetime=long)");
  if (!/<Set Name="SharedRuntime" MinVersion="1.1"\/>/.test(xml)) problems.push("the SharedRuntime requirement is missing");
  return problems;
}
