// A stable colour per service name, shared by search results, the trace view, compare and the
// dependency graph. The hue comes from a hash of the name into a palette of 20 well-spaced hues
// whose saturation and lightness read on both the light and the dark background.

const HUES = [210, 30, 130, 280, 0, 180, 55, 320, 95, 240, 15, 160, 260, 75, 340, 195, 115, 300, 45, 225];

/** FNV-1a, 32 bits: cheap, and spreads similar names ("api-1", "api-2") apart. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The service's colour, e.g. "hsl(210 62% 52%)"; the same name always gets the same colour. */
export function serviceColor(name: string): string {
  const hue = HUES[hash(name) % HUES.length];
  return `hsl(${hue} 62% 52%)`;
}
