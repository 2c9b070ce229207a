// Shown when the server refuses the app's token (or its absence): what happened and a way to
// supply a token for this tab.
import { useRef, type FormEvent } from 'react';
import { setToken } from '../token.js';

export function NotAuthorized({ detail }: { detail: string | null }) {
  const input = useRef<HTMLInputElement>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const v = input.current?.value.trim() ?? '';
    if (!v) return;
    setToken(v);
    window.location.reload();
  };
  return (
    <div className="empty-state not-authorized" data-testid="not-authorized" role="alert">
      <div className="admin-lock" aria-hidden="true" />
      <h2>Not authorized</h2>
      <p>
        This server needs a sign-in token for every request. Open the app with <code>?token=…</code> or paste a
        token below; it is kept for this tab only.
      </p>
      {detail ? (
        <p className="error-text small" data-testid="not-authorized-detail">
          Server said: {detail}
        </p>
      ) : null}
      <form className="token-form" onSubmit={submit}>
        <input ref={input} type="password" autoComplete="off" placeholder="Bearer token (JWT)" aria-label="Token" data-testid="token-input" />
        <button type="submit" className="button primary" data-testid="token-submit">
          Use token
        </button>
      </form>
    </div>
  );
}
