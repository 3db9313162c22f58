// @ts-check
// The linter (`npm run lint`, part of `npm run check`): ESLint's recommended rules and the
// Office add-in rules of eslint-plugin-office-addins (load before read, sync after load, no
// sync in loops, ...) on the add-in's sources, and the recommended rules on the node side.
// Formatting is not linted (the plugin's prettier rule is off: the code is not formatted by
// prettier, and a formatter is not a lint).

import js from "@eslint/js";
import officeAddinsPlugin from "eslint-plugin-office-addins";
import globals from "globals";

// The plugin ships no types (its main.d.ts is empty).
const officeAddins = /** @type {{ configs: { recommended: import("eslint").Linter.Config[] } }} */ (
  /** @type {unknown} */ (officeAddinsPlugin)
);

/** @type {import("eslint").Linter.Config[]} */
export default [
  // Declaration files are for tsc only.
  { ignores: ["dist/", "node_modules/", "test-results/", "schema/", "**/*.d.ts"] },
  js.configs.recommended,
  ...officeAddins.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: "latest",
      sourceType: "module",
    },
    rules: {
      "prettier/prettier": "off",
      // Unused arguments and caught errors are named where they document a signature.
      "@typescript-eslint/no-unused-vars": ["error", { args: "none", caughtErrors: "none" }],
    },
  },
  {
    // The add-in as the browser runs it, in Office's shared runtime.
    files: ["src/**/*.js"],
    languageOptions: {
      globals: { ...globals.browser, Office: "readonly", Excel: "readonly", CustomFunctions: "readonly" },
    },
  },
  {
    // Node: the scripts, the tests, this file. Code inside page.evaluate runs in the browser.
    files: ["scripts/**/*.mjs", "test/**/*.mjs", "*.mjs"],
    languageOptions: { globals: { ...globals.node, ...globals.browser, CustomFunctions: "readonly" } },
  },
];
