// A sans-I/O parser for text/event-stream, following the WHATWG HTML "event stream
// interpretation" rules: fed decoded text in arbitrary pieces, it emits dispatched events.

export interface SseMessage {
  /** The event type; "message" when the stream gave none. */
  event: string;
  data: string;
  /** The last event ID in force when this event was dispatched ("" if none yet). */
  lastEventId: string;
}

export interface SseParserCallbacks {
  onEvent: (msg: SseMessage) => void;
  /** A valid `retry:` field (milliseconds). */
  onRetry?: (ms: number) => void;
  /** A comment line (without the leading colon), e.g. " ping". */
  onComment?: (text: string) => void;
}

export class SseParser {
  private buf = '';
  private sawCR = false; // the previous piece ended in CR: a leading LF of the next piece belongs to it
  private first = true; // strip one leading U+FEFF BOM from the stream
  private data = '';
  private hasData = false;
  private eventType = '';
  private lastId = '';

  constructor(private readonly cb: SseParserCallbacks) {}

  /** The last event ID buffer (survives across events, as the spec requires). */
  get lastEventId(): string {
    return this.lastId;
  }

  feed(text: string): void {
    if (text.length === 0) return;
    if (this.first) {
      this.first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let start = 0;
    if (this.sawCR) {
      this.sawCR = false;
      if (text.charCodeAt(0) === 0x0a) start = 1;
    }
    let lineStart = start;
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x0a || c === 0x0d) {
        this.buf += text.slice(lineStart, i);
        this.line(this.buf);
        this.buf = '';
        if (c === 0x0d) {
          if (i + 1 < text.length) {
            if (text.charCodeAt(i + 1) === 0x0a) i++;
          } else {
            this.sawCR = true;
          }
        }
        lineStart = i + 1;
      }
    }
    this.buf += text.slice(lineStart);
  }

  /**
   * End of stream. Per the spec an incomplete event (no blank line yet) is discarded,
   * and so is a trailing partial line.
   */
  end(): void {
    this.buf = '';
    this.data = '';
    this.hasData = false;
    this.eventType = '';
    this.sawCR = false;
  }

  private line(line: string): void {
    if (line.length === 0) {
      this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 0x3a /* : */) {
      this.cb.onComment?.(line.slice(1));
      return;
    }
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    } else {
      field = line;
      value = '';
    }
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data += value + '\n';
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\u0000')) this.lastId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.cb.onRetry?.(parseInt(value, 10));
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(): void {
    // The last event ID is set even when nothing is dispatched (spec step 1).
    if (!this.hasData) {
      this.eventType = '';
      return;
    }
    let data = this.data;
    if (data.endsWith('\n')) data = data.slice(0, -1);
    const msg: SseMessage = {
      event: this.eventType === '' ? 'message' : this.eventType,
      data,
      lastEventId: this.lastId,
    };
    this.data = '';
    this.hasData = false;
    this.eventType = '';
    this.cb.onEvent(msg);
  }
}
