// Preconditions through a compressing layer behind range-serve on Koa: rangeServe() → koa-compress →
// a route whose body is held whole (a string, a Buffer, JSON) or reads a whole file. koa-compress
// replaces the body with an encoded stream before range-serve sees it, so the encoded 200 must still
// carry a validator (the weak form of the identity body's tag) and every ETag a client was sent
// revalidates to a 304, whichever coding it came with, while If-Range with an encoded answer's tag
// never yields identity bytes.
import assert from 'node:assert/strict';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rangeServe } from '@range-serve/koa';
import Koa from 'koa';
import Koa2 from 'koa2';
import compress from 'koa-compress';
import type { RunningServer } from '../conformance/scenarios.ts';
import { listen } from '../helpers/server.ts';
import { CLIENT_ENCODINGS, contentCodings, type DecodedResponse, send } from './client.ts';

const TEXT = Array.from(
  { length: 6000 },
  (_, i) => `${String(i).padStart(5, '0')} a line of a large string body\n`,
).join('');
const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-koa-compress-behind-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const FILE = path.join(dir, 'large.txt');
writeFileSync(FILE, TEXT);
const BODIES = {
  '/string': { body: (): unknown => TEXT, bytes: Buffer.from(TEXT) },
  '/buffer': { body: (): unknown => Buffer.from(TEXT), bytes: Buffer.from(TEXT) },
  '/json': { body: (): unknown => ({ text: TEXT }), bytes: Buffer.from(JSON.stringify({ text: TEXT })) },
  '/file-stream': { body: (): unknown => createReadStream(FILE), bytes: Buffer.from(TEXT) },
};

for (const [name, KoaApp] of [
  ['Koa 2', Koa2 as unknown as typeof Koa],
  ['Koa 3', Koa],
] as const) {
  describe(`${name}: rangeServe() → koa-compress → a body held whole or a whole file`, () => {
    let server: RunningServer;
    before(async () => {
      const app = new KoaApp();
      app.use(rangeServe());
      app.use(compress());
      app.use((ctx) => {
        const route = BODIES[ctx.path as keyof typeof BODIES];
        if (route === undefined) return;
        ctx.type = ctx.path === '/json' ? 'json' : 'txt';
        ctx.body = route.body();
      });
      server = await listen(app.callback());
    });
    after(() => server?.close());

    for (const [path, route] of Object.entries(BODIES)) {
      const get = (acceptEncoding: string, headers: Record<string, string> = {}): Promise<DecodedResponse> =>
        send(server.baseUrl, path, { headers: { 'accept-encoding': acceptEncoding, ...headers } });

      it(`${path}: If-None-Match with the ETag just sent is a 304, whichever coding sent it and whichever is asked`, async () => {
        // Identity first: the tag a client without gzip got must revalidate for one that has it.
        for (const sent of [...CLIENT_ENCODINGS].reverse()) {
          const first = await get(sent.acceptEncoding);
          assert.equal(first.status, 200);
          assert.deepEqual(first.body, route.bytes, `the ${first.headers['content-encoding'] ?? 'identity'} body`);
          const etag = first.headers.etag;
          assert.ok(etag !== undefined, `the ${first.headers['content-encoding'] ?? 'identity'} 200 carries no ETag`);
          if (contentCodings(first.headers).length > 0)
            assert.match(etag, /^W\//, `the ${first.headers['content-encoding']} 200 carries a strong ETag`);
          for (const asked of CLIENT_ENCODINGS) {
            const res = await get(asked.acceptEncoding, { 'if-none-match': etag });
            assert.equal(
              res.status,
              304,
              `If-None-Match: ${etag} (from ${sent.name}) asked with Accept-Encoding: ${asked.acceptEncoding}`,
            );
            assert.equal(res.wire.length, 0);
          }
        }
      });

      it(`${path}: If-Range with an encoded answer's ETag sends the whole body, never identity bytes to splice`, async () => {
        const first = await get('gzip');
        assert.equal(first.headers['content-encoding'], 'gzip');
        const etag = first.headers.etag;
        assert.ok(etag !== undefined, 'the gzip 200 carries no ETag');
        const res = await get('gzip', { range: 'bytes=0-99', 'if-range': etag });
        assert.equal(res.status, 200, `If-Range: ${etag} got ${res.status}`);
        assert.deepEqual(res.body, route.bytes);
      });
    }
  });
}
