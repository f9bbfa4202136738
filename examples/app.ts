/**
 * The demo server: a directory served with range-serve on Express or Koa, one route handler whose
 * in-memory body range-serve makes resumable, and resumable uploads under `/files` (tus 1.0.0 and the
 * IETF draft) that download back through the same range support. `examples/server.ts` is its command
 * line; the end-to-end tests start it in-process to see every request it answers.
 */
import { createRequire } from 'node:module';
import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { rangeServe, resumableUploads, type ResumableUploadOptions } from '@range-serve/express';
import express from 'express';
import { makeReport } from './generated.ts';

export type Adapter = 'express' | 'koa';

/** One request as the server answered it. */
export interface LogEntry {
  readonly method: string;
  readonly url: string;
  readonly range: string | undefined;
  readonly ifRange: string | undefined;
  /** The status sent, or 0 when the client went away before any answer was written. */
  readonly status: number;
  readonly contentRange: string | undefined;
  /** The request's `Upload-Offset` (an append says where its content starts). */
  readonly uploadOffset: string | undefined;
  /** The request's `Upload-Concat` (tus concatenation: `partial`, or `final;` and the parts). */
  readonly uploadConcat: string | undefined;
  /** The response's `Upload-Offset` (the offset the server acknowledged). */
  readonly answeredOffset: string | undefined;
  /** The response's `Location` (where a creation put the upload). */
  readonly location: string | undefined;
  /** False when the connection closed before the whole response was written (a client killed mid-way). */
  readonly complete: boolean;
}

export interface DemoOptions {
  /** The directory to serve. */
  readonly root: string;
  readonly adapter: Adapter;
  /** Port to listen on; 0 picks a free one. */
  readonly port: number;
  readonly host: string;
  /** Where uploads to `/files` are kept (created if missing). */
  readonly uploadDirectory: string;
  /** Called once for every response, when its connection is done with it. */
  readonly onResponse?: (entry: LogEntry) => void;
}

export interface RunningDemo {
  readonly url: string;
  close(): Promise<void>;
}

export type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** The largest upload the demo takes. */
export const DEMO_MAX_UPLOAD = '1 GiB';

/** The options of the demo's `resumableUploads()`, the same on both adapters. */
export function demoUploadOptions(directory: string): ResumableUploadOptions {
  return {
    directory,
    // Refused with 413 when declared larger, and cut at the limit while the body streams.
    maxSize: DEMO_MAX_UPLOAD,
    // An unfinished upload left alone for a day is removed (the sweep runs every hour).
    expiresAfter: '1d',
    // A body that stops arriving is ended after 30 s, its bytes kept for the resume.
    idleTimeout: '30s',
  };
}

const require = createRequire(import.meta.url);
/**
 * The browser bundles the page loads, straight from node_modules (no CDN): tus-js-client for the
 * upload panel, Uppy for `uppy.html`.
 */
export const VENDOR = {
  '/vendor/tus-js-client': path.dirname(require.resolve('tus-js-client/dist/tus.min.js')),
  '/vendor/uppy': path.dirname(require.resolve('uppy/dist/uppy.min.mjs')),
} as const;

function expressApp(root: string, report: Buffer, uploadDirectory: string): Listener {
  const app = express();
  // Uploads first: a request that is not an upload request falls through to the files.
  app.use('/files', resumableUploads(demoUploadOptions(uploadDirectory)));
  for (const [prefix, dir] of Object.entries(VENDOR)) app.use(prefix, rangeServe(dir, { fallthrough: false }));
  app.use(rangeServe(root, { extensions: ['html'], wantReprDigest: true, precompressed: true }));
  // A route handler that knows nothing about ranges: the middleware above makes its 200 resumable.
  app.get('/report.csv', (_req, res) => {
    res.type('text/csv').send(report);
  });
  return app;
}

/** Starts the demo and resolves once it listens. */
export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const report = makeReport();
  const listener =
    options.adapter === 'koa'
      ? (await import('./koa-app.ts')).koaApp(options.root, report, options.uploadDirectory)
      : expressApp(options.root, report, options.uploadDirectory);
  const server = http.createServer((req, res) => {
    if (options.onResponse !== undefined) {
      const log = options.onResponse;
      const header = recordHead(res);
      // As the client sent it: a mounted middleware (Express's app.use('/files')) rewrites req.url.
      const url = req.url ?? '';
      res.once('close', () =>
        log({
          method: req.method ?? '',
          url,
          range: req.headers.range,
          ifRange: typeof req.headers['if-range'] === 'string' ? req.headers['if-range'] : undefined,
          status: res.headersSent ? res.statusCode : 0,
          contentRange: header('content-range'),
          uploadOffset: typeof req.headers['upload-offset'] === 'string' ? req.headers['upload-offset'] : undefined,
          uploadConcat: typeof req.headers['upload-concat'] === 'string' ? req.headers['upload-concat'] : undefined,
          answeredOffset: header('upload-offset'),
          location: header('location'),
          complete: res.writableFinished,
        }),
      );
    }
    listener(req, res);
  });
  // Node ends every request after 300 s by default (server.requestTimeout), a long upload included.
  // The uploads' own idleTimeout ends a body that stalls, so the whole-request bound is lifted;
  // headersTimeout (60 s) still bounds a client that never finishes its request head.
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A reader of the response's fields for the log. Fields given to `res.writeHead(status, fields)` alone
 * (as the upload engine gives them) never reach `res.getHeader`, so the call's fields are noted too.
 * Installed first, before any middleware, and passed straight through.
 */
export function recordHead(res: ServerResponse): (name: string) => string | undefined {
  let given: OutgoingHttpHeaders = {};
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    const fields = args.at(-1);
    if (typeof fields === 'object' && fields !== null && !Array.isArray(fields)) {
      given = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k.toLowerCase(), v]));
    }
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
  return (name) => {
    const value = res.getHeader(name) ?? given[name];
    return value === undefined ? undefined : String(value);
  };
}
