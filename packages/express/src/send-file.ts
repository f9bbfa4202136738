/**
 * `res.sendFile` (and so `res.download`, which calls it) under `rangeServe()`: served by range-serve
 * instead of `send`, with Express's arguments, options and callback semantics translated.
 */
import path from 'node:path';
import type { RangeServeOptions } from '@range-serve/core';
import { type InterceptedResponse, type RangeServer, rangeServer } from '@range-serve/core/adapter';
import type { Request, Response } from 'express';
import onFinished from 'on-finished';

/** The `res.sendFile` options Express documents (those of `send`). */
interface SendFileOptions {
  root?: string;
  headers?: Record<string, string | number | readonly string[]>;
  dotfiles?: 'allow' | 'deny' | 'ignore';
  maxAge?: number | string;
  maxage?: number | string;
  immutable?: boolean;
  lastModified?: boolean;
  etag?: boolean;
  acceptRanges?: boolean;
  cacheControl?: boolean;
}

type Callback = (err?: Error) => void;

/** Servers per distinct root and options, so that a route calling sendFile on every request builds one once. */
const servers = new Map<string, RangeServer<Response>>();
const SERVERS_MAX = 256;

function serverFor(root: string, options: SendFileOptions): RangeServer<Response> {
  const ours: RangeServeOptions<Response> = {
    dotfiles: options.dotfiles ?? 'ignore',
    etag: options.etag === false ? false : 'strong',
    lastModified: options.lastModified !== false,
    acceptRanges: options.acceptRanges !== false,
    cacheControl: options.cacheControl !== false,
    maxAge: options.maxAge ?? options.maxage ?? 0,
    immutable: options.immutable === true,
    index: false,
    redirect: false,
  };
  const key = JSON.stringify([root, ours]);
  let server = servers.get(key);
  if (server === undefined) {
    if (servers.size >= SERVERS_MAX) servers.clear();
    server = rangeServer<Response>(root, ours);
    servers.set(key, server);
  }
  return server;
}

/** An error shaped as `send` shapes it, so that Express's handlers see what they always saw. */
function httpError(status: number, code: string, message: string): Error {
  return Object.assign(new Error(message), { status, statusCode: status, code, expose: false });
}

/** Replaces `res.sendFile` on this response with range-serve's, sent beneath the interception. */
export function serveSendFile(req: Request, res: Response, intercepted: InterceptedResponse): void {
  res.sendFile = function sendFile(
    this: Response,
    filePath: string,
    optionsOrCallback?: SendFileOptions | Callback,
    maybeCallback?: Callback,
  ) {
    const callback = typeof optionsOrCallback === 'function' ? optionsOrCallback : maybeCallback;
    const options = (typeof optionsOrCallback === 'object' ? optionsOrCallback : undefined) ?? {};
    if (typeof filePath !== 'string' || filePath === '')
      throw new TypeError('path argument is required to res.sendFile');
    if (options.root === undefined && !path.isAbsolute(filePath)) {
      throw new TypeError('path must be absolute or specify root to res.sendFile');
    }
    // Express hands errors to the next function of the route that called sendFile.
    const next = req.next;
    let called = false;
    // Once, as Express's own sendFile: a read that fails mid-body also ends the response unfinished.
    const done = (err?: Error): void => {
      if (called) return;
      called = true;
      if (callback !== undefined) callback(err);
      else if (err !== undefined && (err as { code?: string }).code !== 'ECONNABORTED') next?.(err);
    };
    let server: RangeServer<Response>;
    try {
      server = serverFor(options.root ?? '/', options);
    } catch (err) {
      done(err as Error);
      return;
    }
    const urlPath = filePath
      .split(/[/\\]/)
      .map((segment) => encodeURIComponent(segment))
      .join('/');
    const target = { res, getHeader: (name: string) => res.getHeader(name) };
    for (const [name, value] of Object.entries(options.headers ?? {})) res.setHeader(name, value);
    const request = {
      method: req.method,
      path: urlPath.startsWith('/') ? urlPath : `/${urlPath}`,
      originalUrl: req.originalUrl,
      headers: req.headers,
    };
    server.answer(request, target).then(
      (outcome) => {
        if (outcome.kind === 'next') {
          done(httpError(404, 'ENOENT', `ENOENT: no such file or directory, stat '${filePath}'`));
          return;
        }
        if (outcome.response.status === 400 || outcome.response.status === 403) {
          outcome.representation?.close?.();
          done(httpError(outcome.response.status, 'EFORBIDDEN', `${outcome.response.status}: ${filePath}`));
          return;
        }
        onFinished(res, (err) => {
          if (err !== null || !res.writableFinished) done(httpError(400, 'ECONNABORTED', 'Request aborted'));
          else done();
        });
        intercepted.send(outcome.response, outcome.representation).catch(done);
      },
      (err: unknown) => done(err as Error),
    );
  } as Response['sendFile'];
}
