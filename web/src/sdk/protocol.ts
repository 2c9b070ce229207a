// The streamgate wire protocol (DESIGN.md §1): the JSON shapes sent over /ws and SSE.

export type Stage = 'initializing' | 'analyzing' | 'generating' | 'finalizing';
export const STAGES: readonly Stage[] = ['initializing', 'analyzing', 'generating', 'finalizing'];

export interface ChatTurn {
  role: 'user' | 'assistant' | 'system';
  content: string;
}

/** The fields of a `stream` action (also the JSON body of `POST /v1/streams`). */
export interface StreamRequest {
  projectId: string;
  userInput: string;
  chat_history?: ChatTurn[];
  requestId?: string;
  provider?: string;
  model?: string;
}

export interface ConnectedEvent {
  type: 'connected';
  connectionId: string;
  serverTime: number;
}

export interface PongEvent {
  type: 'pong';
}

interface StreamEventBase {
  streamId: string;
  seq: number;
}

export interface StreamStartEvent extends StreamEventBase {
  type: 'stream_start';
  sessionId?: string;
  requestId?: string;
}

export interface ProgressEvent extends StreamEventBase {
  type: 'progress';
  stage: Stage;
  step: string;
  progress: number;
}

export interface StreamChunkEvent extends StreamEventBase {
  type: 'stream_chunk';
  content: string;
  sessionId?: string;
  /** Present when several queued deltas were merged: the seq of the first one. */
  firstSeq?: number;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

export interface ServerMetrics {
  firstChunkMs: number;
  totalChunks: number;
  durationMs: number;
}

export interface StreamCompleteEvent extends StreamEventBase {
  type: 'stream_complete';
  fullContent: string;
  usage?: Usage;
  metrics?: ServerMetrics;
}

export interface StreamCancelledEvent extends StreamEventBase {
  type: 'stream_cancelled';
}

export type ErrorCode =
  | 'bad_request'
  | 'unknown_action'
  | 'payload_too_large'
  | 'not_found'
  | 'forbidden'
  | 'unauthorized'
  | 'rate_limited'
  | 'too_many_streams'
  | 'upstream_error'
  | 'upstream_timeout'
  | 'upstream_rate_limited'
  | 'upstream_unavailable'
  | 'interrupted'
  | 'unavailable'
  | 'internal'
  | (string & {});

export interface ErrorEvent {
  type: 'error';
  code: ErrorCode;
  message: string;
  retryable?: boolean;
  retryAfterMs?: number;
  field?: string;
  streamId?: string;
  seq?: number;
  requestId?: string;
}

export type StreamEvent =
  | StreamStartEvent
  | ProgressEvent
  | StreamChunkEvent
  | StreamCompleteEvent
  | StreamCancelledEvent
  | (ErrorEvent & StreamEventBase);

export type ServerEvent =
  | ConnectedEvent
  | PongEvent
  | StreamStartEvent
  | ProgressEvent
  | StreamChunkEvent
  | StreamCompleteEvent
  | StreamCancelledEvent
  | ErrorEvent;

export type ClientAction =
  | ({ action: 'stream' } & StreamRequest)
  | { action: 'cancel'; streamId: string }
  | { action: 'resume'; streamId: string; lastSeq: number }
  | { action: 'ping'; [key: string]: unknown };

export function isTerminal(ev: { type: string; streamId?: string }): boolean {
  return (
    ev.type === 'stream_complete' ||
    ev.type === 'stream_cancelled' ||
    (ev.type === 'error' && typeof ev.streamId === 'string')
  );
}

/** Parses one frame; returns null for anything that is not an object with a string `type`. */
export function parseServerEvent(text: string): ServerEvent | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const t = (v as { type?: unknown }).type;
  if (typeof t !== 'string') return null;
  return v as ServerEvent;
}
