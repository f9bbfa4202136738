/**
 * `resumableUploads()` for Express 4 and 5: tus 1.0.0 and the draft "Resumable Uploads for HTTP" on
 * one endpoint. Every decision is @range-serve/core/upload's; this file only translates.
 */
import { createUploadHandler, type ResumableUploadOptions } from '@range-serve/core/upload';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

export type {
  CompletedUpload,
  ResumableUploadOptions,
  UploadCompletion,
  UploadDescription,
  UploadHookResponse,
} from '@range-serve/core/upload';

/**
 * Middleware answering resumable uploads under its mount path: `OPTIONS`/`POST` on the path itself,
 * `HEAD`/`PATCH`/`DELETE`/`GET` on `<path>/<id>`. Other requests go to `next()`, errors to `next(err)`.
 * Its `close()` stops the expiry sweep and closes the Redis connections it opened, for a graceful shutdown.
 */
export function resumableUploads(options: ResumableUploadOptions): RequestHandler & UploadsClose {
  const engine = createUploadHandler(options);
  const middleware = function resumableUploadsMiddleware(req: Request, res: Response, next: NextFunction): void {
    const original = req.originalUrl.split('?', 1)[0] ?? '';
    // `app.use('/files', …)` on `/files` gives path `/`: the endpoint itself either way.
    const path = req.path === '/' && !original.endsWith('/') ? '' : req.path;
    engine.handle(req, res, { prefix: req.baseUrl, path, origin: originOf(req) }).then((handled) => {
      if (!handled) next();
    }, next);
  };
  return Object.assign(middleware, { close: () => engine.close() });
}

/** What `resumableUploads` adds to its middleware: `close()`, for a graceful shutdown. */
export interface UploadsClose {
  /** Stops the expiry sweep and closes the Redis connections the uploads opened (not a client you passed). */
  close(): void;
}

/**
 * The origin as the app sees it, against which absolute URLs in `Upload-Concat` are checked: with
 * `trust proxy`, the forwarded scheme and host (Express 5's `req.host` rule, kept here because Express 4's
 * `req.host` drops the port), else the request's own `Host`.
 */
function originOf(req: Request): string | undefined {
  const trust = req.app.get('trust proxy fn') as ((address: string | undefined, hop: number) => boolean) | undefined;
  const forwarded = req.get('x-forwarded-host');
  const host =
    forwarded !== undefined && trust?.(req.socket.remoteAddress, 0) === true
      ? (forwarded.split(',')[0] ?? '').trim()
      : req.get('host');
  return host === undefined || host === '' ? undefined : `${req.protocol}://${host}`;
}
