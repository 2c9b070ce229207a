// Entry point: one StreamClient for the page, created outside React, then the app in StrictMode.
// The path /admin shows the metrics page instead (the server answers every unknown path with
// index.html); everything else is the app, routed by the hash.

import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { StreamClient } from '../sdk/client.js';
import { StreamClientProvider } from '../react/context.js';
import { AdminPage } from '../admin/AdminPage.js';
import { adoptAdminKeyFromUrl } from '../admin/admin-store.js';
import { App } from './App.js';
import { adoptTokenFromUrl, currentToken } from './token.js';
import './styles.css';
import '../admin/admin.css';

/** `?server=http://host:port` points the app at another streamgate (development). */
function serverFromQuery(): string | undefined {
  const v = new URLSearchParams(window.location.search).get('server');
  if (!v) return undefined;
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

adoptTokenFromUrl();
const baseUrl = serverFromQuery();
const client = new StreamClient({ ...(baseUrl ? { baseUrl } : {}), token: currentToken });

// A handle for tests and for debugging from the console.
(window as unknown as { __streamgate: unknown }).__streamgate = { client };

const isAdmin = /^\/admin\/?$/.test(window.location.pathname);
if (isAdmin) adoptAdminKeyFromUrl();

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    {isAdmin ? (
      // The admin page only polls over HTTP: no WebSocket of its own to count.
      <AdminPage api={client.api} />
    ) : (
      <StreamClientProvider client={client}>
        <App />
      </StreamClientProvider>
    )}
  </StrictMode>,
);
