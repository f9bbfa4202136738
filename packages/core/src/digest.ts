/**
 * Content digests of files, for `etag: 'digest'` and `Repr-Digest`: the SHA-256 of a file's bytes,
 * computed once per version of the file (device, inode, size, mtime and ctime, so that any change,
 * a `touch` included, computes it again), shared by concurrent first requests, and kept in a bounded
 * LRU map. The bytes are read with positioned reads of the descriptor already open, on the thread
 * pool, one chunk at a time, and hashed as they arrive: never the whole file in memory.
 */
import { createHash } from 'node:crypto';
import fs, { type BigIntStats } from 'node:fs';
import { digestEtag } from './repr-digest.js';
import {
  closeRepresentation,
  type FileOptions,
  type FileRepresentation,
  openFile,
  RepresentationChangedError,
} from './representation.js';

/** How many file versions the default digest cache remembers. */
export const DIGEST_CACHE_ENTRIES = 4096;

/** Bytes read per positioned read while hashing; two such buffers alternate so reading overlaps hashing. */
const CHUNK_SIZE = 1024 * 1024;

/** A cache of file SHA-256 digests keyed by file version. */
export interface FileDigests {
  /**
   * The SHA-256 of the file open as `fd`, whose fstat is `stat`. The descriptor must stay open until the
   * promise settles; it rejects with a `RepresentationChangedError` if the file changes while it is read.
   */
  sha256(fd: number, stat: BigIntStats): Promise<Buffer>;
  /** Versions remembered (finished or in progress). */
  readonly size: number;
}

/** Makes a digest cache remembering up to `maxEntries` file versions, least recently used dropped first. */
export function createFileDigests(maxEntries = DIGEST_CACHE_ENTRIES): FileDigests {
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new TypeError('maxEntries must be an integer >= 1');
  // A Map iterates in insertion order: a hit is moved to the end, the first key is the least recently used.
  const versions = new Map<string, Promise<Buffer>>();
  return {
    sha256(fd, stat) {
      const key = versionKey(stat);
      const known = versions.get(key);
      if (known !== undefined) {
        versions.delete(key);
        versions.set(key, known);
        return known;
      }
      const computing = hashDescriptor(fd, stat, key);
      // A failed computation is forgotten, so that the next request tries again.
      computing.catch(() => {
        if (versions.get(key) === computing) versions.delete(key);
      });
      versions.set(key, computing);
      if (versions.size > maxEntries) versions.delete(versions.keys().next().value as string);
      return computing;
    },
    get size() {
      return versions.size;
    },
  };
}

/** The process-wide digest cache that directory serving uses. */
export const fileDigests: FileDigests = createFileDigests();

function versionKey(stat: BigIntStats): string {
  return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
}

function readAt(fd: number, buffer: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buffer, 0, length, position, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead)));
  });
}

/** Reads exactly `length` bytes at `position` into `buffer`, or fewer only when the file ends first. */
async function readFull(fd: number, buffer: Buffer, length: number, position: number): Promise<number> {
  let filled = 0;
  while (filled < length) {
    const n = await readAt(fd, buffer.subarray(filled), length - filled, position + filled);
    if (n === 0) break;
    filled += n;
  }
  return filled;
}

async function hashDescriptor(fd: number, stat: BigIntStats, key: string): Promise<Buffer> {
  const size = Number(stat.size);
  const hash = createHash('sha256');
  const chunk = Math.min(CHUNK_SIZE, Math.max(size, 1));
  const buffers = [Buffer.allocUnsafe(chunk), Buffer.allocUnsafe(chunk)] as const;
  let position = 0;
  let turn = 0;
  let pending = size > 0 ? readFull(fd, buffers[0], Math.min(chunk, size), 0) : Promise.resolve(0);
  while (position < size) {
    const current = buffers[turn] as Buffer;
    const got = await pending;
    const wanted = Math.min(chunk, size - position);
    if (got < wanted) throw new RepresentationChangedError('the file became shorter while its digest was computed');
    position += got;
    turn ^= 1;
    // The next read goes to the thread pool before this chunk is hashed on the event loop.
    pending =
      position < size ? readFull(fd, buffers[turn] as Buffer, Math.min(chunk, size - position), position) : pending;
    hash.update(current.subarray(0, got));
  }
  const after = fs.fstatSync(fd, { bigint: true }); // fstat of an open descriptor does not wait for the disk
  if (versionKey(after) !== key) throw new RepresentationChangedError('the file changed while its digest was computed');
  return hash.digest();
}

/**
 * A copy of an open file's representation that knows the SHA-256 of its content (for `Repr-Digest`),
 * with the digest ETag too when `digestEtag` is true. On failure the file is closed and the error thrown.
 */
export async function withFileDigest(
  file: FileRepresentation,
  options: { readonly digestEtag: boolean; readonly digests?: FileDigests } = { digestEtag: false },
): Promise<FileRepresentation> {
  let sha256: Buffer;
  try {
    sha256 = await (options.digests ?? fileDigests).sha256(file.fd, file.stat);
  } catch (err) {
    await closeRepresentation(file);
    throw err;
  }
  return {
    ...file,
    etag: options.digestEtag ? digestEtag(file.stat.size, sha256) : file.etag,
    sha256: sha256.toString('base64'),
  };
}

/** File ETags in every mode: from fstat (`'strong'`, `'weak'`), from the content's SHA-256 (`'digest'`), or none. */
export type FileEtagMode = 'strong' | 'weak' | 'digest' | false;

/** {@link openFile}'s options with `etag: 'digest'` allowed, and `reprDigest` to learn the digest for `Repr-Digest`. */
export interface DigestFileOptions extends Omit<FileOptions, 'etag' | 'sha256'> {
  /** `'strong'` (default), `'weak'`, `'digest'` (a strong ETag from the SHA-256 of the content) or `false`. */
  readonly etag?: FileEtagMode;
  /** Compute the SHA-256 of the content for `Repr-Digest` even when the ETag does not need it (default false). */
  readonly reprDigest?: boolean;
}

/**
 * Opens a file as {@link openFile} does; with `etag: 'digest'` (or `reprDigest: true`) it resolves once the
 * SHA-256 of the content is known, computed once per version of the file.
 */
export async function openFileWithDigest(path: string, options: DigestFileOptions = {}): Promise<FileRepresentation> {
  const { etag = 'strong', reprDigest = false, ...rest } = options;
  const file = await openFile(path, { ...rest, etag: etag === 'digest' ? false : etag });
  if (etag !== 'digest' && !reprDigest) return file;
  return withFileDigest(file, { digestEtag: etag === 'digest' });
}
