// Colours for the trace views: service colours (memoised, as rows ask for them on every render)
// and the theme's CSS variables resolved for canvas drawing.
import { serviceColor } from "../serviceColor";

const cache = new Map<string, string>();

/** The service's stable colour, from the shared palette. */
export function colorOf(service: string): string {
  let color = cache.get(service);
  if (color === undefined) {
    color = serviceColor(service);
    cache.set(service, color);
  }
  return color;
}

/** The current value of a theme variable such as "--fg"; canvases redraw when the theme changes. */
export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** Sizes a canvas's backing store to its CSS size times the device pixel ratio; returns a context in CSS pixels. */
export function prepareCanvas(canvas: HTMLCanvasElement, width: number, height: number): CanvasRenderingContext2D | null {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(width * ratio));
  canvas.height = Math.max(1, Math.round(height * ratio));
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx?.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}
