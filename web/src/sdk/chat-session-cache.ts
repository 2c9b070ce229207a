// The chat sessions of one client, one per project, kept so that a chat shown again finds its
// state; bounded: past `max`, the least recently used idle sessions are dropped.

import { ChatSession } from './chat-session.js';
import type { StreamClient } from './client.js';

export class ChatSessionCache {
  /** In use order: the first is the least recently used. */
  private readonly sessions = new Map<string, ChatSession>();

  constructor(
    private readonly client: StreamClient,
    readonly max = 16,
  ) {}

  /** The session of `projectId`, created on first use. */
  get(projectId: string): ChatSession {
    let s = this.sessions.get(projectId);
    if (s) {
      this.sessions.delete(projectId);
    } else {
      s = new ChatSession(this.client, projectId);
    }
    this.sessions.set(projectId, s);
    this.evict(projectId);
    return s;
  }

  get size(): number {
    return this.sessions.size;
  }

  has(projectId: string): boolean {
    return this.sessions.has(projectId);
  }

  /**
   * Drops the least recently used sessions past `max`, never `keep` (the one just asked for). A
   * session in use (watched by a view, or with an answer running) stays too: dropping it would
   * give its project a second session; the cache shrinks back once it is idle and a new one comes.
   */
  private evict(keep: string): void {
    let over = this.sessions.size - this.max;
    if (over <= 0) return;
    for (const [id, s] of this.sessions) {
      if (over <= 0) break;
      if (id === keep || s.inUse) continue;
      this.sessions.delete(id);
      over--;
    }
  }
}
