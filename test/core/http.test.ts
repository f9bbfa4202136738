// serveRepresentation on a real node:http server (127.0.0.1:0), asserted with raw node:http requests:
// exact statuses, header sets and bytes, multipart parsed back with dicer, and resources released.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  bytesRepresentation,
  openFile,
  type Representation,
  type ResponsePlan,
  serveRepresentation,
  streamRepresentation,
} from '@range-serve/core';
import { delay, ownHeaders, parseMultipart, request, startServer, type TestServer } from './helpers.ts';

const SMALL = randomBytes(2000);
const TEXT = 'range-serve says h\u00e9llo';
const BIG_SIZE = 24 * 1024 * 1024;

let dir: string;
let smallPath: string;
let bigPath: string;
let server: TestServer;
/** The plan and representation of the latest request, as the server saw them. */
let last: { plan: ResponsePlan; rep: Representation } | undefined;
/** The latest source stream served on /slow-stream. */
let slowSource: Readable | undefined;
let bigFd: number | undefined;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'range-serve-http-'));
  smallPath = path.join(dir, 'small.bin');
  bigPath = path.join(dir, 'big.bin');
  fs.writeFileSync(smallPath, SMALL);
  fs.writeFileSync(bigPath, Buffer.alloc(BIG_SIZE, 0x41));
  server = await startServer(async (req, res) => {
    const url = req.url ?? '/';
    let rep: Representation;
    let options = {};
    if (url === '/file') {
      rep = await openFile(smallPath, {
        contentType: 'application/octet-stream',
        headers: { 'cache-control': 'no-cache' },
      });
    } else if (url === '/text') {
      rep = bytesRepresentation(TEXT, { contentType: 'text/plain; charset=utf-8' });
    } else if (url === '/stream') {
      rep = streamRepresentation(Readable.from([SMALL.subarray(0, 999), SMALL.subarray(999)]), SMALL.length, {
        contentType: 'application/octet-stream',
      });
    } else if (url === '/slow-stream') {
      slowSource = new Readable({
        read() {
          setTimeout(() => this.push(Buffer.alloc(1024, 0x62)), 5);
        },
      });
      rep = streamRepresentation(slowSource, 10 * 1024 * 1024);
    } else if (url === '/big') {
      const file = await openFile(bigPath);
      bigFd = file.fd;
      rep = file;
      options = { readSize: 64 * 1024, checkInterval: 64 * 1024 };
    } else {
      res.statusCode = 404;
      res.end();
      return;
    }
    last = { plan: serveRepresentation(req, res, rep, options), rep };
  });
});

after(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function lastPlan(): ResponsePlan {
  assert.ok(last !== undefined);
  return last.plan;
}

describe('serveRepresentation over node:http', () => {
  for (const url of ['/file', '/text', '/stream']) {
    const content = url === '/text' ? Buffer.from(TEXT, 'utf8') : SMALL;

    it(`${url}: a GET without Range is a 200 with the whole body and exactly the plan's headers`, async () => {
      const res = await request(server.port, url);
      assert.equal(res.status, 200);
      assert.deepEqual(ownHeaders(res.headers), lastPlan().headers);
      assert.equal(res.headers['accept-ranges'], 'bytes');
      assert.equal(res.headers['content-length'], String(content.length));
      assert.deepEqual(res.body, content);
    });

    it(`${url}: a single range is a 206 with Content-Range and exactly its bytes`, async () => {
      const res = await request(server.port, url, { headers: { range: 'bytes=3-12' } });
      assert.equal(res.status, 206);
      assert.deepEqual(ownHeaders(res.headers), lastPlan().headers);
      assert.equal(res.headers['content-range'], `bytes 3-12/${content.length}`);
      assert.equal(res.headers['content-length'], '10');
      assert.deepEqual(res.body, content.subarray(3, 13));
    });

    it(`${url}: two ranges are a multipart/byteranges that dicer parses into exactly those parts`, async () => {
      const res = await request(server.port, url, { headers: { range: 'bytes=0-4,-6' } });
      assert.equal(res.status, 206);
      const plan = lastPlan();
      assert.ok(plan.kind === 'multipart');
      assert.deepEqual(ownHeaders(res.headers), plan.headers);
      assert.equal(res.headers['content-type'], `multipart/byteranges; boundary=${plan.boundary}`);
      assert.equal(res.headers['content-range'], undefined);
      assert.equal(res.headers['content-length'], String(res.body.length));
      const parts = await parseMultipart(res.body, plan.boundary);
      const type = url === '/text' ? 'text/plain; charset=utf-8' : 'application/octet-stream';
      const n = content.length;
      assert.deepEqual(parts, [
        { headers: { 'content-type': [type], 'content-range': [`bytes 0-4/${n}`] }, body: content.subarray(0, 5) },
        {
          headers: { 'content-type': [type], 'content-range': [`bytes ${n - 6}-${n - 1}/${n}`] },
          body: content.subarray(n - 6),
        },
      ]);
    });

    it(`${url}: HEAD with two ranges has the same status and headers as GET and no body`, async () => {
      await request(server.port, url, { headers: { range: 'bytes=0-4,-6' } });
      const getPlan = lastPlan();
      const res = await request(server.port, url, { method: 'HEAD', headers: { range: 'bytes=0-4,-6' } });
      const headPlan = lastPlan();
      assert.ok(getPlan.kind === 'multipart' && headPlan.kind === 'multipart');
      assert.equal(res.status, 206);
      assert.equal(res.body.length, 0);
      assert.deepEqual(ownHeaders(res.headers), headPlan.headers);
      assert.equal(headPlan.headers['content-length'], getPlan.headers['content-length']);
      assert.deepEqual(
        JSON.parse(JSON.stringify(headPlan.headers).split(headPlan.boundary).join('B')),
        JSON.parse(JSON.stringify(getPlan.headers).split(getPlan.boundary).join('B')),
      );
    });

    it(`${url}: an unsatisfiable range is a 416 with Content-Range: bytes */len and no body`, async () => {
      const res = await request(server.port, url, { headers: { range: `bytes=${content.length}-` } });
      assert.equal(res.status, 416);
      assert.deepEqual(ownHeaders(res.headers), {
        'content-range': `bytes */${content.length}`,
        'content-length': '0',
        vary: 'Accept-Encoding', // its type is one a compressing layer would encode
      });
      assert.equal(res.body.length, 0);
    });
  }

  it('a 304 carries the validators and Cache-Control but no Content-Length, Content-Type or body', async () => {
    const first = await request(server.port, '/file');
    const etag = first.headers.etag as string;
    const res = await request(server.port, '/file', { headers: { 'if-none-match': etag } });
    assert.equal(res.status, 304);
    assert.deepEqual(ownHeaders(res.headers), {
      etag,
      'last-modified': first.headers['last-modified'],
      'cache-control': 'no-cache',
      vary: first.headers.vary, // as the 200 had it (RFC 9110 §15.4.5)
    });
    assert.equal(res.body.length, 0);
  });

  it('If-Modified-Since at Last-Modified is a 304 for HEAD too', async () => {
    const first = await request(server.port, '/file', { method: 'HEAD' });
    const res = await request(server.port, '/file', {
      method: 'HEAD',
      headers: { 'if-modified-since': first.headers['last-modified'] as string },
    });
    assert.equal(res.status, 304);
    assert.equal(res.headers['content-length'], undefined);
  });

  it('a failed If-Match is a 412 with no body', async () => {
    const res = await request(server.port, '/text', { headers: { 'if-match': '"stale"' } });
    assert.equal(res.status, 412);
    assert.deepEqual(ownHeaders(res.headers), { 'content-length': '0' });
    assert.equal(res.body.length, 0);
  });

  it('If-Range with the ETag of the first response resumes with a 206', async () => {
    const first = await request(server.port, '/file', { method: 'HEAD' });
    const res = await request(server.port, '/file', {
      headers: { range: 'bytes=1000-', 'if-range': first.headers.etag as string },
    });
    assert.equal(res.status, 206);
    assert.deepEqual(res.body, SMALL.subarray(1000));
  });

  it('a client that goes away releases the source stream at once', async () => {
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: server.port, path: '/slow-stream', agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.on('timeout', reject);
    });
    for (let i = 0; i < 100 && slowSource?.destroyed !== true; i++) await delay(10);
    assert.equal(slowSource?.destroyed, true);
  });

  it('a client that goes away releases the file descriptor at once', async () => {
    await new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: server.port, path: '/big', agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
    });
    assert.ok(bigFd !== undefined);
    const fd = bigFd;
    let closed = false;
    for (let i = 0; i < 100 && !closed; i++) {
      try {
        fs.fstatSync(fd);
        await delay(10);
      } catch (err) {
        closed = (err as NodeJS.ErrnoException).code === 'EBADF';
      }
    }
    assert.equal(closed, true, 'the descriptor was closed');
  });

  it('a file modified in place during the response cuts the connection short', async () => {
    const result = await new Promise<{ received: number; length: number; error: boolean }>((resolve) => {
      let received = 0;
      let length = 0;
      let settled = false;
      const finish = (error: boolean) => {
        if (!settled) {
          settled = true;
          resolve({ received, length, error });
        }
      };
      const req = http.get({ host: '127.0.0.1', port: server.port, path: '/big', agent: false }, (res) => {
        length = Number(res.headers['content-length']);
        res.once('data', () => {
          res.pause();
          // Let the write's mtime differ from the original's, change the file in place, then read on.
          setTimeout(() => {
            const fd = fs.openSync(bigPath, 'r+');
            fs.writeSync(fd, Buffer.from('CHANGED'), 0, 7, BIG_SIZE - 100);
            fs.closeSync(fd);
            res.resume();
          }, 30);
        });
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
        });
        res.on('end', () => finish(false));
        res.on('error', () => finish(true));
        res.on('aborted', () => finish(true));
      });
      req.on('error', () => finish(true));
    });
    assert.equal(result.length, BIG_SIZE);
    assert.equal(result.error, true, 'the response was aborted');
    assert.ok(result.received < BIG_SIZE, `received ${result.received} of ${BIG_SIZE}`);
  });
});
