/**
 * Body streams: the bytes a plan describes, read from its representation. Files are read with
 * positioned reads from the one descriptor; a write to the file during the response makes the stream
 * fail rather than finish with mixed bytes.
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';
import type { MultipartPart } from './multipart.js';
import type { ResponsePlan } from './plan.js';
import type { ByteRange } from './range.js';
import type { FileRepresentation, Representation } from './representation.js';

/** Options for {@link createBody}. */
export interface BodyOptions {
  /** Largest single read from a file, in bytes (default 512 KiB: large reads matter most for big files). */
  readonly readSize?: number;
  /** Bytes between two checks that a file has not been written to (default 8 MiB); the last chunk is always checked. */
  readonly checkInterval?: number;
  /**
   * The response the body will be piped into. When the body stream is piped straight into it, a file
   * body reuses its read buffer once the response has flushed every earlier chunk (see {@link createBody}).
   */
  readonly destination?: FlushedSink;
}

/** What a body needs to see of its destination to know that every chunk it was given has been written. */
export interface FlushedSink {
  /** Bytes accepted but not yet written out (a `ServerResponse` counts its socket's queue too). */
  readonly writableLength: number;
}

/** Raised inside a body stream when its file changed in place while being sent. */
export class RepresentationChangedError extends Error {
  readonly code = 'ERR_REPRESENTATION_CHANGED';
}

/** Raised inside a body stream when a source stream holds fewer bytes than it declared. */
export class ShortRepresentationError extends Error {
  readonly code = 'ERR_REPRESENTATION_SHORT';
}

const DEFAULT_READ_SIZE = 512 * 1024;
const DEFAULT_CHECK_INTERVAL = 8 * 1024 * 1024;

/** The body of `plan` as a byte stream, or null when the plan sends none (HEAD, 304, 412, 416, empty 200). */
export function createBody(
  plan: ResponsePlan,
  representation: Representation,
  options: BodyOptions = {},
): Readable | null {
  if (!plan.sendBody) return null;
  let chunks: AsyncGenerator<Uint8Array>;
  if ((plan.kind === 'full' || plan.kind === 'partial') && plan.range !== null && representation.kind === 'file') {
    return new FileSpanStream(representation, plan.range, options);
  }
  if (plan.kind === 'full') {
    if (plan.range === null) return null;
    chunks = spans(representation, [plan.range], options);
  } else if (plan.kind === 'partial') {
    chunks = spans(representation, [plan.range], options);
  } else if (plan.kind === 'multipart') {
    chunks = multipart(representation, plan.parts, plan.epilogue, plan.boundary, options);
  } else {
    return null;
  }
  return Readable.from(chunks, { objectMode: false, highWaterMark: 64 * 1024 });
}

/** Bodies up to this many bytes are read whole and sent with one write (see {@link readSmallBody}). */
export const SMALL_BODY = 64 * 1024;

/**
 * The whole body of `plan` in one buffer, when it is at most {@link SMALL_BODY} bytes and its
 * representation can be read at any offset (a file or bytes); null when it has no body or should be
 * streamed with {@link createBody}. A file is read with one positioned read covering every span, then
 * checked with fstat of the same descriptor: a write in place during the read changes size or mtime,
 * so the bytes are never sent mixed (the read alone is not atomic against a concurrent writer).
 */
export function readSmallBody(plan: ResponsePlan, representation: Representation): Promise<Buffer> | null {
  if (!plan.sendBody || representation.kind === 'stream') return null;
  let spans: readonly ByteRange[];
  let length = 0;
  if (plan.kind === 'full' || plan.kind === 'partial') {
    if (plan.range === null) return null;
    spans = [plan.range];
  } else if (plan.kind === 'multipart') {
    spans = plan.parts.map((part) => part.range);
    for (const part of plan.parts) length += part.preamble.length;
    length += plan.epilogue.length;
  } else {
    return null;
  }
  let first = Number.MAX_SAFE_INTEGER;
  let last = -1;
  for (const span of spans) {
    length += span.end - span.start + 1;
    if (span.start < first) first = span.start;
    if (span.end > last) last = span.end;
  }
  if (length > SMALL_BODY) return null;
  if (representation.kind === 'bytes') {
    return Promise.resolve(
      assemble(
        plan,
        Buffer.from(representation.bytes.buffer, representation.bytes.byteOffset, representation.bytes.byteLength),
        0,
        length,
        false,
      ),
    );
  }
  // One read of the envelope of all spans when it is small too; each span on its own otherwise.
  if (last - first + 1 <= SMALL_BODY) {
    return readSpan(representation, { start: first, end: last }).then((envelope) => {
      assertUnchangedSync(representation);
      return assemble(plan, envelope, first, length, true);
    });
  }
  return Promise.all(spans.map((span) => readSpan(representation, span))).then((buffers) => {
    assertUnchangedSync(representation);
    const out = Buffer.allocUnsafe(length);
    let at = 0;
    const needle = plan.kind === 'multipart' ? Buffer.from(plan.boundary, 'latin1') : undefined;
    buffers.forEach((buffer, i) => {
      if (plan.kind === 'multipart') at += out.write((plan.parts[i] as MultipartPart).preamble, at, 'latin1');
      if (needle !== undefined && buffer.includes(needle)) throw boundaryError();
      at += buffer.copy(out, at);
    });
    if (plan.kind === 'multipart') out.write(plan.epilogue, at, 'latin1');
    return out;
  });
}

/** The body from `source`, which holds the representation's bytes from offset `base` on. */
function assemble(plan: ResponsePlan, source: Buffer, base: number, length: number, scan: boolean): Buffer {
  if (plan.kind !== 'multipart') {
    const range = (plan as { range: ByteRange }).range;
    return source.subarray(range.start - base, range.end + 1 - base);
  }
  const out = Buffer.allocUnsafe(length);
  const needle = scan ? Buffer.from(plan.boundary, 'latin1') : undefined;
  let at = 0;
  for (const part of plan.parts) {
    at += out.write(part.preamble, at, 'latin1');
    const content = source.subarray(part.range.start - base, part.range.end + 1 - base);
    if (needle !== undefined && content.includes(needle)) throw boundaryError();
    at += content.copy(out, at);
  }
  out.write(plan.epilogue, at, 'latin1');
  return out;
}

function boundaryError(): Error {
  // RFC 2046 §5.1.1: the boundary must not occur in a part; a 128-bit random one almost never does.
  return new Error('multipart boundary occurs in the content; response aborted');
}

/**
 * One span of a file as a stream. Its read buffer is reused only when nothing can still refer to the
 * chunk it last carried: the stream is piped straight into `options.destination` (no transform between),
 * the pipe is its only reader, nothing waits in its own queue, and the destination has written out
 * everything (`writableLength` 0). Otherwise each read gets a fresh buffer. A fresh buffer per 512 KiB
 * is what made long bodies slow: V8 answers the external memory with a full collection every few dozen
 * megabytes, and that costs as much as the live heap of the application around us.
 */
class FileSpanStream extends Readable {
  private position: number;
  private readonly end: number;
  private readonly size: number;
  private readonly interval: number;
  private sinceCheck = 0;
  private spare: Buffer | undefined;
  private direct = false;
  private reading: Promise<void> | undefined;

  constructor(
    private readonly file: FileRepresentation,
    range: ByteRange,
    private readonly options: BodyOptions,
  ) {
    super({ highWaterMark: 0 });
    this.position = range.start;
    this.end = range.end + 1;
    this.size = Math.min(options.readSize ?? DEFAULT_READ_SIZE, this.end - this.position);
    this.interval = options.checkInterval ?? DEFAULT_CHECK_INTERVAL;
  }

  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    this.direct = destination === (this.options.destination as unknown);
    return super.pipe(destination, options);
  }

  override _read(): void {
    if (this.reading !== undefined) return;
    this.reading = this.readChunk().then(
      () => {
        this.reading = undefined;
      },
      (err: unknown) => {
        this.reading = undefined;
        this.destroy(err as Error);
      },
    );
  }

  private async readChunk(): Promise<void> {
    const length = Math.min(this.size, this.end - this.position);
    const destination = this.options.destination;
    const reusable =
      this.direct &&
      destination !== undefined &&
      destination.writableLength === 0 &&
      this.readableLength === 0 &&
      this.listenerCount('data') <= 1;
    const buffer = reusable && this.spare !== undefined ? this.spare : Buffer.allocUnsafeSlow(this.size);
    if (reusable) this.spare = buffer;
    await readFully(this.file, buffer, length, this.position);
    this.position += length;
    this.sinceCheck += length;
    // The final chunk is held back until fstat shows the file unchanged (as in createBody's other paths).
    if (this.sinceCheck >= this.interval || this.position === this.end) {
      this.sinceCheck = 0;
      assertUnchangedSync(this.file);
    }
    if (this.destroyed) return;
    this.push(length === this.size ? buffer : buffer.subarray(0, length));
    if (this.position === this.end) this.push(null);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // 'close' (after which the descriptor may be closed) waits for a read still in progress.
    const pending = this.reading;
    if (pending === undefined) callback(error);
    else void pending.then(() => callback(error));
  }
}

/** Where {@link writeFileRange} hands its chunks: a Node `ServerResponse` or any `Writable`. */
export interface ByteSink {
  write(chunk: Uint8Array, callback: (error?: Error | null) => void): boolean;
  readonly destroyed: boolean;
  once(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
}

/**
 * Writes one span of a file to `sink` through two read buffers used in turn: a buffer is read into again
 * only after the write that carried it has called back, so a long body allocates nothing per chunk (a
 * fresh buffer per read makes V8 run a full collection every few dozen megabytes). The same checks as
 * {@link createBody}: fstat every `checkInterval` bytes and before the last chunk is handed over.
 * Resolves true when every byte was handed over, false when the sink closed first; rejects on a read
 * error or a change to the file, and the caller then destroys the sink.
 */
export async function writeFileRange(
  file: FileRepresentation,
  range: ByteRange,
  sink: ByteSink,
  options: BodyOptions = {},
): Promise<boolean> {
  const size = Math.min(options.readSize ?? DEFAULT_READ_SIZE, range.end - range.start + 1);
  const interval = options.checkInterval ?? DEFAULT_CHECK_INTERVAL;
  const buffers = [Buffer.allocUnsafeSlow(size), Buffer.allocUnsafeSlow(size)] as const;
  const inFlight: [Promise<unknown> | undefined, Promise<unknown> | undefined] = [undefined, undefined];
  let closed = sink.destroyed;
  let onClose!: () => void;
  const whenClosed = new Promise<void>((resolve) => {
    onClose = () => {
      closed = true;
      resolve();
    };
  });
  sink.once('close', onClose);
  try {
    let position = range.start;
    const end = range.end + 1;
    let sinceCheck = 0;
    for (let slot = 0; position < end; slot ^= 1) {
      await inFlight[slot]; // the write that last carried this buffer has called back
      if (closed) return false;
      const buffer = buffers[slot] as Buffer;
      const length = Math.min(size, end - position);
      await readFully(file, buffer, length, position);
      position += length;
      sinceCheck += length;
      if (sinceCheck >= interval || position === end) {
        sinceCheck = 0;
        assertUnchangedSync(file);
      }
      if (closed) return false;
      const chunk = length === size ? buffer : buffer.subarray(0, length);
      inFlight[slot] = Promise.race([new Promise((resolve) => sink.write(chunk, resolve)), whenClosed]);
    }
    await Promise.all(inFlight);
    return !closed;
  } finally {
    sink.off('close', onClose);
  }
}

/** Reads the bytes of `range` from a representation that can be read at any offset (a file or bytes). */
export async function readSpan(representation: FileRepresentation, range: ByteRange): Promise<Buffer> {
  const length = range.end - range.start + 1;
  const buffer = Buffer.allocUnsafe(length);
  await readFully(representation, buffer, length, range.start);
  return buffer;
}

async function* spans(
  representation: Representation,
  ranges: readonly ByteRange[],
  options: BodyOptions,
): AsyncGenerator<Uint8Array> {
  const source = openSource(representation, options);
  const last = ranges.length - 1;
  for (let i = 0; i <= last; i++) yield* source.read(ranges[i] as ByteRange, i === last);
}

async function* multipart(
  representation: Representation,
  parts: readonly MultipartPart[],
  epilogue: string,
  boundary: string,
  options: BodyOptions,
): AsyncGenerator<Uint8Array> {
  const source = openSource(representation, options);
  const needle = Buffer.from(boundary, 'latin1');
  // In-memory content was checked for the boundary while planning; other sources are checked as they stream.
  const scan = representation.kind !== 'bytes';
  const last = parts.length - 1;
  for (let i = 0; i <= last; i++) {
    const part = parts[i] as MultipartPart;
    yield Buffer.from(part.preamble, 'latin1');
    let tail: Buffer | undefined;
    for await (const chunk of source.read(part.range, i === last)) {
      if (scan) {
        const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        // RFC 2046 §5.1.1: the boundary must not occur in a part; a 128-bit random one almost never does,
        // and if it ever does the response is cut short rather than mis-framed.
        if (
          buf.includes(needle) ||
          (tail !== undefined && Buffer.concat([tail, buf.subarray(0, needle.length - 1)]).includes(needle))
        ) {
          throw new Error('multipart boundary occurs in the content; response aborted');
        }
        tail = buf.subarray(Math.max(0, buf.length - (needle.length - 1)));
      }
      yield chunk;
    }
  }
  yield Buffer.from(epilogue, 'latin1');
}

interface Source {
  read(range: ByteRange, isLastSpan: boolean): AsyncGenerator<Uint8Array>;
}

function openSource(representation: Representation, options: BodyOptions): Source {
  switch (representation.kind) {
    case 'bytes':
      return bytesSource(representation.bytes);
    case 'file':
      return fileSource(representation, options);
    case 'stream':
      return streamSource(representation.stream, representation.size);
  }
}

function bytesSource(bytes: Uint8Array): Source {
  return {
    async *read(range) {
      yield bytes.subarray(range.start, range.end + 1);
    },
  };
}

function fileSource(file: FileRepresentation, options: BodyOptions): Source {
  const readSize = options.readSize ?? DEFAULT_READ_SIZE;
  const interval = options.checkInterval ?? DEFAULT_CHECK_INTERVAL;
  let sinceCheck = 0;
  return {
    async *read(range, isLastSpan) {
      let position = range.start;
      const end = range.end + 1;
      while (position < end) {
        const length = Math.min(readSize, end - position);
        const buffer = Buffer.allocUnsafe(length);
        await readFully(file, buffer, length, position);
        position += length;
        sinceCheck += length;
        // The final chunk is held back until fstat shows the file unchanged, so a response that
        // completes never mixes two versions; long bodies are checked along the way too.
        if (sinceCheck >= interval || (isLastSpan && position === end)) {
          sinceCheck = 0;
          await assertUnchanged(file);
        }
        yield buffer;
      }
    },
  };
}

async function assertUnchanged(file: FileRepresentation): Promise<void> {
  assertUnchangedSync(file);
}

/** fstat of an open descriptor never waits for the disk, so it is done in place, not on the thread pool. */
function assertUnchangedSync(file: FileRepresentation): void {
  const now = fs.fstatSync(file.fd, { bigint: true });
  // mtime and size change with every write to the data; ctime also moves on rename or unlink, which
  // leave the open descriptor's bytes intact, so it is not compared.
  if (now.size !== file.stat.size || now.mtimeNs !== file.stat.mtimeNs) {
    throw new RepresentationChangedError(`file changed while being sent: ${file.path}`);
  }
}

/** Fills buffer[0, length) from the file at `position`; a file that ends early has changed under us. */
async function readFully(file: FileRepresentation, buffer: Buffer, length: number, position: number): Promise<void> {
  let filled = 0;
  while (filled < length) {
    const n = await pread(file.fd, buffer, filled, length - filled, position + filled);
    if (n === 0) throw new RepresentationChangedError(`file shrank while being sent: ${file.path}`);
    filled += n;
  }
}

function pread(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

/** Serves ascending spans from a one-shot stream: skips the bytes before each span, stops after the last. */
function streamSource(stream: Readable, size: number): Source {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Uint8Array | string>;
  let position = 0; // offset of `pending` in the representation
  let pending: Buffer | undefined;
  async function next(): Promise<Buffer | undefined> {
    if (pending !== undefined) {
      const chunk = pending;
      pending = undefined;
      return chunk;
    }
    const result = await iterator.next();
    if (result.done) return undefined;
    const value = result.value;
    if (Buffer.isBuffer(value)) return value;
    return typeof value === 'string'
      ? Buffer.from(value)
      : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  return {
    async *read(range, isLastSpan) {
      let completed = false;
      try {
        while (position <= range.end) {
          const chunk = await next();
          if (chunk === undefined) throw new ShortRepresentationError(`stream ended at ${position} of ${size} bytes`);
          const chunkEnd = position + chunk.length; // exclusive
          if (chunkEnd <= range.start) {
            position = chunkEnd;
            continue;
          }
          const from = Math.max(0, range.start - position);
          const to = Math.min(chunk.length, range.end + 1 - position);
          yield chunk.subarray(from, to);
          if (to < chunk.length) {
            pending = chunk.subarray(to);
            position += to;
          } else {
            position = chunkEnd;
          }
        }
        completed = true;
      } finally {
        // Past the last span, or abandoned part-way: the rest of the stream is not wanted.
        if (isLastSpan || !completed) await iterator.return?.();
      }
    },
  };
}
