// @ts-check
// The argument coercion of src/args.js: Excel's values to the API's arguments, or #VALUE!.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dateArg, layoutOptions, listArg, present, serialToIso } from "../../src/args.js";
import { ArgumentError } from "../../src/errors.js";

describe("dates", () => {
  it("converts Excel serials of the 1900 system", () => {
    assert.equal(serialToIso(61), "1900-03-01");
    assert.equal(serialToIso(45471), "2024-06-28");
    assert.equal(serialToIso(45471.5), "2024-06-28T12:00:00");
    assert.equal(serialToIso(45471.396527777775), "2024-06-28T09:31:00");
    assert.equal(serialToIso(45471 + 0.5 + 0.25 / 86400), "2024-06-28T12:00:00.250");
    assert.equal(serialToIso(2958465), "9999-12-31");
  });

  it("rejects serials Excel and xlfeed do not share, naming them", () => {
    assert.throws(() => serialToIso(60), /date 60 is outside/);
    assert.throws(() => serialToIso(0), /date 0/);
    assert.throws(() => serialToIso(3e6), /3000000/);
  });

  it("accepts date cells, ISO, YYYYMMDD and relative dates", () => {
    const now = new Date("2024-06-28T15:00:00Z"); // 11:00 in New York
    assert.equal(dateArg("start", 45471, now), "2024-06-28");
    assert.equal(dateArg("start", "2024-06-03", now), "2024-06-03");
    assert.equal(dateArg("start", " 2024-06-28 09:30 ", now), "2024-06-28T09:30");
    assert.equal(dateArg("start", 20240603, now), "20240603");
    assert.equal(dateArg("start", "20240603", now), "20240603");
    assert.equal(dateArg("start", "45471", now), "2024-06-28");
    assert.equal(dateArg("start", "today", now), "2024-06-28");
    assert.equal(dateArg("start", "-5D", now), "2024-06-23");
    assert.equal(dateArg("start", "-2w", now), "2024-06-14");
    assert.equal(dateArg("start", "-1M", now), "2024-05-28");
    assert.equal(dateArg("start", "-1Y", now), "2023-06-28");
    assert.equal(dateArg("start", "-1M", new Date("2024-03-31T16:00:00Z")), "2024-02-29"); // month end clamps
    assert.equal(dateArg("start", null, now), undefined);
    assert.equal(dateArg("start", "", now), undefined);
    assert.equal(dateArg("start", 0, now), undefined); // a blank cell on the desktop
    assert.equal(dateArg("start", "2024-06-28T13:30:00Z", now), "2024-06-28T13:30:00Z");
    assert.equal(dateArg("start", "2024-06-28 09:30-04:00", now), "2024-06-28T09:30-04:00");
  });

  it("reads today and relative dates as New York's date, whatever the computer's zone", () => {
    // 23:30 in New York on 2024-06-28: already 2024-06-29 in UTC, London and Tokyo.
    const late = new Date("2024-06-29T03:30:00Z");
    // 02:30 in New York on 2024-06-28: still 2024-06-27 in Los Angeles.
    const early = new Date("2024-06-28T06:30:00Z");
    const zone = process.env.TZ;
    try {
      for (const tz of ["UTC", "Asia/Tokyo", "America/Los_Angeles"]) {
        process.env.TZ = tz; // the computer's zone, which must play no part
        assert.equal(dateArg("start", "today", late), "2024-06-28", tz);
        assert.equal(dateArg("start", "-1D", late), "2024-06-27", tz);
        assert.equal(dateArg("start", "-1M", late), "2024-05-28", tz);
        assert.equal(dateArg("start", "TODAY", early), "2024-06-28", tz);
      }
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it("names a bad date and its argument", () => {
    assert.throws(() => dateArg("start", "June 3rd"), (/** @type {any} */ e) => e instanceof ArgumentError && /start "June 3rd" is not a date/.test(e.message));
    assert.throws(() => dateArg("end", true), /end true is not a date/);
    assert.throws(() => dateArg("end", 12), /end: date 12 is outside/);
  });
});

describe("arguments", () => {
  it("reads absent values: null, empty text, and a stray invocation object", () => {
    assert.equal(present(null), undefined);
    assert.equal(present("  "), undefined);
    assert.equal(present({ address: "Sheet1!A1", setResult() {} }), undefined);
    assert.equal(present([["x"]]), "x");
    assert.throws(() => present([["a", "b"]]), /range of 2/);
  });

  it("joins ranges and comma lists", () => {
    assert.equal(listArg("fields", [["close", "volume"], ["", null]]), "close,volume");
    assert.equal(listArg("fields", [["close, volume"]]), "close,volume");
    assert.equal(listArg("fields", "AAPL,MSFT"), "AAPL,MSFT");
    assert.equal(listArg("fields", [[null]]), undefined);
    assert.equal(listArg("fields", null), undefined);
    // Excel on the desktop passes blank cells of a range as 0.
    assert.equal(listArg("symbols", [["AAPL"], ["MSFT"], [0], [0]]), "AAPL,MSFT");
  });

  it("parses layout options from text or a two-column range", () => {
    assert.deepEqual(layoutOptions(null), { headers: true, sort: "asc" });
    assert.deepEqual(layoutOptions([["headers=no; sort=desc"]]), { headers: false, sort: "desc" });
    assert.deepEqual(layoutOptions([["headers", "no"], ["sort", "d"]]), { headers: false, sort: "desc" });
    assert.deepEqual(layoutOptions([["sort", "desc"], [0, 0], ["", ""]]), { headers: true, sort: "desc" });
    assert.throws(() => layoutOptions([["colour=red"]]), /option "colour" is not one of headers, sort/);
    assert.throws(() => layoutOptions([["sort=sideways"]]), /sort "sideways"/);
    assert.throws(() => layoutOptions([["headers"]]), /not name=value/);
  });

});
