import { describe, expect, it } from 'vitest';
import { SseParser, type SseMessage } from '../../src/sdk/sse-parser.js';

function parse(pieces: string[]): { events: SseMessage[]; retries: number[]; comments: string[]; parser: SseParser } {
  const events: SseMessage[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const parser = new SseParser({ onEvent: (e) => events.push(e), onRetry: (r) => retries.push(r), onComment: (c) => comments.push(c) });
  for (const p of pieces) parser.feed(p);
  return { events, retries, comments, parser };
}

describe('SseParser', () => {
  it('parses streamgate events with id, event and data', () => {
    const { events, parser } = parse(['id: 1\nevent: stream_start\ndata: {"type":"stream_start","seq":1}\n\n', ': ping\n\n', 'id: 2\nevent: stream_chunk\ndata: {"a":1}\n\n']);
    expect(events).toEqual([
      { event: 'stream_start', data: '{"type":"stream_start","seq":1}', lastEventId: '1' },
      { event: 'stream_chunk', data: '{"a":1}', lastEventId: '2' },
    ]);
    expect(parser.lastEventId).toBe('2');
  });

  it('joins several data lines with LF and defaults the type to "message"', () => {
    const { events } = parse(['data: a\ndata:b\ndata:  c\n\n']);
    expect(events).toEqual([{ event: 'message', data: 'a\nb\n c', lastEventId: '' }]);
  });

  it('accepts CRLF, CR and LF line ends, also split across pieces', () => {
    const { events } = parse(['data: one\r', '\n\r', '\ndata: two\r\rdata: three\n', '\n']);
    expect(events.map((e) => e.data)).toEqual(['one', 'two', 'three']);
  });

  it('handles any split point of a stream identically', () => {
    const text = 'id: 7\r\nevent: x\r\ndata: héllo\r\n\r\n: c\rdata: y\r\r';
    const whole = parse([text]).events;
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j += 3) {
        expect(parse([text.slice(0, i), text.slice(i, j), text.slice(j)]).events).toEqual(whole);
      }
    }
    expect(whole).toHaveLength(2);
  });

  it('strips a leading BOM once', () => {
    const { events } = parse(['\uFEFFdata: x\n\n', '\uFEFFdata: y\n\n']);
    expect(events[0]!.data).toBe('x');
    // a BOM later in the stream is part of a field name, so that line is ignored
    expect(events).toHaveLength(1);
  });

  it('ignores comments and unknown fields, and reports comments', () => {
    const { events, comments } = parse([': ping\nfoo: bar\ndata: z\n\n']);
    expect(comments).toEqual([' ping']);
    expect(events).toEqual([{ event: 'message', data: 'z', lastEventId: '' }]);
  });

  it('treats a line with no colon as a field with an empty value', () => {
    const { events } = parse(['data\n\ndata\ndata\n\n']);
    expect(events.map((e) => e.data)).toEqual(['', '\n']);
  });

  it('does not dispatch an event with no data, but keeps its id', () => {
    const { events, parser } = parse(['id: 5\nevent: foo\n\n', 'data: x\n\n']);
    expect(parser.lastEventId).toBe('5');
    expect(events).toEqual([{ event: 'message', data: 'x', lastEventId: '5' }]);
  });

  it('ignores an id containing NUL, and an empty id resets it', () => {
    const { events } = parse(['id: 3\ndata: a\n\n', 'id: 4\u00005\ndata: b\n\n', 'id\ndata: c\n\n']);
    expect(events.map((e) => e.lastEventId)).toEqual(['3', '3', '']);
  });

  it('reports only all-digit retry values', () => {
    const { retries } = parse(['retry: 1500\n', 'retry: 15x\n', 'retry: -1\n', 'retry:200\n\n']);
    expect(retries).toEqual([1500, 200]);
  });

  it('only removes one space after the colon', () => {
    const { events } = parse(['data:   two spaces\n\n']);
    expect(events[0]!.data).toBe('  two spaces');
  });

  it('discards an unterminated event at the end of the stream', () => {
    const { events, parser } = parse(['data: complete\n\ndata: partial\n']);
    parser.end();
    expect(events.map((e) => e.data)).toEqual(['complete']);
  });

  it('keeps event type scoped to one event', () => {
    const { events } = parse(['event: a\ndata: 1\n\ndata: 2\n\n']);
    expect(events.map((e) => e.event)).toEqual(['a', 'message']);
  });
});
