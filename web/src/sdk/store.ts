// A minimal observable value with subscribe/getSnapshot, the shape useSyncExternalStore wants.

export type Listener = () => void;

export class Store<T> {
  private value: T;
  private readonly listeners = new Set<Listener>();

  constructor(initial: T) {
    this.value = initial;
  }

  /** The current immutable snapshot; the same object until the next `set`. */
  readonly getSnapshot = (): T => this.value;

  readonly subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  /** How many listeners are subscribed. */
  get listenerCount(): number {
    return this.listeners.size;
  }

  set(next: T): void {
    if (Object.is(next, this.value)) return;
    this.value = next;
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch (err) {
        // A throwing listener must not starve the others.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  update(fn: (prev: T) => T): void {
    this.set(fn(this.value));
  }
}
