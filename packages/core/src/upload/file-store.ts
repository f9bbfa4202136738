/**
 * The durable file store: per upload a data file `<id>` and a metadata file `<id>.json` inside one
 * directory; a final upload (tus concatenation) owns one hard link `<id>.<n>` per part instead of a
 * data file. Metadata is replaced by atomic rename after an fsync, and the data is fsynced before any
 * offset that covers it is written, so an acknowledged offset survives a crash or a kill.
 *
 * The metadata file is the truth; memory holds an index of the uploads that may expire (for the count
 * and the sweep) and a bounded cache of states, so what a client can make the process hold is bounded
 * whatever the number of uploads on disk. Failures each step survives:
 * - a crash before a metadata rename: the old offset stands; bytes past it are cut at start-up;
 * - a failed write, sync or commit: the upload is settled from its metadata file (data cut back to the
 *   recorded offset, the metadata rewritten and made durable) before anything else touches it;
 * - a directory fsync error other than "not supported here": the request fails (nothing acknowledged);
 * - a crash while a final upload is made: its links are durable before its metadata is renamed into
 *   place, so there is no final (the links are removed at start-up) or a whole one.
 * Not survived: a disk that loses fsynced data (the upload is then deactivated when found short).
 */
import fs from 'node:fs';
import { copyFile, link, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { closeRepresentation, openFile, type Representation } from '../representation.js';
import { LeaseLostError, type UploadLease } from './lock.js';
import { claimDirectory, type OwnerClaim } from './owner.js';
import { openParts, sha256OfFiles } from './parts.js';
import type { UploadState } from './protocol.js';
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

const NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
const CREATE_EXCLUSIVE = fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY | NOFOLLOW;
const WRITE = fs.constants.O_WRONLY | NOFOLLOW;
const READ = fs.constants.O_RDONLY | NOFOLLOW;
const REPLACE = fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_WRONLY | NOFOLLOW;

/** A final upload's part link: `<id>.<index>`. */
const PART_FILE = /^([A-Za-z0-9_-]{22})\.(\d{1,4})$/;

/** States kept in memory at most; the others are read from their metadata file when asked for. */
const CACHED_STATES = 1024;
/** Ids of lost or deactivated uploads remembered (410); older ones are forgotten (404). */
const LOST_IDS = 10_000;

/** Reads a metadata file, refusing a symbolic link (ELOOP). */
async function readNoFollow(file: string): Promise<string> {
  const handle = await open(file, READ);
  try {
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

function isConcat(value: unknown): boolean {
  if (value === undefined) return true;
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  if (v.kind === 'partial') return true;
  return (
    v.kind === 'final' &&
    typeof v.value === 'string' &&
    Array.isArray(v.parts) &&
    v.parts.length > 0 &&
    (v.parts as unknown[]).every((part) => {
      const p = part as Record<string, unknown> | null;
      return p !== null && typeof p === 'object' && typeof p.id === 'string' && Number.isSafeInteger(p.length);
    })
  );
}

/** A parsed metadata value that has the shape of an {@link UploadState}. */
export function isState(value: unknown): value is UploadState {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.id === 'string' &&
    (v.protocol === 'tus' || v.protocol === 'draft') &&
    (v.length === undefined || Number.isSafeInteger(v.length)) &&
    Number.isSafeInteger(v.offset) &&
    typeof v.complete === 'boolean' &&
    typeof v.metadata === 'object' &&
    v.metadata !== null &&
    typeof v.data === 'object' &&
    v.data !== null &&
    Number.isFinite(v.createdAt) &&
    Number.isFinite(v.updatedAt) &&
    isConcat(v.concat)
  );
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** A Map used as a least-recently-used cache of at most `max` entries. */
class Recent<K, V> {
  readonly #map = new Map<K, V>();
  constructor(readonly max: number) {}
  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }
  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.max) this.#map.delete(this.#map.keys().next().value as K);
  }
  delete(key: K): void {
    this.#map.delete(key);
  }
  has(key: K): boolean {
    return this.#map.has(key);
  }
}

/** Errors of `link(2)` that mean "no hard links here" (or not this many), where a copy in the kernel can stand in. */
const NO_LINK = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK', 'ENOSYS']);

/** The uploads of one directory, owned by one process. */
export class FileUploadStore implements UploadStore {
  readonly directory: string;
  readonly capabilities: StoreCapabilities = { concatenation: true };
  /** Unfinished uploads: id -> time of their last change (for the count and the expiry sweep). */
  readonly #unfinished = new Map<string, number>();
  /** Complete partial uploads (tus concatenation), which still expire: id -> time of their last change. */
  readonly #partials = new Map<string, number>();
  readonly #cache = new Recent<string, UploadState>(CACHED_STATES);
  readonly #lost = new Recent<string, true>(LOST_IDS);
  /** Uploads whose last failure left memory and disk possibly apart, until settled. */
  readonly #unsettled = new Set<string>();
  readonly #settling = new Map<string, Promise<StoredUpload>>();
  /** Bumped by every change of any upload, so a read that raced with a commit is not cached. */
  #changes = 0;

  #owner: OwnerClaim | undefined;

  constructor(directory: string) {
    this.directory = path.resolve(directory);
  }

  /** Gives up the directory (its owner file). */
  close(): void {
    this.#owner?.release();
  }

  /** Path of an upload's data file; `id` must match {@link UPLOAD_ID}. */
  dataPath(id: string): string {
    if (!UPLOAD_ID.test(id)) throw new TypeError('invalid upload id');
    return path.join(this.directory, id);
  }

  #partPath(id: string, index: number): string {
    return `${this.dataPath(id)}.${index}`;
  }

  #metadataPath(id: string): string {
    return `${this.dataPath(id)}.json`;
  }

  files(state: UploadState): readonly UploadFile[] {
    if (state.concat?.kind === 'final') {
      return state.concat.parts.map((part, i) => ({ path: this.#partPath(state.id, i), length: part.length }));
    }
    return [{ path: this.dataPath(state.id), length: state.offset }];
  }

  /**
   * Creates the directory and reconciles every upload in it: metadata against data size (bytes past
   * the durable offset are cut, data shorter than it marks the upload lost), leftovers of interrupted
   * writes removed, expired uploads removed. `finish` completes an upload found with every declared
   * byte durable but not marked complete (a crash between the two, from an older version).
   */
  async open({ isExpired, finish }: Reconciliation): Promise<void> {
    await fs.promises.mkdir(this.directory, { recursive: true });
    // Refuses to start while another live process owns the directory: its reconciliation would cut
    // what that process is writing.
    this.#owner = await claimDirectory(this.directory);
    const names = await readdir(this.directory);
    const present = new Set(names);
    const known = new Set<string>();
    for (const name of names) {
      if (name.endsWith('.json.tmp') && UPLOAD_ID.test(name.slice(0, -9))) {
        await rm(path.join(this.directory, name), { force: true });
        continue;
      }
      if (!name.endsWith('.json') || !UPLOAD_ID.test(name.slice(0, -5))) continue;
      const id = name.slice(0, -5);
      const state = await this.#readState(id);
      if (state === undefined) {
        this.#lost.set(id, true);
        await this.#removeFiles(id);
        continue;
      }
      if (isExpired(state)) {
        await this.#removeFiles(state);
        continue;
      }
      const reconciled = await this.#reconcile(state);
      if (reconciled === undefined) continue;
      for (const file of this.files(reconciled)) known.add(path.basename(file.path));
      const finished = reconciled.complete ? undefined : finish(reconciled);
      if (finished !== undefined) {
        await this.#writeMetadata({ ...finished, sha256: await this.sha256(finished, finished.offset) });
      }
      this.#remember(finished ?? reconciled);
    }
    // Data files and part links whose metadata never became durable belong to creations that were
    // never acknowledged (a final upload's links made before a crash among them).
    for (const name of present) {
      if ((UPLOAD_ID.test(name) || PART_FILE.test(name)) && !known.has(name)) {
        await rm(path.join(this.directory, name), { force: true });
      }
    }
    await this.#syncDirectory();
  }

  /** Reads and checks `<id>.json`: the state, or undefined when it is missing, a link or malformed. */
  async #readState(id: string): Promise<UploadState | undefined> {
    let state: unknown;
    try {
      state = JSON.parse(await readNoFollow(this.#metadataPath(id)));
    } catch (err) {
      if (err instanceof SyntaxError || errorCode(err) === 'ENOENT' || errorCode(err) === 'ELOOP') return undefined;
      throw err;
    }
    return isState(state) && state.id === id ? state : undefined;
  }

  /**
   * Brings the data to the recorded offset: bytes past it are cut (never acknowledged), data shorter
   * than it means acknowledged bytes are gone, and the upload is deactivated (the draft asks for it when
   * state is lost); a final upload whose part links are not all there whole is deactivated too.
   * Resolves undefined when deactivated.
   */
  async #reconcile(state: UploadState): Promise<UploadState | undefined> {
    if (state.moved) return state;
    if (state.concat?.kind === 'final') {
      for (const file of this.files(state)) {
        if ((await this.#fileSize(file.path)) !== file.length) {
          this.#lost.set(state.id, true);
          await this.#removeFiles(state);
          return undefined;
        }
      }
      return state;
    }
    const size = await this.#fileSize(this.dataPath(state.id));
    if (size === undefined || size < state.offset) {
      this.#lost.set(state.id, true);
      await this.#removeFiles(state);
      return undefined;
    }
    if (size > state.offset) await this.#truncate(state.id, state.offset);
    return state;
  }

  #remember(state: UploadState): void {
    this.#changes += 1;
    this.#cache.set(state.id, state);
    if (state.complete) this.#unfinished.delete(state.id);
    else this.#unfinished.set(state.id, state.updatedAt);
    if (state.complete && state.concat?.kind === 'partial') this.#partials.set(state.id, state.updatedAt);
    else this.#partials.delete(state.id);
  }

  #forget(id: string): void {
    this.#changes += 1;
    this.#cache.delete(id);
    this.#unfinished.delete(id);
    this.#partials.delete(id);
  }

  async #fileSize(file: string): Promise<number | undefined> {
    try {
      const s = await fs.promises.lstat(file);
      return s.isFile() ? s.size : undefined;
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  async #truncate(id: string, length: number): Promise<void> {
    const handle = await open(this.dataPath(id), WRITE);
    try {
      await handle.truncate(length);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /**
   * The state of upload `id`: `lost` when its data did not survive, undefined when unknown. Read from
   * memory, or from its metadata file; an upload left unsettled by a failure is settled first.
   */
  async load(id: string): Promise<StoredUpload> {
    if (this.#unsettled.has(id)) return this.settle(id);
    const cached = this.#cache.get(id);
    if (cached !== undefined) return { kind: 'present', state: cached };
    if (this.#lost.has(id)) return { kind: 'lost' };
    const changes = this.#changes;
    const state = await this.#readState(id);
    if (state === undefined) {
      // A metadata file that exists but is unreadable as a state: treat the upload as lost.
      return (await this.#fileSize(this.dataPath(id))) === undefined && !(await this.#exists(this.#metadataPath(id)))
        ? undefined
        : { kind: 'lost' };
    }
    // Cached only when no commit ran while it was read (it may have replaced what was read).
    if (this.#changes === changes) this.#cache.set(id, state);
    return { kind: 'present', state };
  }

  async #exists(file: string): Promise<boolean> {
    try {
      await fs.promises.lstat(file);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Makes memory and disk agree again after a failed write, sync or commit: the metadata file is read
   * (it holds whichever offset last reached it), the data file cut back to that offset, and the
   * metadata rewritten and made durable, so an offset is stated again only once it is on stable
   * storage. Until this succeeds every request for the upload fails.
   */
  settle(id: string): Promise<StoredUpload> {
    let settling = this.#settling.get(id);
    if (settling === undefined) {
      this.#unsettled.add(id);
      this.#forget(id);
      settling = this.#settleNow(id).finally(() => this.#settling.delete(id));
      this.#settling.set(id, settling);
    }
    return settling;
  }

  async #settleNow(id: string): Promise<StoredUpload> {
    const state = await this.#readState(id);
    if (state === undefined) {
      this.#unsettled.delete(id);
      if (!(await this.#exists(this.dataPath(id)))) return undefined;
      await this.deactivate(id);
      return { kind: 'lost' };
    }
    const reconciled = await this.#reconcile(state);
    if (reconciled === undefined) {
      this.#unsettled.delete(id);
      await this.#syncDirectory();
      return { kind: 'lost' };
    }
    await this.commit(reconciled);
    this.#unsettled.delete(id);
    return { kind: 'present', state: reconciled };
  }

  *expiring(): Iterable<readonly [string, number]> {
    yield* [...this.#unfinished, ...this.#partials];
  }

  countUnfinished(): number {
    return this.#unfinished.size;
  }

  /**
   * Creates the empty data file and the durable metadata of a new upload. The data file's fsync and the
   * metadata's run side by side; one directory fsync after both makes the two names durable. On failure
   * whatever was made is removed again.
   */
  async create(state: UploadState): Promise<void> {
    try {
      const handle = await open(this.dataPath(state.id), CREATE_EXCLUSIVE, 0o600);
      const dataDurable = handle.sync().finally(() => handle.close());
      const metadataWritten = this.#writeMetadata(state);
      // Both settle before either failure is reported, so no descriptor is left open.
      const [data, metadata] = await Promise.allSettled([dataDurable, metadataWritten]);
      if (data.status === 'rejected') throw data.reason;
      if (metadata.status === 'rejected') throw metadata.reason;
      await this.#syncDirectory();
    } catch (err) {
      await this.#removeFiles(state.id).catch(() => {});
      throw err;
    }
    this.#remember(state);
  }

  /**
   * Opens the data file for positioned writes at `state.offset` (never through a symbolic link), cut
   * back to exactly that offset first: the file's size never stands in for the recorded offset. Resolves
   * undefined when the file is shorter than the offset (acknowledged bytes are gone).
   */
  async openAppender(state: UploadState): Promise<Appender | undefined> {
    const file = await open(this.dataPath(state.id), WRITE);
    try {
      const { size } = await file.stat();
      if (size < state.offset) {
        await file.close();
        return undefined;
      }
      if (size > state.offset) await file.truncate(state.offset);
    } catch (err) {
      await file.close();
      throw err;
    }
    return {
      write: async (chunks, position) => (await file.writev(chunks as Uint8Array[], position)).bytesWritten,
      sync: () => file.datasync(),
      truncate: async (length) => {
        await file.truncate(length);
        await file.datasync();
      },
      size: async () => (await file.stat()).size,
      close: () => file.close(),
    };
  }

  /**
   * Makes `state` the durable metadata: written to a temporary file, fsynced, renamed over, directory
   * fsynced. One process owns the directory, so a lease is held until it is released: checked here all
   * the same, so that no caller ever commits for an upload it let go of.
   */
  async commit(state: UploadState, lease?: UploadLease): Promise<void> {
    if (lease !== undefined && !(await lease.held())) throw new LeaseLostError(state.id);
    await this.#writeMetadata(state);
    await this.#syncDirectory();
    this.#remember(state);
  }

  /** Writes `state` to a temporary file, fsyncs it and renames it over the metadata (not yet durable as a name). */
  async #writeMetadata(state: UploadState): Promise<void> {
    const target = this.#metadataPath(state.id);
    const temporary = `${target}.tmp`;
    const handle = await open(temporary, REPLACE, 0o600);
    try {
      await handle.writeFile(JSON.stringify(state));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, target);
  }

  /**
   * Makes `final` out of the complete partial uploads `parts`: each part's data file gets a hard link
   * `<final>.<n>` (atomic, no byte copied; where the file system has no hard links, a copy in the kernel
   * with `copyFile`, reflinked where it can be, then fsynced), the links are made durable with a
   * directory fsync, and only then is the final's metadata renamed into place and the directory fsynced
   * again. A crash before the rename leaves links without metadata, removed at start-up: no final.
   */
  async concatenate(final: UploadState, parts: readonly UploadState[]): Promise<void> {
    const made: string[] = [];
    try {
      for (const [index, part] of parts.entries()) {
        const source = this.dataPath(part.id);
        // The bytes the partial's state vouches for, in a regular file: never a link followed, never a short file.
        if ((await this.#fileSize(source)) !== part.offset) {
          throw new Error(`upload ${part.id}: its data file does not hold its ${part.offset} bytes`);
        }
        const target = this.#partPath(final.id, index);
        made.push(target);
        await linkOrCopy(source, target);
      }
      await this.#syncDirectory();
      await this.#writeMetadata(final);
      await this.#syncDirectory();
    } catch (err) {
      await rm(this.#metadataPath(final.id), { force: true }).catch(() => {});
      for (const file of made) await rm(file, { force: true }).catch(() => {});
      throw err;
    }
    this.#remember(final);
  }

  /** Removes an upload's files and forgets it. */
  async remove(id: string): Promise<void> {
    const stored = this.#cache.get(id) ?? (await this.#readState(id).catch(() => undefined));
    this.#forget(id);
    await this.#removeFiles(stored ?? id);
    await this.#syncDirectory();
  }

  /** Removes an upload's files and answers for it as lost from now on (410). */
  async deactivate(id: string): Promise<void> {
    this.#lost.set(id, true);
    await this.remove(id);
  }

  /** Metadata first: a crash part-way leaves data files or links without metadata, removed at start-up. */
  async #removeFiles(upload: UploadState | string): Promise<void> {
    const id = typeof upload === 'string' ? upload : upload.id;
    await rm(this.#metadataPath(id), { force: true });
    await rm(this.dataPath(id), { force: true });
    if (typeof upload !== 'string' && upload.concat?.kind === 'final') {
      for (const file of this.files(upload)) await rm(file.path, { force: true });
    }
  }

  /** The directory fsync under way, and the one queued to start after it. */
  #directorySync: Promise<void> | undefined;
  #nextDirectorySync: Promise<void> | undefined;

  /**
   * Makes every name change made before this call durable. Callers share fsyncs: one that arrives while
   * a sync runs (its change may have come too late for it) waits for the next, which all such callers
   * share, so concurrent creations and commits pay for about one directory fsync each round, not one each.
   */
  #syncDirectory(): Promise<void> {
    if (this.#directorySync === undefined) {
      this.#directorySync = this.#fsyncDirectory().finally(() => {
        this.#directorySync = undefined;
      });
      return this.#directorySync;
    }
    this.#nextDirectorySync ??= this.#directorySync
      .catch(() => {})
      .then(() => {
        this.#nextDirectorySync = undefined;
        return this.#syncDirectory();
      });
    return this.#nextDirectorySync;
  }

  async #fsyncDirectory(): Promise<void> {
    let handle: fs.promises.FileHandle | undefined;
    try {
      handle = await open(this.directory, fs.constants.O_RDONLY);
      await handle.sync();
    } catch (err) {
      // Only "not supported here" is ignored (a file system or platform that cannot fsync a directory,
      // where the rename is still atomic); any other error means a name change may not be durable.
      if (!directorySyncUnsupported(err)) throw err;
    } finally {
      await handle?.close();
    }
  }

  /**
   * Opens the bytes of `state` for a download: its data file (validators from fstat, as any file), or a
   * final upload's part links read one after the other. A file that is not exactly its part of the
   * upload is an error, never served: the stored length says what the upload is.
   */
  async describe(state: UploadState, metadata: DownloadMetadata): Promise<Representation> {
    if (state.concat?.kind === 'final') return openParts(state, this.files(state), metadata);
    const file = await openFile(this.dataPath(state.id), { followSymlinks: false, ...metadata });
    if (file.size !== state.offset) {
      closeRepresentation(file);
      throw new Error(`upload ${state.id}: the data file holds ${file.size} bytes, not ${state.offset}`);
    }
    return file;
  }

  /** The SHA-256 of the first `length` bytes of an upload's data, base64, read through descriptors that never follow a link. */
  sha256(state: UploadState, length: number): Promise<string> {
    return sha256OfFiles(this.files(state), length);
  }
}

/** A hard link of `source` at `target`; a copy in the kernel (reflinked where possible), fsynced, where links are refused. */
async function linkOrCopy(source: string, target: string): Promise<void> {
  try {
    await link(source, target);
    return;
  } catch (err) {
    if (!NO_LINK.has(errorCode(err) ?? '')) throw err;
  }
  await copyFile(source, target, fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
  const handle = await open(target, WRITE);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** EINVAL and ENOTSUP from a directory fsync (and EISDIR/EPERM from opening one on Windows) mean "cannot here". */
function directorySyncUnsupported(err: unknown): boolean {
  const code = errorCode(err);
  if (code === 'EINVAL' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') return true;
  return process.platform === 'win32' && (code === 'EISDIR' || code === 'EPERM');
}
