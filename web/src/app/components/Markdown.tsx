// Markdown as React elements; numbered items (the suggested titles) get a copy button.
import { memo, type ReactNode } from 'react';
import { parseBlocks, renderInline, splitItem, titleOf, type Block } from '../markdown.js';
import { CopyButton } from './CopyButton.js';

export const Markdown = memo(function Markdown({ text, streaming }: { text: string; streaming: boolean }) {
  const blocks = parseBlocks(streaming ? closeDangling(text) : text);
  return <div className="markdown">{blocks.map((b, i) => renderBlock(b, i, streaming && i === blocks.length - 1))}</div>;
});

function renderBlock(b: Block, key: number, growing: boolean): ReactNode {
  switch (b.t) {
    case 'p':
      return <p key={key}>{renderInline(b.c)}</p>;
    case 'h': {
      const level = Math.min(6, Math.max(3, b.level + 2));
      const content = renderInline(b.c);
      if (level === 3) return <h3 key={key}>{content}</h3>;
      if (level === 4) return <h4 key={key}>{content}</h4>;
      if (level === 5) return <h5 key={key}>{content}</h5>;
      return <h6 key={key}>{content}</h6>;
    }
    case 'ol':
      return (
        <ol key={key} start={b.start} className="titles" data-testid="title-list">
          {b.items.map((item, i) => {
            const title = titleOf(item);
            const [line, note] = splitItem(item);
            // The last item of a growing answer may still be half-written: no copy yet.
            const complete = !(growing && i === b.items.length - 1);
            return (
              <li key={i} data-testid="title-item">
                <span className="title-text">
                  <span className="title-line">{renderInline(line)}</span>
                  {note.length > 0 ? <span className="title-note">{renderInline(note, 'n')}</span> : null}
                </span>
                {complete && title ? <CopyButton text={title} label="Copy title" testId="copy-title" compact /> : null}
              </li>
            );
          })}
        </ol>
      );
    case 'ul':
      return (
        <ul key={key}>
          {b.items.map((item, i) => (
            <li key={i}>{renderInline(item)}</li>
          ))}
        </ul>
      );
    case 'code':
      return (
        <pre key={key}>
          <code>{b.v}</code>
        </pre>
      );
    case 'quote':
      return <blockquote key={key}>{renderInline(b.c)}</blockquote>;
    case 'hr':
      return <hr key={key} />;
  }
}

/**
 * While an answer grows, a marker whose closing half has not arrived yet ("1. **Sourdo")
 * is closed provisionally so the reader sees bold text, not asterisks.
 */
export function closeDangling(text: string): string {
  const fences = (text.match(/^\s{0,3}```/gm) ?? []).length;
  if (fences % 2 === 1) return text; // inside a code block: leave it alone
  const lastLine = text.slice(text.lastIndexOf('\n') + 1);
  let tail = '';
  if ((lastLine.match(/`/g) ?? []).length % 2 === 1) tail += '`';
  else if ((lastLine.match(/\*\*/g) ?? []).length % 2 === 1) tail += '**';
  return text + tail;
}
