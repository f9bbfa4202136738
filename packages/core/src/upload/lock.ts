/**
 * One writer per upload. Requests for an upload take turns; a newer request interrupts the one
 * holding the upload (the draft's recommended take-over), which then makes its bytes durable and
 * lets go, so the newer one is checked against a settled offset. Never two writers, never a 5xx.
 *
 * The engine reads locks through {@link UploadLocker}; {@link UploadLocks} is the in-process one. A
 * locker shared by several processes (Redis) gives leases that can be lost while held: a store checks
 * {@link UploadLease.held} as part of every commit, so a writer that lost its lease never records an
 * offset (fencing).
 */

/** A turn on one upload, held until {@link UploadLease.release}. */
export interface UploadLease {
  /** Registers what to do when a newer request wants the upload (only writers register). */
  onInterrupt(interrupt: () => void): void;
  /** Gives the upload to the next request in line. */
  release(): void;
  /**
   * Whether the lease is still this request's. In one process a lease is held until released; a
   * shared locker answers false once the lease expired or another process took it, and a store then
   * refuses the commit (see `LeaseLostError`).
   */
  held(): boolean | Promise<boolean>;
}

/** Hands out leases on uploads, one holder at a time. */
export interface UploadLocker {
  /** Waits for the turn on upload `id`, interrupting its current holder first (take-over). */
  acquire(id: string): Promise<UploadLease>;
  /** The turn on `id` only when no request holds or waits for it (the sweep), else undefined. */
  tryAcquire(id: string): Promise<UploadLease | undefined>;
}

/** Raised by a commit whose lease is no longer held: nothing was recorded. */
export class LeaseLostError extends Error {
  constructor(id: string) {
    super(`the lease on upload ${id} was lost before its commit`);
    this.name = 'LeaseLostError';
  }
}

interface Entry {
  tail: Promise<void>;
  waiters: number;
  interrupt: (() => void) | undefined;
  holders: number;
}

/** The per-upload lock table of one process. */
export class UploadLocks implements UploadLocker {
  readonly #entries = new Map<string, Entry>();

  async acquire(id: string): Promise<UploadLease> {
    let entry = this.#entries.get(id);
    if (entry === undefined) {
      entry = { tail: Promise.resolve(), waiters: 0, interrupt: undefined, holders: 0 };
      this.#entries.set(id, entry);
    }
    const previous = entry.tail;
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    entry.tail = previous.then(() => mine);
    entry.holders += 1;
    entry.waiters += 1;
    const interrupt = entry.interrupt;
    entry.interrupt = undefined;
    interrupt?.();
    await previous;
    entry.waiters -= 1;
    const current = entry;
    let released = false;
    return {
      onInterrupt: (fn) => {
        if (released) return;
        // A request queued behind this one already asked for the upload: give way at once.
        if (current.waiters > 0) queueMicrotask(fn);
        else current.interrupt = fn;
      },
      release: () => {
        if (released) return;
        released = true;
        current.interrupt = undefined;
        current.holders -= 1;
        if (current.holders === 0 && this.#entries.get(id) === current) this.#entries.delete(id);
        release();
      },
      held: () => !released,
    };
  }

  tryAcquire(id: string): Promise<UploadLease | undefined> {
    return this.busy(id) ? Promise.resolve(undefined) : this.acquire(id);
  }

  /** True while some request holds or waits for upload `id`. */
  busy(id: string): boolean {
    return this.#entries.has(id);
  }
}
