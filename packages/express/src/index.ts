/**
 * @range-serve/express: byte ranges and RFC 9110 conditional requests for Express 4 and 5.
 * Every HTTP decision is @range-serve/core's; this file only translates `req` and writes onto `res`.
 */
import type { Representation, RangeServeOptions, ResponsePlan, SendRangeOptions } from '@range-serve/core';
import {
  guardContentCodings,
  type InterceptedResponse,
  interceptResponse,
  planSendRange,
  rangeServer,
  type ServeRequest,
  writeResponse,
} from '@range-serve/core/adapter';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { serveSendFile } from './send-file.js';

/** The options of {@link rangeServe}; `setHeaders` receives Express's `res`. */
export type ExpressRangeOptions = RangeServeOptions<Response>;
/** The options of {@link sendRange}: those that apply to a representation a route chose; `setHeaders` receives Express's `res`. */
export type ExpressSendRangeOptions = SendRangeOptions<Response>;
export type { RangeServeOptions, SendRangeOptions } from '@range-serve/core';

/**
 * Middleware that serves files under `root` with ranges and preconditions, and makes the 200 responses
 * of later handlers range- and condition-aware. Without `root` it does only the latter. A bad option,
 * or a root that is not a path or is a file, throws a `TypeError` here; a root that does not exist yet
 * is accepted (every request a miss until it does, with one process warning).
 */
export function rangeServe(options?: ExpressRangeOptions): RequestHandler;
export function rangeServe(root: string, options?: ExpressRangeOptions): RequestHandler;
export function rangeServe(rootOrOptions?: string | ExpressRangeOptions, maybeOptions?: ExpressRangeOptions) {
  const server = rangeServer<Response>(rootOrOptions, maybeOptions);

  return function rangeServeMiddleware(req: Request, res: Response, next: NextFunction): void {
    server.answer(requestOf(req), { res, getHeader: (name) => res.getHeader(name) }).then((outcome) => {
      if (outcome.kind === 'respond') {
        writeResponse(res, outcome.response, outcome.representation).catch(next);
        return;
      }
      if (req.method === 'GET' || req.method === 'HEAD') {
        guardContentCodings(res);
        serveSendFile(req, res, planLaterHandlers(req, res, server.options));
      }
      next();
    }, next);
  };
}

/**
 * Serves a representation a route chose itself (a file from `openFile`, bytes, a stream of known length)
 * with ranges and preconditions. The representation is released when the response ends. An option that
 * cannot apply to it rejects with a `TypeError`; a read that fails rejects too (after the headers, once
 * the connection is cut), while a client that goes away is not an error.
 */
export async function sendRange(
  req: Request,
  res: Response,
  representation: Representation,
  options: ExpressSendRangeOptions = {},
): Promise<ResponsePlan> {
  const target = { res, getHeader: (name: string) => res.getHeader(name) };
  const planned = await planSendRange(requestOf(req), representation, options, target);
  await writeResponse(res, planned.response, planned.representation);
  return planned.response;
}

function requestOf(req: Request): ServeRequest {
  return { method: req.method, path: req.path, originalUrl: req.originalUrl, headers: req.headers };
}

/** Plans later handlers' 200s; Express's automatic weak ETag (its `etag fn`) gives way to a strong content hash. */
function planLaterHandlers(req: Request, res: Response, options: ReturnType<typeof rangeServer<Response>>['options']) {
  const automatic: unknown = req.app.get('etag fn');
  const intercepted = interceptResponse(res, req, options, (bytes) =>
    typeof automatic === 'function' ? (automatic(bytes, 'utf8') as string | undefined) : undefined,
  );
  hideFreshnessFromSend(req, res, intercepted);
  return intercepted;
}

/**
 * `res.send` answers 304 from its own freshness check (If-None-Match / If-Modified-Since only), which
 * would skip If-Match and If-Unmodified-Since (RFC 9110 §13.2.2 puts them first), and on HEAD drops the
 * body before it can be hashed. For the span of that one synchronous call Express sees a GET without
 * those two fields; the plan is made with the request as it came.
 */
function hideFreshnessFromSend(req: Request, res: Response, intercepted: InterceptedResponse): void {
  const send = res.send;
  res.send = function sendPlanned(this: Response, ...args: unknown[]) {
    if (!intercepted.pending) return Reflect.apply(send, this, args) as Response;
    const { method, headers } = req;
    intercepted.planWith({ method, headers: { ...headers } });
    const ifNoneMatch = headers['if-none-match'];
    const ifModifiedSince = headers['if-modified-since'];
    delete headers['if-none-match'];
    delete headers['if-modified-since'];
    req.method = 'GET';
    try {
      return Reflect.apply(send, this, args) as Response;
    } finally {
      req.method = method;
      if (ifNoneMatch !== undefined) headers['if-none-match'] = ifNoneMatch;
      if (ifModifiedSince !== undefined) headers['if-modified-since'] = ifModifiedSince;
    }
  } as Response['send'];
}
export {
  type CompletedUpload,
  resumableUploads,
  type ResumableUploadOptions,
  type UploadCompletion,
  type UploadDescription,
  type UploadHookResponse,
  type UploadsClose,
} from './uploads.js';
