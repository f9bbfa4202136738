/**
 * Koa apps as users write them around range-serve: koa-compress before and after it, koa-conditional-get
 * and koa-etag in front, @koa/router with sendRange, resumableUploads and koa-mount; later middleware
 * that sets `ctx.body` to a Buffer, a string, JSON, a file stream, or a stream written over time with or
 * without `ctx.length`, or answers with sendRange.
 */
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { openFile } from '@range-serve/core';
import { rangeServe, resumableUploads, sendRange } from '@range-serve/koa';
import Router from '@koa/router';
import type Koa from 'koa';
import type { Context, Middleware, Next } from 'koa';
import compress from 'koa-compress';
import conditional from 'koa-conditional-get';
import etag from 'koa-etag';
import mount from 'koa-mount';
import { FILE_NAMES, type FileName, type ServedFiles } from './files.ts';
import { listen } from '../helpers/server.ts';
import { nextTimer, nextTurn, writeInChunks } from './writes.ts';
import {
  type MatrixShape,
  type Placement,
  routesFor,
  type ServingPath,
  type Stack,
  type StartedStack,
} from './matrix.ts';
import { UPLOADS, uploadAll } from './uploaded.ts';

/** Koa's constructor, version 2 (through its alias) or 3. */
export type KoaConstructor = new () => Koa;

/** How the middleware under `/h/<kind>/<file>` sets `ctx.body` (or calls sendRange). */
type BodyKind = 'buffer' | 'string' | 'json' | 'file-stream' | 'stream-with-length' | 'timed-stream' | 'sendrange';

/** The serving path each body kind takes. */
const PATH_OF: Readonly<Record<BodyKind, ServingPath>> = {
  buffer: 'ctx.body Buffer',
  string: 'ctx.body string',
  json: 'ctx.body JSON',
  'file-stream': 'ctx.body fs.ReadStream',
  'stream-with-length': 'ctx.body stream with a length',
  'timed-stream': 'ctx.body stream over time',
  sendrange: 'sendRange',
};

/** Every serving path of Koa, each of which the matrix asks with koa-compress in front and behind. */
export const KOA_MATRIX: MatrixShape = {
  compressor: 'koa-compress',
  paths: ['directory', ...Object.values(PATH_OF), 'upload download'],
};

const FILES: readonly FileName[] = ['large.txt', 'large.bin', 'small.txt'];
const BODIES: readonly FileName[] = ['large.txt', 'small.txt'];
const KINDS: readonly BodyKind[] = Object.keys(PATH_OF) as BodyKind[];

/** The JSON body the `json` kind sends for a file: its text in one field. */
function jsonOf(file: Buffer): Buffer {
  return Buffer.from(JSON.stringify({ text: file.toString('utf8') }));
}

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
  const answer: Record<BodyKind, (ctx: Context, name: FileName) => void | Promise<unknown>> = {
    buffer: (ctx, name) => {
      ctx.body = files.bytes[name];
    },
    string: (ctx, name) => {
      ctx.body = files.bytes[name].toString('utf8');
    },
    json: (ctx, name) => {
      ctx.body = { text: files.bytes[name].toString('utf8') };
    },
    sendrange: async (ctx, name) => sendRange(ctx, await openFile(path.join(files.root, name))),
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
      await answer[kind as BodyKind](ctx, name);
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
function bodyRoutes(kinds: readonly BodyKind[], encoded: boolean, placement: Placement, encodedBeforeUs = false) {
  return {
    routes: kinds.flatMap((kind) =>
      routesFor(`/h/${kind}/`, BODIES, {
        path: PATH_OF[kind],
        placement,
        body: kind === 'json' ? jsonOf : undefined,
        encoded,
        // sendRange plans before koa-compress sees its body; every other body reaches us already encoded.
        encodedBeforeUs: encodedBeforeUs && kind !== 'sendrange',
        ranged: kind !== 'timed-stream',
        mayLackValidator: kind === 'stream-with-length',
      }),
    ),
    // JSON and string bodies of 4 MiB of binary are not a download anyone writes.
    downloads: kinds.filter((kind) => kind !== 'json' && kind !== 'string').map((kind) => `/h/${kind}/big.bin`),
  };
}

/**
 * An app whose `layers` mount `resumableUploads` at `/files`: the bodies and `big.bin` are uploaded once
 * it listens, and each route `/files/upload:<name>` stands for its finished upload's URL.
 */
function startWithUploads(Koa: KoaConstructor, layers: (app: Koa, files: ServedFiles, uploads: Middleware) => void) {
  return async (files: ServedFiles): Promise<StartedStack> => {
    const directory = mkdtempSync(path.join(tmpdir(), 'range-serve-integration-uploads-'));
    const server = await start(Koa, (app, served) =>
      layers(app, served, mount('/files', resumableUploads({ directory }))),
    )(files);
    const targets = await uploadAll(server.baseUrl, files);
    return {
      ...server,
      targets,
      close: async () => {
        await server.close();
        rmSync(directory, { recursive: true, force: true });
      },
    };
  };
}

/** @koa/router with a route that answers with sendRange(openFile). */
function sendRangeRouter(files: ServedFiles): Router {
  const router = new Router({ prefix: '/files' });
  router.get('/:name', async (ctx) => {
    const name = ctx.params.name;
    if (!isFileName(name)) return;
    await sendRange(ctx, await openFile(path.join(files.root, name)));
  });
  return router;
}

/** The Koa stacks, built on `Koa` (2 or 3). */
export function koaStacks(Koa: KoaConstructor): Stack[] {
  const compressed = bodyRoutes(KINDS, true, 'in front');
  const compressedAfter = bodyRoutes(KINDS, true, 'behind', true);
  const plain = bodyRoutes(['buffer', 'file-stream'], false, 'none');
  return [
    {
      name: 'koa-compress → rangeServe(dir) → bodies',
      start: start(Koa, (app, files) => {
        app.use(compress());
        app.use(rangeServe(files.root));
        app.use(bodies(files));
      }),
      routes: [
        ...routesFor('/', FILES, { path: 'directory', placement: 'in front', encoded: true }),
        ...compressed.routes,
      ],
      downloads: ['/big.bin', ...compressed.downloads],
    },
    {
      name: 'rangeServe(dir) → koa-compress → bodies',
      start: start(Koa, (app, files) => {
        app.use(rangeServe(files.root));
        app.use(compress());
        app.use(bodies(files));
      }),
      routes: [
        ...routesFor('/', FILES, { path: 'directory', placement: 'behind', encoded: false }),
        ...compressedAfter.routes,
      ],
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
      routes: [...routesFor('/', FILES, { path: 'directory', placement: 'none', encoded: false }), ...plain.routes],
      downloads: ['/big.bin', ...plain.downloads],
    },
    {
      name: '@koa/router with sendRange(openFile)',
      start: start(Koa, (app, files) => {
        const router = sendRangeRouter(files);
        app.use(router.routes());
        app.use(router.allowedMethods());
      }),
      routes: routesFor('/files/', FILES, { path: 'sendRange', placement: 'none', encoded: false }),
      downloads: ['/files/big.bin'],
    },
    {
      name: 'koa-compress → @koa/router with sendRange(openFile), no rangeServe middleware',
      start: start(Koa, (app, files) => {
        const router = sendRangeRouter(files);
        app.use(compress());
        app.use(router.routes());
        app.use(router.allowedMethods());
      }),
      routes: routesFor('/files/', FILES, { path: 'sendRange', placement: 'in front', encoded: true }),
      downloads: ['/files/big.bin'],
    },
    {
      name: 'koa-compress → resumableUploads',
      start: startWithUploads(Koa, (app, _files, uploads) => {
        app.use(compress());
        app.use(uploads);
      }),
      // resumableUploads writes Node's response itself, which koa-compress never sees.
      routes: routesFor(UPLOADS, BODIES, { path: 'upload download', placement: 'in front', encoded: false }),
      downloads: [`${UPLOADS}big.bin`],
    },
    {
      name: 'rangeServe() → koa-compress → resumableUploads',
      start: startWithUploads(Koa, (app, _files, uploads) => {
        app.use(rangeServe());
        app.use(compress());
        app.use(uploads);
      }),
      routes: routesFor(UPLOADS, BODIES, { path: 'upload download', placement: 'behind', encoded: false }),
      downloads: [`${UPLOADS}big.bin`],
    },
    {
      name: "koa-mount('/media', rangeServe(dir))",
      start: start(Koa, (app, files) => {
        app.use(mount('/media', rangeServe(files.root)));
      }),
      routes: routesFor('/media/', FILES, { path: 'directory', placement: 'none', encoded: false }),
      downloads: ['/media/big.bin'],
    },
  ];
}
