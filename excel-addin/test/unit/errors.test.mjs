// @ts-check
// src/errors.js: any failure as the CustomFunctions.Error a cell shows.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { installCustomFunctions } from "./stubs.mjs";

installCustomFunctions();
const { ArgumentError, ServerError, toExcelError } = await import("../../src/errors.js");

describe("errors as Excel values", () => {
  it("maps errors to CustomFunctions.Error with the server's message", () => {
    const na = toExcelError(new ServerError("#N/A", "not_found", "unknown symbol AAPX"));
    assert.ok(na instanceof CustomFunctions.Error);
    assert.equal(na.code, "#N/A");
    assert.equal(na.message, "unknown symbol AAPX");
    const bad = toExcelError(new ArgumentError("start \"x\" is not a date"));
    assert.equal(bad.code, "#VALUE!");
    const num = toExcelError(new ServerError("#NUM!", "out_of_range", "no IV"));
    assert.equal(num.code, "#NUM!");
    assert.equal(num.message, ""); // Excel shows messages on #VALUE! and #N/A only
    const busy = toExcelError(new ServerError("#BUSY!", "resource_exhausted", "rate limit"));
    assert.equal(busy.code, "#N/A");
    assert.equal(busy.message, "xlserver is busy: rate limit");
    assert.equal(toExcelError(new Error("boom")).code, "#N/A");
  });
});
