// List fields other layers set are merged with range-serve's, never replaced: cors in front (Express's
// `cors`, Koa's `@koa/cors`) says `Vary: Origin`, an app layer says `Cache-Control: private, max-age=60`,
// and every answer of every serving path (directory, a later handler's body, sendRange, a finished
// upload's download) keeps both, on 200, HEAD, 206, the multipart 206, 304, 412 and 416 alike.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openFile } from '@range-serve/core';
import * as ex from '@range-serve/express';
import * as kx from '@range-serve/koa';
import Router from '@koa/router';
import koaCors from '@koa/cors';
import cors from 'cors';
import express5, { type Express, type NextFunction, type Request, type Response } from 'express';
import express4 from 'express4';
import Koa from 'koa';
import Koa2 from 'koa2';
import mount from 'koa-mount';
import type { RunningServer } from '../conformance/scenarios.ts';
import { listen } from '../helpers/server.ts';
import { type DecodedResponse, send } from './client.ts';
import { makeServedFiles, type ServedFiles } from './files.ts';
import { uploadFile } from './uploaded.ts';

const ORIGIN = 'https://app.example';
const CACHE = 'private, max-age=60';

/** Starts an app with cors and a Cache-Control layer in front of every serving path. */
type Start = (files: ServedFiles, uploads: string) => Promise<RunningServer>;

function expressApp(express: () => Express): Start {
  return (files, uploads) => {
    const app = express();
    app.use(cors({ origin: ORIGIN }));
    app.use((_req: Request, res: Response, next: NextFunction) => {
      res.setHeader('Cache-Control', CACHE);
      next();
    });
    app.use('/dir', ex.rangeServe(files.root));
    app.use('/files', ex.resumableUploads({ directory: uploads }));
    app.get('/send/large.txt', (req: Request, res: Response, next: NextFunction) => {
      openFile(path.join(files.root, 'large.txt'))
        .then((file) => ex.sendRange(req, res, file))
        .catch(next);
    });
    app.use('/h', ex.rangeServe());
    app.get('/h/large.txt', (_req: Request, res: Response) => {
      res.type('txt').send(files.bytes['large.txt']);
    });
    return listen(app);
  };
}

function koaApp(KoaApp: typeof Koa): Start {
  return (files, uploads) => {
    const app = new KoaApp();
    app.on('error', () => {});
    app.use(koaCors({ origin: ORIGIN }));
    app.use(async (ctx, next) => {
      ctx.set('Cache-Control', CACHE);
      await next();
    });
    app.use(mount('/dir', kx.rangeServe(files.root)));
    app.use(mount('/files', kx.resumableUploads({ directory: uploads })));
    const router = new Router();
    router.get('/send/large.txt', async (ctx) => {
      await kx.sendRange(ctx, await openFile(path.join(files.root, 'large.txt')));
    });
    router.get('/h/large.txt', kx.rangeServe(), (ctx) => {
      ctx.type = 'txt';
      ctx.body = files.bytes['large.txt'];
    });
    app.use(router.routes());
    return listen(app.callback());
  };
}

const FRAMEWORKS: readonly [string, Start][] = [
  ['Express 4', expressApp(express4 as unknown as () => Express)],
  ['Express 5', expressApp(express5)],
  ['Koa 2', koaApp(Koa2 as unknown as typeof Koa)],
  ['Koa 3', koaApp(Koa)],
];

function members(res: DecodedResponse, name: string): string[] {
  const value = res.headers[name];
  return (Array.isArray(value) ? value.join(',') : (value ?? ''))
    .split(',')
    .map((member) => member.trim().toLowerCase())
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

for (const [framework, start] of FRAMEWORKS) {
  describe(`${framework}: cors and Cache-Control in front`, () => {
    let files: ServedFiles;
    let uploads: string;
    let server: RunningServer;
    const paths: Record<string, string> = {
      directory: '/dir/large.txt',
      handler: '/h/large.txt',
      sendRange: '/send/large.txt',
    };
    before(async () => {
      files = makeServedFiles();
      uploads = mkdtempSync(path.join(tmpdir(), 'range-serve-merged-uploads-'));
      server = await start(files, uploads);
      paths.upload = await uploadFile(server.baseUrl, '/files', files.bytes['large.txt'], 'text/plain');
    });
    after(async () => {
      await server?.close();
      files?.remove();
      if (uploads !== undefined) rmSync(uploads, { recursive: true, force: true });
    });

    for (const name of ['directory', 'handler', 'sendRange', 'upload']) {
      it(`${name}: Vary keeps the cors layer's Origin beside Accept-Encoding on 200, HEAD, 206, multipart 206, 304, 412 and 416`, async () => {
        const url = paths[name] as string;
        const get = (headers: Record<string, string>, method = 'GET') =>
          send(server.baseUrl, url, { method, headers: { origin: ORIGIN, 'accept-encoding': 'identity', ...headers } });
        const first = await get({});
        const etag = first.headers.etag;
        assert.ok(etag !== undefined, 'the 200 carries no ETag');
        for (const answer of answers(files.bytes['large.txt'].length, etag)) {
          const res = await get(answer.headers, 'method' in answer ? answer.method : 'GET');
          assert.equal(res.status, answer.status, `${answer.what}: status`);
          assert.equal(res.headers['access-control-allow-origin'], ORIGIN, `${answer.what}: the cors layer's field`);
          const vary = members(res, 'vary');
          assert.ok(vary.includes('origin'), `${answer.what}: Vary ${res.headers.vary} lost the cors layer's Origin`);
          assert.equal(new Set(vary).size, vary.length, `${answer.what}: Vary ${res.headers.vary} names a field twice`);
          // A 412 has no body, so no coding can change it: it need not vary on Accept-Encoding.
          if (answer.status !== 412)
            assert.ok(
              vary.includes('accept-encoding'),
              `${answer.what}: Vary ${res.headers.vary} lacks Accept-Encoding`,
            );
        }
      });

      it(`${name}: a Cache-Control set in front is kept on every answer, range-serve only adding its restrictions (no-transform on 206s)`, async () => {
        const url = paths[name] as string;
        const get = (headers: Record<string, string>, method = 'GET') =>
          send(server.baseUrl, url, { method, headers: { origin: ORIGIN, 'accept-encoding': 'identity', ...headers } });
        const first = await get({});
        const etag = first.headers.etag;
        assert.ok(etag !== undefined, 'the 200 carries no ETag');
        for (const answer of answers(files.bytes['large.txt'].length, etag)) {
          const res = await get(answer.headers, 'method' in answer ? answer.method : 'GET');
          assert.equal(res.status, answer.status, `${answer.what}: status`);
          // A finished upload's download asks every cache to revalidate (no-cache) on the answers that describe it.
          const revalidate = name === 'upload' && answer.status !== 412 && answer.status !== 416 ? ', no-cache' : '';
          const expected = `${CACHE}${revalidate}${answer.status === 206 ? ', no-transform' : ''}`;
          assert.equal(res.headers['cache-control'], expected, `${answer.what}: Cache-Control`);
        }
      });
    }
  });
}
