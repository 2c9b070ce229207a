import { describe, expect, it } from 'vitest';
import { renderToStaticMarkup } from 'react-dom/server';
import { createElement } from 'react';
import { parseBlocks, parseInline, titleOf } from '../../src/app/markdown.js';
import { Markdown } from '../../src/app/components/Markdown.js';

const html = (text: string, streaming = false) => renderToStaticMarkup(createElement(Markdown, { text, streaming }));

describe('markdown', () => {
  it('parses the demo answer: a heading line and a numbered list of bold titles', () => {
    const blocks = parseBlocks('Here are some titles:\n\n1. **Bread at Home** — simple\n2. **Sourdough 101**\n3. Plain title\n');
    expect(blocks.map((b) => b.t)).toEqual(['p', 'ol']);
    const ol = blocks[1]!;
    if (ol.t !== 'ol') throw new Error('not a list');
    expect(ol.items.map(titleOf)).toEqual(['Bread at Home', 'Sourdough 101', 'Plain title']);
  });

  it('renders titles with copy buttons, except the still-growing last item', () => {
    const done = html('1. **A**\n2. **B**');
    expect(done.match(/data-testid="copy-title"/g)).toHaveLength(2);
    const growing = html('1. **A**\n2. **B', true);
    expect(growing.match(/data-testid="copy-title"/g)).toHaveLength(1);
  });

  it('escapes HTML in the text instead of interpreting it', () => {
    const out = html('<img src=x onerror=alert(1)> **<script>alert(2)</script>**\n\n1. <b>x</b>');
    expect(out).not.toContain('<img');
    expect(out).not.toContain('<script>');
    expect(out).not.toContain('<b>');
    expect(out).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(out).toContain('&lt;script&gt;');
  });

  it('drops links with unsafe schemes and keeps safe ones', () => {
    expect(html('[x](javascript:alert(1))')).not.toContain('href');
    expect(html('[x](data:text/html,hi)')).not.toContain('href');
    expect(html('[site](https://example.com)')).toContain('href="https://example.com"');
  });

  it('handles inline code, emphasis, headings, bullets, quotes and fences', () => {
    expect(parseInline('a `b*c*` *d* __e__')).toEqual([
      { t: 'text', v: 'a ' },
      { t: 'code', v: 'b*c*' },
      { t: 'text', v: ' ' },
      { t: 'em', c: [{ t: 'text', v: 'd' }] },
      { t: 'text', v: ' ' },
      { t: 'strong', c: [{ t: 'text', v: 'e' }] },
    ]);
    const blocks = parseBlocks('## Head\n- a\n- b\n> quote\n```js\nx < y\n```\n---\ntext');
    expect(blocks.map((b) => b.t)).toEqual(['h', 'ul', 'quote', 'code', 'hr', 'p']);
    expect(html('```\n<b>\n```')).toContain('&lt;b&gt;');
  });

  it('keeps snake_case words intact', () => {
    expect(parseInline('use snake_case_name here')).toEqual([{ t: 'text', v: 'use snake_case_name here' }]);
  });

  it('renders an unterminated fence while streaming', () => {
    expect(parseBlocks('```\ncode so far')).toEqual([{ t: 'code', lang: '', v: 'code so far' }]);
  });
});

describe('closeDangling', () => {
  it('closes an unfinished bold or code span on the last line only', async () => {
    const { closeDangling } = await import('../../src/app/components/Markdown.js');
    expect(closeDangling('1. **Sourdo')).toBe('1. **Sourdo**');
    expect(closeDangling('1. **A**\n2. `co')).toBe('1. **A**\n2. `co`');
    expect(closeDangling('1. **A**\n2. B')).toBe('1. **A**\n2. B');
    expect(closeDangling('```\n**x')).toBe('```\n**x');
  });
});

describe('title lists with notes', () => {
  it('keeps an indented line as the note of its item, not part of the title', () => {
    const src = '1. **Sourdough Baking: A Practical Guide**\n   Puts the core topic first.\n2. **Why It Matters**\n   A curiosity hook.\n';
    const blocks = parseBlocks(src);
    expect(blocks).toHaveLength(1);
    const ol = blocks[0]!;
    if (ol.t !== 'ol') throw new Error('not a list');
    expect(ol.items.map(titleOf)).toEqual(['Sourdough Baking: A Practical Guide', 'Why It Matters']);
    const out = html(src);
    expect(out).toContain('<span class="title-note">Puts the core topic first.</span>');
  });
});
