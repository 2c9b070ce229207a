// One project: its title, the Chat / Prompt cards tabs, and the active tab.
import { useEffect } from 'react';
import type { Project } from '../../sdk/rest.js';
import type { ProjectsStore } from '../projects-store.js';
import { useProjects } from '../projects-store.js';
import { navigate } from '../route.js';
import { CardsEditor } from './CardsEditor.js';
import { ChatView } from './ChatView.js';

export function ProjectView({ project, store, tab }: { project: Project; store: ProjectsStore; tab: 'chat' | 'cards' }) {
  const state = useProjects(store);
  const cards = state.cards[project.id];

  useEffect(() => {
    void store.loadCards(project.id).catch(() => undefined);
  }, [store, project.id]);

  return (
    <section className="project-view" data-testid="project-view" data-project-id={project.id}>
      <div className="project-head">
        <div className="project-title">
          <h1 data-testid="project-title">{project.name}</h1>
          {project.description ? <p className="muted">{project.description}</p> : null}
        </div>
        <div className="tabs" role="tablist">
          <button
            type="button"
            role="tab"
            aria-selected={tab === 'chat'}
            className={`tab${tab === 'chat' ? ' active' : ''}`}
            onClick={() => navigate({ projectId: project.id, tab: 'chat' })}
            data-testid="tab-chat"
          >
            Chat
          </button>
          <button
            type="button"
            role="tab"
            aria-selected={tab === 'cards'}
            className={`tab${tab === 'cards' ? ' active' : ''}`}
            onClick={() => navigate({ projectId: project.id, tab: 'cards' })}
            data-testid="tab-cards"
          >
            Prompt cards
            <span className="badge">{cards ? cards.length : '·'}</span>
          </button>
        </div>
      </div>
      {tab === 'chat' ? <ChatView project={project} cardCount={cards?.length ?? 0} /> : <CardsEditor project={project} store={store} cards={cards ?? null} />}
    </section>
  );
}
