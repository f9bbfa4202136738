/**
 * What only Koa has to get right, run for Koa 2 and Koa 3: file streams as ctx.body, stream failures
 * after the headers, ctx.respond = false, bodyless responses and releasing what a client abandons.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import http from 'node:http';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { bytesRepresentation, streamRepresentation } from '@range-serve/core';
import { contentEtag } from '@range-serve/core/adapter';
import { sendRange } from '@range-serve/koa';
import type { Context } from 'koa';
import { GZIP_BODY, type RunningServer } from '../conformance/scenarios.ts';
import { type Fixtures, makeFixtures } from '../helpers/fixtures.ts';
import { request } from '../helpers/http.ts';
import { type KoaConstructor, koaApp, listen } from './factory.ts';

/** Runs the Koa-only cases against one Koa module. */
export function runKoaSpecific(name: string, Koa: KoaConstructor): void {
  describe(`${name} specifics`, () => {
    const fx: Fixtures = makeFixtures();
    let server: RunningServer;
    const appErrors: Error[] = [];
    let lastFileStream: ReadStream | undefined;
    let abandoned: Readable | undefined;

    const routes = async (ctx: Context): Promise<void> => {
      switch (ctx.path) {
        case '/k/file-stream':
          ctx.type = 'text/plain';
          ctx.body = lastFileStream = createReadStream(`${fx.root}/hello.txt`);
          return;
        case '/k/file-slice':
          ctx.body = createReadStream(`${fx.root}/hello.txt`, { start: 10, end: 19 });
          ctx.length = 10;
          return;
        case '/k/fails-midway': {
          let pushed = false;
          ctx.body = new Readable({
            read() {
              if (pushed) return;
              pushed = true;
              this.push(Buffer.alloc(1000, 'a'));
              setTimeout(() => this.destroy(new Error('source failed')), 10);
            },
          });
          ctx.length = 100_000;
          return;
        }
        case '/k/too-short':
          ctx.body = Readable.from([Buffer.from('only this')]);
          ctx.length = 50;
          return;
        case '/k/respond-false':
          ctx.respond = false;
          ctx.res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '10' });
          ctx.res.end('raw bytes!');
          return;
        case '/k/json-304':
          ctx.body = { a: 1 };
          return;
        case '/k/gzip-body-first':
          // The coding set after the body: the bytes are already the encoded ones, nobody replaces them.
          ctx.type = 'text/plain';
          ctx.body = GZIP_BODY;
          ctx.set('content-encoding', 'gzip');
          return;
        case '/k/abandoned': {
          let sent = 0;
          abandoned = new Readable({
            read() {
              sent += 1;
              if (sent < 1000) setTimeout(() => this.push(Buffer.alloc(64 * 1024, 'x')), 5);
            },
          });
          await sendRange(ctx, streamRepresentation(abandoned, 1000 * 64 * 1024));
          return;
        }
        case '/k/bad-options':
          await sendRange(ctx, bytesRepresentation('x'), { maxRanges: -1 });
          return;
      }
    };

    before(async () => {
      const app = koaApp(Koa, { options: {} }, routes);
      app.removeAllListeners('error');
      app.on('error', (err: Error) => appErrors.push(err));
      server = await listen(app);
    });
    after(async () => {
      await server.close();
      fx.remove();
    });
    const get = (target: string, headers: http.OutgoingHttpHeaders = {}, method = 'GET') =>
      request(server.baseUrl, target, { method, headers });

    it('a file stream body gets fstat validators and is served from its own descriptor', async () => {
      const full = await get('/k/file-stream');
      assert.equal(full.status, 200);
      assert.deepEqual(full.body, fx.hello);
      assert.match(full.headers.etag ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/);
      assert.ok(full.headers['last-modified']);
      assert.equal(full.headers['content-type'], 'text/plain; charset=utf-8');
      const part = await get('/k/file-stream', { range: 'bytes=50-', 'if-range': full.headers.etag as string });
      assert.equal(part.status, 206);
      assert.deepEqual(part.body, fx.hello.subarray(50));
      // The handler's stream was dropped unread: the skipped bytes were never read through it.
      assert.equal(lastFileStream?.bytesRead, 0);
      assert.equal(lastFileStream?.destroyed, true);
      const cached = await get('/k/file-stream', { 'if-none-match': full.headers.etag as string });
      assert.equal(cached.status, 304);
      assert.equal(cached.headers['content-type'], undefined);
      assert.equal(cached.headers['content-length'], undefined);
      assert.equal(cached.body.length, 0);
    });

    it("under etag: 'digest' a file stream body gets the SHA-256 ETag and Repr-Digest of the file", async () => {
      const digestServer = await listen(koaApp(Koa, { options: { etag: 'digest' } }, routes));
      try {
        const sha = createHash('sha256').update(fx.hello);
        const etag = `"${fx.hello.length.toString(16)}-${sha.copy().digest('base64url')}"`;
        const full = await request(digestServer.baseUrl, '/k/file-stream');
        assert.equal(full.status, 200);
        assert.equal(full.headers.etag, etag);
        assert.equal(full.headers['repr-digest'], `sha-256=:${sha.digest('base64')}:`);
        assert.deepEqual(full.body, fx.hello);
        const part = await request(digestServer.baseUrl, '/k/file-stream', {
          headers: { range: 'bytes=5-9', 'if-range': etag },
        });
        assert.equal(part.status, 206);
        assert.deepEqual(part.body, fx.hello.subarray(5, 10));
      } finally {
        await digestServer.close();
      }
    });

    it('a HEAD of a file stream body has the GET headers and no body', async () => {
      const g = await get('/k/file-stream', { range: 'bytes=0-9' });
      const h = await get('/k/file-stream', { range: 'bytes=0-9' }, 'HEAD');
      assert.equal(h.status, 206);
      for (const field of ['content-range', 'content-length', 'content-type', 'etag', 'last-modified']) {
        assert.equal(h.headers[field], g.headers[field], field);
      }
      assert.equal(h.body.length, 0);
    });

    it('a file stream of a slice is ranged within the slice, by its declared length', async () => {
      const res = await get('/k/file-slice', { range: 'bytes=2-4' });
      assert.equal(res.status, 206);
      assert.equal(res.headers['content-range'], 'bytes 2-4/10');
      assert.deepEqual(res.body, fx.hello.subarray(12, 15));
    });

    for (const target of ['/k/fails-midway', '/k/too-short']) {
      it(
        `${target}: a body that fails after the headers cuts the connection and reaches app 'error'`,
        { timeout: 5000 },
        async () => {
          const before = appErrors.length;
          const outcome = await get(target).then(
            (res) => res.body.length < Number(res.headers['content-length']),
            () => true,
          );
          assert.equal(outcome, true, 'the client must not see a complete-looking body');
          await new Promise((resolve) => setTimeout(resolve, 20));
          assert.ok(appErrors.length > before, 'the error went to Koa');
        },
      );
    }

    it('ctx.respond = false is left alone', async () => {
      const res = await get('/k/respond-false', { range: 'bytes=0-2' });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'raw bytes!');
      assert.equal(res.headers['content-range'], undefined);
    });

    it('a body the middleware encoded itself keeps its strong ETag when Content-Encoding is set after the body', async () => {
      const full = await get('/k/gzip-body-first');
      assert.equal(full.headers['content-encoding'], 'gzip');
      assert.equal(full.headers.etag, contentEtag(GZIP_BODY));
      const part = await get('/k/gzip-body-first', { range: 'bytes=2-9', 'if-range': full.headers.etag as string });
      assert.equal(part.status, 206);
      assert.equal(part.headers['content-range'], `bytes 2-9/${GZIP_BODY.length}`);
      assert.deepEqual(part.body, GZIP_BODY.subarray(2, 10));
    });

    it('a 304 or 412 of a JSON body has no body, no Content-Type and never the text null', async () => {
      const { headers } = await get('/k/json-304');
      const cached = await get('/k/json-304', { 'if-none-match': headers.etag as string });
      assert.equal(cached.status, 304);
      assert.equal(cached.headers['content-type'], undefined);
      const failed = await get('/k/json-304', { 'if-match': '"other"' });
      assert.equal(failed.status, 412);
      assert.equal(failed.headers['content-type'], undefined);
      assert.equal(failed.headers['content-length'], '0');
      assert.equal(failed.body.length, 0);
      const unsatisfiable = await get('/k/json-304', { range: 'bytes=500-' });
      assert.equal(unsatisfiable.status, 416);
      assert.equal(unsatisfiable.body.length, 0);
    });

    it('a client that goes away releases the representation at once', async () => {
      const url = new URL(server.baseUrl);
      await new Promise<void>((resolve, reject) => {
        const req = http.get({ host: url.hostname, port: url.port, path: '/k/abandoned', agent: false }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => {});
        setTimeout(() => reject(new Error('no data')), 2000);
      });
      for (let i = 0; i < 100 && abandoned?.destroyed !== true; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(abandoned?.destroyed, true);
    });

    it('sendRange with a bad option is an error for Koa to handle: a 500, before any header', async () => {
      const res = await get('/k/bad-options');
      assert.equal(res.status, 500);
      assert.equal(res.body.toString(), 'error');
    });
  });
}
