import { describe, expect, it } from "vitest";
import { formatDuration } from "./format";

describe("formatDuration", () => {
  it("keeps integer zeros and trims decimal ones", () => {
    expect(formatDuration(100_000)).toBe("100ms");
    expect(formatDuration(120_000)).toBe("120ms");
    expect(formatDuration(10_000)).toBe("10ms");
    expect(formatDuration(1_500_000)).toBe("1.5s");
    expect(formatDuration(1_050)).toBe("1.05ms");
    expect(formatDuration(2_000_000)).toBe("2s");
    expect(formatDuration(812)).toBe("812µs");
    expect(formatDuration(125_000_000)).toBe("2m 5s");
  });
});
