// A page on another origin reads range-serve's fields through the CORS layer users put in front:
// `cors({ origin })` on Express, `@koa/cors` on Koa, `hono/cors` on Hono. Every serving path (directory,
// a later handler's body, sendRange with and without a download name, res.sendFile, res.download, a
// piped file stream, a Koa file stream body, a finished upload's download) names in
// `Access-Control-Expose-Headers` exactly the fields of ours that its answer carries, on 200, HEAD, 206,
// the multipart 206, 304, 412 and 416: merged into the CORS layer's own list, never named twice, and only
// where the CORS layer opened the response (docs/behaviour.md "Browsers on other origins").
import assert from 'node:assert/strict';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serve } from '@hono/node-server';
import { openFile } from '@range-serve/core';
import * as ex from '@range-serve/express';
import * as fx from '@range-serve/fetch';
import * as kx from '@range-serve/koa';
import Router from '@koa/router';
import koaCors from '@koa/cors';
import cors from 'cors';
import express5, { type Express, type NextFunction, type Request, type Response } from 'express';
import express4 from 'express4';
import { Hono } from 'hono';
import { cors as honoCors } from 'hono/cors';
import Koa from 'koa';
import Koa2 from 'koa2';
import mount from 'koa-mount';
import type { RunningServer } from '../conformance/scenarios.ts';
import { listen, running } from '../helpers/server.ts';
import { type DecodedResponse, send } from './client.ts';
import { makeServedFiles, type ServedFiles } from './files.ts';
import { uploadFile } from './uploaded.ts';

const ORIGIN = 'https://app.example';
const DOWNLOAD_NAME = 'report.txt';
/** What range-serve exposes when a download answer carries the field (BEHAVIOUR "Browsers on other origins"). */
const EXPOSABLE = ['content-range', 'accept-ranges', 'etag', 'last-modified', 'repr-digest', 'content-disposition'];

/** How the CORS layer in front is configured: as users write it, with a list of its own, or absent. */
type CorsSetup = 'origin' | 'own list' | 'none';
/** The list the `own list` layer exposes itself: one field of its own and one of ours, in another case. */
const OWN_LIST = ['X-Request-Id', 'etag'];

/** hono/cors's own list, which must name ours: the docs' list of range-serve's download fields. */
const HONO_OWN_LIST = [
  ...OWN_LIST,
  'Content-Range',
  'Accept-Ranges',
  'ETag',
  'Last-Modified',
  'Repr-Digest',
  'Content-Disposition',
];

type Start = (files: ServedFiles, uploads: string, setup: CorsSetup) => Promise<RunningServer>;

function expressApp(express: () => Express): Start {
  return (files, uploads, setup) => {
    const app = express();
    if (setup !== 'none')
      app.use(cors({ origin: ORIGIN, ...(setup === 'own list' ? { exposedHeaders: OWN_LIST } : {}) }));
    app.use('/dir', ex.rangeServe(files.root));
    app.use('/files', ex.resumableUploads({ directory: uploads }));
    const file = path.join(files.root, 'large.txt');
    app.get('/send/large.txt', (req: Request, res: Response, next: NextFunction) => {
      openFile(file)
        .then((opened) => ex.sendRange(req, res, opened))
        .catch(next);
    });
    app.get('/send-download/large.txt', (req: Request, res: Response, next: NextFunction) => {
      openFile(file)
        .then((opened) => ex.sendRange(req, res, opened, { download: DOWNLOAD_NAME }))
        .catch(next);
    });
    app.use('/h', ex.rangeServe());
    app.get('/h/body/large.txt', (_req: Request, res: Response) => {
      res.type('txt').send(files.bytes['large.txt']);
    });
    app.get('/h/sendfile/large.txt', (_req: Request, res: Response, next: NextFunction) => {
      res.sendFile('large.txt', { root: files.root }, (err) => err && next(err));
    });
    app.get('/h/download/large.txt', (_req: Request, res: Response, next: NextFunction) => {
      res.download(file, DOWNLOAD_NAME, (err) => err && next(err));
    });
    app.get('/h/pipe/large.txt', (_req: Request, res: Response) => {
      res.type('txt');
      createReadStream(file).pipe(res);
    });
    return listen(app);
  };
}

function koaApp(KoaApp: typeof Koa): Start {
  return (files, uploads, setup) => {
    const app = new KoaApp();
    app.on('error', () => {});
    if (setup !== 'none')
      app.use(koaCors({ origin: ORIGIN, ...(setup === 'own list' ? { exposeHeaders: OWN_LIST } : {}) }));
    app.use(mount('/dir', kx.rangeServe(files.root)));
    app.use(mount('/files', kx.resumableUploads({ directory: uploads })));
    const file = path.join(files.root, 'large.txt');
    const router = new Router();
    router.get('/send/large.txt', async (ctx) => {
      await kx.sendRange(ctx, await openFile(file));
    });
    router.get('/send-download/large.txt', async (ctx) => {
      await kx.sendRange(ctx, await openFile(file), { download: DOWNLOAD_NAME });
    });
    router.get('/h/body/large.txt', kx.rangeServe(), (ctx) => {
      ctx.type = 'txt';
      ctx.body = files.bytes['large.txt'];
    });
    router.get('/h/pipe/large.txt', kx.rangeServe(), (ctx) => {
      ctx.type = 'txt';
      ctx.body = createReadStream(file);
    });
    app.use(router.routes());
    return listen(app.callback());
  };
}

/** Hono on @hono/node-server; its uploads are not part of the fetch adapter yet. */
const honoApp: Start = async (files, _uploads, setup) => {
  const app = new Hono();
  // Hono's context writes the middleware's own list over the one a handler's Response carries: with a
  // list of its own, hono/cors must name range-serve's fields too (docs/web-standard.md).
  if (setup !== 'none')
    app.use('*', honoCors({ origin: ORIGIN, ...(setup === 'own list' ? { exposeHeaders: HONO_OWN_LIST } : {}) }));
  const directory = fx.rangeServe(files.root);
  app.use('/dir/*', async (c, next) => (await directory(c.req.raw, '/dir')) ?? next());
  const file = path.join(files.root, 'large.txt');
  app.get('/send/large.txt', async (c) => fx.sendRange(c.req.raw, await openFile(file)));
  app.get('/send-download/large.txt', async (c) =>
    fx.sendRange(c.req.raw, await openFile(file), { download: DOWNLOAD_NAME }),
  );
  const body = fx.withRanges(
    () => new Response(files.bytes['large.txt'], { headers: { 'content-type': 'text/plain; charset=utf-8' } }),
  );
  app.get('/h/body/large.txt', (c) => body(c.req.raw));
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  return running(server);
};

interface Framework {
  readonly name: string;
  readonly start: Start;
  readonly paths: readonly string[];
  /** Whether its answers list our fields even without a CORS layer (a Web-standard handler cannot see one). */
  readonly listsWithoutCors?: true;
  /** Whether the CORS layer's own list replaces the one range-serve made (Hono's context does). */
  readonly ownListReplaces?: true;
}

const EXPRESS_PATHS = [
  'directory',
  'handler body',
  'sendRange',
  'sendRange download',
  'res.sendFile',
  'res.download',
  'piped file stream',
  'upload download',
];
const KOA_PATHS = [
  'directory',
  'handler body',
  'sendRange',
  'sendRange download',
  'file stream body',
  'upload download',
];
const FRAMEWORKS: readonly Framework[] = [
  { name: 'Express 4', start: expressApp(express4 as unknown as () => Express), paths: EXPRESS_PATHS },
  { name: 'Express 5', start: expressApp(express5), paths: EXPRESS_PATHS },
  { name: 'Koa 2', start: koaApp(Koa2 as unknown as typeof Koa), paths: KOA_PATHS },
  { name: 'Koa 3', start: koaApp(Koa), paths: KOA_PATHS },
  {
    name: 'fetch on Hono',
    start: honoApp,
    paths: ['directory', 'handler body', 'sendRange', 'sendRange download'],
    listsWithoutCors: true,
    ownListReplaces: true,
  },
];

const URLS: Record<string, string> = {
  directory: '/dir/large.txt',
  'handler body': '/h/body/large.txt',
  sendRange: '/send/large.txt',
  'sendRange download': '/send-download/large.txt',
  'res.sendFile': '/h/sendfile/large.txt',
  'res.download': '/h/download/large.txt',
  'piped file stream': '/h/pipe/large.txt',
  'file stream body': '/h/pipe/large.txt',
};

function members(res: DecodedResponse, name: string): string[] {
  const value = res.headers[name];
  return (Array.isArray(value) ? value.join(',') : (value ?? ''))
    .split(',')
    .map((member) => member.trim())
    .filter((member) => member !== '');
}

/** Every answer a path gives, each with the request that gets it. */
function answers(size: number, etag: string) {
  return [
    { what: '200', status: 200, headers: {} },
    { what: 'HEAD', status: 200, method: 'HEAD', headers: {} },
    { what: '206', status: 206, headers: { range: 'bytes=0-99' } },
    { what: 'multipart 206', status: 206, headers: { range: 'bytes=0-9,100-109' } },
    { what: '304', status: 304, headers: { 'if-none-match': etag } },
    { what: '412', status: 412, headers: { 'if-match': '"another"' } },
    { what: '416', status: 416, headers: { range: `bytes=${size}-` } },
  ] as const;
}

for (const framework of FRAMEWORKS) {
  for (const setup of ['origin', 'own list', 'none'] as const) {
    describe(`${framework.name}: ${setup === 'none' ? 'no CORS layer' : `the CORS layer in front (${setup})`}`, () => {
      let files: ServedFiles;
      let uploads: string;
      let server: RunningServer;
      const urls: Record<string, string> = { ...URLS };
      before(async () => {
        files = makeServedFiles();
        uploads = mkdtempSync(path.join(tmpdir(), 'range-serve-cors-uploads-'));
        server = await framework.start(files, uploads, setup);
        if (framework.paths.includes('upload download')) {
          urls['upload download'] = await uploadFile(server.baseUrl, '/files', files.bytes['large.txt'], 'text/plain');
        }
      });
      after(async () => {
        await server?.close();
        files?.remove();
        if (uploads !== undefined) rmSync(uploads, { recursive: true, force: true });
      });

      for (const name of framework.paths) {
        const title =
          setup === 'none'
            ? framework.listsWithoutCors === true
              ? `${name}: without a CORS layer the answers still list our fields, which grant nothing without Access-Control-Allow-Origin`
              : `${name}: without a CORS layer nothing is exposed on 200, HEAD, 206, multipart 206, 304, 412 and 416`
            : setup === 'own list' && framework.ownListReplaces === true
              ? `${name}: hono/cors's own exposeHeaders replaces the handler's list, so it names range-serve's fields too`
              : `${name}: Access-Control-Expose-Headers names exactly the fields of ours each answer carries (200, HEAD, 206, multipart 206, 304, 412, 416)${setup === 'own list' ? ", merged into the layer's own list" : ''}`;
        it(title, async () => {
          const url = urls[name] as string;
          const get = (headers: Record<string, string>, method = 'GET') =>
            send(server.baseUrl, url, {
              method,
              headers: { origin: ORIGIN, 'accept-encoding': 'identity', ...headers },
            });
          const first = await get({});
          const etag = first.headers.etag;
          assert.ok(etag !== undefined, 'the 200 carries no ETag');
          for (const answer of answers(files.bytes['large.txt'].length, etag)) {
            const res = await get(answer.headers, 'method' in answer ? answer.method : 'GET');
            const label = `${answer.what}: Access-Control-Expose-Headers ${res.headers['access-control-expose-headers']}`;
            assert.equal(res.status, answer.status, `${answer.what}: status`);
            const exposed = members(res, 'access-control-expose-headers');
            if (setup === 'none') {
              assert.equal(res.headers['access-control-allow-origin'], undefined);
              if (framework.listsWithoutCors !== true) {
                assert.deepEqual(exposed, [], label);
                continue;
              }
            } else {
              assert.equal(
                res.headers['access-control-allow-origin'],
                ORIGIN,
                `${answer.what}: the CORS layer's field`,
              );
            }
            if (setup === 'own list' && framework.ownListReplaces === true) {
              assert.deepEqual(exposed, HONO_OWN_LIST, label);
              continue;
            }
            const lower = exposed.map((member) => member.toLowerCase());
            assert.equal(new Set(lower).size, lower.length, `${label} names a field twice`);
            const ours = EXPOSABLE.filter((field) => res.headers[field] !== undefined);
            const own = setup === 'own list' ? OWN_LIST.map((field) => field.toLowerCase()) : [];
            assert.deepEqual(new Set(lower), new Set([...own, ...ours]), label);
            if (setup === 'own list')
              assert.deepEqual(exposed.slice(0, 2), OWN_LIST, `${label}: the layer's list comes first`);
            // What each status must let a script read.
            if (answer.what === '206' || answer.status === 416) assert.ok(lower.includes('content-range'), label);
            if (answer.status === 200 || answer.status === 206) {
              for (const field of ['accept-ranges', 'etag'])
                assert.ok(lower.includes(field), `${label} lacks ${field}`);
            }
            if (answer.status === 304) assert.ok(lower.includes('etag'), label);
            if (
              name.endsWith('download') &&
              name !== 'upload download' &&
              (answer.status === 200 || answer.status === 206)
            ) {
              assert.ok(lower.includes('content-disposition'), label);
            }
          }
        });
      }
    });
  }
}
