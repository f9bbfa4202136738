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
 */
export function resumableUploads(options: ResumableUploadOptions): RequestHandler {
  const engine = createUploadHandler(options);
  return function resumableUploadsMiddleware(req: Request, res: Response, next: NextFunction): void {
    const original = req.originalUrl.split('?', 1)[0] ?? '';
    // `app.use('/files', …)` on `/files` gives path `/`: the endpoint itself either way.
    const path = req.path === '/' && !original.endsWith('/') ? '' : req.path;
    engine.handle(req, res, { prefix: req.baseUrl, path }).then((handled) => {
      if (!handled) next();
    }, next);
  };
}
