/** The Koa side of the conformance suite: builds the setup's app on a Koa module (2 or 3). */
import { PassThrough, Readable } from 'node:stream';
import { bytesRepresentation, openFile, openVariant, streamRepresentation } from '@range-serve/core';
import { rangeServe, sendRange } from '@range-serve/koa';
import type Koa from 'koa';
import type { Context } from 'koa';
import mount from 'koa-mount';
import { listen as listenOn } from '../helpers/server.ts';
import {
  BODY,
  DOWNLOAD_NAME,
  GZIP_BODY,
  JSON_BODY,
  OWN_ETAG,
  OWN_LAST_MODIFIED,
  type RunningServer,
  type Scenario,
  type ServerFactory,
  type ServerSetup,
  STORE_FAILS_AT,
  storeRepresentation,
  TEXT,
} from '../conformance/scenarios.ts';

/** Koa's constructor, whichever major version. */
export type KoaConstructor = new () => Koa;

/** Writes `chunks` into a stream one tick apart, as a handler producing its body bit by bit does. */
export function slowStream(chunks: readonly Buffer[]): PassThrough {
  const stream = new PassThrough();
  const write = (i: number): void => {
    if (i === chunks.length) stream.end();
    else stream.write(chunks[i], () => setImmediate(() => write(i + 1)));
  };
  setImmediate(() => write(0));
  return stream;
}

function routes(setup: ServerSetup): Record<Scenario, (ctx: Context) => unknown> {
  const file = setup.fileForSendRange ?? '';
  const options = setup.sendRangeOptions;
  return {
    buffer: (ctx) => {
      ctx.type = 'application/octet-stream';
      ctx.body = BODY;
    },
    string: (ctx) => {
      ctx.body = TEXT;
    },
    json: (ctx) => {
      ctx.body = JSON_BODY;
    },
    'end-chunk': (ctx) => {
      ctx.set('content-type', 'text/plain');
      ctx.body = BODY;
    },
    'chunked-with-length': (ctx) => {
      ctx.type = 'text/plain';
      ctx.body = slowStream([BODY.subarray(0, 10), BODY.subarray(10, 30), BODY.subarray(30)]);
      ctx.length = BODY.length;
    },
    'gzip-encoded': (ctx) => {
      ctx.set('content-encoding', 'gzip');
      ctx.type = 'text/plain';
      ctx.body = GZIP_BODY;
    },
    'own-etag': (ctx) => {
      ctx.set({ ETag: OWN_ETAG, 'Last-Modified': OWN_LAST_MODIFIED });
      ctx.body = BODY;
    },
    'not-200': (ctx) => {
      ctx.status = 201;
      ctx.body = BODY;
    },
    'unknown-length': (ctx) => {
      ctx.type = 'text/plain';
      ctx.body = slowStream([BODY.subarray(0, 20), BODY.subarray(20)]);
    },
    'has-content-range': (ctx) => {
      ctx.set('content-range', 'bytes 0-3/10');
      ctx.body = 'abcd';
    },
    'send-range-file': async (ctx) => sendRange(ctx, await openFile(file), options),
    'send-range-bytes': (ctx) => sendRange(ctx, bytesRepresentation(BODY, { contentType: 'text/plain' }), options),
    'send-range-stream': (ctx) =>
      sendRange(
        ctx,
        streamRepresentation(
          Readable.from([BODY.subarray(0, 7), BODY.subarray(7, 30), BODY.subarray(30)]),
          BODY.length,
          { contentType: 'text/plain' },
        ),
        options,
      ),
    'send-range-download': async (ctx) => sendRange(ctx, await openFile(file), { ...options, download: DOWNLOAD_NAME }),
    'send-range-store': (ctx) => sendRange(ctx, storeRepresentation(), options),
    'send-range-unreadable': (ctx) => sendRange(ctx, storeRepresentation({ failAt: 0 })),
    'send-range-fails-later': (ctx) => sendRange(ctx, storeRepresentation({ failAt: STORE_FAILS_AT })),
    'send-range-variant': async (ctx) => sendRange(ctx, await openVariant(file, ctx.headers), options),
  };
}

/** Starts `app` on 127.0.0.1:0. */
export function listen(app: Koa): Promise<RunningServer> {
  return listenOn(app.callback());
}

/**
 * A Koa app as the suite expects: errors become a 500 `error`, a request nothing answered a 404
 * `fallthrough`; `extra` adds routes of its own after the scenarios.
 */
export function koaApp(Koa: KoaConstructor, setup: ServerSetup, extra?: (ctx: Context) => unknown): Koa {
  const app = new Koa();
  app.on('error', () => {}); // errors after the headers went out are seen by the tests as short bodies
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch {
      ctx.status = 500;
      ctx.type = 'text/plain';
      ctx.body = 'error';
    }
  });
  const middleware = setup.root === undefined ? rangeServe(setup.options) : rangeServe(setup.root, setup.options);
  app.use(setup.mount === undefined ? middleware : mount(setup.mount, middleware));
  const table = routes(setup);
  const names = new Set<string>(setup.routes ?? []);
  app.use(async (ctx, next) => {
    const name = ctx.path.startsWith('/r/') ? ctx.path.slice(3) : '';
    if ((ctx.method === 'GET' || ctx.method === 'HEAD') && names.has(name)) await table[name as Scenario](ctx);
    else if (extra !== undefined) await extra(ctx);
    if (ctx.body === undefined && ctx.status === 404 && ctx.respond !== false) {
      await next();
    }
  });
  app.use((ctx) => {
    ctx.status = 404;
    ctx.type = 'text/plain';
    ctx.body = 'fallthrough';
  });
  return app;
}

/** A conformance factory for the Koa module given (Koa 2 through its alias, or Koa 3). */
export function koaFactory(Koa: KoaConstructor): ServerFactory {
  return async (setup) => listen(koaApp(Koa, setup));
}
