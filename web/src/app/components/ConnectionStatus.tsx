// The connection dot: green when streaming over WebSocket, yellow while connecting, red on
// the SSE fallback or offline.
import { useConnection } from '../../react/context.js';
import type { ConnectionState } from '../../sdk/client.js';

const SHORT: Record<ConnectionState, string> = {
  connected: 'Live',
  connecting: 'Connecting',
  fallback: 'SSE',
  offline: 'Offline',
};

const LABELS: Record<ConnectionState, string> = {
  connected: 'Real-time streaming connected',
  connecting: 'Connecting...',
  fallback: 'Fallback mode (SSE)',
  offline: 'Offline',
};

export function ConnectionStatus({ unauthorized = false }: { unauthorized?: boolean }) {
  const c = useConnection();
  if (unauthorized) {
    return (
      <div className="connection connection-unauthorized" data-testid="connection-status" data-state="unauthorized" role="status" aria-live="polite" title="The server requires a valid token">
        <span className="dot" aria-hidden="true" />
        <span className="connection-label">Not authorized</span>
        <span className="connection-short" aria-hidden="true">
          No access
        </span>
      </div>
    );
  }
  const title =
    c.state === 'connected' && c.connectionTimeMs !== null
      ? `WebSocket open in ${c.connectionTimeMs} ms${c.connectionId ? ` · ${c.connectionId}` : ''}`
      : (c.lastError ?? LABELS[c.state]);
  return (
    <div
      className={`connection connection-${c.state}`}
      data-testid="connection-status"
      data-state={c.state}
      data-connection-id={c.connectionId ?? ''}
      role="status"
      aria-live="polite"
      title={title}
    >
      <span className="dot" aria-hidden="true" />
      <span className="connection-label">{LABELS[c.state]}</span>
      <span className="connection-short" aria-hidden="true">
        {SHORT[c.state]}
      </span>
    </div>
  );
}
