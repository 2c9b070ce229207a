// The app shell: header with connection status, project sidebar, and the selected project.

import { useEffect, useMemo, useState } from 'react';
import { useStreamClient } from '../react/context.js';
import { ConnectionStatus } from './components/ConnectionStatus.js';
import { ProjectList } from './components/ProjectList.js';
import { ProjectView } from './components/ProjectView.js';
import { EmptyState } from './components/EmptyState.js';
import { ProjectsStore, useProjects } from './projects-store.js';
import { navigate, useRoute } from './route.js';
import { NotAuthorized } from './components/NotAuthorized.js';

export function App() {
  const client = useStreamClient();
  const projects = useMemo(() => new ProjectsStore(client.api), [client]);
  const state = useProjects(projects);
  const route = useRoute();
  const [menuOpen, setMenuOpen] = useState(false);

  useEffect(() => {
    void projects.load();
  }, [projects]);

  // Refused for want of a (valid) token: stop retrying the socket until the user supplies one.
  useEffect(() => {
    if (state.unauthorized) client.disconnect();
  }, [state.unauthorized, client]);

  // Close the phone drawer whenever the route changes.
  useEffect(() => setMenuOpen(false), [route.projectId, route.tab]);

  const current = route.projectId ? (state.projects.find((p) => p.id === route.projectId) ?? null) : null;

  return (
    <div className={`app${menuOpen ? ' menu-open' : ''}`}>
      <header className="topbar">
        <button
          type="button"
          className="icon-button menu-button"
          aria-label="Projects"
          aria-expanded={menuOpen}
          onClick={() => setMenuOpen((v) => !v)}
          data-testid="menu-button"
        >
          <span aria-hidden="true">☰</span>
        </button>
        <a className="brand" href="#/">
          <span className="brand-mark" aria-hidden="true" />
          <span className="brand-name">streamgate</span>
          <span className="brand-sub">Title generator</span>
        </a>
        <div className="topbar-right">
          <ConnectionStatus unauthorized={state.unauthorized} />
          <a className="admin-link" href="/admin" data-testid="admin-link" title="Server metrics (admin only)">
            Admin
          </a>
        </div>
      </header>
      <div className="layout">
        <aside className="sidebar" aria-label="Projects">
          <ProjectList store={projects} state={state} currentId={route.projectId} />
        </aside>
        <div className="scrim" onClick={() => setMenuOpen(false)} aria-hidden="true" />
        <main className="main">
          {state.unauthorized ? (
            <NotAuthorized detail={state.error} />
          ) : current ? (
            <ProjectView key={current.id} project={current} store={projects} tab={route.tab} />
          ) : route.projectId && state.loaded ? (
            <EmptyState title="Project not found" body="It may have been deleted.">
              <button type="button" className="button" onClick={() => navigate({ projectId: null, tab: 'chat' })}>
                Back to projects
              </button>
            </EmptyState>
          ) : route.projectId || !state.loaded ? (
            <div className="loading" data-testid="loading">
              Loading…
            </div>
          ) : (
            <EmptyState
              title={state.projects.length ? 'Pick a project' : 'Create your first project'}
              body="A project holds prompt cards (instructions, examples, style) that shape every title the generator suggests."
            >
              {state.error ? <p className="error-text">Could not load projects: {state.error}</p> : null}
              <button type="button" className="button primary" onClick={() => setMenuOpen(true)} data-testid="empty-open-projects">
                {state.projects.length ? 'Show projects' : 'New project'}
              </button>
            </EmptyState>
          )}
        </main>
      </div>
    </div>
  );
}
