// Traces loaded from JSON files on the search page. They go into the local trace store, so
// /trace/{id} and compare find them, and the last upload is remembered for the page's lifetime
// so that coming back from a trace shows the same list.
import { addLocalTraces, parseTraceFile } from "../localTraces";
import type { Trace } from "../types";

export interface Upload {
  /** The file name(s), for the "from file" badge. */
  name: string;
  traces: Trace[];
}

let lastUpload: Upload | null = null;

export function rememberedUpload(): Upload | null {
  return lastUpload;
}

export function forgetUpload(): void {
  lastUpload = null;
}

/** Reads and parses the files (Jaeger or OTLP JSON); throws naming the file that failed. */
export async function loadTraceFiles(files: readonly File[]): Promise<Upload> {
  const traces: Trace[] = [];
  for (const file of files) {
    try {
      traces.push(...(await parseTraceFile(await file.text())));
    } catch (e) {
      throw new Error(`${file.name}: ${(e as Error).message}`);
    }
  }
  if (traces.length === 0) throw new Error(`${files.map((f) => f.name).join(", ")}: no traces in the file`);
  addLocalTraces(traces);
  lastUpload = { name: files.map((f) => f.name).join(", "), traces };
  return lastUpload;
}
