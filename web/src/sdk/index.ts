// streamgate client SDK: WebSocket streaming with resume, SSE fallback, REST helpers.

export { StreamClient } from './client.js';
export type { ConnectionSnapshot, ConnectionState, StreamClientOptions, WebSocketCtor, WebSocketLike, ClientErrorListener } from './client.js';
export { StreamHandle } from './stream-handle.js';
export type { StreamSnapshot, StreamMetrics, StreamProgress, StreamStatusName, StreamError, TransportName } from './stream-handle.js';
export { SseParser } from './sse-parser.js';
export type { SseMessage, SseParserCallbacks } from './sse-parser.js';
export { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export { SeqTracker } from './seq.js';
export type { SeqVerdict } from './seq.js';
export { Store } from './store.js';
export { RestApi, StreamgateError, CARD_KINDS } from './rest.js';
export type { Project, PromptCard, CardKind, StoredMessage, MessagePage, MessageStatus, StreamStatus, FetchLike } from './rest.js';
export * from './protocol.js';
export { ChatSession } from './chat-session.js';
export type { ChatMessage, ChatSnapshot, ChatMessageStatus } from './chat-session.js';
export { ChatSessionCache } from './chat-session-cache.js';
