/**
 * Representations: the bytes a response selects from, with their length and validators, and the one
 * interface the core reads them through. Files, in-memory bytes and streams of known length are three
 * implementations; any store that can read a span (a database blob, an object store's ranged GET) can
 * be a fourth.
 */
import fs, { type BigIntStats } from 'node:fs';
import type { Readable } from 'node:stream';
import type { ByteRange } from './range.js';
import { contentHash, takeContentSha256 } from './repr-digest.js';

/** Metadata shared by every representation; header names are lowercase. */
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
  /** True when the bytes can be read only once, front to back: spans must then be ascending. */
  readonly sequential?: boolean | undefined;
}

/**
 * A representation the core can plan and send. It reads through one of two methods: `readInto`
 * (positioned reads into the caller's buffer, for stores with random access) or `stream` (the bytes
 * of one span as chunks, for stores that answer ranged reads with a stream). Whoever sends it calls
 * `close` once, when the response ends, fails or the client goes away.
 */
export interface Representation extends RepresentationInfo {
  /** Fills `buffer` from offset `position` and resolves how many bytes it read (0 only past the end). */
  readonly readInto?: ((buffer: Uint8Array, position: number) => Promise<number>) | undefined;
  /** The bytes of `span` (inclusive), in order. */
  readonly stream?: ((span: ByteRange) => AsyncIterable<Uint8Array>) | undefined;
  /** Throws when the bytes no longer belong to the version planned; called along a long body and before its last chunk. */
  readonly verify?: (() => void) | undefined;
  /** Releases what the representation holds; safe to call more than once, on any copy. */
  readonly close?: (() => void) | undefined;
}

/** A regular file opened once; every byte is read from `fd` with positioned reads. */
export interface FileRepresentation extends Representation {
  readonly kind: 'file';
  readonly path: string;
  readonly fd: number;
  /** fstat of `fd` when it was opened; `verify` compares it to notice writes in place. */
  readonly stat: BigIntStats;
  readonly readInto: (buffer: Uint8Array, position: number) => Promise<number>;
  readonly verify: () => void;
  readonly close: () => void;
}

/** Bytes held in memory. */
export interface BytesRepresentation extends Representation {
  readonly kind: 'bytes';
  readonly bytes: Uint8Array;
  readonly readInto: (buffer: Uint8Array, position: number) => Promise<number>;
}

/** A readable stream of declared length, consumed once from its first byte. */
export interface StreamRepresentation extends Representation {
  readonly kind: 'stream';
  readonly sequential: true;
  readonly stream: (span: ByteRange) => AsyncIterable<Uint8Array>;
  readonly close: () => void;
}

/** Raised while sending when a file changed in place (size or mtime) since it was planned. */
export class RepresentationChangedError extends Error {
  readonly code = 'ERR_REPRESENTATION_CHANGED';
}

/** Raised while sending when a representation holds fewer bytes than it declared. */
export class ShortRepresentationError extends Error {
  readonly code = 'ERR_REPRESENTATION_SHORT';
}

/** How a file's validators are made. */
export interface FileOptions extends Omit<RepresentationMetadata, 'etag' | 'lastModified'> {
  /** `'strong'` (default), `'weak'` (prefixed `W/`) or `false` for no ETag. */
  readonly etag?: 'strong' | 'weak' | false;
  /** Send `Last-Modified` from the file's mtime (default true). */
  readonly lastModified?: boolean;
  /** False opens with O_NOFOLLOW: when the last path component is a symbolic link, open fails with ELOOP (default true). */
  readonly followSymlinks?: boolean;
}

/**
 * An error {@link openFile} raises that names the HTTP answer it calls for, shaped as `http-errors` shapes
 * them: `status` and `statusCode` (400, 403 or 404) and `expose` (whether its message may be shown to the
 * client), so that Express's final handler, Koa's `ctx.onerror` and error middleware that read them
 * answer with that status instead of 500. `code` is the file system's (`ENOENT`, `EACCES`, ...) and
 * `cause` the original error. Errors that say nothing about the request (EIO, EMFILE) stay as they are.
 */
export class OpenFileError extends Error {
  override readonly name: string = 'OpenFileError';
  readonly statusCode: 400 | 403 | 404;
  constructor(
    message: string,
    readonly status: 400 | 403 | 404,
    readonly code: string,
    readonly path: string,
    /** False when the message names a path on the server (the client then gets the status text). */
    readonly expose: boolean,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
    this.statusCode = status;
  }
}

/** 404: nothing at the path (`ENOENT`, `ENOTDIR`, `ENAMETOOLONG`, a loop of links); the message names the path, so it is not exposed. */
export class FileNotFoundError extends OpenFileError {
  override readonly name: string = 'FileNotFoundError';
  constructor(path: string, code: string, options?: { readonly message?: string; readonly cause?: unknown }) {
    super(options?.message ?? `${code}: no such file: ${path}`, 404, code, path, false, options);
  }
}

/**
 * 403: the file is there but may not be sent (`EACCES`, `EPERM`, a symbolic link opened with
 * `followSymlinks: false`); the message names the path, so it is not exposed.
 */
export class FileForbiddenError extends OpenFileError {
  override readonly name: string = 'FileForbiddenError';
  constructor(path: string, code: string, options?: { readonly message?: string; readonly cause?: unknown }) {
    super(options?.message ?? `${code}: may not be read: ${path}`, 403, code, path, false, options);
  }
}

/** 400: the path cannot name a file (it holds a NUL byte, as a request's `%00` decodes to); exposed, it names no path. */
export class BadPathError extends OpenFileError {
  override readonly name: string = 'BadPathError';
  constructor(path: string) {
    super('the path contains a NUL byte', 400, 'ERR_BAD_PATH', path, true);
  }
}

/**
 * Raised by {@link openFile} when the path names something other than a regular file: a directory is
 * a 404 (`EISDIR`: there is no file to send), a device, socket or FIFO a 403 (`ENOTFILE`).
 */
export class NotAFileError extends OpenFileError {
  override readonly name: string = 'NotAFileError';
  /** `EISDIR` for a directory, `ENOTFILE` for a device, socket or FIFO. */
  declare readonly code: 'EISDIR' | 'ENOTFILE';
  constructor(
    path: string,
    readonly stat: BigIntStats,
  ) {
    const directory = stat.isDirectory();
    super(`not a regular file: ${path}`, directory ? 404 : 403, directory ? 'EISDIR' : 'ENOTFILE', path, false);
  }
}

/** File system error codes that mean there is nothing to send at the path. */
const NOT_FOUND = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG']);
/** Codes that mean the file is there but this process may not read it. */
const FORBIDDEN = new Set(['EACCES', 'EPERM']);
/** With O_NOFOLLOW, the last component is a link (Linux ELOOP, FreeBSD EMLINK). */
const LINK_CODES = new Set(['ELOOP', 'EMLINK']);

/** `err` from opening `path` as the {@link OpenFileError} it calls for, or `err` itself when it says nothing about the request. */
function openError(err: unknown, path: string, followSymlinks: boolean): unknown {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (typeof code !== 'string') return err;
  const options = { message: (err as Error).message, cause: err };
  if (NOT_FOUND.has(code)) return new FileNotFoundError(path, code, options);
  if (FORBIDDEN.has(code)) return new FileForbiddenError(path, code, options);
  if (LINK_CODES.has(code)) {
    // A link the caller said not to follow is refused; a loop of links leads to no file.
    return followSymlinks ? new FileNotFoundError(path, code, options) : new FileForbiddenError(path, code, options);
  }
  return err;
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
 * descriptor until it hands the representation to a response, or calls its `close`. A path that names
 * no file to send rejects with an {@link OpenFileError} carrying its HTTP status (404, 403 or 400).
 */
export async function openFile(path: string, options: FileOptions = {}): Promise<FileRepresentation> {
  if (typeof path === 'string' && path.includes('\0')) throw new BadPathError(path);
  const follow = options.followSymlinks !== false;
  let fd: number;
  try {
    fd = await openReadOnly(path, follow ? READ_FLAGS : NO_FOLLOW_FLAGS);
  } catch (err) {
    throw openError(err, path, follow);
  }
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

function ignore(): void {}

/**
 * A file representation over an open descriptor and its fstat; it then owns `fd`. Its methods close over
 * one shared state, so a spread copy (`{ ...file, etag }`) reads and closes the same descriptor, once.
 */
export function fileRepresentation(
  path: string,
  fd: number,
  stat: BigIntStats,
  options: FileOptions = {},
): FileRepresentation {
  let closed = false;
  return {
    kind: 'file',
    path,
    fd,
    stat,
    ...fileInfo(stat, options),
    readInto: (buffer, position) =>
      new Promise((resolve, reject) => {
        fs.read(fd, buffer, 0, buffer.byteLength, position, (err, n) => (err ? reject(err) : resolve(n)));
      }),
    verify: () => {
      // fstat of an open descriptor never waits for the disk. mtime and size change with every write to
      // the data; ctime also moves on rename or unlink, which leave the descriptor's bytes intact.
      const now = fs.fstatSync(fd, { bigint: true });
      if (now.size !== stat.size || now.mtimeNs !== stat.mtimeNs) {
        throw new RepresentationChangedError(`file changed while being sent: ${path}`);
      }
    },
    close: () => {
      // A second close could hit a number the kernel has since handed to another file.
      if (closed) return;
      closed = true;
      try {
        fs.closeSync(fd); // a read-only descriptor closes without waiting for the disk
      } catch {
        // already closed by its owner: nothing more to release
      }
    },
  };
}

/**
 * What planning needs of a file with this stat: its size and validators as {@link openFile} makes
 * them, and the type and headers of `options`. Enough to answer a 304 or 412 without opening it.
 */
export function fileInfo(stat: BigIntStats, options: FileOptions = {}): RepresentationInfo {
  const etagMode = options.etag ?? 'strong';
  return {
    size: Number(stat.size),
    etag: etagMode === false ? undefined : etagMode === 'weak' ? `W/${fileEtag(stat)}` : fileEtag(stat),
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
    readInto: (buffer, position) => {
      const end = Math.min(bytes.byteLength, position + buffer.byteLength);
      if (end <= position) return Promise.resolve(0);
      buffer.set(bytes.subarray(position, end));
      return Promise.resolve(end - position);
    },
  };
}

/**
 * Wraps a one-shot stream of exactly `size` bytes (a Node `Readable`, or any async iterable of chunks
 * such as a web `ReadableStream`); ranges over it are served by skipping. `close` destroys a `Readable`
 * and ends any other iterable (which cancels a web stream).
 */
export function streamRepresentation(
  stream: Readable | AsyncIterable<Uint8Array | string>,
  size: number,
  metadata: RepresentationMetadata = {},
): StreamRepresentation {
  if (!Number.isSafeInteger(size) || size < 0) throw new TypeError(`stream size must be a safe integer >= 0: ${size}`);
  const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Uint8Array | string>;
  const cursor = new SpanCursor(chunks, size);
  return {
    kind: 'stream',
    size,
    sequential: true,
    etag: metadata.etag,
    sha256: metadata.sha256,
    lastModified: metadata.lastModified,
    contentType: metadata.contentType,
    headers: metadata.headers,
    stream: (span) => cursor.read(span),
    close: () => {
      if (isReadable(stream)) stream.destroy();
      else chunks.return?.().catch(ignore);
    },
  };
}

function isReadable(stream: Readable | AsyncIterable<Uint8Array | string>): stream is Readable {
  return typeof (stream as Partial<Readable>).destroy === 'function';
}

/** Reads ascending spans from a one-shot stream: skips the bytes before each span, keeps what follows it. */
class SpanCursor {
  /** Offset of `pending` (or of the next chunk) in the representation. */
  private position = 0;
  private pending: Uint8Array | undefined;

  constructor(
    private readonly chunks: AsyncIterator<Uint8Array | string>,
    private readonly size: number,
  ) {}

  async *read(span: ByteRange): AsyncGenerator<Uint8Array> {
    while (this.position <= span.end) {
      const chunk = await this.next();
      const chunkEnd = this.position + chunk.byteLength; // exclusive
      if (chunkEnd <= span.start) {
        this.position = chunkEnd;
        continue;
      }
      const from = Math.max(0, span.start - this.position);
      const to = Math.min(chunk.byteLength, span.end + 1 - this.position);
      if (to < chunk.byteLength) this.pending = chunk.subarray(to);
      this.position += to;
      yield chunk.subarray(from, to);
    }
  }

  private async next(): Promise<Uint8Array> {
    if (this.pending !== undefined) {
      const chunk = this.pending;
      this.pending = undefined;
      return chunk;
    }
    const result = await this.chunks.next();
    if (result.done === true) {
      throw new ShortRepresentationError(`stream ended at ${this.position} of ${this.size} bytes`);
    }
    const value = result.value;
    return typeof value === 'string' ? Buffer.from(value) : value;
  }
}

/** Releases what a representation holds (a file's descriptor, a stream); safe to call more than once. */
export function closeRepresentation(representation: Representation): void {
  representation.close?.();
}
