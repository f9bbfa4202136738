/**
 * A route's `Response` body as the core sees a handler's body. A `Response` does not say what it was made
 * from, so its stream is read for as long as the host hands chunks over at once: a body of bytes, a
 * string or a `Blob` ends that way and is planned as bytes; a stream that makes the reader wait is one of
 * unknown length (ranged only with a `Content-Length`), and nothing it has not sent yet is waited for.
 */

/** Bytes read ahead before a body that has not ended is taken for a stream. */
const PEEK_LIMIT = 8 * 1024 * 1024;

/** A response body after the look ahead. */
export type PeekedBody =
  /** The whole body, read. */
  | { readonly ended: true; readonly bytes: Uint8Array }
  /** A stream still running (or one of other chunks than bytes, `opaque`): the chunks read so far, then the rest. */
  | { readonly ended: false; readonly rest: BodyRest; readonly opaque: boolean };

/** Reads `body` for as long as each chunk is there at once (see {@link soon}), up to {@link PEEK_LIMIT} bytes. */
export async function peekBody(body: ReadableStream<Uint8Array>): Promise<PeekedBody> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size <= PEEK_LIMIT) {
    const read = reader.read();
    const result = await soon(read);
    if (result === undefined) return { ended: false, rest: new BodyRest(reader, chunks, read), opaque: false };
    if (result.done === true) return { ended: true, bytes: concat(chunks, size) };
    const chunk = result.value;
    chunks.push(chunk);
    // Not bytes (a stream of strings, which hosts refuse too): passed on as it is, never planned.
    if (!((chunk as unknown) instanceof Uint8Array)) {
      return { ended: false, rest: new BodyRest(reader, chunks, undefined), opaque: true };
    }
    size += chunk.byteLength;
  }
  return { ended: false, rest: new BodyRest(reader, chunks, undefined), opaque: false };
}

/**
 * Microtask turns a read may take and still count as "at once". Every host hands over the chunks of a body
 * made from bytes, a string or a `Blob` within a few (Deno's Blob takes five); a stream fed by a timer,
 * I/O or another request never settles within any number of them.
 */
const MICROTASK_TURNS = 32;

/** `promise`'s value if it settles within {@link MICROTASK_TURNS}, else undefined (it keeps running). */
async function soon<T>(promise: Promise<T>): Promise<T | undefined> {
  let settled = false;
  let failed = false;
  let value: T | undefined;
  let error: unknown;
  promise.then(
    (result) => {
      settled = true;
      value = result;
    },
    (err: unknown) => {
      settled = failed = true;
      error = err;
    },
  );
  for (let turn = 0; turn < MICROTASK_TURNS && !settled; turn++) await undefined;
  if (failed) throw error;
  return value;
}

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

/**
 * The rest of a body still being read: the chunks read ahead, the read in flight, then the reader's. As
 * an async iterable (a stream representation's source) or a `ReadableStream` again (sent as it is);
 * cancelling either cancels the route's stream at once, even while a read waits.
 */
export class BodyRest implements AsyncIterable<Uint8Array> {
  constructor(
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    private readonly ahead: Uint8Array[],
    private pending: ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']> | undefined,
  ) {}

  /** The next chunk, or undefined at the end. */
  async next(): Promise<Uint8Array | undefined> {
    const chunk = this.ahead.shift();
    if (chunk !== undefined) return chunk;
    const read = this.pending ?? this.reader.read();
    this.pending = undefined;
    const result = await read;
    return result.done === true ? undefined : result.value;
  }

  /** Stops the route's stream; what it was doing is of no more use. */
  cancel(): void {
    this.ahead.length = 0;
    this.reader.cancel().catch(() => undefined);
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: async () => {
        const value = await this.next();
        return value === undefined ? { done: true, value: undefined } : { done: false, value };
      },
      return: async () => {
        this.cancel();
        return { done: true, value: undefined };
      },
    };
  }

  /** The rest as a stream again, pulled one chunk at a time. */
  stream(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          const chunk = await this.next();
          if (chunk === undefined) controller.close();
          else controller.enqueue(chunk);
        },
        cancel: () => this.cancel(),
      },
      { highWaterMark: 0 },
    );
  }
}
