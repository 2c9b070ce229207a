// Typed calls to streamgate's REST surface: projects, prompt cards, message history, streams.

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** An error answered by the server (same JSON shape as the WebSocket `error` event). */
export class StreamgateError extends Error {
  readonly code: string;
  readonly status: number;
  readonly retryable: boolean;
  readonly field: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(init: { code: string; message: string; status?: number; retryable?: boolean; field?: string; retryAfterMs?: number }) {
    super(init.message);
    this.name = 'StreamgateError';
    this.code = init.code;
    this.status = init.status ?? 0;
    this.retryable = init.retryable ?? false;
    this.field = init.field;
    this.retryAfterMs = init.retryAfterMs;
  }
}

export interface Project {
  id: string;
  name: string;
  description: string;
  createdAt: number;
  updatedAt: number;
}

export type CardKind = 'instruction' | 'example' | 'style';
export const CARD_KINDS: readonly CardKind[] = ['instruction', 'example', 'style'];

export interface PromptCard {
  id: string;
  projectId: string;
  kind: CardKind;
  content: string;
  order: number;
  createdAt: number;
}

/** `interrupted`: the server stopped (a crash, a node lost) before the answer ended; its text is
 * what had been written by then. */
export type MessageStatus = 'complete' | 'cancelled' | 'failed' | 'streaming' | 'interrupted';

export interface StoredMessage {
  /** A string, or a number when the server uses row ids. */
  id: string | number;
  projectId: string;
  role: 'user' | 'assistant';
  content: string;
  status: MessageStatus;
  streamId: string | null;
  createdAt: number;
}

export interface MessagePage {
  items: StoredMessage[];
  /** Pass as `before` for the previous page; null on the oldest page. */
  nextBefore: string | number | null;
}

/** `GET /v1/streams/{id}`: the stream's state and the text so far. */
export interface StreamStatus {
  streamId: string;
  state: string;
  text?: string;
  lastSeq?: number;
  [key: string]: unknown;
}

export interface RestOptions {
  baseUrl: string;
  fetch: FetchLike;
  /** The bearer token, read on every call so a refreshed token is used at once. */
  token?: () => string | undefined;
  /** Sent as X-Streamgate-Anonymous-Key: the identity of a program without cookies (no auth). */
  anonymousKey?: string;
}

export async function errorFromResponse(res: Response): Promise<StreamgateError> {
  let body: Record<string, unknown> = {};
  try {
    const text = await res.text();
    if (text) body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON: keep the status line only
  }
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
  const init: ConstructorParameters<typeof StreamgateError>[0] = {
    code: str(body.code) ?? `http_${res.status}`,
    message: str(body.message) ?? `HTTP ${res.status} ${res.statusText}`.trim(),
    status: res.status,
    retryable: typeof body.retryable === 'boolean' ? body.retryable : res.status === 429 || res.status >= 500,
  };
  const field = str(body.field);
  if (field !== undefined) init.field = field;
  const retryAfterMs = num(body.retryAfterMs);
  if (retryAfterMs !== undefined) init.retryAfterMs = retryAfterMs;
  return new StreamgateError(init);
}

export class RestApi {
  constructor(private readonly opts: RestOptions) {}

  headers(extra?: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { ...extra };
    const t = this.opts.token?.();
    if (t) h['Authorization'] = `Bearer ${t}`;
    if (this.opts.anonymousKey) h['X-Streamgate-Anonymous-Key'] = this.opts.anonymousKey;
    return h;
  }

  url(path: string): string {
    return this.opts.baseUrl.replace(/\/+$/, '') + path;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const init: RequestInit = { method, headers: this.headers({ Accept: 'application/json' }) };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
    }
    let res: Response;
    try {
      res = await this.opts.fetch(this.url(path), init);
    } catch (err) {
      throw new StreamgateError({ code: 'network_error', message: err instanceof Error ? err.message : String(err), retryable: true });
    }
    if (!res.ok) throw await errorFromResponse(res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Every item of a paginated list (`?limit=&offset=`, the page says `nextOffset`). */
  private async listAll<T>(path: string): Promise<T[]> {
    const out: T[] = [];
    for (let offset: number | null = 0; offset !== null; ) {
      const page: { items: T[]; nextOffset?: number | null } = await this.request('GET', `${path}?limit=200&offset=${offset}`);
      out.push(...page.items);
      offset = page.nextOffset ?? null;
    }
    return out;
  }

  // Projects
  async listProjects(): Promise<Project[]> {
    return this.listAll<Project>('/v1/projects');
  }
  createProject(p: { name: string; description?: string }): Promise<Project> {
    return this.request('POST', '/v1/projects', p);
  }
  getProject(id: string): Promise<Project> {
    return this.request('GET', `/v1/projects/${enc(id)}`);
  }
  updateProject(id: string, p: { name?: string; description?: string }): Promise<Project> {
    return this.request('PUT', `/v1/projects/${enc(id)}`, p);
  }
  deleteProject(id: string): Promise<void> {
    return this.request('DELETE', `/v1/projects/${enc(id)}`);
  }

  // Prompt cards
  async listCards(projectId: string): Promise<PromptCard[]> {
    const items = await this.listAll<PromptCard>(`/v1/projects/${enc(projectId)}/cards`);
    return [...items].sort((a, b) => a.order - b.order || a.createdAt - b.createdAt);
  }
  createCard(projectId: string, c: { kind: CardKind; content: string; order?: number }): Promise<PromptCard> {
    return this.request('POST', `/v1/projects/${enc(projectId)}/cards`, c);
  }
  updateCard(projectId: string, cardId: string, c: { kind?: CardKind; content?: string; order?: number }): Promise<PromptCard> {
    return this.request('PUT', `/v1/projects/${enc(projectId)}/cards/${enc(cardId)}`, c);
  }
  deleteCard(projectId: string, cardId: string): Promise<void> {
    return this.request('DELETE', `/v1/projects/${enc(projectId)}/cards/${enc(cardId)}`);
  }

  // History
  listMessages(projectId: string, opts: { limit?: number; before?: string | number } = {}): Promise<MessagePage> {
    const q = new URLSearchParams();
    q.set('limit', String(opts.limit ?? 50));
    if (opts.before !== undefined && opts.before !== null && opts.before !== '') q.set('before', String(opts.before));
    return this.request<MessagePage>('GET', `/v1/projects/${enc(projectId)}/messages?${q.toString()}`).then((p) => ({
      items: p.items ?? [],
      nextBefore: p.nextBefore ?? null,
    }));
  }

  // Streams
  getStream(streamId: string): Promise<StreamStatus> {
    return this.request('GET', `/v1/streams/${enc(streamId)}`);
  }
  cancelStream(streamId: string): Promise<unknown> {
    return this.request('DELETE', `/v1/streams/${enc(streamId)}`);
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}
