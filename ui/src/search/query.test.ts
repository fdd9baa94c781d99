import { describe, expect, it } from "vitest";
import {
  apiParamsFromUrl,
  formatLogfmt,
  formFromUrl,
  formToUrl,
  fromDateTimeInput,
  parseDuration,
  parseLogfmt,
  parseLookback,
  tagsFromUrl,
  toDateTimeInput,
  type SearchForm,
} from "./query";

describe("parseLogfmt", () => {
  it("reads keys, bare flags and quoted values", () => {
    expect(parseLogfmt(' http.status_code=500  error=true msg="two words" q="a \\"b\\"" flag ')).toEqual({
      "http.status_code": "500",
      error: "true",
      msg: "two words",
      q: 'a "b"',
      flag: "true",
    });
  });
  it("takes an empty value and lets later keys win", () => {
    expect(parseLogfmt("a= a=2 b=")).toEqual({ a: "2", b: "" });
    expect(parseLogfmt("")).toEqual({});
  });
  it("reports malformed input with a column", () => {
    expect(() => parseLogfmt("=x")).toThrow(/missing key.*column 1/);
    expect(() => parseLogfmt('a="open')).toThrow(/unterminated quote at column 3/);
    expect(() => parseLogfmt('a="x"b')).toThrow(/space after/);
    expect(() => parseLogfmt('a=x"y')).toThrow(/unexpected quote/);
  });
  it("round-trips through formatLogfmt", () => {
    const tags = { a: "1", b: "two words", c: "", d: 'q"x', e: "k=v" };
    expect(parseLogfmt(formatLogfmt(tags))).toEqual(tags);
    expect(formatLogfmt({ error: "true", msg: "a b" })).toBe('error=true msg="a b"');
  });
});

describe("tagsFromUrl", () => {
  it("reads Jaeger UI's JSON, logfmt and repeated tag=k:v", () => {
    expect(tagsFromUrl(new URLSearchParams({ tags: '{"error":"true","n":5}' }))).toBe("error=true n=5");
    expect(tagsFromUrl(new URLSearchParams({ tags: "error=true" }))).toBe("error=true");
    expect(tagsFromUrl(new URLSearchParams("tag=a:1&tag=url:http://x"))).toBe("a=1 url=http://x");
  });
  it("keeps unparseable text as typed", () => {
    expect(tagsFromUrl(new URLSearchParams({ tags: "{broken" }))).toBe("{broken");
  });
});

describe("parseDuration", () => {
  it("reads Go durations in µs", () => {
    expect(parseDuration("10ms")).toBe(10_000);
    expect(parseDuration("1.5s")).toBe(1_500_000);
    expect(parseDuration("1h30m")).toBe(5_400_000_000);
    expect(parseDuration("250us")).toBe(250);
    expect(parseDuration("250µs")).toBe(250);
    expect(parseDuration(".5ms")).toBe(500);
  });
  it("rejects what the API would", () => {
    for (const bad of ["", "10", "ms", "1.5", "1 s", "2d", "-1s", "1sx"]) expect(() => parseDuration(bad)).toThrow();
  });
  it("lookbacks also take days and weeks", () => {
    expect(parseLookback("2d")).toBe(2 * 86_400_000_000);
    expect(parseLookback("1w")).toBe(7 * 86_400_000_000);
    expect(parseLookback("15m")).toBe(900_000_000);
  });
});

describe("datetime inputs", () => {
  it("read and write in UTC", () => {
    const micros = Date.UTC(2026, 10, 25, 21, 33) * 1000;
    expect(toDateTimeInput(micros, "utc")).toBe("2026-11-25T21:33");
    expect(fromDateTimeInput("2026-11-25T21:33", "utc")).toBe(micros);
  });
  it("round-trip in local time", () => {
    const micros = new Date(2026, 0, 2, 3, 4).getTime() * 1000;
    expect(fromDateTimeInput(toDateTimeInput(micros, "local"), "local")).toBe(micros);
    expect(fromDateTimeInput("nonsense", "local")).toBeNaN();
  });
});

const form: SearchForm = {
  service: "frontend",
  operation: "",
  tags: "",
  lookback: "1h",
  start: "",
  end: "",
  minDuration: "",
  maxDuration: "",
  limit: "20",
};
const NOW = 1_700_000_000_000;

describe("formToUrl", () => {
  it("writes Jaeger UI's parameters", () => {
    const result = formToUrl({ ...form, tags: "error=true", minDuration: "10ms", operation: "GET /" }, "utc", NOW);
    expect("params" in result).toBe(true);
    if (!("params" in result)) return;
    expect(Object.fromEntries(result.params)).toEqual({
      service: "frontend",
      operation: "GET /",
      tags: '{"error":"true"}',
      lookback: "1h",
      start: String((NOW - 3_600_000) * 1000),
      end: String(NOW * 1000),
      minDuration: "10ms",
      limit: "20",
    });
  });
  it("validates every field", () => {
    const result = formToUrl(
      { ...form, service: "", tags: 'a="x', minDuration: "2s", maxDuration: "1s", limit: "0" },
      "utc",
      NOW,
    );
    expect("errors" in result && Object.keys(result.errors).sort()).toEqual(["limit", "maxDuration", "service", "tags"]);
  });
  it("reads a custom range in the chosen zone", () => {
    const result = formToUrl({ ...form, lookback: "custom", start: "2026-11-25T20:00", end: "2026-11-25T21:00" }, "utc", NOW);
    expect("params" in result && result.params.get("start")).toBe(String(Date.UTC(2026, 10, 25, 20) * 1000));
    const backwards = formToUrl({ ...form, lookback: "custom", start: "2026-11-25T22:00", end: "2026-11-25T21:00" }, "utc", NOW);
    expect("errors" in backwards && backwards.errors.end).toMatch(/before start/);
  });
  it("round-trips through formFromUrl", () => {
    const custom = { ...form, tags: 'msg="a b"', lookback: "custom", start: "2026-11-25T20:00", end: "2026-11-25T21:00", maxDuration: "1s" };
    const result = formToUrl(custom, "utc", NOW);
    if (!("params" in result)) throw new Error("invalid");
    expect(formFromUrl(result.params, "utc")).toEqual(custom);
  });
});

describe("apiParamsFromUrl", () => {
  it("needs a service", () => {
    expect(apiParamsFromUrl(new URLSearchParams("lookback=1h"), NOW)).toBeNull();
  });
  it("fills start and end from the lookback and converts logfmt tags", () => {
    const params = apiParamsFromUrl(new URLSearchParams("service=a&operation=all&lookback=2d&tags=error%3Dtrue"), NOW)!;
    expect(Object.fromEntries(params)).toEqual({
      service: "a",
      tags: '{"error":"true"}',
      end: String(NOW * 1000),
      start: String((NOW - 2 * 86_400_000) * 1000),
      limit: "20",
    });
  });
  it("passes a Jaeger UI link through", () => {
    const params = apiParamsFromUrl(new URLSearchParams("service=a&tags=%7B%22error%22%3A%22true%22%7D&start=1&end=2&limit=5&minDuration=1ms"), NOW)!;
    expect(Object.fromEntries(params)).toEqual({ service: "a", tags: '{"error":"true"}', start: "1", end: "2", limit: "5", minDuration: "1ms" });
  });
});
