/**
 * Servers for the upload conformance suite: `resumableUploads` mounted at `/files` on each framework
 * major, and the fetch adapter's on Hono and @hono/node-server.
 */
import type { IncomingMessage, Server } from 'node:http';
import { serve } from '@hono/node-server';
import { resumableUploads as expressUploads, type ResumableUploadOptions } from '@range-serve/express';
import { type FetchUploadOptions, resumableUploads as fetchUploads } from '@range-serve/fetch';
import { resumableUploads as koaUploads } from '@range-serve/koa';
import type { Express, NextFunction, Request, Response } from 'express';
import { Hono } from 'hono';
import type Koa from 'koa';
import mount from 'koa-mount';
import { running } from '../helpers/server.ts';

/** A started server. */
export interface RunningServer {
  readonly baseUrl: string;
  /** It speaks HTTP/2 (an `https:` base URL, requests as streams on one session): see raw.ts. */
  readonly http2?: boolean;
  close(): Promise<void>;
}

/** What a test asks of the app around the middleware. */
export interface UploadSetup {
  readonly options: ResumableUploadOptions;
  /** Put a body-reading middleware before the uploads (to show it is reported, never stored). */
  readonly consumeBodyFirst?: boolean;
  /** The app trusts a proxy on loopback (Express `trust proxy`, Koa `app.proxy`): its `X-Forwarded-*` fields apply. */
  readonly trustProxy?: boolean;
}

/** Starts an app with `resumableUploads(setup.options)` under `/files`. */
export type UploadServerFactory = (setup: UploadSetup) => Promise<RunningServer>;

function drain(req: import('node:http').IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    req.resume();
    req.once('end', resolve);
  });
}

/** The factory for an Express module (4 through its alias, or 5). */
export function expressUploadFactory(express: () => Express): UploadServerFactory {
  return async (setup) => {
    const app = express();
    if (setup.trustProxy) app.set('trust proxy', 'loopback');
    if (setup.consumeBodyFirst) {
      app.use((req: Request, _res: Response, next: NextFunction) => {
        drain(req).then(() => next(), next);
      });
    }
    app.use('/files', expressUploads(setup.options));
    app.use((_req: Request, res: Response) => {
      res.status(404).type('text/plain').send('fallthrough');
    });
    app.use((_err: unknown, _req: Request, res: Response, _next: NextFunction) => {
      if (res.headersSent) res.destroy();
      else res.status(500).type('text/plain').send('error');
    });
    return running(app.listen(0, '127.0.0.1'));
  };
}

/** The factory for a Koa constructor (2 through its alias, or 3), the middleware under koa-mount. */
export function koaUploadFactory(KoaClass: new () => Koa): UploadServerFactory {
  return async (setup) => running(koaUploadApp(KoaClass, setup).listen(0, '127.0.0.1'));
}

/** The Koa app of {@link koaUploadFactory}, not listening yet (the HTTP/2 suite serves its callback). */
export function koaUploadApp(KoaClass: new () => Koa, setup: UploadSetup): Koa {
  const app = new KoaClass();
  if (setup.trustProxy) app.proxy = true;
  app.on('error', () => {});
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch {
      ctx.status = 500;
      ctx.type = 'text/plain';
      ctx.body = 'error';
    }
  });
  if (setup.consumeBodyFirst) {
    app.use(async (ctx, next) => {
      await drain(ctx.req);
      await next();
    });
  }
  app.use(mount('/files', koaUploads(setup.options)));
  app.use((ctx) => {
    ctx.status = 404;
    ctx.type = 'text/plain';
    ctx.body = 'fallthrough';
  });
  return app;
}

/**
 * The request a suite's hook (written for Node's `req`) reads, made from the Web `Request` the fetch
 * adapter's hooks receive: its method, target and header fields.
 */
function nodeView(request: globalThis.Request): IncomingMessage {
  const { pathname, search } = new URL(request.url);
  return {
    method: request.method,
    url: pathname + search,
    headers: Object.fromEntries(request.headers),
  } as unknown as IncomingMessage;
}

/** The suite's options for the fetch adapter: each hook is given the Node view of the `Request`. */
export function fetchUploadOptions(options: ResumableUploadOptions): FetchUploadOptions {
  const { beforeCreate, onRequest, onComplete, onTerminate, ...rest } = options;
  return {
    ...rest,
    ...(beforeCreate && { beforeCreate: (req, creation) => beforeCreate(nodeView(req), creation) }),
    ...(onRequest && { onRequest: (req, upload) => onRequest(nodeView(req), upload) }),
    ...(onComplete && { onComplete: (req, upload) => onComplete(nodeView(req), upload) }),
    ...(onTerminate && { onTerminate: (req, upload) => onTerminate(nodeView(req), upload) }),
  };
}

/** The factory for the fetch adapter on a Hono app served by @hono/node-server, mounted with one middleware. */
export function fetchUploadFactory(): UploadServerFactory {
  return async (setup) => {
    const app = new Hono();
    if (setup.consumeBodyFirst) {
      app.use('*', async (c, next) => {
        await c.req.raw.arrayBuffer();
        await next();
      });
    }
    const uploads = fetchUploads(fetchUploadOptions(setup.options));
    app.use('/files/*', async (c, next) => (await uploads(c.req.raw, '/files')) ?? next());
    app.use('/files', async (c, next) => (await uploads(c.req.raw, '/files')) ?? next());
    app.notFound((c) => c.text('fallthrough', 404));
    app.onError((_err, c) => c.text('error', 500));
    return running(serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server);
  };
}
