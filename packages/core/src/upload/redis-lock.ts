/**
 * One writer per upload across replicas: a lease in Redis (`SET NX PX`, the pattern Redis documents
 * for a single-instance lock), renewed while held, expiring when its holder dies. Requests inside one
 * process first queue on the in-process lock (its order and its take-over), then take the lease.
 *
 * Take-over across replicas: a request that finds the lease held publishes the upload's id; the
 * replica holding it interrupts its request, which makes its bytes durable, commits and lets go
 * (publishing the release). The waiter waits at most the lease time plus a margin, since a dead
 * holder's lease expires by itself; then it gets 503.
 *
 * What it does not do: fence the file system. A holder paused past its lease still runs on once
 * resumed; the store's commit checks the token in the same atomic step (see `COMMIT_UPLOAD`), and the
 * holder only ever writes its own segment file, so it can neither acknowledge nor overwrite.
 */
import { UploadLocks, type UploadLease, type UploadLocker } from './lock.js';
import {
  RELEASE_LEASE,
  RENEW_LEASE,
  type RedisLink,
  TAKE_LEASE,
  UploadUnavailableError,
  randomToken,
} from './redis.js';

/** A lease in Redis: its token, checked by the store's commit. */
export interface RedisLease extends UploadLease {
  /** The random token the lock key holds while this lease does. */
  readonly token: string;
}

/** True when `lease` is a {@link RedisLease}. */
export function isRedisLease(lease: UploadLease | undefined): lease is RedisLease {
  return lease !== undefined && typeof (lease as Partial<RedisLease>).token === 'string';
}

/** How often a waiter asks the holder again and tries the lease, in ms. */
const RETRY = 50;

interface Holding {
  readonly token: string;
  interrupted: boolean;
  interrupt: (() => void) | undefined;
}

/** Leases on uploads shared by every replica on one Redis. */
export class RedisLocker implements UploadLocker {
  readonly #local = new UploadLocks();
  /** Uploads this process holds a lease on: id -> the holding (for interrupts from other replicas). */
  readonly #holding = new Map<string, Holding>();
  /** Waiters for a release: id -> wake-up callbacks. */
  readonly #waiting = new Map<string, Set<() => void>>();
  readonly #subscribed: Promise<void>;

  constructor(
    private readonly link: RedisLink,
    /** Lease time in ms: how long a dead holder keeps an upload. */
    readonly leaseTime: number,
  ) {
    this.#subscribed = Promise.resolve();
  }

  /** Subscribes to the interrupt and release channels (once the key prefix is known). */
  listen(): Promise<void> {
    return this.link
      .subscribe([this.#channel('interrupt'), this.#channel('released')], (channel, id) => {
        if (channel === this.#channel('interrupt')) {
          const holding = this.#holding.get(id);
          if (holding === undefined) return;
          holding.interrupted = true;
          holding.interrupt?.();
        } else {
          for (const wake of this.#waiting.get(id) ?? []) wake();
        }
      })
      .catch(() => {});
  }

  #channel(name: string): string {
    return `${this.link.prefix}${name}`;
  }

  #lockKey(id: string): string {
    return `${this.link.prefix}lock:${id}`;
  }

  async acquire(id: string): Promise<UploadLease> {
    await this.#subscribed;
    const local = await this.#local.acquire(id);
    try {
      const token = await this.#take(id, true);
      if (token === undefined) throw new UploadUnavailableError(`upload ${id} stays held by another replica`);
      return this.#lease(id, token, local);
    } catch (err) {
      local.release();
      throw err;
    }
  }

  async tryAcquire(id: string): Promise<UploadLease | undefined> {
    const local = await this.#local.tryAcquire(id);
    if (local === undefined) return undefined;
    try {
      const token = await this.#take(id, false);
      if (token === undefined) {
        local.release();
        return undefined;
      }
      return this.#lease(id, token, local);
    } catch (err) {
      local.release();
      throw err;
    }
  }

  /**
   * Takes the lease on `id`: at once when free; else (with `wait`) asks the holder to let go and
   * tries again on its release or every {@link RETRY} ms, up to the lease time and a second.
   */
  async #take(id: string, wait: boolean): Promise<string | undefined> {
    const token = randomToken();
    const key = this.#lockKey(id);
    const deadline = Date.now() + this.leaseTime + 1000;
    for (;;) {
      const taken = await this.link.run((r) => r.eval(TAKE_LEASE, 1, key, token, this.leaseTime));
      if (taken === 1) return token;
      if (!wait || Date.now() > deadline) return undefined;
      // The holder may not have registered its interrupt yet: ask again each round.
      await this.link.run((r) => r.publish(this.#channel('interrupt'), id));
      await new Promise<void>((resolve) => {
        let wakers = this.#waiting.get(id);
        if (wakers === undefined) {
          wakers = new Set();
          this.#waiting.set(id, wakers);
        }
        const set = wakers;
        const done = (): void => {
          clearTimeout(timer);
          set.delete(done);
          if (set.size === 0 && this.#waiting.get(id) === set) this.#waiting.delete(id);
          resolve();
        };
        const timer = setTimeout(done, RETRY);
        set.add(done);
      });
    }
  }

  #lease(id: string, token: string, local: UploadLease): RedisLease {
    const holding: Holding = { token, interrupted: false, interrupt: undefined };
    this.#holding.set(id, holding);
    const key = this.#lockKey(id);
    let released = false;
    let lost = false;
    let renewedAt = Date.now();
    const loseIt = (): void => {
      if (lost) return;
      lost = true;
      holding.interrupt?.();
    };
    // Renewed three times a lease; a holder that cannot renew in time stops writing (its commit would fail).
    const timer = setInterval(
      () => {
        this.link
          .run((r) => r.eval(RENEW_LEASE, 1, key, token, this.leaseTime))
          .then((renewed) => {
            if (renewed === 1) renewedAt = Date.now();
            else loseIt();
          })
          .catch(() => {
            if (Date.now() - renewedAt >= this.leaseTime) loseIt();
          });
      },
      Math.max(50, Math.floor(this.leaseTime / 3)),
    );
    timer.unref?.();
    return {
      token,
      onInterrupt: (fn) => {
        if (released) return;
        holding.interrupt = fn;
        local.onInterrupt(fn);
        if (holding.interrupted || lost) queueMicrotask(fn);
      },
      release: () => {
        if (released) return;
        released = true;
        clearInterval(timer);
        if (this.#holding.get(id) === holding) this.#holding.delete(id);
        // Sent before any later command of this process on the connection, so a local waiter's take follows it.
        this.link.run((r) => r.eval(RELEASE_LEASE, 1, key, token, this.#channel('released'), id)).catch(() => {}); // the lease then expires by itself
        local.release();
      },
      held: async () => {
        if (released || lost) return false;
        const holder = await this.link.run((r) => r.get(key));
        return holder === token;
      },
    };
  }
}
