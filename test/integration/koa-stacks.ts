/**
 * Koa apps as users write them around range-serve: koa-compress before and after it, koa-conditional-get
 * and koa-etag in front, @koa/router with sendRange, and koa-mount; later middleware that sets
 * `ctx.body` to a Buffer, a file stream, or a stream written over time with or without `ctx.length`.
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { openFile } from '@range-serve/core';
import { rangeServe, sendRange } from '@range-serve/koa';
import Router from '@koa/router';
import type Koa from 'koa';
import type { Context, Next } from 'koa';
import compress from 'koa-compress';
import conditional from 'koa-conditional-get';
import etag from 'koa-etag';
import mount from 'koa-mount';
import { FILE_NAMES, type FileName, type ServedFiles } from './files.ts';
import { listen } from '../helpers/server.ts';
import { nextTimer, nextTurn, writeInChunks } from './writes.ts';
import { routesFor, type Stack } from './matrix.ts';

/** Koa's constructor, version 2 (through its alias) or 3. */
export type KoaConstructor = new () => Koa;

/** How the middleware under `/h/<kind>/<file>` sets `ctx.body`. */
type BodyKind = 'buffer' | 'file-stream' | 'stream-with-length' | 'timed-stream';

const FILES: readonly FileName[] = ['large.txt', 'large.bin', 'small.txt'];
const BODIES: readonly FileName[] = ['large.txt', 'small.txt'];
const KINDS: readonly BodyKind[] = ['buffer', 'file-stream', 'stream-with-length', 'timed-stream'];

function isFileName(name: string | undefined): name is FileName {
  return (FILE_NAMES as readonly string[]).includes(name ?? '');
}

/** A stream of `body` written in chunks, each scheduled by `schedule`. */
function writtenStream(body: Buffer, schedule: (next: () => void) => void): PassThrough {
  const stream = new PassThrough();
  writeInChunks(stream, body, schedule);
  return stream;
}

/** Middleware answering `/h/<kind>/<file>`, each kind setting `ctx.body` its own way. */
function bodies(files: ServedFiles) {
  const answer: Record<BodyKind, (ctx: Context, name: FileName) => void> = {
    buffer: (ctx, name) => {
      ctx.body = files.bytes[name];
    },
    'file-stream': (ctx, name) => {
      ctx.body = createReadStream(path.join(files.root, name));
    },
    'stream-with-length': (ctx, name) => {
      ctx.body = writtenStream(files.bytes[name], nextTurn);
      ctx.length = files.bytes[name].length;
    },
    'timed-stream': (ctx, name) => {
      ctx.body = writtenStream(files.bytes[name], nextTimer);
    },
  };
  return async (ctx: Context, next: Next): Promise<void> => {
    const [, h, kind, name] = ctx.path.split('/');
    if (h === 'h' && kind !== undefined && kind in answer && isFileName(name)) {
      ctx.type = path.extname(name);
      answer[kind as BodyKind](ctx, name);
    } else await next();
  };
}

/** An app with `layers`; what nothing answers, and errors, get Koa's own responses. */
function start(Koa: KoaConstructor, layers: (app: Koa, files: ServedFiles) => void) {
  return (files: ServedFiles) => {
    const app = new Koa();
    app.on('error', () => {}); // clients that go away mid-body are seen by the tests, not logged
    layers(app, files);
    return listen(app.callback());
  };
}

/** Routes of the body kinds for the bodies, and the downloads of `big.bin` through them. */
function bodyRoutes(kinds: readonly BodyKind[], encoded: boolean, encodedBeforeUs = false) {
  return {
    routes: kinds.flatMap((kind) =>
      routesFor(`/h/${kind}/`, BODIES, {
        encoded,
        encodedBeforeUs,
        ranged: kind !== 'timed-stream',
        mayLackValidator: kind === 'stream-with-length',
      }),
    ),
    downloads: kinds.map((kind) => `/h/${kind}/big.bin`),
  };
}

/** The Koa stacks, built on `Koa` (2 or 3). */
export function koaStacks(Koa: KoaConstructor): Stack[] {
  const compressed = bodyRoutes(KINDS, true);
  const compressedAfter = bodyRoutes(KINDS, true, true);
  const plain = bodyRoutes(['buffer', 'file-stream'], false);
  return [
    {
      name: 'koa-compress → rangeServe(dir) → bodies',
      start: start(Koa, (app, files) => {
        app.use(compress());
        app.use(rangeServe(files.root));
        app.use(bodies(files));
      }),
      routes: [...routesFor('/', FILES, { encoded: true }), ...compressed.routes],
      downloads: ['/big.bin', ...compressed.downloads],
    },
    {
      name: 'rangeServe(dir) → koa-compress → bodies',
      start: start(Koa, (app, files) => {
        app.use(rangeServe(files.root));
        app.use(compress());
        app.use(bodies(files));
      }),
      routes: [...routesFor('/', FILES, { encoded: false }), ...compressedAfter.routes],
      downloads: ['/big.bin', ...compressed.downloads],
    },
    {
      name: 'koa-conditional-get → koa-etag → rangeServe(dir) → bodies',
      start: start(Koa, (app, files) => {
        app.use(conditional());
        app.use(etag());
        app.use(rangeServe(files.root));
        app.use(bodies(files));
      }),
      routes: [...routesFor('/', FILES, { encoded: false }), ...plain.routes],
      downloads: ['/big.bin', ...plain.downloads],
    },
    {
      name: '@koa/router with sendRange(openFile)',
      start: start(Koa, (app, files) => {
        const router = new Router({ prefix: '/files' });
        router.get('/:name', async (ctx) => {
          const name = ctx.params.name;
          if (!isFileName(name)) return;
          await sendRange(ctx, await openFile(path.join(files.root, name)));
        });
        app.use(router.routes());
        app.use(router.allowedMethods());
      }),
      routes: routesFor('/files/', FILES, { encoded: false }),
      downloads: ['/files/big.bin'],
    },
    {
      name: "koa-mount('/media', rangeServe(dir))",
      start: start(Koa, (app, files) => {
        app.use(mount('/media', rangeServe(files.root)));
      }),
      routes: routesFor('/media/', FILES, { encoded: false }),
      downloads: ['/media/big.bin'],
    },
  ];
}
