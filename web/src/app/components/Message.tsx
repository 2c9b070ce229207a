// One chat message. An answer shows the progress panel until text arrives, then the text as it
// streams, and at the end the metrics line.
import { memo } from 'react';
import type { ChatMessage } from '../../sdk/chat-session.js';
import { clockTime } from '../format.js';
import { Markdown } from './Markdown.js';
import { ProgressPanel } from './ProgressPanel.js';
import { CopyButton } from './CopyButton.js';

export const Message = memo(function Message({ message: m, onRetry }: { message: ChatMessage; onRetry?: ((answerId: string) => unknown) | undefined }) {
  if (m.role === 'user') {
    return (
      <div className="msg msg-user" data-testid="message" data-role="user" data-status={m.status}>
        <div className="bubble">{m.content}</div>
      </div>
    );
  }
  const live = m.status === 'pending' || m.status === 'streaming';
  const waiting = live && m.content.length === 0;
  return (
    <div
      className={`msg msg-assistant status-${m.status}`}
      data-testid="message"
      data-role="assistant"
      data-status={m.status}
      data-stream-id={m.streamId ?? ''}
      data-transport={m.transport ?? ''}
    >
      <div className="avatar" aria-hidden="true">
        ✦
      </div>
      <div className="answer">
        {waiting && m.progress ? <ProgressPanel progress={m.progress} /> : null}
        {m.content ? (
          <div className="answer-body" data-testid="message-content">
            <Markdown text={m.content} streaming={live} />
          </div>
        ) : null}
        {live && !waiting ? (
          <div className="streaming-indicator" data-testid="streaming-indicator">
            <span className="ping" aria-hidden="true">
              <span />
              <span />
            </span>
            Streaming...
            {m.progress && m.progress.stage === 'finalizing' ? <span className="muted"> · {m.progress.step}</span> : null}
          </div>
        ) : null}
        {m.status === 'cancelled' ? (
          <div className="note" data-testid="message-cancelled">
            Stopped
          </div>
        ) : null}
        {m.status === 'failed' || m.status === 'interrupted' ? (
          <div className="note error" role="alert" data-testid={m.status === 'failed' ? 'message-error' : 'message-interrupted'}>
            <span>
              {m.status === 'interrupted'
                ? 'The server stopped before this answer was finished.'
                : m.error
                  ? `${m.error.message} (${m.error.code})`
                  : 'The answer failed.'}
            </span>
            {onRetry ? (
              <button type="button" className="button small" onClick={() => onRetry(m.id)} data-testid="retry-button">
                Try again
              </button>
            ) : null}
          </div>
        ) : null}
        {!live ? <Footer message={m} /> : null}
      </div>
    </div>
  );
});

function Footer({ message: m }: { message: ChatMessage }) {
  const metrics = m.metrics;
  return (
    <div className="answer-footer">
      {metrics && m.status === 'complete' && metrics.firstChunkMs !== null && metrics.durationMs !== null ? (
        <span
          className="metrics"
          data-testid="metrics-line"
          title={
            m.serverMetrics
              ? `server: first chunk ${m.serverMetrics.firstChunkMs} ms, ${m.serverMetrics.totalChunks} chunks, ${m.serverMetrics.durationMs} ms` +
                (metrics.meanChunkIntervalMs !== null ? ` · mean chunk interval ${metrics.meanChunkIntervalMs.toFixed(1)} ms` : '') +
                (m.transport ? ` · via ${m.transport}` : '')
              : undefined
          }
        >
          first chunk in {metrics.firstChunkMs} ms · {metrics.chunkCount} chunks · {metrics.durationMs} ms
        </span>
      ) : (
        <span className="metrics muted">{clockTime(m.createdAt)}</span>
      )}
      <span className="spacer" />
      {m.content ? <CopyButton text={m.content} label="Copy answer" testId="copy-answer" /> : null}
    </div>
  );
}
