// A precompressed variant served by range-serve behind a compressing middleware (compression on
// Express 4 and 5, koa-compress on Koa 2 and 3, each in front so that it sees our response): the
// variant's bytes go out as they are, never encoded a second time, with their own ETag and ranges.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { rangeServe as expressRangeServe } from '@range-serve/express';
import { rangeServe as koaRangeServe } from '@range-serve/koa';
import compression from 'compression';
import express5, { type Express } from 'express';
import express4 from 'express4';
import Koa from 'koa';
import Koa2 from 'koa2';
import compress from 'koa-compress';
import type { RunningServer } from '../conformance/scenarios.ts';
import { request } from '../helpers/http.ts';
import { listen } from '../helpers/server.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-variants-compression-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
// Large enough for either middleware's threshold, in a type both would compress.
const JS = Buffer.from(Array.from({ length: 5000 }, (_, i) => `export const v${i} = ${i};\n`).join(''));
const BR = zlib.brotliCompressSync(JS);
const GZ = zlib.gzipSync(JS);
fs.writeFileSync(path.join(dir, 'app.js'), JS);
fs.writeFileSync(path.join(dir, 'app.js.br'), BR);
fs.writeFileSync(path.join(dir, 'app.js.gz'), GZ);
const later = new Date(Date.now() + 1000);
fs.utimesSync(path.join(dir, 'app.js.br'), later, later);
fs.utimesSync(path.join(dir, 'app.js.gz'), later, later);

const stacks: [string, () => Promise<RunningServer>][] = [
  ...(
    [
      ['Express 4', express4 as unknown as () => Express],
      ['Express 5', express5],
    ] as const
  ).map(([name, express]): [string, () => Promise<RunningServer>] => [
    `${name}: compression() then rangeServe(dir, { precompressed: true })`,
    () => {
      const app = express();
      app.use(compression({ threshold: 0 }));
      app.use(expressRangeServe(dir, { precompressed: true }));
      return listen(app);
    },
  ]),
  ...(
    [
      ['Koa 2', Koa2 as unknown as typeof Koa],
      ['Koa 3', Koa],
    ] as const
  ).map(([name, KoaApp]): [string, () => Promise<RunningServer>] => [
    `${name}: koa-compress then rangeServe(dir, { precompressed: true })`,
    () => {
      const app = new KoaApp();
      app.use(compress({ threshold: 0 }));
      app.use(koaRangeServe(dir, { precompressed: true }));
      return listen(app.callback());
    },
  ]),
];

for (const [name, start] of stacks) {
  describe(name, () => {
    it('a precompressed variant is sent as its own bytes, never encoded again, with its strong ETag', async () => {
      const server = await start();
      try {
        for (const [accept, coding, bytes] of [
          ['br', 'br', BR],
          ['gzip', 'gzip', GZ],
        ] as const) {
          const res = await request(server.baseUrl, '/app.js', { headers: { 'accept-encoding': accept } });
          assert.equal(res.status, 200);
          assert.equal(res.headers['content-encoding'], coding);
          assert.deepEqual(res.body, bytes);
          assert.match(res.headers.etag ?? '', new RegExp(`^"[0-9a-f]+-[0-9a-f]+-${coding}"$`));
          assert.equal(res.headers.vary, 'Accept-Encoding');
        }
        const ranged = await request(server.baseUrl, '/app.js', {
          headers: { 'accept-encoding': 'br', range: 'bytes=100-199' },
        });
        assert.equal(ranged.status, 206);
        assert.equal(ranged.headers['content-encoding'], 'br');
        assert.equal(ranged.headers['content-range'], `bytes 100-199/${BR.length}`);
        assert.deepEqual(ranged.body, BR.subarray(100, 200));
      } finally {
        await server.close();
      }
    });
  });
}
