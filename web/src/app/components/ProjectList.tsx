// The sidebar: a form for a new project and the list of projects.
import { useState, type FormEvent } from 'react';
import { messageOf, type ProjectsState, type ProjectsStore } from '../projects-store.js';
import { navigate } from '../route.js';
import { relativeTime } from '../format.js';

export function ProjectList({ store, state, currentId }: { store: ProjectsStore; state: ProjectsState; currentId: string | null }) {
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    const n = name.trim();
    if (!n || busy) return;
    setBusy(true);
    setError(null);
    try {
      const p = await store.create(n);
      setName('');
      navigate({ projectId: p.id, tab: 'cards' });
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="project-list" data-testid="project-list">
      <div className="sidebar-head">
        <h2>Projects</h2>
        <span className="count">{state.projects.length}</span>
      </div>
      <form className="new-project" onSubmit={onSubmit}>
        <input
          type="text"
          placeholder="New project name"
          aria-label="New project name"
          value={name}
          maxLength={120}
          onChange={(e) => setName(e.target.value)}
          data-testid="new-project-name"
        />
        <button type="submit" className="button primary" disabled={!name.trim() || busy} data-testid="new-project-submit">
          Create
        </button>
      </form>
      {error ? <p className="error-text small">{error}</p> : null}
      {state.error ? <p className="error-text small">Could not load projects: {state.error}</p> : null}
      <nav>
        <ul>
          {state.projects.map((p) => (
            <li key={p.id}>
              <a
                href={`#/p/${encodeURIComponent(p.id)}`}
                className={`project-item${p.id === currentId ? ' active' : ''}`}
                aria-current={p.id === currentId ? 'page' : undefined}
                data-testid="project-item"
                data-project-id={p.id}
              >
                <span className="project-avatar" aria-hidden="true">
                  {initials(p.name)}
                </span>
                <span className="project-text">
                  <span className="project-name">{p.name}</span>
                  <span className="project-meta">{p.description ? p.description : `Updated ${relativeTime(p.updatedAt)}`}</span>
                </span>
              </a>
            </li>
          ))}
        </ul>
        {state.loaded && state.projects.length === 0 && !state.error ? <p className="muted small pad">No projects yet.</p> : null}
      </nav>
    </div>
  );
}

function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const s = words.length > 1 ? words[0]![0]! + words[1]![0]! : (words[0] ?? '?').slice(0, 2);
  return s.toUpperCase();
}
