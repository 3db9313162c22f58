// @ts-check
// The export of src/export.js: an MKT formula parsed into its function's request, references
// read through a reader, the workbook's path; hostile formulas refused naming the bad part.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ArgumentError } from "../../src/errors.js";
import { MAX_FORMULA, argValues, fileName, formulaRequest, parseFormula, toBase64, workbookPath } from "../../src/export.js";
import { REQUESTS } from "../../src/requests.js";

describe("parsing a formula", () => {
  it("reads constants, omitted arguments, references and array constants", () => {
    const { id, args } = parseFormula(`=MKT.HISTORY("AAPL", A1, 'My ''big'' sheet'!$B$2:C3, , {"close","volume"}, TRUE)`);
    assert.equal(id, "HISTORY");
    assert.deepEqual(args, [
      { kind: "value", value: "AAPL" },
      { kind: "ref", sheet: undefined, address: "A1", text: "A1" },
      { kind: "ref", sheet: "My 'big' sheet", address: "B2:C3", text: "'My ''big'' sheet'!$B$2:C3" },
      { kind: "missing" },
      { kind: "value", value: [["close", "volume"]] },
      { kind: "value", value: true },
    ]);
    assert.deepEqual(parseFormula('=mkt.quote("A""B", -1.5e2)').args, [
      { kind: "value", value: 'A"B' },
      { kind: "value", value: -150 },
    ]);
    assert.equal(parseFormula("=_xldudf_MKT_CHAIN(Sheet2!A1)").id, "CHAIN");
    assert.deepEqual(parseFormula("=MKT.RATE()").args, []);
    assert.deepEqual(parseFormula('=MKT.COMPARE({"AAPL";"MSFT"}, "2024-01-02", "2024-06-28")').args[0], {
      kind: "value",
      value: [["AAPL"], ["MSFT"]],
    });
  });

  it("refuses what it cannot read, naming the bad part", () => {
    /** @type {[string, RegExp][]} */
    const bad = [
      ["", /no formula/],
      ["=SUM(A1:A3)", /"=SUM\(A1:A3\)" is not an MKT formula/],
      ["=MKT.NOPE(1)", /"MKT\.NOPE" is not an MKT function/],
      ['=MKT.HISTORY("AAPL", TODAY(), "2024-06-28")', /argument 2: "TODAY\(\)" is not a constant or a cell reference/],
      ['=MKT.HISTORY("AAPL", A1+1, "2024-06-28")', /argument 2: "A1\+1"/],
      ['=MKT.HISTORY("AAPL", "2024-06-03", "2024-06-28")*2', /does not end with the call's "\)"/],
      ['=MKT.HISTORY("AAPL, "x")', /unterminated quote/],
      ['=MKT.HISTORY("AAPL", (A1)', /unbalanced/],
      ['=MKT.HISTORY("AAPL"))+(A1)', /unmatched/],
      ['=MKT.HISTORY("AAPL", {1,2;3})', /rows of "\{1,2;3\}" differ/],
      ['=MKT.HISTORY("AAPL", {A1})', /"A1" in "\{A1\}" is not a constant/],
      ['=MKT.HISTORY("AAPL", bad sheet!A1)', /"bad sheet" is not a sheet name/],
      ['=MKT.HISTORY("AAPL", A:A)', /"A:A" is not a constant or a cell reference/],
      [`=MKT.HISTORY("${"A".repeat(MAX_FORMULA)}")`, /Excel's limit is 8192/],
    ];
    for (const [formula, why] of bad) {
      assert.throws(() => parseFormula(formula), (e) => e instanceof ArgumentError && why.test(e.message), formula);
    }
    // A long bad value is quoted short.
    assert.throws(() => parseFormula(`=MKT.HISTORY(${"x".repeat(500)})`), (e) => e instanceof Error && e.message.length < 250);
  });
});

describe("the request of a formula", () => {
  it("is the one the custom function makes, references read from the workbook", async () => {
    /** @type {[string | undefined, string][]} */
    const reads = [];
    /** @type {import("../../src/export.js").RangeReader} */
    const read = async (sheet, address) => {
      reads.push([sheet, address]);
      return address === "A1" ? [[45467]] : [["close"], ["volume"]];
    };
    const { id, request } = await formulaRequest('=MKT.HISTORY("aapl", A1, "2024-06-28", , Data!B1:B2)', read);
    assert.equal(id, "HISTORY");
    assert.deepEqual(reads, [
      [undefined, "A1"],
      ["Data", "B1:B2"],
    ]);
    assert.deepEqual(request, REQUESTS.HISTORY("aapl", 45467, "2024-06-28", undefined, [["close"], ["volume"]]));
    assert.deepEqual(request, { fn: "history", args: { symbol: "AAPL", start: "2024-06-24", end: "2024-06-28", fields: "close,volume" } });
    assert.deepEqual((await formulaRequest('=MKT.LIVE("spy")')).request, { fn: "quote", args: { symbol: "SPY", field: "last" } });
  });

  it("refuses references outside Excel, huge ranges, and bad arguments as the function would", async () => {
    await assert.rejects(formulaRequest('=MKT.QUOTE(B7, "bid")'), /argument 1: "B7" is a cell reference; outside Excel give its value/);
    const never = async () => assert.fail("a huge range is not read");
    await assert.rejects(argValues(parseFormula("=MKT.COMPARE(A1:Z1000)").args, never), /"A1:Z1000" is 26,000 cells; at most 10,000/);
    await assert.rejects(formulaRequest('=MKT.HISTORY("AAPL", "2024-06-03")'), /end is required/);
    await assert.rejects(formulaRequest('=MKT.HISTORY("AAPL", "someday", "2024-06-28")'), ArgumentError);
  });
});

describe("the workbook", () => {
  it("is the function's xlsx route, or a named report the function builds", () => {
    const request = { fn: "history", args: { symbol: "AAPL", start: "2024-06-03", end: "2024-06-28" } };
    assert.equal(workbookPath("HISTORY", request), "/api/v1/history.xlsx?symbol=AAPL&start=2024-06-03&end=2024-06-28");
    assert.equal(workbookPath("HISTORY", request, "history"), "/api/v1/report/history.xlsx?symbol=AAPL&start=2024-06-03&end=2024-06-28");
    assert.equal(workbookPath("CHAIN", { fn: "chain", args: { underlying: "A&B" } }, "ivsurface"), "/api/v1/report/ivsurface.xlsx?underlying=A%26B");
    assert.throws(() => workbookPath("HISTORY", request, "chain"), /"chain" report is not built from MKT\.HISTORY \(it builds: history\)/);
    assert.throws(() => workbookPath("QUOTE", request, "history"), /only MKT\.HISTORY, MKT\.CHAIN and MKT\.COMPARE/);
  });

  it("keeps the server's file name only when it is a plain .xlsx name", () => {
    assert.equal(fileName('attachment; filename="history-AAPL.xlsx"', "x.xlsx"), "history-AAPL.xlsx");
    assert.equal(fileName('attachment; filename="../../evil.xlsx"', "x.xlsx"), "x.xlsx");
    assert.equal(fileName('attachment; filename="run.exe"', "x.xlsx"), "x.xlsx");
    assert.equal(fileName(null, "x.xlsx"), "x.xlsx");
  });

  it("encodes bytes as base64 in slices", () => {
    const bytes = new Uint8Array(200_000).map((_, i) => (i * 7) % 256);
    assert.equal(toBase64(bytes), Buffer.from(bytes).toString("base64"));
    assert.equal(toBase64(new Uint8Array()), "");
  });
});
