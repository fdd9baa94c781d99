// User choices that every page reads: the colour theme and the time zone. Kept in localStorage.
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import type { TimeZoneChoice } from "./format";
import { readStored, writeStored } from "./storage";

export type Theme = "light" | "dark";

interface Settings {
  theme: Theme;
  timeZone: TimeZoneChoice;
  setTheme: (theme: Theme) => void;
  setTimeZone: (zone: TimeZoneChoice) => void;
}

const SettingsContext = createContext<Settings | null>(null);

function stored<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
  const value = readStored(key);
  return allowed.includes(value as T) ? (value as T) : fallback;
}

export function SettingsProvider({ children }: { children: ReactNode }) {
  const prefersDark = typeof matchMedia === "function" && matchMedia("(prefers-color-scheme: dark)").matches;
  const [theme, setThemeState] = useState<Theme>(() =>
    stored("spoor.theme", ["light", "dark"] as const, prefersDark ? "dark" : "light"),
  );
  const [timeZone, setTimeZoneState] = useState<TimeZoneChoice>(() =>
    stored("spoor.timeZone", ["local", "utc"] as const, "local"),
  );
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  const value = useMemo<Settings>(
    () => ({
      theme,
      timeZone,
      setTheme: (t) => {
        writeStored("spoor.theme", t);
        setThemeState(t);
      },
      setTimeZone: (z) => {
        writeStored("spoor.timeZone", z);
        setTimeZoneState(z);
      },
    }),
    [theme, timeZone],
  );
  return <SettingsContext.Provider value={value}>{children}</SettingsContext.Provider>;
}

export function useSettings(): Settings {
  const settings = useContext(SettingsContext);
  if (!settings) throw new Error("useSettings outside SettingsProvider");
  return settings;
}
