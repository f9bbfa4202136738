/**
 * The shared store: uploads' state in Redis, their bytes on a volume every replica mounts. Redis is
 * the truth for offset, length, metadata, expiry and completion, read on every request (no cache
 * another replica could have made stale).
 *
 * An upload's bytes are the ordered list of committed (segment file, length) pairs kept beside its
 * state. Each writer (each lease) writes only its own segment file `<id>.<lease token>.<n>`, created
 * with `O_EXCL`, and a commit extends the list and the offset in one Lua step that first checks the
 * lease token (`COMMIT_UPLOAD`). Failures each step survives:
 * - a writer paused past its lease (SIGSTOP, GC, partition) that resumes: its late writes land in its
 *   own segment, past what any list names; its commit finds another token and records nothing;
 * - a replica killed mid-body: the lease expires, the next writer starts a new segment at the
 *   committed offset; the dead writer's uncommitted tail is never read (the list says the length);
 * - a crash between a segment's bytes and the commit: the offset stays; the bytes are ignored and the
 *   file removed by the sweep once no lease names it;
 * - Redis unreachable: every call fails with `UploadUnavailableError` (503); nothing is acknowledged.
 * Not survived: losing Redis' data (an acknowledged offset lives there; see docs/deploying.md for the
 * persistence settings), or a volume that loses fsynced data.
 */
import fs from 'node:fs';
import { link, mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Representation } from '../representation.js';
import { isState } from './file-store.js';
import { LeaseLostError, type UploadLease } from './lock.js';
import { assertNoLiveOwner } from './owner.js';
import { openParts, sha256OfFiles } from './parts.js';
import type { UploadState } from './protocol.js';
import { COMMIT_UPLOAD, CREATE_UPLOAD, type RedisLink, TAKE_LEASE, randomToken } from './redis.js';
import { isRedisLease, type RedisLocker } from './redis-lock.js';
import {
  type Appender,
  type DownloadMetadata,
  type Reconciliation,
  type StoreCapabilities,
  type StoredUpload,
  UPLOAD_ID,
  type UploadFile,
  type UploadStore,
} from './store.js';

/** A segment file: `<upload id>.<lease token>.<n>`; nothing read from Redis is used as a path unless it matches. */
const SEGMENT = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})\.(\d{1,6})$/;
/** The file naming the Redis namespace of the directory's uploads, shared by every replica. */
const NAMESPACE_FILE = '.range-serve-redis';
const NAMESPACE = /^[A-Za-z0-9_-]{22}$/;

const NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
const CREATE_EXCLUSIVE = fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY | NOFOLLOW;
/** How long a lost upload answers 410 before it is forgotten (404). */
const LOST_SECONDS = 7 * 24 * 3600;

type Segment = readonly [name: string, length: number];

function isSegmentList(id: string, value: unknown): value is Segment[] {
  return (
    Array.isArray(value) &&
    value.every(
      (s) =>
        Array.isArray(s) &&
        s.length === 2 &&
        typeof s[0] === 'string' &&
        SEGMENT.exec(s[0])?.[1] === id &&
        Number.isSafeInteger(s[1]) &&
        (s[1] as number) > 0,
    )
  );
}

/** The segment a lease writes, with the committed list before it. */
interface OpenSegment {
  readonly name: string;
  readonly base: number;
}

/** Uploads shared by replicas: state in Redis, bytes in segment files on a shared volume. */
export class RedisUploadStore implements UploadStore {
  readonly directory: string;
  readonly capabilities: StoreCapabilities = { concatenation: true };
  /** The segment each lease writes (a lease writes at most one at a time). */
  readonly #segments = new WeakMap<UploadLease, OpenSegment>();
  /** Segments opened per lease token, for the next one's number. */
  readonly #opened = new WeakMap<UploadLease, number>();

  constructor(
    directory: string,
    private readonly link: RedisLink,
    private readonly locker: RedisLocker,
    private readonly sweepInterval: number,
  ) {
    this.directory = path.resolve(directory);
  }

  #key(kind: string, id?: string): string {
    return `${this.link.prefix}${kind}${id === undefined ? '' : `:${id}`}`;
  }

  #segmentPath(id: string, name: string): string {
    const match = SEGMENT.exec(name);
    if (match === null || match[1] !== id || !UPLOAD_ID.test(id)) throw new TypeError('invalid segment name');
    return path.join(this.directory, name);
  }

  /**
   * Prepares the directory and learns the Redis namespace of its uploads (made once by the first
   * replica, with O_EXCL). Touches no upload: other replicas may be writing them.
   */
  async open(_reconciliation: Reconciliation): Promise<void> {
    await mkdir(this.directory, { recursive: true });
    await assertNoLiveOwner(this.directory);
    this.link.setNamespace(await this.#namespace());
    await this.locker.listen();
  }

  async #namespace(): Promise<string> {
    const file = path.join(this.directory, NAMESPACE_FILE);
    try {
      const handle = await open(file, CREATE_EXCLUSIVE, 0o600);
      try {
        await handle.writeFile(`${randomToken()}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    // A replica that lost the race to create it may read it before it is written: try again briefly.
    for (let attempt = 0; ; attempt += 1) {
      const namespace = (await readFile(file, 'utf8')).trim();
      if (NAMESPACE.test(namespace)) return namespace;
      if (attempt >= 20) throw new Error(`${file} does not hold a namespace; remove it only if no replica runs`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Scores of the expiry indexes: unfinished uploads, and complete partial ones (which still expire). */
  #scores(state: UploadState): [string, string] {
    return [
      state.complete ? '' : String(state.updatedAt),
      state.complete && state.concat?.kind === 'partial' ? String(state.updatedAt) : '',
    ];
  }

  async create(state: UploadState, segments: readonly Segment[] = []): Promise<void> {
    const created = await this.link.run((r) =>
      r.eval(
        CREATE_UPLOAD,
        3,
        this.#key('u', state.id),
        this.#key('unfinished'),
        this.#key('partials'),
        JSON.stringify(state),
        segments.length === 0 ? '[]' : JSON.stringify(segments),
        state.id,
        ...this.#scores(state),
      ),
    );
    if (created !== 1) throw new Error(`upload ${state.id} exists already`);
  }

  /** The state and committed segments of `id` as Redis holds them, each checked against its pattern. */
  async #read(id: string): Promise<{ state: UploadState; segments: Segment[] } | 'lost' | undefined> {
    if (!UPLOAD_ID.test(id)) return undefined;
    const [raw, lost] = await this.link.run((r) =>
      Promise.all([r.hmget(this.#key('u', id), 'state', 'segments'), r.exists(this.#key('lost', id))]),
    );
    const [stateJson, segmentsJson] = raw;
    if (stateJson === null || stateJson === undefined) return lost === 1 ? 'lost' : undefined;
    let state: unknown;
    let segments: unknown;
    try {
      state = JSON.parse(stateJson);
      segments = JSON.parse(segmentsJson ?? '');
    } catch {
      return 'lost';
    }
    if (!isState(state) || state.id !== id || !isSegmentList(id, segments)) return 'lost';
    const total = segments.reduce((sum, s) => sum + s[1], 0);
    if (total !== state.offset) return 'lost';
    return { state, segments };
  }

  async load(id: string): Promise<StoredUpload> {
    const found = await this.#read(id);
    if (found === undefined) return undefined;
    if (found === 'lost') return { kind: 'lost' };
    return { kind: 'present', state: found.state };
  }

  /**
   * A new segment file of this lease's own (`O_EXCL`), written from `state.offset` on. Positions the
   * engine gives are the upload's; the segment holds them from its base.
   */
  async openAppender(state: UploadState, lease?: UploadLease): Promise<Appender | undefined> {
    if (!isRedisLease(lease)) throw new TypeError('the shared store writes only under a Redis lease');
    const n = this.#opened.get(lease) ?? 0;
    this.#opened.set(lease, n + 1);
    const name = `${state.id}.${lease.token}.${n}`;
    const file = await open(this.#segmentPath(state.id, name), CREATE_EXCLUSIVE, 0o600);
    const base = state.offset;
    this.#segments.set(lease, { name, base });
    let named = false;
    return {
      write: async (chunks, position) => {
        if (position < base) throw new RangeError('a write before the segment');
        return (await file.writev(chunks as Uint8Array[], position - base)).bytesWritten;
      },
      sync: async () => {
        await file.datasync();
        // The segment's name must be durable before a commit names it.
        if (!named) {
          await this.#syncDirectory();
          named = true;
        }
      },
      truncate: async (length) => {
        await file.truncate(Math.max(0, length - base));
        await file.datasync();
      },
      size: async () => base + (await file.stat()).size,
      close: () => file.close(),
    };
  }

  /**
   * Records `state`: with a lease, only while Redis still holds its token, and the segment list then
   * covers exactly the new offset, in the same atomic step (see `COMMIT_UPLOAD`).
   */
  async commit(state: UploadState, lease?: UploadLease): Promise<void> {
    const token = isRedisLease(lease) ? lease.token : '';
    if (lease !== undefined && token === '') throw new TypeError('the shared store commits only under a Redis lease');
    const segment = lease === undefined ? undefined : this.#segments.get(lease);
    const result = await this.link.run((r) =>
      r.eval(
        COMMIT_UPLOAD,
        4,
        this.#key('u', state.id),
        this.#key('lock', state.id),
        this.#key('unfinished'),
        this.#key('partials'),
        token,
        JSON.stringify(state),
        segment?.name ?? '',
        String(segment?.base ?? 0),
        String(state.offset),
        state.id,
        ...this.#scores(state),
      ),
    );
    if (result === 0) throw new LeaseLostError(state.id);
    if (result !== 1) throw new Error(`upload ${state.id}: its commit was refused (${String(result)})`);
  }

  /** Nothing to cut: bytes past the committed lengths are never read. The state is read again. */
  settle(id: string): Promise<StoredUpload> {
    return this.load(id);
  }

  async remove(id: string): Promise<void> {
    const found = await this.#read(id);
    await this.link.run((r) =>
      r.multi().del(this.#key('u', id)).zrem(this.#key('unfinished'), id).zrem(this.#key('partials'), id).exec(),
    );
    if (typeof found === 'object') {
      for (const [name] of found.segments) await rm(this.#segmentPath(id, name), { force: true });
    }
  }

  async deactivate(id: string): Promise<void> {
    await this.link.run((r) => r.set(this.#key('lost', id), '1', 'EX', LOST_SECONDS));
    await this.remove(id);
  }

  /**
   * The uploads that may expire, for the sweep of one replica at a time: only the replica that takes
   * the sweep turn (a key living one sweep interval) gets them, and it also removes segment files no
   * upload names and no lease writes any more. Others get none.
   */
  async expiring(): Promise<Iterable<readonly [string, number]>> {
    const turn = await this.link.run((r) =>
      r.eval(TAKE_LEASE, 1, this.#key('sweep'), randomToken(), Math.max(1000, Math.floor(this.sweepInterval * 0.9))),
    );
    if (turn !== 1) return [];
    await this.#removeStraySegments();
    const entries: [string, number][] = [];
    for (const index of ['unfinished', 'partials']) {
      const flat = await this.link.run((r) => r.zrange(this.#key(index), 0, -1, 'WITHSCORES'));
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const id = flat[i] as string;
        if (UPLOAD_ID.test(id)) entries.push([id, Number(flat[i + 1])]);
      }
    }
    return entries;
  }

  /**
   * Removes segment files that no committed list names and whose lease is over (its token no longer
   * holds the lock, so it can never be committed): the tails of killed or paused writers, segments of
   * removed uploads. Files changed in the last minute are left (a concatenation links before it commits).
   */
  async #removeStraySegments(): Promise<void> {
    const byId = new Map<string, string[]>();
    for (const name of await readdir(this.directory)) {
      const match = SEGMENT.exec(name);
      if (match === null) continue;
      const id = match[1] as string;
      byId.set(id, [...(byId.get(id) ?? []), name]);
    }
    const settled = Date.now() - Math.max(60_000, 2 * this.locker.leaseTime);
    for (const [id, names] of byId) {
      const holder = await this.link.run((r) => r.get(this.#key('lock', id)));
      const found = await this.#read(id);
      const named = new Set(typeof found === 'object' ? found.segments.map(([name]) => name) : []);
      for (const name of names) {
        if (named.has(name) || SEGMENT.exec(name)?.[2] === holder) continue;
        const file = path.join(this.directory, name);
        const stat = await fs.promises.lstat(file).catch(() => undefined);
        if (stat !== undefined && stat.ctimeMs < settled) await rm(file, { force: true });
      }
    }
  }

  countUnfinished(): Promise<number> {
    return this.link.run((r) => r.zcard(this.#key('unfinished')));
  }

  /** The committed segments of `state`, up to its offset. */
  async files(state: UploadState): Promise<readonly UploadFile[]> {
    const found = await this.#read(state.id);
    if (typeof found !== 'object') throw new Error(`upload ${state.id} is gone`);
    const files: UploadFile[] = [];
    let left = state.offset;
    for (const [name, length] of found.segments) {
      if (left <= 0) break;
      files.push({ path: this.#segmentPath(state.id, name), length: Math.min(length, left) });
      left -= length;
    }
    return files;
  }

  /** The finished upload read across its segments; a segment may be longer (a stale writer's tail), never shorter. */
  async describe(state: UploadState, metadata: DownloadMetadata): Promise<Representation> {
    return openParts(state, await this.files(state), metadata, { tails: true });
  }

  async sha256(state: UploadState, length: number): Promise<string> {
    return sha256OfFiles(await this.files(state), length);
  }

  /**
   * Makes `final` of complete partial uploads written on any replica: each of their committed segments
   * gets a hard link named for the final, the links are made durable, and only then does the final
   * exist in Redis (one atomic step). A crash before leaves links no upload names, removed by the sweep.
   */
  async concatenate(final: UploadState, parts: readonly UploadState[]): Promise<void> {
    const token = randomToken();
    const segments: Segment[] = [];
    try {
      for (const part of parts) {
        for (const file of await this.files(part)) {
          const name = `${final.id}.${token}.${segments.length}`;
          await link(file.path, this.#segmentPath(final.id, name));
          segments.push([name, file.length]);
        }
      }
      await this.#syncDirectory();
      await this.create(final, segments);
    } catch (err) {
      for (const [name] of segments) await rm(this.#segmentPath(final.id, name), { force: true }).catch(() => {});
      throw err;
    }
  }

  /** Closes the Redis connections this store opened. */
  close(): void {
    this.link.close();
  }

  async #syncDirectory(): Promise<void> {
    const handle = await open(this.directory, fs.constants.O_RDONLY);
    try {
      await handle.sync();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    } finally {
      await handle.close();
    }
  }
}
