/**
 * An upload whose bytes lie in several files, one after the other: a final upload of tus
 * concatenation (one hard link per partial upload). It is described as one representation that maps
 * each position to its file, so ranges, multipart and `If-Range` work across the parts and no byte is
 * ever copied to assemble it. The same reader serves any store whose upload is a list of (file, length).
 */
import { createHash } from 'node:crypto';
import fs, { type BigIntStats } from 'node:fs';
import { RepresentationChangedError, type Representation } from '../representation.js';
import type { UploadState } from './protocol.js';
import type { DownloadMetadata, UploadFile } from './store.js';

// O_NONBLOCK: a FIFO put in place of a part never parks a thread-pool thread; fstat then refuses it.
const READ = fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0);

interface OpenPart {
  readonly fd: number;
  readonly stat: BigIntStats;
  /** Position of the part's first byte in the whole. */
  readonly start: number;
  readonly length: number;
}

function openFd(file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.open(file, READ, (err, fd) => (err ? reject(err) : resolve(fd)));
  });
}

function closeAll(parts: readonly { fd: number }[]): void {
  for (const part of parts) {
    try {
      fs.closeSync(part.fd);
    } catch {
      // already closed
    }
  }
}

/**
 * Opens every file of `state` (never through a symbolic link) and describes them as one representation
 * of their total length. A file that is not a regular file of exactly its length is an error, before
 * anything is sent. Validators come from the upload's state, which never changes once it is a final
 * upload: a strong ETag of its length and id, `Last-Modified` its creation.
 */
export async function openParts(
  state: UploadState,
  files: readonly UploadFile[],
  metadata: DownloadMetadata,
  { tails = false }: { readonly tails?: boolean } = {},
): Promise<Representation> {
  const parts: OpenPart[] = [];
  let start = 0;
  try {
    for (const file of files) {
      const fd = await openFd(file.path);
      let stat: BigIntStats;
      try {
        stat = fs.fstatSync(fd, { bigint: true });
      } catch (err) {
        fs.closeSync(fd);
        throw err;
      }
      parts.push({ fd, stat, start, length: file.length });
      // With `tails`, a file may hold more than its part (a segment a writer went on with after it lost
      // its lease): only its first `length` bytes are ever read.
      const size = Number(stat.size);
      if (!stat.isFile() || size < file.length || (!tails && size !== file.length)) {
        throw new Error(`upload ${state.id}: ${file.path} does not hold its ${file.length} bytes`);
      }
      start += file.length;
    }
  } catch (err) {
    closeAll(parts);
    throw err;
  }
  const size = start;
  let closed = false;
  return {
    size,
    etag: `"${size.toString(16)}-${state.id}"`,
    lastModified: state.updatedAt,
    contentType: metadata.contentType,
    headers: metadata.headers,
    readInto: (buffer, position) => readAcross(parts, buffer, position),
    verify: () => {
      for (const part of parts) {
        const now = fs.fstatSync(part.fd, { bigint: true });
        const changed = tails
          ? now.size < BigInt(part.length)
          : now.size !== part.stat.size || now.mtimeNs !== part.stat.mtimeNs;
        if (changed) {
          throw new RepresentationChangedError(`upload ${state.id}: a part changed while being sent`);
        }
      }
    },
    close: () => {
      if (closed) return;
      closed = true;
      closeAll(parts);
    },
  };
}

/** The part holding byte `position` (binary search over the parts' starts). */
function partAt(parts: readonly OpenPart[], position: number): OpenPart | undefined {
  let low = 0;
  let high = parts.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const part = parts[mid] as OpenPart;
    if (position < part.start) high = mid - 1;
    else if (position >= part.start + part.length) low = mid + 1;
    else return part;
  }
  return undefined;
}

/** Reads from the part holding `position`, up to its end (the reader asks again for the rest). */
function readAcross(parts: readonly OpenPart[], buffer: Uint8Array, position: number): Promise<number> {
  const part = partAt(parts, position);
  if (part === undefined) return Promise.resolve(0);
  const length = Math.min(buffer.byteLength, part.start + part.length - position);
  return new Promise((resolve, reject) => {
    fs.read(part.fd, buffer, 0, length, position - part.start, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

/** Bytes read at once for a digest. */
const DIGEST_READ = 1024 * 1024;

/**
 * The SHA-256 of the first `length` bytes of `files` taken in order, base64: one sequential read of
 * them into one reused buffer, through descriptors that never follow a link.
 */
export async function sha256OfFiles(files: readonly UploadFile[], length: number): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafeSlow(DIGEST_READ);
  let left = length;
  for (const file of files) {
    if (left <= 0) break;
    const fd = await openFd(file.path);
    try {
      let position = 0;
      const end = Math.min(file.length, left);
      while (position < end) {
        const n = await new Promise<number>((resolve, reject) => {
          fs.read(fd, buffer, 0, Math.min(DIGEST_READ, end - position), position, (err, read) =>
            err ? reject(err) : resolve(read),
          );
        });
        if (n === 0) throw new Error(`${file.path} ended at ${position} of ${end} bytes`);
        hash.update(buffer.subarray(0, n));
        position += n;
      }
      left -= end;
    } finally {
      fs.closeSync(fd);
    }
  }
  return hash.digest('base64');
}
