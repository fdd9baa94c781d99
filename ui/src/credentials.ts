// Credentials for a query port behind an authenticator.
//
// Basic auth (basicauth) is the browser's own: the API answers 401 with a Basic challenge, the
// browser asks once and sends the user name and password with every request of this origin.
// A bearer token (bearertokenauth, oidc) is handed to the UI in the address's fragment,
// `http://host:16686/#token=…`, which never reaches the server or its logs. The UI keeps it for
// the tab's session, takes it out of the address bar, and sends it with every API call.

const KEY = "spoor.authorization";

/** Moves a `#token=…` from the address into session storage. */
export function captureToken(location: Location, storage: Storage, history: History): void {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = fragment.get("token");
  if (!token) return;
  storage.setItem(KEY, `Bearer ${token}`);
  fragment.delete("token");
  const rest = fragment.toString();
  history.replaceState(history.state, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
}

/** The headers that carry the token given to this tab, if any. */
export function authorization(storage: Storage): Record<string, string> {
  const value = storage.getItem(KEY);
  return value ? { Authorization: value } : {};
}
