/**
 * `resumableUploads()` for Koa 2 and 3 (mounted with koa-mount): tus 1.0.0 and the draft "Resumable
 * Uploads for HTTP" on one endpoint. Every decision is @range-serve/core/upload's; this file only translates.
 */
import { createUploadHandler, type ResumableUploadOptions } from '@range-serve/core/upload';
import type { Middleware } from 'koa';

export type {
  CompletedUpload,
  ResumableUploadOptions,
  UploadCompletion,
  UploadDescription,
  UploadHookResponse,
} from '@range-serve/core/upload';

/**
 * Middleware answering resumable uploads under its mount path. The response is written straight to
 * Node's `res` (`ctx.respond = false`); other requests go downstream; errors are thrown into Koa.
 */
export function resumableUploads(options: ResumableUploadOptions): Middleware & UploadsClose {
  const engine = createUploadHandler(options);
  const middleware: Middleware = async function resumableUploadsMiddleware(ctx, next) {
    // The path alone: an absolute-form request target (`POST http://host/files`) must not put its
    // scheme and authority into Location.
    const original = requestPath(ctx.originalUrl);
    const path = ctx.path === '/' && !original.endsWith('/') ? '' : ctx.path;
    const prefix = path === '' ? original : original.slice(0, original.length - path.length);
    // Claim the response before the engine writes to it, so Koa never writes a second one.
    ctx.respond = false;
    let handled: boolean;
    try {
      // The origin as the app sees it (`app.proxy` applies): absolute URLs in Upload-Concat are checked
      // against it. (Koa 3's `ctx.origin` is the request's Origin field, not this.)
      const origin = ctx.host === '' ? undefined : `${ctx.protocol}://${ctx.host}`;
      handled = await engine.handle(ctx.req, ctx.res, { prefix, path, origin });
    } catch (err) {
      if (!ctx.res.headersSent) ctx.respond = true;
      throw err;
    }
    if (handled) return;
    ctx.respond = true;
    await next();
  };
  return Object.assign(middleware, { close: () => engine.close() });
}

/** What `resumableUploads` adds to its middleware: `close()`, for a graceful shutdown. */
export interface UploadsClose {
  /** Stops the expiry sweep and closes the Redis connections the uploads opened (not a client you passed). */
  close(): void;
}

/** The path of a request target, without the query, and without the scheme and authority of the absolute form. */
function requestPath(target: string): string {
  const path = target.split('?', 1)[0] ?? '';
  if (path.startsWith('/')) return path;
  try {
    return new URL(path).pathname;
  } catch {
    return '';
  }
}
