// React bindings for the streamgate SDK.

export { StreamClientProvider, useStreamClient, useOptionalStreamClient, useCreateStreamClient, useConnection, useStreamSnapshot } from './context.js';
export { useChat, chatSessionFor, MAX_CHAT_SESSIONS } from './use-chat.js';
export type { UseChat } from './use-chat.js';
export { FrameBatch, FrameBatchedStore } from './frame-batch.js';
export { ChatSession } from '../sdk/chat-session.js';
export type { ChatMessage, ChatSnapshot, ChatMessageStatus } from '../sdk/chat-session.js';
export { ChatSessionCache } from '../sdk/chat-session-cache.js';
