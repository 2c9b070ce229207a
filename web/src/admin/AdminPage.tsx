// /admin: the server's metrics, live. Polls every 2 s; shows current values, sparklines of the
// last samples, latency quantiles estimated from the histograms, upstream errors and the open
// connections. Asks for the admin key when the server refuses (403).

import { useEffect, useMemo, useRef, useSyncExternalStore, type FormEvent, type ReactNode } from 'react';
import type { RestApi } from '../sdk/rest.js';
import { AdminStore, HISTORY, type AdminState, type Latency, type Point } from './admin-store.js';
import { ago, formatBytes, formatCount, formatRate, formatSeconds } from './format.js';
import { Sparkline } from './Sparkline.js';

const OUTCOMES = ['started', 'completed', 'cancelled', 'failed'] as const;

export function AdminPage({ api }: { api: RestApi }) {
  const store = useMemo(() => new AdminStore(api), [api]);
  const state = useSyncExternalStore(store.subscribe, store.getSnapshot);
  useEffect(() => store.start(), [store]);
  const now = state.updatedAt ?? 0;

  return (
    <div className="app admin" data-testid="admin-page" data-status={state.status}>
      <header className="topbar">
        <a className="brand" href="/">
          <span className="brand-mark" aria-hidden="true" />
          <span className="brand-name">streamgate</span>
          <span className="brand-sub">Admin</span>
        </a>
        <div className="admin-top-right">
          {state.status === 'ok' || state.points.length ? <LiveBadge state={state} /> : null}
          {state.hasKey ? (
            <button type="button" className="button ghost small" onClick={() => store.forgetKey()} data-testid="admin-forget-key">
              Forget key
            </button>
          ) : null}
          <a className="button small" href="/">
            Back to app
          </a>
        </div>
      </header>
      <main className="admin-main">
        {state.status === 'need-key' || state.status === 'refused' ? (
          <KeyPrompt refused={state.status === 'refused'} error={state.error} onSubmit={(k) => store.setKey(k)} />
        ) : state.status === 'loading' && !state.points.length ? (
          <div className="loading" data-testid="loading">
            Loading metrics…
          </div>
        ) : state.status === 'error' && !state.points.length ? (
          <div className="admin-card admin-problem" data-testid="admin-error">
            <h2>Could not load the metrics</h2>
            <p className="error-text">{state.error}</p>
            <p className="muted small">Retrying every 2 s.</p>
          </div>
        ) : (
          <Dashboard state={state} now={now} />
        )}
      </main>
    </div>
  );
}

function LiveBadge({ state }: { state: AdminState }) {
  const stale = state.error !== null;
  return (
    <span
      className={`connection ${stale ? 'connection-offline' : 'connection-connected'} admin-live`}
      data-testid="admin-updated"
      data-updated-at={state.updatedAt ?? ''}
      title={stale ? (state.error ?? '') : 'Polling every 2 s'}
    >
      <span className="dot" aria-hidden="true" />
      {stale ? 'Stale' : 'Live'}
      {state.updatedAt ? <span className="muted admin-clock"> · {new Date(state.updatedAt).toLocaleTimeString()}</span> : null}
    </span>
  );
}

function KeyPrompt({ refused, error, onSubmit }: { refused: boolean; error: string | null; onSubmit: (key: string) => void }) {
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), [refused]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const v = input.current?.value ?? '';
    if (v.trim()) onSubmit(v);
  };
  return (
    <form className="admin-card admin-key" onSubmit={submit} data-testid="admin-key-form">
      <div className="admin-lock" aria-hidden="true" />
      <h2>Admin access</h2>
      <p className="muted">
        This page reads the server's metrics and open connections. Enter the key the server was started with
        (<code>--admin-key</code>); it is kept for this tab only.
      </p>
      {refused ? (
        <p className="error-text" role="alert" data-testid="admin-refused">
          The server refused this key{error ? `: ${error}` : ''}.
        </p>
      ) : null}
      <label className="field">
        <span>Admin key</span>
        <input ref={input} type="password" autoComplete="off" className="text-input" data-testid="admin-key-input" />
      </label>
      <button type="submit" className="button primary" data-testid="admin-key-submit">
        Show metrics
      </button>
    </form>
  );
}

function Dashboard({ state, now }: { state: AdminState; now: number }) {
  const pts = state.points;
  const cur = pts[pts.length - 1]!;
  const series = (f: (p: Point) => number | null) => pts.map(f);
  const errors = Object.entries(cur.upstreamErrors).filter(([, v]) => v > 0);
  const requests = Object.entries(cur.upstreamRequests);
  return (
    <div className="admin-grid">
      {state.error ? (
        <p className="admin-banner error-text" role="alert" data-testid="admin-stale">
          Showing the last figures: {state.error}
        </p>
      ) : null}
      <section className="admin-stats" aria-label="Current values">
        <Stat
          id="connections"
          label="Connections"
          value={formatCount(cur.websocket + cur.sse)}
          raw={cur.websocket + cur.sse}
          detail={`${formatCount(cur.websocket)} WebSocket · ${formatCount(cur.sse)} SSE`}
          spark={series((p) => p.websocket + p.sse)}
          tone="primary"
        />
        <Stat
          id="running"
          label="Running streams"
          value={formatCount(cur.running)}
          raw={cur.running}
          detail={`${formatCount(cur.streams.started ?? 0)} started in all`}
          spark={series((p) => p.running)}
          tone="green"
        />
        <Stat
          id="chunk-rate"
          label="Chunks / s"
          value={formatRate(cur.chunkRate)}
          raw={cur.chunkRate}
          detail={`${formatCount(cur.chunks)} in all`}
          spark={series((p) => p.chunkRate)}
          tone="sky"
        />
        <Stat
          id="event-rate"
          label="Events / s"
          value={formatRate(cur.eventRate)}
          raw={cur.eventRate}
          detail={`${formatCount(cur.events)} sent in all`}
          spark={series((p) => p.eventRate)}
          tone="amber"
        />
      </section>

      <Panel title="Streams by outcome" testId="admin-outcomes">
        <OutcomeBars streams={cur.streams} />
        <dl className="admin-counters">
          <Counter label="Outbound queue" value={formatBytes(cur.outboundBytes)} />
          <Counter label="Merged chunks" value={formatCount(cur.merged)} />
          <Counter label="Slow-client closes" value={formatCount(cur.slowCloses)} />
          <Counter label="Rate limited" value={formatCount(cur.rateLimited)} />
          <Counter label="Auth failures" value={formatCount(cur.authFailures)} />
        </dl>
      </Panel>

      <Panel title="Latency" subtitle="Quantiles estimated from the histogram buckets since start; charts per 2 s" testId="admin-latency">
        <div className="latency-list">
          <LatencyRow id="ttft" label="Time to first token" l={cur.ttft} spark={series((p) => p.recent.ttftP50)} />
          <LatencyRow id="inter-chunk" label="Between chunks" l={cur.interChunk} spark={series((p) => p.recent.interChunkP99)} sparkLabel="p99" />
          <LatencyRow id="lateness" label="Chunk lateness" l={cur.lateness} spark={series((p) => p.recent.latenessP99)} sparkLabel="p99" />
        </div>
      </Panel>

      <Panel title="Upstream" subtitle="Requests to model providers and the errors they ended with" testId="admin-upstream">
        {requests.length ? (
          <dl className="admin-counters">
            {requests.map(([provider, n]) => (
              <Counter key={provider} label={`${provider} requests`} value={formatCount(n)} />
            ))}
          </dl>
        ) : (
          <p className="muted small">No upstream requests yet (the demo provider runs in the server).</p>
        )}
        {errors.length ? (
          <table className="admin-table compact" data-testid="upstream-errors">
            <thead>
              <tr>
                <th>Provider</th>
                <th>Code</th>
                <th className="num">Failed</th>
              </tr>
            </thead>
            <tbody>
              {errors.map(([k, v]) => {
                const [provider, code] = k.split('/');
                return (
                  <tr key={k} data-testid="upstream-error-row">
                    <td>{provider}</td>
                    <td>
                      <code>{code}</code>
                    </td>
                    <td className="num">{formatCount(v)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        ) : (
          <p className="admin-ok small" data-testid="upstream-no-errors">
            No upstream errors
          </p>
        )}
      </Panel>

      <Panel title="Connections" subtitle={`${state.connections.length} open`} testId="admin-connections" wide>
        {state.connections.length ? (
          <div className="table-scroll">
            <table className="admin-table" data-testid="connections-table">
              <thead>
                <tr>
                  <th>Connection</th>
                  <th>User</th>
                  <th>Source</th>
                  <th className="ua">User agent</th>
                  <th className="num">Open for</th>
                  <th className="num">Last active</th>
                </tr>
              </thead>
              <tbody>
                {state.connections.map((c) => (
                  <tr key={c.connectionId} data-testid="connection-row" data-connection-id={c.connectionId}>
                    <td>
                      <code title={c.connectionId}>{shortId(c.connectionId)}</code>
                    </td>
                    <td>{c.sub || <span className="muted">–</span>}</td>
                    <td>{c.sourceIp}</td>
                    <td className="ua" title={c.userAgent}>
                      {browserName(c.userAgent)}
                    </td>
                    <td className="num">{ago(c.connectedAt, now)}</td>
                    <td className="num">{ago(c.lastActiveAt, now)} ago</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <p className="muted small" data-testid="no-connections">
            No open connections.
          </p>
        )}
      </Panel>
      <p className="admin-foot muted small">
        Polling every 2 s · the charts show the last {HISTORY} samples ({(HISTORY * 2) / 60} min)
      </p>
    </div>
  );
}

function Panel({ title, subtitle, testId, wide, children }: { title: string; subtitle?: string; testId: string; wide?: boolean; children: ReactNode }) {
  return (
    <section className={`admin-card${wide ? ' wide' : ''}`} data-testid={testId} aria-label={title}>
      <div className="admin-card-head">
        <h2>{title}</h2>
        {subtitle ? <span className="muted small">{subtitle}</span> : null}
      </div>
      {children}
    </section>
  );
}

function Stat(props: { id: string; label: string; value: string; raw: number; detail: string; spark: (number | null)[]; tone: 'primary' | 'green' | 'amber' | 'sky' }) {
  return (
    <div className="admin-card stat" data-testid={`stat-${props.id}`} data-value={props.raw}>
      <div className="stat-label">{props.label}</div>
      <div className="stat-value" data-testid={`stat-${props.id}-value`}>
        {props.value}
      </div>
      <Sparkline values={props.spark} slots={HISTORY} label={`${props.label}, last ${props.spark.length} samples`} testId={`spark-${props.id}`} tone={props.tone} />
      <div className="stat-detail muted small">{props.detail}</div>
    </div>
  );
}

function Counter({ label, value }: { label: string; value: string }) {
  return (
    <div className="admin-counter">
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}

function OutcomeBars({ streams }: { streams: Record<string, number> }) {
  const started = streams.started ?? 0;
  const finished = OUTCOMES.filter((o) => o !== 'started');
  const extra = Object.keys(streams).filter((k) => !(OUTCOMES as readonly string[]).includes(k));
  const running = Math.max(0, started - finished.reduce((t, o) => t + (streams[o] ?? 0), 0));
  const total = Math.max(1, started);
  return (
    <div className="outcomes">
      <div className="outcome-bar" aria-hidden="true">
        {finished.map((o) => (
          <span key={o} className={`seg seg-${o}`} style={{ width: `${((streams[o] ?? 0) / total) * 100}%` }} />
        ))}
        <span className="seg seg-running" style={{ width: `${(running / total) * 100}%` }} />
      </div>
      <ul className="outcome-legend">
        {[...OUTCOMES, ...extra].map((o) => (
          <li key={o} data-testid={`outcome-${o}`} data-value={streams[o] ?? 0}>
            <span className={`swatch seg-${o}`} aria-hidden="true" />
            <span className="outcome-name">{o}</span>
            <strong>{formatCount(streams[o] ?? 0)}</strong>
          </li>
        ))}
      </ul>
    </div>
  );
}

function LatencyRow({ id, label, l, spark, sparkLabel = 'p50' }: { id: string; label: string; l: Latency; spark: (number | null)[]; sparkLabel?: string }) {
  return (
    <div className="latency-row" data-testid={`latency-${id}`} data-count={l.count} data-p50={l.p50 ?? ''} data-p99={l.p99 ?? ''}>
      <div className="latency-name">
        <div>{label}</div>
        <div className="muted small">{formatCount(l.count)} observed</div>
      </div>
      <div className="latency-q">
        <span className="muted small">p50</span>
        <strong>{formatSeconds(l.p50)}</strong>
      </div>
      <div className="latency-q">
        <span className="muted small">p99</span>
        <strong>{formatSeconds(l.p99)}</strong>
      </div>
      <Sparkline values={spark} slots={HISTORY} label={`${label} ${sparkLabel} over the last samples`} testId={`spark-${id}`} tone="primary" />
    </div>
  );
}

function shortId(id: string): string {
  return id.length > 14 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}

/** A short name for a user agent string ("Chrome 126", "curl"), the full string in the tooltip. */
export function browserName(ua: string): string {
  if (!ua) return '–';
  const m =
    /(Edg|OPR|Firefox|Chrome|HeadlessChrome|Safari)\/(\d+)/.exec(ua.replace(/Version\/(\d+).*Safari/, 'Safari/$1')) ?? /^([\w.-]+)\/?([\d.]*)/.exec(ua);
  if (!m) return ua.slice(0, 24);
  const name = m[1] === 'Edg' ? 'Edge' : m[1] === 'OPR' ? 'Opera' : m[1]!;
  return m[2] ? `${name} ${m[2].split('.')[0]}` : name;
}
