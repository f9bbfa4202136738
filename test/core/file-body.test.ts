// Read buffers are reused only when nothing can still hold the chunk they last carried: a body stream
// piped straight into its destination, and the Node writer whose write callbacks are sure to come.
// These tests keep the chunks they are given, so a buffer reused too early would show up as wrong bytes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openFile, planResponse, writeResponse } from '@range-serve/core';
import { closeRepresentation, createBody } from '@range-serve/core/adapter';

const CONTENT = randomBytes(1024 * 1024);
const READ_SIZE = 16 * 1024;

/**
 * A destination that takes its time over every chunk and keeps a reference to each, as a socket does until
 * written. Its high-water mark is one read unless given: Node 22 raised the default from 16 KiB to 64 KiB,
 * and with room for four reads the pipe never waits for a write, so no read would find the sink drained.
 */
class SlowSink extends Writable {
  readonly chunks: Buffer[] = [];
  readonly copies: Buffer[] = [];
  constructor(
    options: { highWaterMark?: number } = {},
    private readonly delayMs = 0,
  ) {
    super({ highWaterMark: READ_SIZE, ...options });
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(chunk);
    this.copies.push(Buffer.from(chunk)); // what the chunk held when it was handed over
    if (this.delayMs === 0) setImmediate(callback);
    else setTimeout(callback, this.delayMs);
  }
}

describe('file body streams and their read buffers', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-filebody-'));
  const file = path.join(dir, 'f.bin');
  fs.writeFileSync(file, CONTENT);
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function body(destination: Writable) {
    const rep = await openFile(file);
    const plan = planResponse({ method: 'GET', headers: { range: 'bytes=1000-' } }, rep);
    const stream = createBody(plan, rep, { readSize: READ_SIZE, destination });
    assert.ok(stream !== null);
    stream.once('close', () => void closeRepresentation(rep));
    return stream;
  }

  it('piped straight into its destination: exact bytes, and the read buffer is reused', async () => {
    const sink = new SlowSink();
    await pipeline(await body(sink), sink);
    assert.deepEqual(Buffer.concat(sink.copies), CONTENT.subarray(1000));
    const distinct = new Set(sink.chunks.map((c) => c.buffer));
    assert.ok(distinct.size < sink.chunks.length, `${distinct.size} buffers for ${sink.chunks.length} chunks`);
  });

  it('into a destination that queues many chunks before writing: every queued chunk is intact', async () => {
    // A large high-water mark keeps the pipe flowing while earlier chunks still wait in the queue.
    const sink = new SlowSink({ highWaterMark: 32 * READ_SIZE }, 1);
    await pipeline(await body(sink), sink);
    assert.deepEqual(Buffer.concat(sink.copies), CONTENT.subarray(1000));
  });

  it('wrapped by a transform while the response sits idle: every chunk the transform passed on is intact', async () => {
    // As when compression middleware pipes the body through gzip: the response has written everything
    // it was given, yet the transform and what follows it still hold the body's chunks.
    const idleResponse = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    const sink = new SlowSink();
    const between = new PassThrough({ highWaterMark: 4 * READ_SIZE });
    await pipeline(await body(idleResponse), between, sink);
    assert.deepEqual(Buffer.concat(sink.chunks), CONTENT.subarray(1000));
  });

  it('with a second reader of its data events: every chunk that reader kept is intact', async () => {
    const sink = new SlowSink();
    const stream = await body(sink);
    const seen: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => seen.push(chunk));
    await pipeline(stream, sink);
    assert.deepEqual(Buffer.concat(seen), CONTENT.subarray(1000));
    assert.deepEqual(Buffer.concat(sink.chunks), CONTENT.subarray(1000));
  });

  /** Serves `file` from 1000 on through `writeResponse`, with `res` prepared by `wrap`; returns the bytes a slow client got. */
  async function served(wrap: (res: http.ServerResponse) => void): Promise<Buffer> {
    const server = http.createServer((req, res) => {
      wrap(res);
      void openFile(file).then((rep) => {
        const plan = planResponse({ method: 'GET', headers: { range: 'bytes=1000-' } }, rep);
        return writeResponse(res, plan, rep, { readSize: READ_SIZE });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      return await new Promise<Buffer>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/' }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => {
              chunks.push(chunk);
              res.pause(); // a slow reader: the socket fills and the writer must wait
              setTimeout(() => res.resume(), 1);
            });
            res.on('end', () => resolve(Buffer.concat(chunks)));
            res.on('error', reject);
          })
          .on('error', reject);
      });
    } finally {
      server.close();
    }
  }

  it("written with Node's own write to a slow client: exact bytes while two buffers are reused", async () => {
    assert.deepEqual(await served(() => {}), CONTENT.subarray(1000));
  });

  it('written through a layer whose write never calls back (as compression does): the body still completes', async () => {
    const bytes = await served((res) => {
      const write = res.write;
      res.write = function writeWithoutCallback(this: http.ServerResponse, chunk: unknown) {
        return Reflect.apply(write, this, [chunk]) as boolean;
      } as http.ServerResponse['write'];
    });
    assert.deepEqual(bytes, CONTENT.subarray(1000));
  });
});
