// @ts-check
// src/cells.js: table answers as spilled matrices and single values, dates formatted.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { table } from "./stubs.mjs";
import { excelCell, scalar, toMatrix } from "../../src/cells.js";

describe("answers as Excel values", () => {
  const t = table(["date", "close", "note"], [[45470, 204.02, null], [45471, 201.03, "x"]], ["date", "number", "text"]);

  it("spills tables with a header row, dates formatted, empty cells blank", () => {
    const m = toMatrix(t);
    assert.deepEqual(m[0], ["date", "close", "note"]);
    assert.deepEqual(m[1][0], { type: "Double", basicValue: 45470, numberFormat: "yyyy-mm-dd" });
    assert.equal(m[1][2], "");
    assert.deepEqual(toMatrix(t, { headers: false, sort: "desc" })[0][1], 201.03);
  });

  it("formats times with seconds, and ticks with milliseconds", () => {
    assert.equal(/** @type {any} */ (excelCell(45471.4, "time")).numberFormat, "yyyy-mm-dd hh:mm:ss");
    assert.equal(/** @type {any} */ (excelCell(45471.4, "time", true)).numberFormat, "yyyy-mm-dd hh:mm:ss.000");
    assert.equal(excelCell(5, "number"), 5);
  });

  it("takes one value, or says there is none", () => {
    assert.equal(scalar(t, "close", "close"), 201.03);
    assert.equal(scalar(t, "note", "note"), "x");
    assert.throws(() => scalar(table(["a"], []), undefined, "last for AAPL"), /no last for AAPL/);
    assert.throws(() => scalar(t, "iv", "iv for X"), /no iv for X/);
    assert.throws(() => scalar(table(["a"], [[null]]), undefined, "bid for KO"), /no bid for KO/);
  });

});
