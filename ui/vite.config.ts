import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// Assets are referenced relative to <base href>, which spoor sets to its base_path, so one build
// serves under "/" and under any prefix. `npm run dev` proxies the API to a running spoor.
const spoor = process.env.SPOOR_URL ?? "http://127.0.0.1:16686";

export default defineConfig({
  base: "./",
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1024 },
  server: { proxy: { "/api": spoor } },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
