// A small Markdown renderer that builds React elements directly: text is never parsed as
// HTML, so model output cannot inject markup or script.

import type { ReactNode } from 'react';

export type Inline =
  | { t: 'text'; v: string }
  /** A line break inside a list item (its indented continuation line). */
  | { t: 'br' }
  | { t: 'code'; v: string }
  | { t: 'strong'; c: Inline[] }
  | { t: 'em'; c: Inline[] }
  | { t: 'link'; href: string; c: Inline[] };

export type Block =
  | { t: 'p'; c: Inline[] }
  | { t: 'h'; level: number; c: Inline[] }
  | { t: 'ol'; start: number; items: Inline[][] }
  | { t: 'ul'; items: Inline[][] }
  | { t: 'code'; lang: string; v: string }
  | { t: 'quote'; c: Inline[] }
  | { t: 'hr' };

const OL = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;
const UL = /^\s{0,3}[-*+]\s+(.*)$/;
const H = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const FENCE = /^\s{0,3}(```|~~~)\s*([\w+-]*)\s*$/;
const HR = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;

export function parseBlocks(src: string): Block[] {
  const lines = src.replace(/\r\n?/g, '\n').split('\n');
  const out: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '') {
      i++;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const body: string[] = [];
      i++;
      while (i < lines.length && !new RegExp(`^\\s{0,3}${fence[1]}\\s*$`).test(lines[i]!)) body.push(lines[i++]!);
      i++; // closing fence (or end of a still-streaming block)
      out.push({ t: 'code', lang: fence[2] ?? '', v: body.join('\n') });
      continue;
    }
    const h = H.exec(line);
    if (h) {
      out.push({ t: 'h', level: h[1]!.length, c: parseInline(h[2]!) });
      i++;
      continue;
    }
    if (HR.test(line)) {
      out.push({ t: 'hr' });
      i++;
      continue;
    }
    const ol = OL.exec(line);
    if (ol) {
      const items: Inline[][] = [];
      const start = parseInt(ol[1]!, 10);
      while (i < lines.length) {
        const m = OL.exec(lines[i]!);
        if (m) {
          items.push(parseInline(m[2]!));
          i++;
        } else if (lines[i]!.trim() !== '' && /^\s{2,}/.test(lines[i]!) && items.length > 0) {
          // an indented continuation line belongs to the item above
          items[items.length - 1]!.push({ t: 'br' }, ...parseInline(lines[i]!.trim()));
          i++;
        } else if (lines[i]!.trim() === '' && i + 1 < lines.length && OL.test(lines[i + 1]!)) {
          i++; // a loose list: blank lines between items
        } else break;
      }
      out.push({ t: 'ol', start, items });
      continue;
    }
    const ul = UL.exec(line);
    if (ul) {
      const items: Inline[][] = [];
      while (i < lines.length) {
        const m = UL.exec(lines[i]!);
        if (m && !HR.test(lines[i]!)) {
          items.push(parseInline(m[1]!));
          i++;
        } else if (lines[i]!.trim() !== '' && /^\s{2,}/.test(lines[i]!) && items.length > 0) {
          items[items.length - 1]!.push({ t: 'br' }, ...parseInline(lines[i]!.trim()));
          i++;
        } else if (lines[i]!.trim() === '' && i + 1 < lines.length && UL.test(lines[i + 1]!)) {
          i++;
        } else break;
      }
      out.push({ t: 'ul', items });
      continue;
    }
    const q = QUOTE.exec(line);
    if (q) {
      const parts: string[] = [];
      while (i < lines.length) {
        const m = QUOTE.exec(lines[i]!);
        if (!m) break;
        parts.push(m[1]!);
        i++;
      }
      out.push({ t: 'quote', c: parseInline(parts.join(' ')) });
      continue;
    }
    const para: string[] = [];
    while (i < lines.length) {
      const l = lines[i]!;
      if (l.trim() === '' || FENCE.test(l) || H.test(l) || OL.test(l) || UL.test(l) || QUOTE.test(l) || HR.test(l)) break;
      para.push(l.trim());
      i++;
    }
    out.push({ t: 'p', c: parseInline(para.join(' ')) });
  }
  return out;
}

const SAFE_HREF = /^(https?:|mailto:)/i;

export function parseInline(src: string): Inline[] {
  const out: Inline[] = [];
  let text = '';
  const flush = () => {
    if (text) out.push({ t: 'text', v: text });
    text = '';
  };
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\\' && i + 1 < src.length && /[\\`*_[\]()#+\-.!>]/.test(src[i + 1]!)) {
      text += src[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') {
      const end = src.indexOf('`', i + 1);
      if (end > i) {
        flush();
        out.push({ t: 'code', v: src.slice(i + 1, end) });
        i = end + 1;
        continue;
      }
    }
    if ((c === '*' || c === '_') && src[i + 1] === c) {
      const marker = c + c;
      const end = src.indexOf(marker, i + 2);
      if (end > i + 2) {
        flush();
        out.push({ t: 'strong', c: parseInline(src.slice(i + 2, end)) });
        i = end + 2;
        continue;
      }
    }
    if (c === '*' || (c === '_' && (i === 0 || !/\w/.test(src[i - 1]!)))) {
      const end = findEmphasisEnd(src, i + 1, c);
      if (end > i + 1 && src[i + 1] !== ' ') {
        flush();
        out.push({ t: 'em', c: parseInline(src.slice(i + 1, end)) });
        i = end + 1;
        continue;
      }
    }
    if (c === '[') {
      const close = src.indexOf(']', i + 1);
      if (close > i && src[close + 1] === '(') {
        const paren = src.indexOf(')', close + 2);
        if (paren > close) {
          const href = src.slice(close + 2, paren).trim();
          const label = parseInline(src.slice(i + 1, close));
          flush();
          if (SAFE_HREF.test(href)) out.push({ t: 'link', href, c: label });
          else out.push(...label); // an unsafe scheme (javascript:, data:) keeps only its label
          i = paren + 1;
          continue;
        }
      }
    }
    text += c;
    i++;
  }
  flush();
  return out;
}

function findEmphasisEnd(src: string, from: number, marker: string): number {
  for (let j = from; j < src.length; j++) {
    if (src[j] === marker && src[j - 1] !== ' ' && src[j + 1] !== marker) {
      if (marker === '_' && j + 1 < src.length && /\w/.test(src[j + 1]!)) continue;
      return j;
    }
  }
  return -1;
}

/** The plain text of inline nodes (for copying). */
export function plainText(nodes: Inline[]): string {
  return nodes.map((n) => (n.t === 'text' || n.t === 'code' ? n.v : n.t === 'br' ? ' ' : plainText(n.c))).join('');
}

/** Splits a list item at its first line break: the item's own line, and its note. */
export function splitItem(item: Inline[]): [Inline[], Inline[]] {
  const i = item.findIndex((n) => n.t === 'br');
  return i < 0 ? [item, []] : [item.slice(0, i), item.slice(i + 1)];
}

/**
 * The title a numbered item suggests: its first bold part if it has one ("1. **Title** — why"),
 * otherwise the whole item, without surrounding quotes.
 */
export function titleOf(item: Inline[]): string {
  const [line] = splitItem(item);
  const strong = line.find((n) => n.t === 'strong');
  const raw = strong && strong.t === 'strong' ? plainText(strong.c) : plainText(line);
  return raw.trim().replace(/^["“'`]+|["”'`]+$/g, '').trim();
}

export function renderInline(nodes: Inline[], keyPrefix = ''): ReactNode[] {
  return nodes.map((n, k) => {
    const key = `${keyPrefix}${k}`;
    switch (n.t) {
      case 'text':
        return n.v;
      case 'br':
        return <br key={key} />;
      case 'code':
        return <code key={key}>{n.v}</code>;
      case 'strong':
        return <strong key={key}>{renderInline(n.c, key + '.')}</strong>;
      case 'em':
        return <em key={key}>{renderInline(n.c, key + '.')}</em>;
      case 'link':
        return (
          <a key={key} href={n.href} target="_blank" rel="noopener noreferrer nofollow">
            {renderInline(n.c, key + '.')}
          </a>
        );
    }
  });
}
