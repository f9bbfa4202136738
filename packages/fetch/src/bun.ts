/**
 * Bun sends a `ReadableStream` body with `Transfer-Encoding: chunked` and drops the `Content-Length` the
 * response declared (oven-sh/bun#10507). It keeps an exact length only for bodies whose size it knows: bytes,
 * and a `Bun.file` or a slice of one, which it sends with sendfile. So on Bun a single span of a file is
 * handed to `Bun.file(path).slice(...)`, and any other body up to {@link BUN_WHOLE_BODY} bytes (multipart,
 * a store read through `readInto`) is read whole. Longer bodies of that kind are streamed, chunked. (Bodies
 * of at most 64 KiB are read whole on every host before this is asked: one read of ours costs less than
 * Bun's open, fstat and sendfile.) Nothing here runs on other hosts.
 */
import { statSync } from 'node:fs';
import type { FileRepresentation, Representation, ResponseDescription } from '@range-serve/core';
import { bodyChunks, type ReadBuffers } from '@range-serve/core/adapter';

/** The part of Bun's global this adapter uses. */
interface BunGlobal {
  file(path: string): { slice(start: number, end: number): Blob };
}

const bun = (globalThis as { Bun?: BunGlobal }).Bun;

/** Bodies up to this many bytes that Bun cannot send by itself are read whole on Bun, to keep their length. */
export const BUN_WHOLE_BODY = 8 * 1024 * 1024;

/**
 * On Bun, a single span of a file as a slice of `Bun.file`, which Bun sends itself with sendfile and its
 * exact length; undefined otherwise. The representation is closed when a slice is returned.
 */
export function bunFileSpan(
  description: ResponseDescription,
  representation: Representation | undefined,
): Blob | undefined {
  if (bun === undefined) return undefined;
  const slice = fileSpan(bun, description, representation);
  if (slice !== undefined) representation?.close?.();
  return slice;
}

/**
 * The header fields for a `Bun.file` body. Bun names the file in a `Content-Disposition: filename="..."` of
 * its own when the response has none and its type is not one a browser shows (`application/octet-stream`,
 * PDF, ZIP): a field without a disposition type, which a browser may take as "save as". `inline` (what no
 * field means, RFC 6266 §4.2) keeps it out; a disposition of the answer's own (`download`, `setHeaders`) stays.
 */
export function bunFileFields(headers: Headers | Record<string, string>): Headers | Record<string, string> {
  if (headers instanceof Headers) {
    if (!headers.has('content-disposition')) headers.set('content-disposition', 'inline');
    return headers;
  }
  return headers['content-disposition'] === undefined ? { ...headers, 'content-disposition': 'inline' } : headers;
}

/**
 * On Bun, a body of at most {@link BUN_WHOLE_BODY} bytes read whole, so that Bun sends its length;
 * undefined elsewhere or for a longer body (stream it). The representation is closed once it is read; on a
 * failure the caller closes it.
 */
export async function bunWholeBody(
  description: ResponseDescription,
  representation: Representation | undefined,
): Promise<Uint8Array | undefined> {
  const length = Number(description.headers['content-length']);
  if (bun === undefined || !(length <= BUN_WHOLE_BODY)) return undefined;
  const whole = new Uint8Array(length);
  let at = 0;
  // Each chunk is copied out before the next read, so one scratch buffer serves every read.
  let scratch = Buffer.alloc(0);
  const buffers: ReadBuffers = {
    acquire: (size) => (scratch.length >= size ? scratch : (scratch = Buffer.allocUnsafeSlow(size))),
  };
  for await (const chunk of bodyChunks(description.body, representation, {}, buffers)) {
    whole.set(chunk, at);
    at += chunk.byteLength;
  }
  representation?.close?.();
  return whole;
}

/**
 * A single span of a file as a slice of `Bun.file`, which Bun opens again by its path: only when the path
 * still names the very file that was planned (device, inode, size and modification time, after the
 * descriptor's own fstat shows no write in place) and the answer has its `Content-Type` (without one, Bun
 * would add a type and a `Content-Disposition` of its own).
 */
function fileSpan(
  runtime: BunGlobal,
  description: ResponseDescription,
  representation: Representation | undefined,
): Blob | undefined {
  const body = description.body;
  const file = representation as Partial<FileRepresentation> | undefined;
  if (body.type !== 'span' || description.headers['content-type'] === undefined) return undefined;
  if (file?.kind !== 'file' || typeof file.path !== 'string' || file.stat === undefined) return undefined;
  file.verify?.();
  const planned = file.stat;
  const now = statSync(file.path, { bigint: true, throwIfNoEntry: false });
  if (
    now === undefined ||
    now.dev !== planned.dev ||
    now.ino !== planned.ino ||
    now.size !== planned.size ||
    now.mtimeNs !== planned.mtimeNs
  ) {
    return undefined;
  }
  return runtime.file(file.path).slice(body.range.start, body.range.end + 1);
}
