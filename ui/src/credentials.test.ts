import { describe, expect, it } from "vitest";
import { authorization, captureToken } from "./credentials";

class MemoryStorage {
  private items = new Map<string, string>();
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
}

function fakeLocation(hash: string) {
  return { hash, pathname: "/search", search: "?service=a" } as Location;
}

describe("credentials", () => {
  it("takes a token from the fragment, keeps it for the session and clears the address", () => {
    const storage = new MemoryStorage() as unknown as Storage;
    const replaced: string[] = [];
    const history = { state: null, replaceState: (_s: unknown, _t: string, url: string) => replaced.push(url) };
    captureToken(fakeLocation("#token=abc.def&x=1"), storage, history as unknown as History);
    expect(authorization(storage)).toEqual({ Authorization: "Bearer abc.def" });
    expect(replaced).toEqual(["/search?service=a#x=1"]);
  });

  it("sends nothing without a token", () => {
    const storage = new MemoryStorage() as unknown as Storage;
    const history = { state: null, replaceState: () => expect.unreachable() };
    captureToken(fakeLocation(""), storage, history as unknown as History);
    expect(authorization(storage)).toEqual({});
  });
});
