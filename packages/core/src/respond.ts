/**
 * Applying a plan to Node's `ServerResponse`: the one place where status, headers and body meet the
 * socket. Express uses it as is; plain `node:http` servers call {@link serveRepresentation}.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import onFinished from 'on-finished';
import { type BodyOptions, createBody, readSmallBody, writeFileRange } from './body.js';
import { CONTENT_HEADERS, type PlanOptions, planResponse, type ResponsePlan } from './plan.js';
import type { ByteRange } from './range.js';
import { closeRepresentation, type FileRepresentation, type Representation } from './representation.js';

/** Options for {@link serveRepresentation}: planning and body options together. */
export interface ServeOptions extends PlanOptions, BodyOptions {}

/**
 * Writes `plan` to `res` and streams its body from `representation`, which it then owns: the
 * descriptor or stream is released when the response ends, fails, or the client goes away.
 */
export function sendPlan(
  res: ServerResponse,
  plan: ResponsePlan,
  representation: Representation,
  options: BodyOptions = {},
): void {
  const release = (): void => {
    void closeRepresentation(representation);
  };
  if (plan.kind !== 'full' && plan.kind !== 'partial' && plan.kind !== 'multipart') {
    // Headers a handler set for a body must not describe a response that has none.
    for (const name of CONTENT_HEADERS) res.removeHeader(name);
  }
  let small: Promise<Buffer> | null;
  let largeFileSpan: ByteRange | null = null;
  let body: ReturnType<typeof createBody>;
  try {
    small = readSmallBody(plan, representation);
    largeFileSpan = small === null ? fileSpan(plan, representation) : null;
    body = small === null && largeFileSpan === null ? createBody(plan, representation, options) : null;
  } catch (err) {
    release();
    throw err;
  }
  if (small !== null) {
    // A small body is read whole first, then sent with its headers in one write.
    small.then(
      (bytes) => {
        release();
        if (!res.destroyed) res.writeHead(plan.status, plan.headers).end(bytes);
      },
      (err: unknown) => {
        release();
        res.destroy(err as Error);
      },
    );
    return;
  }
  res.writeHead(plan.status, plan.headers);
  if (body === null && largeFileSpan !== null) {
    // One span of a file, written with recycled buffers; the descriptor is closed once writing stops.
    writeFileRange(representation as FileRepresentation, largeFileSpan, res, options).then(
      (complete) => {
        release();
        if (complete) res.end();
      },
      (err: unknown) => {
        release();
        res.destroy(err as Error);
      },
    );
    return;
  }
  if (body === null) {
    res.end();
    release();
    return;
  }
  const stream = body;
  // The descriptor is closed only after the body stream has stopped reading from it.
  stream.once('close', release);
  // A source error after the headers went out cannot become an error status: cut the connection
  // so the client sees a short body, never a complete-looking wrong one.
  stream.once('error', (err) => res.destroy(err));
  onFinished(res, () => stream.destroy());
  stream.pipe(res);
}

/** The one span a 200 or single-range 206 sends from a file, or null for every other body. */
function fileSpan(plan: ResponsePlan, representation: Representation): ByteRange | null {
  if (!plan.sendBody || representation.kind !== 'file') return null;
  return plan.kind === 'full' || plan.kind === 'partial' ? plan.range : null;
}

/** Plans and sends the response to `req` for `representation` on a plain `node:http` response. */
export function serveRepresentation(
  req: IncomingMessage,
  res: ServerResponse,
  representation: Representation,
  options: ServeOptions = {},
): ResponsePlan {
  const plan = planResponse({ method: req.method ?? 'GET', headers: req.headers }, representation, options);
  sendPlan(res, plan, representation, options);
  return plan;
}
