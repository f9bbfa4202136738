/**
 * The one reader: the bytes a response description selects, read from its representation through the
 * `Representation` interface. Framing (multipart preambles, the boundary check), the changed-file check
 * and buffer handling live here once, for the Node writer, for Koa's body stream and for handler bodies
 * that pass through the interception.
 */
import { Readable } from 'node:stream';
import type { MultipartPart } from './multipart.js';
import type { ByteRange } from './range.js';
import { responseGone, writeSizeFor } from './http2.js';
import { type Representation, ShortRepresentationError } from './representation.js';
import type { ResponseBody, ResponseDescription } from './response.js';

/** How bodies are read. */
export interface BodyOptions {
  /** Largest single read, in bytes (default 512 KiB: large reads matter most for big files). */
  readonly readSize?: number;
  /** Bytes between two `verify` calls along a long body (default 8 MiB); the last chunk is always verified. */
  readonly checkInterval?: number;
}

/** Bodies up to this many bytes are read whole and sent with one write. */
export const SMALL_BODY = 64 * 1024;

/** The largest single read when no `readSize` is given. */
export const DEFAULT_READ_SIZE = 512 * 1024;
const DEFAULT_CHECK_INTERVAL = 8 * 1024 * 1024;

/**
 * Where a reader gets the buffers it reads into: fresh ones by default; a consumer that knows when a
 * chunk has been written out can hand the same buffers back (see the Node writer).
 */
export interface ReadBuffers {
  /** A buffer of at least `size` bytes that nothing else still refers to. */
  acquire(size: number): Buffer | Promise<Buffer>;
}

const FRESH_BUFFERS: ReadBuffers = { acquire: (size) => Buffer.allocUnsafeSlow(size) };

/** The number of bytes `body` holds. */
export function bodyLength(body: ResponseBody): number {
  switch (body.type) {
    case 'none':
      return 0;
    case 'bytes':
      return body.bytes.byteLength;
    case 'span':
      return spanLength(body.range);
    case 'multipart': {
      if (body.length !== undefined) return body.length;
      let length = Buffer.byteLength(body.epilogue, 'latin1');
      for (const part of body.parts) length += Buffer.byteLength(part.preamble, 'latin1') + spanLength(part.range);
      return length;
    }
  }
}

function spanLength(range: ByteRange): number {
  return range.end - range.start + 1;
}

/**
 * The body of `response` as chunks, in order. Chunks read into buffers from `buffers` are handed over
 * as they are: the consumer must be done with one before the next `acquire` returns its buffer.
 */
export async function* bodyChunks(
  body: ResponseBody,
  representation: Representation | undefined,
  options: BodyOptions = {},
  buffers: ReadBuffers = FRESH_BUFFERS,
): AsyncGenerator<Uint8Array, void, undefined> {
  if (body.type === 'none') return;
  if (body.type === 'bytes') {
    yield body.bytes;
    return;
  }
  if (representation === undefined) throw new TypeError('a body of spans needs its representation');
  const reader = new SpanReader(representation, options, buffers);
  if (body.type === 'span') {
    yield* reader.read(body.range, true);
    return;
  }
  const guard = new BoundaryGuard(body.boundary);
  const last = body.parts.length - 1;
  for (let i = 0; i <= last; i++) {
    const part = body.parts[i] as MultipartPart;
    guard.reset();
    yield Buffer.from(part.preamble, 'latin1');
    for await (const chunk of reader.read(part.range, i === last)) {
      guard.check(chunk);
      yield chunk;
    }
  }
  yield Buffer.from(body.epilogue, 'latin1');
}

/** Reads spans of one representation, verifying it along the way and before the body's last chunk. */
class SpanReader {
  private readonly readSize: number;
  private readonly interval: number;
  private sinceCheck = 0;

  constructor(
    private readonly representation: Representation,
    options: BodyOptions,
    private readonly buffers: ReadBuffers,
  ) {
    this.readSize = options.readSize ?? DEFAULT_READ_SIZE;
    this.interval = options.checkInterval ?? DEFAULT_CHECK_INTERVAL;
  }

  async *read(range: ByteRange, isLastSpan: boolean): AsyncGenerator<Uint8Array, void, undefined> {
    const rep = this.representation;
    if (rep.readInto !== undefined) {
      let position = range.start;
      const end = range.end + 1;
      while (position < end) {
        const length = Math.min(this.readSize, end - position);
        const buffer = await this.buffers.acquire(Math.min(this.readSize, spanLength(range)));
        const chunk = buffer.subarray(0, length);
        await readFully(rep, chunk, position);
        position += length;
        this.checked(length, isLastSpan && position === end);
        yield chunk;
      }
      return;
    }
    if (rep.stream === undefined) throw new TypeError('a representation must have readInto or stream');
    let expected = spanLength(range);
    for await (const chunk of rep.stream(range)) {
      if (chunk.byteLength === 0) continue;
      if (chunk.byteLength > expected) throw new RangeError('a representation streamed more bytes than its span');
      expected -= chunk.byteLength;
      // The final chunk is held back until the representation shows it is unchanged.
      this.checked(chunk.byteLength, isLastSpan && expected === 0);
      yield chunk;
      if (expected === 0) break;
    }
    if (expected !== 0) throw new ShortRepresentationError(`span ended ${expected} bytes short`);
    // A one-shot stream is released as soon as its last wanted byte is out: nothing after it is read.
    if (isLastSpan && rep.sequential === true) rep.close?.();
  }

  /** Counts `length` more bytes read, and verifies the representation when it is due. */
  private checked(length: number, final: boolean): void {
    this.sinceCheck += length;
    if (final || this.sinceCheck >= this.interval) {
      this.sinceCheck = 0;
      this.representation.verify?.();
    }
  }
}

/** Fills `chunk` from the representation at `position`; a representation that ends early has changed or lied. */
async function readFully(rep: Representation, chunk: Buffer, position: number): Promise<void> {
  const readInto = rep.readInto as NonNullable<Representation['readInto']>;
  let filled = 0;
  while (filled < chunk.length) {
    const n = await readInto(filled === 0 ? chunk : chunk.subarray(filled), position + filled);
    if (n === 0) {
      rep.verify?.(); // a file that shrank says so first
      throw new ShortRepresentationError(`representation ended at byte ${position + filled} of ${rep.size}`);
    }
    filled += n;
  }
}

/** RFC 2046 §5.1.1: the boundary must not occur in a part; if it ever does, the body is cut short rather than mis-framed. */
/** Raised when a part's content holds the multipart boundary; the response is aborted. */
class BoundaryInContentError extends Error {
  constructor() {
    super('multipart boundary occurs in the content; response aborted');
  }
}

class BoundaryGuard {
  private readonly needle: Buffer;
  private tail: Buffer | undefined;

  constructor(boundary: string) {
    this.needle = Buffer.from(boundary, 'latin1');
  }

  reset(): void {
    this.tail = undefined;
  }

  check(chunk: Uint8Array): void {
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const keep = this.needle.length - 1;
    if (
      buf.includes(this.needle) ||
      (this.tail !== undefined && Buffer.concat([this.tail, buf.subarray(0, keep)]).includes(this.needle))
    ) {
      throw new BoundaryInContentError();
    }
    this.tail = Buffer.from(buf.subarray(Math.max(0, buf.length - keep)));
  }
}

/**
 * The whole body in one buffer when it is at most {@link SMALL_BODY} bytes and its representation reads
 * at any offset; null otherwise (stream it with {@link bodyChunks}). The spans are read first (one read
 * of their envelope when that is small too), then the representation is verified once: a write in place
 * during the read shows in its fstat, so the bytes are never sent mixed.
 */
export function readWholeBody(
  response: ResponseDescription,
  representation: Representation | undefined,
): Promise<Buffer> | null {
  const body = response.body;
  if (body.type === 'none' || body.type === 'bytes') return null;
  if (representation?.readInto === undefined || bodyLength(body) > SMALL_BODY) return null;
  return readSmall(body, representation);
}

async function readSmall(
  body: Extract<ResponseBody, { type: 'span' | 'multipart' }>,
  rep: Representation,
): Promise<Buffer> {
  const spans = body.type === 'span' ? [body.range] : body.parts.map((part) => part.range);
  let first = Number.MAX_SAFE_INTEGER;
  let last = -1;
  for (const span of spans) {
    if (span.start < first) first = span.start;
    if (span.end > last) last = span.end;
  }
  let contents: Buffer[];
  if (last - first + 1 <= SMALL_BODY) {
    const envelope = Buffer.allocUnsafe(last - first + 1);
    await readFully(rep, envelope, first);
    contents = spans.map((span) => envelope.subarray(span.start - first, span.end + 1 - first));
  } else {
    contents = await Promise.all(
      spans.map(async (span) => {
        const chunk = Buffer.allocUnsafe(spanLength(span));
        await readFully(rep, chunk, span.start);
        return chunk;
      }),
    );
  }
  rep.verify?.();
  if (body.type === 'span') return contents[0] as Buffer;
  const out = Buffer.allocUnsafe(bodyLength(body));
  // Each part's content is whole here, so one search of it is the boundary check (RFC 2046 §5.1.1).
  const boundary = Buffer.from(body.boundary, 'latin1');
  let at = 0;
  body.parts.forEach((part, i) => {
    at += out.write(part.preamble, at, 'latin1');
    const content = contents[i] as Buffer;
    if (content.includes(boundary)) throw new BoundaryInContentError();
    at += content.copy(out, at);
  });
  out.write(body.epilogue, at, 'latin1');
  return out;
}

/** What a body stream needs to see of its destination to know that every chunk it was given has been written. */
export interface FlushedSink {
  /** Bytes accepted but not yet written out (a `ServerResponse` counts its socket's queue too). */
  readonly writableLength: number;
}

/** Options for {@link createBody}. */
export interface BodyStreamOptions extends BodyOptions {
  /**
   * The response the stream will be piped into. Piped straight into it, the stream reuses its read
   * buffer once the response has written out every earlier chunk; through anything else, never.
   */
  readonly destination?: FlushedSink;
}

/**
 * The body of `response` as a byte stream (for frameworks that take a stream, such as Koa), or null when
 * it has none. The stream does not close the representation: listen for its `'close'`.
 */
export function createBody(
  response: ResponseDescription,
  representation: Representation | undefined,
  options: BodyStreamOptions = {},
): Readable | null {
  if (response.body.type === 'none') return null;
  return new BodyStream(response.body, representation, options);
}

/**
 * {@link createBody}, with the first chunk read before it resolves: a representation that cannot be read
 * at all rejects here, before any status line, so that the framework can still answer with an error.
 */
export async function openBody(
  response: ResponseDescription,
  representation: Representation | undefined,
  options: BodyStreamOptions = {},
): Promise<Readable | null> {
  if (response.body.type === 'none') return null;
  const stream = new BodyStream(response.body, representation, options);
  await stream.prime();
  return stream;
}

/**
 * How a body stream made by {@link createBody} or {@link openBody} ends when its client went away while a
 * `stream.pipeline` into the response was sending it (Koa 3 pipes every body so, and reports any error of
 * that pipeline to the app): `expose` is true, so that Koa's default error handler prints nothing, and
 * `code` is `ERR_CLIENT_GONE`, for an app's own `'error'` listener to leave aside. Nothing was lost that
 * anyone could still receive.
 */
export class ClientGoneError extends Error {
  override readonly name: string = 'ClientGoneError';
  readonly code = 'ERR_CLIENT_GONE';
  readonly expose = true;
  constructor() {
    super('the client went away before the response was complete');
  }
}

/**
 * Releases a body stream made by {@link createBody} or {@link openBody} whose response ended, whole or
 * because its client went away (a closed or reset connection, a cancelled HTTP/2 stream); call it at the
 * first sign of that (the response's `'close'`, on-finished), registered before the pipeline's own
 * listeners. Piped straight into the response by a `stream.pipeline` (Koa 3 pipes every body so, and
 * reports any error of that pipeline to the app), a body cut short ends the pipeline without a report
 * where the response already counts as finished (an HTTP/2 reset), and otherwise with a
 * {@link ClientGoneError} in place of a bare `ERR_STREAM_PREMATURE_CLOSE`. Any other stream, and a
 * stream piped anywhere else, is only destroyed.
 */
export function abandonBody(stream: Readable): void {
  if (stream instanceof BodyStream) stream.abandon();
  else stream.destroy();
}

/**
 * A body as a Readable. Its read buffer is reused only when nothing can still refer to the chunk it last
 * carried: it is piped straight into `options.destination`, the pipe is its only reader, nothing waits in
 * its own queue, and the destination has written out everything. Otherwise each read gets a fresh buffer.
 */
class BodyStream extends Readable {
  private readonly chunks: AsyncGenerator<Uint8Array, void, undefined>;
  private spare: Buffer | undefined;
  private direct = false;
  private inPipeline = false;
  /** The response this stream is piped straight into has emitted `'finish'` (an HTTP/2 one does so on a reset too). */
  private destinationFinished = false;
  private reading: Promise<void> | undefined;
  private primed: IteratorResult<Uint8Array, void> | undefined;

  constructor(
    body: ResponseBody,
    representation: Representation | undefined,
    private readonly options: BodyStreamOptions,
  ) {
    super({ highWaterMark: 0 });
    // Over HTTP/2, what is queued on the stream stays within its flow-control window (http2.ts).
    const readSize = writeSizeFor(options.destination, options.readSize ?? DEFAULT_READ_SIZE);
    this.chunks = bodyChunks(body, representation, { ...options, readSize }, { acquire: (size) => this.buffer(size) });
    const destination = options.destination as Partial<NodeJS.EventEmitter> | undefined;
    if (typeof destination?.prependListener === 'function') {
      // Ahead of every other listener, so that whoever reacts to the response's end (on-finished, and
      // through it abandonBody) already knows it finished: an HTTP/2 response emits 'finish' on a reset too.
      const finished = (): void => {
        this.destinationFinished = true;
      };
      destination.prependListener('finish', finished);
      this.once('close', () => destination.removeListener?.('finish', finished));
    }
  }

  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    this.direct = destination === (this.options.destination as unknown);
    // `stream.pipeline` pipes with `end: false` and ends the destination itself, watching both ends.
    if (this.direct) this.inPipeline = options?.end === false;
    return super.pipe(destination, options);
  }

  private buffer(size: number): Buffer {
    const destination = this.options.destination;
    const reusable =
      this.direct &&
      destination !== undefined &&
      destination.writableLength === 0 &&
      this.readableLength === 0 &&
      this.listenerCount('data') <= 1;
    if (!reusable) return Buffer.allocUnsafeSlow(size);
    if (this.spare === undefined || this.spare.length < size) this.spare = Buffer.allocUnsafeSlow(size);
    return this.spare;
  }

  /** Reads the first chunk now; it is pushed on the first `_read`. Rejects when it cannot be read. */
  async prime(): Promise<void> {
    const first = await this.chunks.next();
    this.primed = first;
  }

  /** See {@link abandonBody}. */
  abandon(): void {
    if (this.destroyed) return;
    // Only a stream piped straight into the response, by a pipeline that will report how it ended, needs
    // more than releasing: a layer in between (a compressor, a tee that stores what it sees) must never
    // take a cut body for a whole one, and a plain pipe (Koa 2's) reports nothing.
    if (!this.direct || !this.inPipeline || this.readableEnded) {
      this.destroy();
      return;
    }
    if (this.destinationFinished) {
      // The response already counts as finished (an HTTP/2 stream reset emits 'finish'): with its source
      // ended too, the pipeline completes without a report. Emitted here rather than after push(null),
      // which would wait a tick: the pipeline counts a destination closed before its source ended as a
      // premature close.
      this.emit('end');
      this.destroy();
      return;
    }
    // The pipeline is about to report a response closed unfinished: the report names the cause, ahead of
    // the pipeline's own listeners, and the response is left unfinished, as it is (an access log reading
    // `writableFinished` must see a cut download as cut).
    this.destroy();
    this.emit('error', new ClientGoneError());
  }

  override _read(): void {
    if (this.reading !== undefined) return;
    // Nothing more is read for a response whose HTTP/2 stream was reset: the end of the response (and
    // abandonBody) follows a tick later and releases the stream.
    if (this.direct && responseGone(this.options.destination as object)) return;
    const primed = this.primed;
    if (primed !== undefined) {
      this.primed = undefined;
      this.push(primed.done === true ? null : primed.value);
      return;
    }
    this.reading = this.chunks.next().then(
      (result) => {
        this.reading = undefined;
        if (this.destroyed) return;
        this.push(result.done === true ? null : result.value);
      },
      (err: unknown) => {
        this.reading = undefined;
        this.destroy(err as Error);
      },
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // 'close' (after which the representation may be closed) waits for a read still in progress.
    const pending = this.reading ?? Promise.resolve();
    void pending
      .then(() => this.chunks.return())
      .then(
        () => callback(error),
        () => callback(error),
      );
  }
}

/**
 * A body described by a plan, cut from a representation that arrives as chunks pushed from outside (a
 * route handler's `res.write` calls): each chunk in, the bytes to send out, in order. Synchronous, so the
 * handler's write can answer with the real write's backpressure.
 */
export class SequentialBody {
  private position = 0;
  private part = 0;
  private started = false;
  private readonly guard: BoundaryGuard | undefined;
  private readonly spans: readonly ByteRange[];

  constructor(
    private readonly body: ResponseBody,
    private readonly size: number,
  ) {
    this.spans = body.type === 'span' ? [body.range] : body.type === 'multipart' ? body.parts.map((p) => p.range) : [];
    this.guard = body.type === 'multipart' ? new BoundaryGuard(body.boundary) : undefined;
  }

  /** True once every byte the body needs has arrived. */
  get complete(): boolean {
    return this.part >= this.spans.length;
  }

  /** The bytes to send for the next `chunk` of the representation (ascending spans only). */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let offset = 0;
    while (offset < chunk.byteLength && !this.complete) {
      const span = this.spans[this.part] as ByteRange;
      const at = this.position + offset;
      if (at < span.start) {
        offset += Math.min(span.start - at, chunk.byteLength - offset);
        continue;
      }
      if (!this.started) {
        this.started = true;
        this.guard?.reset();
        if (this.body.type === 'multipart') out.push(Buffer.from(this.preamble(), 'latin1'));
      }
      const take = Math.min(span.end + 1 - at, chunk.byteLength - offset);
      const slice = chunk.subarray(offset, offset + take);
      this.guard?.check(slice);
      out.push(slice);
      offset += take;
      if (at + take > span.end) {
        this.part++;
        this.started = false;
        if (this.complete && this.body.type === 'multipart') out.push(Buffer.from(this.body.epilogue, 'latin1'));
      }
    }
    this.position += chunk.byteLength;
    return out;
  }

  /** Called at the end of the input: throws when fewer bytes arrived than the body needs. */
  finish(): void {
    if (!this.complete) {
      throw new ShortRepresentationError(`body ended at ${this.position} of ${this.size} declared bytes`);
    }
  }

  private preamble(): string {
    return this.body.type === 'multipart' ? (this.body.parts[this.part] as MultipartPart).preamble : '';
  }
}
