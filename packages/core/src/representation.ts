/**
 * Representations: the bytes a response selects from, with their length and validators.
 * A file is opened once and described by fstat of that descriptor; buffers and strings carry a
 * content-hash ETag; a stream is read once, front to back, and must declare its length.
 */
import fs, { type BigIntStats } from 'node:fs';
import type { Readable } from 'node:stream';
import { contentHash, takeContentSha256 } from './repr-digest.js';

/** Metadata shared by every representation; headers are lowercase. */
export interface RepresentationMetadata {
  /** The entity-tag, quotes included (`"x"`, or `W/"x"` for a weak one); omit for none. */
  readonly etag?: string | undefined;
  /** Modification date in epoch milliseconds; omit for none. */
  readonly lastModified?: number | undefined;
  /** The media type for `Content-Type` (and each multipart part); omit for none. */
  readonly contentType?: string | undefined;
  /**
   * Further representation headers, lowercase (`cache-control`, `expires`, `vary`, `content-location`,
   * `content-disposition`, ...). A 304 keeps only those RFC 9110 §15.4.5 lists.
   */
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** The SHA-256 of the whole representation in base64, sent as `Repr-Digest` (RFC 9530); omit when unknown. */
  readonly sha256?: string | undefined;
}

/** What planning needs to know of a representation. */
export interface RepresentationInfo extends RepresentationMetadata {
  /** Length in bytes, a safe integer. */
  readonly size: number;
  /** True when the bytes can only be read once, front to back (a stream). */
  readonly sequential?: boolean | undefined;
}

/** A regular file opened once; every byte is read from `fd` with positioned reads. */
export interface FileRepresentation extends RepresentationInfo {
  readonly kind: 'file';
  readonly path: string;
  readonly fd: number;
  /** fstat of `fd` when it was opened; the body stream compares it to notice writes in place. */
  readonly stat: BigIntStats;
}

/** Bytes held in memory. */
export interface BytesRepresentation extends RepresentationInfo {
  readonly kind: 'bytes';
  readonly bytes: Uint8Array;
}

/** A readable stream of declared length, consumed once from its first byte. */
export interface StreamRepresentation extends RepresentationInfo {
  readonly kind: 'stream';
  readonly stream: Readable;
  readonly sequential: true;
}

/** Any source of bytes a response can be planned and streamed from. */
export type Representation = FileRepresentation | BytesRepresentation | StreamRepresentation;

/** How a file's validators are made. */
export interface FileOptions extends Omit<RepresentationMetadata, 'etag' | 'lastModified'> {
  /** `'strong'` (default), `'weak'` (prefixed `W/`) or `false` for no ETag. */
  readonly etag?: 'strong' | 'weak' | false;
  /** Send `Last-Modified` from the file's mtime (default true). */
  readonly lastModified?: boolean;
  /** False opens with O_NOFOLLOW: when the last path component is a symbolic link, open fails with ELOOP (default true). */
  readonly followSymlinks?: boolean;
}

/** Raised by {@link openFile} when the path names something other than a regular file. */
export class NotAFileError extends Error {
  /** `EISDIR` for a directory, `ENOTFILE` for a device, socket or FIFO. */
  readonly code: 'EISDIR' | 'ENOTFILE';
  constructor(
    readonly path: string,
    readonly stat: BigIntStats,
  ) {
    super(`not a regular file: ${path}`);
    this.code = stat.isDirectory() ? 'EISDIR' : 'ENOTFILE';
  }
}

/**
 * The strong ETag of a file: its size and modification time in nanoseconds, in hex. Nothing that differs
 * between machines (no inode, no device), so replicas holding copies with the same mtime agree.
 */
export function fileEtag(stat: BigIntStats): string {
  return `"${stat.size.toString(16)}-${stat.mtimeNs.toString(16)}"`;
}

/**
 * Opens a regular file once and describes it from fstat of that descriptor. The caller owns the
 * descriptor until it hands the representation to a response, or calls {@link closeRepresentation}.
 */
export async function openFile(path: string, options: FileOptions = {}): Promise<FileRepresentation> {
  const fd = await openReadOnly(path, options.followSymlinks === false ? NO_FOLLOW_FLAGS : READ_FLAGS);
  let stat: BigIntStats;
  try {
    // fstat of an open descriptor never waits for the disk: done in place rather than on the thread pool.
    stat = fs.fstatSync(fd, { bigint: true });
  } catch (err) {
    fs.close(fd, ignore);
    throw err;
  }
  if (!stat.isFile()) {
    fs.close(fd, ignore);
    throw new NotAFileError(path, stat);
  }
  return fileRepresentation(path, fd, stat, options);
}

// O_NONBLOCK: opening a FIFO (or a device) must not park a thread-pool thread until a writer appears;
// fstat then shows it is not a regular file and it is closed unread. It changes nothing for regular files.
const READ_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);
/** Where the platform has O_NOFOLLOW; elsewhere `followSymlinks: false` cannot be honoured and throws. */
const NO_FOLLOW_FLAGS = fs.constants.O_NOFOLLOW === undefined ? undefined : READ_FLAGS | fs.constants.O_NOFOLLOW;

/** Whether `openFile(path, { followSymlinks: false })` is available on this platform (O_NOFOLLOW). */
export const canRefuseSymlinks = NO_FOLLOW_FLAGS !== undefined;

function openReadOnly(path: string, flags: number | undefined): Promise<number> {
  if (flags === undefined) return Promise.reject(new TypeError('followSymlinks: false needs O_NOFOLLOW'));
  return new Promise((resolve, reject) => {
    fs.open(path, flags, (err, fd) => (err ? reject(err) : resolve(fd)));
  });
}

/** fstat with nanosecond times, so that the ETag sees sub-second modifications. */
export function fstatBig(fd: number): Promise<BigIntStats> {
  return new Promise((resolve, reject) => {
    fs.fstat(fd, { bigint: true }, (err, stat) => (err ? reject(err) : resolve(stat)));
  });
}

function ignore(): void {}

/** Builds a file representation from an open descriptor and its fstat; the representation then owns `fd`. */
export function fileRepresentation(
  path: string,
  fd: number,
  stat: BigIntStats,
  options: FileOptions = {},
): FileRepresentation {
  const etagMode = options.etag ?? 'strong';
  const etag = etagMode === false ? undefined : etagMode === 'weak' ? `W/${fileEtag(stat)}` : fileEtag(stat);
  return {
    kind: 'file',
    path,
    fd,
    stat,
    size: Number(stat.size),
    etag,
    lastModified: options.lastModified === false ? undefined : Number(stat.mtimeMs),
    contentType: options.contentType,
    headers: options.headers,
  };
}

/** The strong content-hash ETag of in-memory bytes: their length and SHA-256, base64url. */
export function contentEtag(bytes: Uint8Array): string {
  return contentHash(bytes).etag;
}

/** Wraps a Buffer, Uint8Array or string (as UTF-8) with a strong content-hash ETag unless one is given. */
export function bytesRepresentation(
  data: Uint8Array | string,
  metadata: RepresentationMetadata = {},
): BytesRepresentation {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const etag = 'etag' in metadata ? metadata.etag : contentEtag(bytes);
  return {
    kind: 'bytes',
    bytes,
    size: bytes.byteLength,
    etag,
    lastModified: metadata.lastModified,
    contentType: metadata.contentType,
    headers: metadata.headers,
    // A content-hash ETag made from these very bytes just before brings its SHA-256 along.
    sha256: metadata.sha256 ?? takeContentSha256(bytes, etag),
  };
}

/** Wraps a one-shot readable stream of exactly `size` bytes; ranges over it are served by skipping. */
export function streamRepresentation(
  stream: Readable,
  size: number,
  metadata: RepresentationMetadata = {},
): StreamRepresentation {
  if (!Number.isSafeInteger(size) || size < 0) throw new TypeError(`stream size must be a safe integer >= 0: ${size}`);
  return {
    kind: 'stream',
    stream,
    size,
    sequential: true,
    etag: metadata.etag,
    sha256: metadata.sha256,
    lastModified: metadata.lastModified,
    contentType: metadata.contentType,
    headers: metadata.headers,
  };
}

/**
 * What has been released, keyed by what every copy of a representation shares (`{ ...file, path }` copies
 * the object but not its fstat result or its stream), so that two copies can never close one
 * descriptor twice: the second close could hit a number the kernel has since handed to another file.
 */
const closed = new WeakSet<object>();

/** Releases what a representation holds (a file's descriptor, a stream); safe to call more than once, on any copy. */
export async function closeRepresentation(representation: Representation): Promise<void> {
  const key =
    representation.kind === 'file'
      ? representation.stat
      : representation.kind === 'stream'
        ? representation.stream
        : representation;
  if (closed.has(key)) return;
  closed.add(key);
  if (representation.kind === 'file') {
    // Closing a read-only descriptor does not wait for the disk either: one thread-pool trip less per request.
    try {
      fs.closeSync(representation.fd);
    } catch {
      // already closed by its owner: nothing more to release
    }
  } else if (representation.kind === 'stream') {
    representation.stream.destroy();
  }
}
