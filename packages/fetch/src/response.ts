/**
 * The one writer of this adapter: a response description and its representation become a `Response`.
 * Bodies of at most 64 KiB are read whole; longer ones are a `ReadableStream` pulled from the core's body
 * chunks, one read per pull, that releases the representation when it ends, is cancelled, or the client
 * goes away. Each host must send the exact `Content-Length` of such a body; bun.ts says how Bun is made to.
 */
import type { Representation, ResponseDescription } from '@range-serve/core';
import {
  bodyChunks,
  CONTENT_HEADERS,
  describesRepresentation,
  exposedFieldList,
  mergeList,
  readWholeBody,
} from '@range-serve/core/adapter';
import { bunFileFields, bunFileSpan, bunWholeBody } from './bun.js';

/**
 * The `Response` for `description`, reading its body from `representation`, which it then owns: closed
 * at once for a body read whole, when the stream ends or is cancelled otherwise. `before` holds fields set
 * before the answer was made (by `setHeaders`, or a route's own response): ours win over them, and a
 * response without a representation's body drops their content fields. Rejects (the representation
 * closed) when the body cannot be read at all, so that the router can still answer with an error.
 */
export async function respond(
  request: Request,
  description: ResponseDescription,
  representation: Representation | undefined,
  before?: Headers,
): Promise<Response> {
  const body = await bodyOf(request, description, representation);
  const headers = headersOf(description, before);
  return new Response(body, {
    status: description.status,
    headers: body instanceof Blob ? bunFileFields(headers) : headers,
  });
}

/**
 * The header fields of the answer: the description's as a plain record (the form hosts send fastest),
 * or merged over `before`. Each carries `Access-Control-Expose-Headers` naming the fields of ours a script
 * on another origin needs: a CORS layer around a Web-standard handler (hono/cors) adds its
 * `Access-Control-Allow-Origin` only to the `Response` made here, so the list cannot wait to see it, and
 * without that field the list grants nothing (Fetch §3.2.6).
 */
function headersOf(description: ResponseDescription, before: Headers | undefined): Headers | Record<string, string> {
  if (before === undefined) {
    const exposed = exposedFieldList(Object.keys(description.headers));
    return exposed === undefined
      ? description.headers
      : { ...description.headers, 'access-control-expose-headers': exposed };
  }
  const headers = new Headers(before);
  if (!describesRepresentation(description)) {
    for (const name of CONTENT_HEADERS) if (description.headers[name] === undefined) headers.delete(name);
  }
  for (const name of Object.keys(description.headers)) headers.set(name, description.headers[name] as string);
  exposeFields(headers);
  return headers;
}

/** Names in `headers`' `Access-Control-Expose-Headers` the fields of ours it carries, merged into any list there. */
export function exposeFields(headers: Headers): void {
  const exposed = exposedFieldList(headers.keys());
  if (exposed === undefined) return;
  headers.set(
    'access-control-expose-headers',
    mergeList(headers.get('access-control-expose-headers') ?? undefined, exposed),
  );
}

async function bodyOf(
  request: Request,
  description: ResponseDescription,
  representation: Representation | undefined,
): Promise<Uint8Array | Blob | ReadableStream<Uint8Array> | null> {
  const body = description.body;
  if (body.type === 'none' || body.type === 'bytes') {
    representation?.close?.();
    return body.type === 'bytes' ? body.bytes : null;
  }
  try {
    const whole = readWholeBody(description, representation);
    if (whole !== null) {
      const bytes = await whole;
      representation?.close?.();
      return bytes;
    }
    const slice = bunFileSpan(description, representation);
    if (slice !== undefined) return slice;
    const read = await bunWholeBody(description, representation);
    if (read !== undefined) return read;
  } catch (err) {
    representation?.close?.();
    throw err;
  }
  return streamBody(request, description, representation);
}

/** Deno aborts `request.signal` after every successful response too, and warns once when it is read. */
const SIGNAL_MEANS_GONE = !('Deno' in globalThis);

/**
 * The body as a pull-based stream of the core's chunks, its first chunk read before it resolves (a
 * representation that cannot be read rejects here, before any status line). The representation is closed
 * once, after any read still in flight, when the body ends, fails, is cancelled or the request aborts.
 */
async function streamBody(
  request: Request,
  description: ResponseDescription,
  representation: Representation | undefined,
): Promise<ReadableStream<Uint8Array>> {
  const chunks = bodyChunks(description.body, representation);
  let first: IteratorResult<Uint8Array, void>;
  try {
    first = await chunks.next();
  } catch (err) {
    representation?.close?.();
    throw err;
  }
  const signal = SIGNAL_MEANS_GONE ? request.signal : undefined;
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let finished: Promise<void> | undefined;
  const finish = (): Promise<void> => {
    finished ??= (async () => {
      signal?.removeEventListener('abort', onAbort);
      // A read still in flight settles first: the descriptor is never closed under it.
      await chunks.return().catch(() => undefined);
      representation?.close?.();
    })();
    return finished;
  };
  // The client is gone: the representation is released now, and the stream ends quietly (an error
  // here would only be logged by hosts that report failed bodies).
  function onAbort(): void {
    void finish();
    try {
      controller?.close();
    } catch {
      // already closed or errored
    }
  }
  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        if (first.done === true) {
          c.close();
          void finish();
        } else {
          c.enqueue(first.value);
          if (signal?.aborted === true) onAbort();
          else signal?.addEventListener('abort', onAbort, { once: true });
        }
      },
      async pull(c) {
        try {
          const next = await chunks.next();
          if (finished !== undefined) return;
          if (next.done === true) {
            c.close();
            await finish();
          } else {
            c.enqueue(next.value);
          }
        } catch (err) {
          await finish();
          // An error after the status line: the host cuts the connection, so the body is seen short.
          c.error(err);
        }
      },
      cancel: finish,
    },
    // One chunk ahead: the next read from the representation overlaps the host's write of this one.
    { highWaterMark: 1 },
  );
}
