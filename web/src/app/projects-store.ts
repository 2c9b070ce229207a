// Projects and their prompt cards, kept in an external store shared by the sidebar and editor.

import { useSyncExternalStore } from 'react';
import { StreamgateError, type RestApi, type CardKind, type Project, type PromptCard } from '../sdk/rest.js';
import { Store } from '../sdk/store.js';

export interface ProjectsState {
  readonly projects: readonly Project[];
  readonly loaded: boolean;
  readonly error: string | null;
  /** The server refused the token (401) or its absence: the app cannot do anything until it has one. */
  readonly unauthorized: boolean;
  readonly cards: Readonly<Record<string, readonly PromptCard[] | undefined>>;
}

export class ProjectsStore {
  private readonly store = new Store<ProjectsState>({ projects: [], loaded: false, error: null, unauthorized: false, cards: {} });
  private loading: Promise<void> | null = null;

  constructor(private readonly api: RestApi) {}

  readonly subscribe = (l: () => void) => this.store.subscribe(l);
  readonly getSnapshot = () => this.store.getSnapshot();

  load(): Promise<void> {
    if (this.loading) return this.loading;
    this.loading = this.api
      .listProjects()
      .then((projects) => {
        const sorted = [...projects].sort((a, b) => b.updatedAt - a.updatedAt);
        this.store.update((s) => ({ ...s, projects: sorted, loaded: true, error: null, unauthorized: false }));
      })
      .catch((err: unknown) => {
        this.store.update((s) => ({ ...s, loaded: true, error: messageOf(err), unauthorized: isUnauthorized(err) }));
      })
      .finally(() => {
        this.loading = null;
      });
    return this.loading;
  }

  async create(name: string, description = ''): Promise<Project> {
    const p = await this.api.createProject({ name, description });
    this.store.update((s) => ({ ...s, projects: [p, ...s.projects.filter((x) => x.id !== p.id)] }));
    return p;
  }

  async update(id: string, patch: { name?: string; description?: string }): Promise<Project> {
    const p = await this.api.updateProject(id, patch);
    this.store.update((s) => ({ ...s, projects: s.projects.map((x) => (x.id === id ? p : x)) }));
    return p;
  }

  async remove(id: string): Promise<void> {
    await this.api.deleteProject(id);
    this.store.update((s) => {
      const cards = { ...s.cards };
      delete cards[id];
      return { ...s, projects: s.projects.filter((x) => x.id !== id), cards };
    });
  }

  async loadCards(projectId: string): Promise<void> {
    const cards = await this.api.listCards(projectId);
    this.setCards(projectId, cards);
  }

  async addCard(projectId: string, kind: CardKind, content: string): Promise<PromptCard> {
    const existing = this.store.getSnapshot().cards[projectId] ?? [];
    const order = existing.reduce((m, c) => Math.max(m, c.order), -1) + 1;
    const card = await this.api.createCard(projectId, { kind, content, order });
    this.setCards(projectId, [...(this.store.getSnapshot().cards[projectId] ?? []), card]);
    return card;
  }

  async updateCard(projectId: string, cardId: string, patch: { kind?: CardKind; content?: string; order?: number }): Promise<void> {
    const card = await this.api.updateCard(projectId, cardId, patch);
    this.setCards(
      projectId,
      (this.store.getSnapshot().cards[projectId] ?? []).map((c) => (c.id === cardId ? card : c)),
    );
  }

  async removeCard(projectId: string, cardId: string): Promise<void> {
    await this.api.deleteCard(projectId, cardId);
    this.setCards(
      projectId,
      (this.store.getSnapshot().cards[projectId] ?? []).filter((c) => c.id !== cardId),
    );
  }

  /** Swaps a card with its neighbour (dir -1 up, +1 down) and saves both orders. */
  async moveCard(projectId: string, cardId: string, dir: -1 | 1): Promise<void> {
    const list = [...(this.store.getSnapshot().cards[projectId] ?? [])];
    const i = list.findIndex((c) => c.id === cardId);
    const j = i + dir;
    if (i < 0 || j < 0 || j >= list.length) return;
    const a = list[i]!;
    const b = list[j]!;
    const [ao, bo] = a.order === b.order ? [j, i] : [b.order, a.order];
    await Promise.all([this.updateCard(projectId, a.id, { order: ao }), this.updateCard(projectId, b.id, { order: bo })]);
  }

  private setCards(projectId: string, cards: PromptCard[]): void {
    const sorted = [...cards].sort((a, b) => a.order - b.order || a.createdAt - b.createdAt);
    this.store.update((s) => ({ ...s, cards: { ...s.cards, [projectId]: sorted } }));
  }
}

export function useProjects(store: ProjectsStore): ProjectsState {
  return useSyncExternalStore(store.subscribe, store.getSnapshot);
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function isUnauthorized(err: unknown): boolean {
  return err instanceof StreamgateError && (err.status === 401 || err.code === 'unauthorized');
}
