// React bindings for the streamgate SDK.

export { StreamClientProvider, useStreamClient, useOptionalStreamClient, useCreateStreamClient, useConnection, useStreamSnapshot } from './context.js';
export { useChat, chatSessionFor } from './use-chat.js';
export type { UseChat } from './use-chat.js';
export { ChatSession } from './chat-session.js';
export type { ChatMessage, ChatSnapshot, ChatMessageStatus } from './chat-session.js';
