// The project editor: name and description, and the prompt cards that shape every answer.
import { useEffect, useState, type FormEvent } from 'react';
import { CARD_KINDS, type CardKind, type Project, type PromptCard } from '../../sdk/rest.js';
import { messageOf, type ProjectsStore } from '../projects-store.js';
import { navigate } from '../route.js';

const KIND_HELP: Record<CardKind, string> = {
  instruction: 'What the titles must do, e.g. "Keep titles under 60 characters".',
  example: 'A title you like, to imitate.',
  style: 'Tone and voice, e.g. "Playful, no clickbait".',
};

export function CardsEditor({ project, store, cards }: { project: Project; store: ProjectsStore; cards: readonly PromptCard[] | null }) {
  return (
    <div className="editor" data-testid="cards-editor">
      <ProjectDetails project={project} store={store} />
      <section className="panel">
        <div className="panel-head">
          <h2>Prompt cards</h2>
          <p className="muted small">Every question in this project is answered with these cards, in this order.</p>
        </div>
        {cards === null ? (
          <p className="muted">Loading cards…</p>
        ) : cards.length === 0 ? (
          <p className="muted empty-cards">No cards yet. Add an instruction, an example or a style below.</p>
        ) : (
          <ol className="card-list" data-testid="card-list">
            {cards.map((c, i) => (
              <CardItem key={c.id} card={c} store={store} first={i === 0} last={i === cards.length - 1} />
            ))}
          </ol>
        )}
        <NewCard projectId={project.id} store={store} />
      </section>
      <div className="editor-footer">
        <button type="button" className="button primary" onClick={() => navigate({ projectId: project.id, tab: 'chat' })} data-testid="go-chat">
          Start generating titles →
        </button>
      </div>
    </div>
  );
}

function ProjectDetails({ project, store }: { project: Project; store: ProjectsStore }) {
  const [name, setName] = useState(project.name);
  const [description, setDescription] = useState(project.description ?? '');
  const [status, setStatus] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setName(project.name);
    setDescription(project.description ?? '');
  }, [project.name, project.description]);

  const dirty = name.trim() !== project.name || description !== (project.description ?? '');

  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim() || busy) return;
    setBusy(true);
    try {
      await store.update(project.id, { name: name.trim(), description });
      setStatus('Saved');
    } catch (err) {
      setStatus(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    if (!window.confirm(`Delete "${project.name}" with its cards and history?`)) return;
    try {
      await store.remove(project.id);
      navigate({ projectId: null, tab: 'chat' });
    } catch (err) {
      setStatus(messageOf(err));
    }
  };

  return (
    <form className="panel details" onSubmit={save}>
      <div className="panel-head">
        <h2>Project</h2>
      </div>
      <label className="field">
        <span>Name</span>
        <input type="text" value={name} maxLength={120} onChange={(e) => setName(e.target.value)} data-testid="project-name-input" />
      </label>
      <label className="field">
        <span>Description</span>
        <textarea
          rows={2}
          value={description}
          placeholder="What is this project about? (optional)"
          onChange={(e) => setDescription(e.target.value)}
          data-testid="project-description-input"
        />
      </label>
      <div className="row">
        <button type="submit" className="button primary" disabled={!dirty || busy || !name.trim()} data-testid="project-save">
          Save
        </button>
        {status ? <span className="muted small">{status}</span> : null}
        <span className="spacer" />
        <button type="button" className="button danger ghost" onClick={remove} data-testid="project-delete">
          Delete project
        </button>
      </div>
    </form>
  );
}

function CardItem({ card, store, first, last }: { card: PromptCard; store: ProjectsStore; first: boolean; last: boolean }) {
  const [content, setContent] = useState(card.content);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setContent(card.content), [card.content]);

  const run = (p: Promise<unknown>) => {
    setError(null);
    p.catch((err: unknown) => setError(messageOf(err)));
  };

  return (
    <li className={`card card-${card.kind}`} data-testid="card-item" data-card-id={card.id} data-kind={card.kind}>
      <div className="card-head">
        <select
          value={card.kind}
          aria-label="Card kind"
          onChange={(e) => run(store.updateCard(card.projectId, card.id, { kind: e.target.value as CardKind }))}
          data-testid="card-kind"
        >
          {CARD_KINDS.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
        <span className="spacer" />
        <button type="button" className="icon-button" aria-label="Move up" disabled={first} onClick={() => run(store.moveCard(card.projectId, card.id, -1))}>
          ↑
        </button>
        <button type="button" className="icon-button" aria-label="Move down" disabled={last} onClick={() => run(store.moveCard(card.projectId, card.id, 1))}>
          ↓
        </button>
        <button type="button" className="icon-button danger" aria-label="Delete card" onClick={() => run(store.removeCard(card.projectId, card.id))} data-testid="card-delete">
          ✕
        </button>
      </div>
      <textarea
        rows={2}
        value={content}
        aria-label="Card content"
        onChange={(e) => setContent(e.target.value)}
        onBlur={() => {
          if (content.trim() && content !== card.content) run(store.updateCard(card.projectId, card.id, { content }));
        }}
        data-testid="card-content"
      />
      {error ? <p className="error-text small">{error}</p> : null}
    </li>
  );
}

function NewCard({ projectId, store }: { projectId: string; store: ProjectsStore }) {
  const [kind, setKind] = useState<CardKind>('instruction');
  const [content, setContent] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const add = async (e: FormEvent) => {
    e.preventDefault();
    if (!content.trim() || busy) return;
    setBusy(true);
    setError(null);
    try {
      await store.addCard(projectId, kind, content.trim());
      setContent('');
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="new-card" onSubmit={add} data-testid="new-card">
      <div className="kind-picker" role="radiogroup" aria-label="Card kind">
        {CARD_KINDS.map((k) => (
          <button
            type="button"
            key={k}
            role="radio"
            aria-checked={kind === k}
            className={`chip chip-${k}${kind === k ? ' active' : ''}`}
            onClick={() => setKind(k)}
            data-testid={`new-card-kind-${k}`}
          >
            {k}
          </button>
        ))}
      </div>
      <textarea
        rows={3}
        value={content}
        placeholder={KIND_HELP[kind]}
        onChange={(e) => setContent(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.metaKey || e.ctrlKey)) void add(e);
        }}
        data-testid="new-card-content"
      />
      <div className="row">
        <button type="submit" className="button" disabled={!content.trim() || busy} data-testid="add-card">
          Add card
        </button>
        {error ? <span className="error-text small">{error}</span> : null}
      </div>
    </form>
  );
}
