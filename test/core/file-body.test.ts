// A file span's body stream reuses its read buffer only when nothing can still hold the chunk it last
// carried (body.ts FileSpanStream). These tests keep the chunks they are given, so a buffer reused too
// early would show up as wrong bytes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { closeRepresentation, createBody, openFile, planResponse, writeFileRange } from '@range-serve/core';

const CONTENT = randomBytes(1024 * 1024);
const READ_SIZE = 16 * 1024;

/** A destination that takes its time over every chunk and keeps a reference to each, as a socket does until written. */
class SlowSink extends Writable {
  readonly chunks: Buffer[] = [];
  readonly copies: Buffer[] = [];
  constructor(
    options: { highWaterMark?: number } = {},
    private readonly delayMs = 0,
  ) {
    super(options);
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

  it('writeFileRange reuses its two buffers only after each write called back: every queued chunk is intact', async () => {
    const rep = await openFile(file);
    const sink = new SlowSink({ highWaterMark: 32 * READ_SIZE }, 1);
    try {
      const complete = await writeFileRange(rep, { start: 1000, end: CONTENT.length - 1 }, sink, {
        readSize: READ_SIZE,
      });
      assert.equal(complete, true);
    } finally {
      await closeRepresentation(rep);
    }
    await new Promise<void>((resolve) => sink.end(resolve));
    assert.deepEqual(Buffer.concat(sink.copies), CONTENT.subarray(1000));
    assert.equal(new Set(sink.chunks.map((c) => c.buffer)).size, 2, 'two buffers, used in turn');
  });
});
