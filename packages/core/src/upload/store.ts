/**
 * The durable file store: per upload a data file `<id>` and a metadata file `<id>.json` inside one
 * directory. Metadata is replaced by atomic rename after an fsync, and the data is fsynced before any
 * offset that covers it is written, so an acknowledged offset survives a crash or a kill.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { UploadState } from './protocol.js';

/** 128 random bits, base64url: 22 characters of this alphabet. */
export const UPLOAD_ID = /^[A-Za-z0-9_-]{22}$/;

/** A fresh upload id: 128 random bits, base64url. */
export function newUploadId(): string {
  return randomBytes(16).toString('base64url');
}

const NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
const CREATE_EXCLUSIVE = fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY | NOFOLLOW;
const WRITE = fs.constants.O_WRONLY | NOFOLLOW;
const REPLACE = fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_WRONLY | NOFOLLOW;

/** Reads a metadata file, refusing a symbolic link (ELOOP). */
async function readNoFollow(file: string): Promise<string> {
  const handle = await open(file, fs.constants.O_RDONLY | NOFOLLOW);
  try {
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** What the store knows of an id. */
export type StoredUpload =
  { readonly kind: 'present'; readonly state: UploadState } | { readonly kind: 'lost' } | undefined;

function isState(value: unknown): value is UploadState {
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
    Number.isFinite(v.updatedAt)
  );
}

/** The uploads of one directory, owned by one process. */
export class UploadStore {
  readonly directory: string;
  readonly #uploads = new Map<string, UploadState>();
  readonly #lost = new Set<string>();

  constructor(directory: string) {
    this.directory = path.resolve(directory);
  }

  /** Path of an upload's data file; `id` must match {@link UPLOAD_ID}. */
  dataPath(id: string): string {
    if (!UPLOAD_ID.test(id)) throw new TypeError('invalid upload id');
    return path.join(this.directory, id);
  }

  #metadataPath(id: string): string {
    return `${this.dataPath(id)}.json`;
  }

  /**
   * Creates the directory and reconciles every upload in it: metadata against data size (bytes past
   * the durable offset are cut, data shorter than it marks the upload lost), leftovers of interrupted
   * writes removed, expired uploads removed.
   */
  async open(isExpired: (state: UploadState) => boolean): Promise<void> {
    await fs.promises.mkdir(this.directory, { recursive: true });
    const names = await readdir(this.directory);
    const present = new Set(names);
    for (const name of names) {
      if (name.endsWith('.json.tmp') && UPLOAD_ID.test(name.slice(0, -9))) {
        await rm(path.join(this.directory, name), { force: true });
        continue;
      }
      if (!name.endsWith('.json') || !UPLOAD_ID.test(name.slice(0, -5))) continue;
      const id = name.slice(0, -5);
      let state: unknown;
      try {
        state = JSON.parse(await readNoFollow(path.join(this.directory, name)));
      } catch {
        state = undefined;
      }
      if (!isState(state) || state.id !== id) {
        this.#lost.add(id);
        await this.#removeFiles(id);
        continue;
      }
      if (isExpired(state)) {
        await this.#removeFiles(id);
        continue;
      }
      if (!state.moved) {
        const size = await this.#dataSize(id);
        if (size === undefined || size < state.offset) {
          // Bytes below an acknowledged offset are gone: the draft asks to deactivate such an upload.
          this.#lost.add(id);
          await this.#removeFiles(id);
          continue;
        }
        if (size > state.offset) await this.#truncate(id, state.offset);
      }
      this.#uploads.set(id, state);
    }
    // Data files whose metadata never became durable belong to creations that were never acknowledged.
    for (const name of present) {
      if (UPLOAD_ID.test(name) && !this.#uploads.has(name) && !present.has(`${name}.json`)) {
        await rm(path.join(this.directory, name), { force: true });
      }
    }
    await this.#syncDirectory();
  }

  async #dataSize(id: string): Promise<number | undefined> {
    try {
      const s = await fs.promises.lstat(this.dataPath(id));
      return s.isFile() ? s.size : undefined;
    } catch {
      return undefined;
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

  /** The state of upload `id`, `lost` when its data did not survive, undefined when unknown. */
  get(id: string): StoredUpload {
    const state = this.#uploads.get(id);
    if (state !== undefined) return { kind: 'present', state };
    return this.#lost.has(id) ? { kind: 'lost' } : undefined;
  }

  /** Every upload's state (for the sweep). */
  all(): UploadState[] {
    return [...this.#uploads.values()];
  }

  /**
   * Creates the empty data file and the durable metadata of a new upload. The data file's fsync and the
   * metadata's run side by side; one directory fsync after both makes the two names durable.
   */
  async create(state: UploadState): Promise<void> {
    const handle = await open(this.dataPath(state.id), CREATE_EXCLUSIVE, 0o600);
    const dataDurable = handle.sync().finally(() => handle.close());
    const metadataWritten = this.#writeMetadata(state);
    // Both settle before either failure is reported, so no descriptor is left open.
    const [data, metadata] = await Promise.allSettled([dataDurable, metadataWritten]);
    if (data.status === 'rejected') throw data.reason;
    if (metadata.status === 'rejected') throw metadata.reason;
    await this.#syncDirectory();
    this.#uploads.set(state.id, state);
  }

  /** Opens the data file for positioned writes (never through a symbolic link). */
  openData(id: string): Promise<fs.promises.FileHandle> {
    return open(this.dataPath(id), WRITE);
  }

  /** Makes `state` the durable metadata: written to a temporary file, fsynced, renamed over, directory fsynced. */
  async commit(state: UploadState): Promise<void> {
    await this.#writeMetadata(state);
    await this.#syncDirectory();
    this.#uploads.set(state.id, state);
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

  /** Removes an upload's files and forgets it. */
  async remove(id: string): Promise<void> {
    this.#uploads.delete(id);
    await this.#removeFiles(id);
    await this.#syncDirectory();
  }

  /** Removes an upload's files and answers for it as lost from now on (410). */
  async deactivate(id: string): Promise<void> {
    await this.remove(id);
    this.#lost.add(id);
  }

  async #removeFiles(id: string): Promise<void> {
    await rm(this.#metadataPath(id), { force: true });
    await rm(this.dataPath(id), { force: true });
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
    this.#nextDirectorySync ??= this.#directorySync.then(() => {
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
    } catch {
      // Some platforms cannot fsync a directory; the rename itself is still atomic there.
    } finally {
      await handle?.close();
    }
  }

  /** The SHA-256 of an upload's data, base64, read through a descriptor that never follows a link. */
  async sha256(id: string): Promise<string> {
    const handle = await open(this.dataPath(id), fs.constants.O_RDONLY | NOFOLLOW);
    const hash = createHash('sha256');
    try {
      for await (const chunk of handle.createReadStream({ autoClose: false })) hash.update(chunk as Buffer);
    } finally {
      await handle.close();
    }
    return hash.digest('base64');
  }

  /** Size of the data file as fstat sees it, for tests and reconciliation. */
  async size(id: string): Promise<number> {
    return (await stat(this.dataPath(id))).size;
  }
}
