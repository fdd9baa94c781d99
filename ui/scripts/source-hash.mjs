// Hash of every input of the UI build, written next to the build output so that a stale
// committed ui/dist is caught without node: crates/spoor-query's ui test recomputes the same
// hash in Rust. The hash is SHA-256 over, for each input file in sorted path order,
// "<path>\0<contents>\0".
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const INPUTS = ["index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts", "src"];

function files(path) {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((name) => files(join(path, name)));
}

export function sourceHash() {
  const paths = INPUTS.flatMap((input) => files(join(root, input)))
    .map((path) => relative(root, path).split(sep).join("/"))
    .sort();
  const hash = createHash("sha256");
  for (const path of paths) {
    hash.update(path).update("\0").update(readFileSync(join(root, path))).update("\0");
  }
  return hash.digest("hex");
}

const target = join(root, "dist", "source.sha256");
if (process.argv.includes("--write")) {
  writeFileSync(target, sourceHash() + "\n");
} else if (process.argv.includes("--check")) {
  const want = readFileSync(target, "utf8").trim();
  if (want !== sourceHash()) {
    console.error("ui/dist is stale: run `npm run build` in ui/ and commit ui/dist");
    process.exit(1);
  }
} else {
  console.log(sourceHash());
}
