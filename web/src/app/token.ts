// The bearer token the app sends (servers started with --auth jwt need one). It comes from
// `?token=` once: kept in sessionStorage for this tab and removed from the address bar, so it
// does not end up in bookmarks, history or a screenshot.

export const TOKEN_KEY = 'streamgate.token';

function session(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

/** Moves `?token=` from the URL into sessionStorage (an empty value forgets the token). */
export function adoptTokenFromUrl(): void {
  const url = new URL(window.location.href);
  if (!url.searchParams.has('token')) return;
  const t = (url.searchParams.get('token') ?? '').trim();
  if (t) session()?.setItem(TOKEN_KEY, t);
  else session()?.removeItem(TOKEN_KEY);
  url.searchParams.delete('token');
  window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash);
}

/** The token for this tab: sessionStorage, else a long-lived one in localStorage. */
export function currentToken(): string | undefined {
  const s = session()?.getItem(TOKEN_KEY);
  if (s) return s;
  try {
    return window.localStorage.getItem(TOKEN_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export function setToken(token: string): void {
  const t = token.trim();
  if (t) session()?.setItem(TOKEN_KEY, t);
  else session()?.removeItem(TOKEN_KEY);
}
