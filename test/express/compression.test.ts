// range-serve with the real `compression` middleware in front of it and behind it, on Express 4 and 5:
// bodies that complete, decode to the exact bytes, and are never stalled by a write callback that
// compression does not call.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { rangeServe } from '@range-serve/express';
import compression from 'compression';
import express5, { type Express, type RequestHandler } from 'express';
import express4 from 'express4';
import { request } from '../helpers/http.ts';
import { listen } from '../helpers/server.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-compression-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
// Text that compresses, large enough for the streaming path (over 64 KiB), and a binary download.
const TEXT = Buffer.from(Array.from({ length: 40_000 }, (_, i) => `line ${i} of the log\n`).join(''));
const BIN = randomBytes(300 * 1024);
fs.writeFileSync(path.join(dir, 'big.txt'), TEXT);
fs.writeFileSync(path.join(dir, 'big.bin'), BIN);

/** Starts `build(app)` on 127.0.0.1:0. */
async function start(express: () => Express, build: (app: Express) => void) {
  const app = express();
  build(app);
  const server = await listen(app);
  return { url: server.baseUrl, close: () => server.close() };
}

/** A request that must complete within 10 s (a stalled body is a failure, not a hang). */
function fetchWithin(url: string, target: string, headers: Record<string, string>) {
  return Promise.race([
    request(url, target, { headers }),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no complete response to ${target}`)), 10_000)),
  ]);
}

function decoded(res: { headers: Record<string, unknown>; body: Buffer }): Buffer {
  const coding = res.headers['content-encoding'];
  if (coding === 'gzip') return zlib.gunzipSync(res.body);
  if (coding === 'br') return zlib.brotliDecompressSync(res.body);
  if (coding === 'deflate') return zlib.inflateSync(res.body);
  assert.equal(coding, undefined, `unexpected coding ${String(coding)}`);
  return res.body;
}

/** A handler that writes its body over time, without a Content-Length. */
const timedWrites: RequestHandler = (_req, res) => {
  res.type('text/plain');
  let i = 0;
  const tick = (): void => {
    if (i === 4) {
      res.end();
      return;
    }
    res.write(TEXT.subarray(i * 10_000, (i + 1) * 10_000));
    i++;
    setTimeout(tick, 5);
  };
  tick();
};

for (const [name, express] of [
  ['Express 4', express4 as unknown as () => Express],
  ['Express 5', express5],
] as const) {
  describe(`${name} with compression`, () => {
    it('rangeServe() then compression(): a body written over time gunzips to exactly its bytes', async () => {
      const server = await start(express, (app) => {
        app.use(rangeServe());
        app.use(compression());
        app.get('/timed', timedWrites);
      });
      try {
        const res = await fetchWithin(server.url, '/timed', { 'accept-encoding': 'gzip' });
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-encoding'], 'gzip');
        assert.deepEqual(decoded(res), TEXT.subarray(0, 40_000));
      } finally {
        await server.close();
      }
    });

    it('compression() then rangeServe(dir): large text and binary files complete and decode exactly', async () => {
      const server = await start(express, (app) => {
        app.use(compression());
        app.use(rangeServe(dir));
      });
      try {
        for (const [file, content] of [
          ['/big.txt', TEXT],
          ['/big.bin', BIN],
        ] as const) {
          for (const coding of ['gzip', 'gzip, deflate, br', 'identity']) {
            const res = await fetchWithin(server.url, file, { 'accept-encoding': coding });
            assert.equal(res.status, 200, `${file} ${coding}`);
            assert.deepEqual(decoded(res), content, `${file} ${coding}`);
          }
        }
      } finally {
        await server.close();
      }
    });
  });
}
