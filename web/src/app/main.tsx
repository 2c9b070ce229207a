// Entry point: one StreamClient for the page, created outside React, then the app in StrictMode.

import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { StreamClient } from '../sdk/client.js';
import { StreamClientProvider } from '../react/context.js';
import { App } from './App.js';
import './styles.css';

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

function tokenFromStorage(): string | undefined {
  try {
    return window.localStorage.getItem('streamgate.token') ?? undefined;
  } catch {
    return undefined;
  }
}

const baseUrl = serverFromQuery();
const client = new StreamClient({ ...(baseUrl ? { baseUrl } : {}), token: tokenFromStorage });

// A handle for tests and for debugging from the console.
(window as unknown as { __streamgate: unknown }).__streamgate = { client };

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <StreamClientProvider client={client}>
      <App />
    </StreamClientProvider>
  </StrictMode>,
);
