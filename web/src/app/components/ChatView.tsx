// The chat: messages with auto-scroll that yields to a reader who scrolled up, and the composer.
import { useCallback, useLayoutEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { Project } from '../../sdk/rest.js';
import { useChat } from '../../react/use-chat.js';
import { Message } from './Message.js';

const SUGGESTIONS = ['A beginner guide to sourdough baking', 'How we cut our cloud bill in half', 'Weekend hiking trips near the city'];

export function ChatView({ project, cardCount }: { project: Project; cardCount: number }) {
  const chat = useChat(project.id);
  const [input, setInput] = useState('');
  const listRef = useRef<HTMLDivElement>(null);
  const stickRef = useRef(true);
  const [showJump, setShowJump] = useState(false);

  const last = chat.messages[chat.messages.length - 1];
  const scrollKey = `${chat.messages.length}:${last?.content.length ?? 0}:${last?.status ?? ''}:${last?.progress?.progress ?? ''}`;

  // Follow the answer as it grows, unless the reader scrolled up to read something else.
  useLayoutEffect(() => {
    const el = listRef.current;
    if (!el) return;
    if (stickRef.current) el.scrollTop = el.scrollHeight;
    else setShowJump(true);
  }, [scrollKey]);

  const onScroll = useCallback(() => {
    const el = listRef.current;
    if (!el) return;
    const nearBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    stickRef.current = nearBottom;
    if (nearBottom) setShowJump(false);
  }, []);

  const jump = useCallback(() => {
    const el = listRef.current;
    if (!el) return;
    stickRef.current = true;
    setShowJump(false);
    el.scrollTo({ top: el.scrollHeight, behavior: 'smooth' });
  }, []);

  // Until the history is in, a new question could be shown twice (once from the history).
  const ready = chat.historyState === 'loaded' || chat.historyState === 'error';

  const send = useCallback(
    (text: string) => {
      if (!text.trim() || !ready) return;
      const h = chat.send(text);
      if (h) {
        setInput('');
        stickRef.current = true;
        setShowJump(false);
      }
    },
    [chat.send, ready],
  );

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send(input);
    }
  };

  return (
    <div className="chat" data-testid="chat">
      <div className="messages" ref={listRef} onScroll={onScroll} data-testid="messages">
        {chat.hasOlder ? (
          <button type="button" className="button ghost small load-older" onClick={() => void chat.loadOlder()}>
            Load earlier messages
          </button>
        ) : null}
        {chat.historyState === 'error' ? <p className="error-text small center">Could not load history: {chat.historyError}</p> : null}
        {chat.messages.length === 0 && chat.historyState !== 'loading' ? (
          <div className="chat-intro" data-testid="chat-intro">
            <h2>What should we title?</h2>
            <p className="muted">
              Describe your article, video or product. Answers follow {cardCount === 1 ? 'the project’s prompt card' : `the project’s ${cardCount} prompt cards`} and stream in as they are written.
            </p>
            <div className="suggestions">
              {SUGGESTIONS.map((s) => (
                <button type="button" key={s} className="chip" onClick={() => send(s)}>
                  {s}
                </button>
              ))}
            </div>
          </div>
        ) : null}
        {chat.messages.map((m) => (
          <Message key={m.id} message={m} onRetry={chat.isStreaming ? undefined : chat.retry} />
        ))}
      </div>
      {showJump ? (
        <button type="button" className="jump" onClick={jump} data-testid="jump-to-latest">
          ↓ Latest
        </button>
      ) : null}
      <form
        className="composer"
        onSubmit={(e) => {
          e.preventDefault();
          send(input);
        }}
      >
        <textarea
          rows={1}
          value={input}
          placeholder="Describe what you need titles for…"
          aria-label="Message"
          onChange={(e) => setInput(e.target.value)}
          onKeyDown={onKeyDown}
          data-testid="chat-input"
        />
        {chat.isStreaming ? (
          <button type="button" className="button stop" onClick={() => void chat.stop()} data-testid="stop-button">
            <span className="stop-square" aria-hidden="true" />
            Stop
          </button>
        ) : (
          <button type="submit" className="button primary send" disabled={!input.trim() || !ready} data-testid="send-button">
            Send
          </button>
        )}
      </form>
    </div>
  );
}
