// Bodies over the three representation kinds (file, bytes, stream), docs/behaviour.md "Validators",
// "Responses" (multipart framing) and "Bodies that change"; exact bytes throughout.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { closeRepresentation, contentEtag, createBody, readWholeBody } from '@range-serve/core/adapter';
import {
  bytesRepresentation,
  type FileRepresentation,
  NotAFileError,
  openFile,
  planResponse,
  type Representation,
  RepresentationChangedError,
  type ResponsePlan,
  ShortRepresentationError,
  streamRepresentation,
} from '@range-serve/core';
import { collect, delay, expectedMultipart, parseMultipart } from './helpers.ts';

const NOW = Date.UTC(2030, 0, 1);
let dir: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'range-serve-body-'));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeTemp(name: string, content: Uint8Array): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

function plan(method: string, range: string | undefined, rep: Representation): ResponsePlan {
  return planResponse({ method, headers: range === undefined ? {} : { range } }, rep, { now: NOW });
}

/** Asserts the plan's body bytes: the whole, one slice, or an exact multipart body that dicer reads back. */
async function assertBody(
  p: ResponsePlan,
  rep: Representation,
  content: Buffer,
  expected:
    | { kind: 'full' }
    | { kind: 'partial'; start: number; end: number }
    | { kind: 'multipart'; spans: [number, number][] },
  options: { readSize?: number; checkInterval?: number } = {},
): Promise<void> {
  assert.equal(p.kind, expected.kind);
  const body = createBody(p, rep, options);
  assert.ok(body !== null);
  const bytes = await collect(body);
  if (expected.kind === 'full') {
    assert.deepEqual(bytes, content);
  } else if (expected.kind === 'partial') {
    assert.deepEqual(bytes, content.subarray(expected.start, expected.end + 1));
  } else {
    assert.ok(p.kind === 'multipart');
    const ranges = expected.spans.map(([start, end]) => ({ start, end }));
    assert.deepEqual(bytes, expectedMultipart(content, ranges, p.boundary, rep.contentType));
    const parts = await parseMultipart(bytes, p.boundary);
    assert.deepEqual(
      parts.map((part) => ({
        range: part.headers['content-range'],
        type: part.headers['content-type'],
        body: part.body,
      })),
      ranges.map((r) => ({
        range: [`bytes ${r.start}-${r.end}/${content.length}`],
        type: rep.contentType === undefined ? undefined : [rep.contentType],
        body: content.subarray(r.start, r.end + 1),
      })),
    );
  }
  assert.equal(p.headers['content-length'], String(bytes.length), 'Content-Length equals the bytes produced');
}

describe('file representations: strong ETag and Last-Modified from fstat', () => {
  const content = randomBytes(5000);
  let file: string;
  before(() => {
    file = writeTemp('data.bin', content);
  });

  it('a file gets a strong ETag of size and nanosecond mtime only, and Last-Modified from the same fstat', async () => {
    const rep = await openFile(file, { contentType: 'application/octet-stream' });
    try {
      const st = fs.statSync(file, { bigint: true });
      assert.equal(rep.etag, `"${st.size.toString(16)}-${st.mtimeNs.toString(16)}"`);
      assert.equal(rep.lastModified, Number(st.mtimeMs));
      assert.equal(rep.size, 5000);
      assert.equal(rep.kind, 'file');
      assert.equal(rep.contentType, 'application/octet-stream');
    } finally {
      await closeRepresentation(rep);
    }
  });

  it('copies of a file with the same size and mtime on other inodes (replicas) get the same ETag', async () => {
    const copy = writeTemp('data-copy.bin', content);
    // As `cp -p` or `rsync -t` copy it: the same bytes and mtime, a different inode. (utimes takes a
    // double of seconds, so a whole second is what both get exactly.)
    const mtime = 1_700_000_000;
    fs.utimesSync(file, mtime, mtime);
    fs.utimesSync(copy, mtime, mtime);
    const original = await openFile(file);
    const replica = await openFile(copy);
    try {
      assert.notEqual(fs.statSync(copy).ino, fs.statSync(file).ino);
      assert.equal(replica.etag, original.etag);
      assert.equal(replica.etag, `"${(5000).toString(16)}-${(BigInt(mtime) * 1_000_000_000n).toString(16)}"`);
      assert.equal(replica.lastModified, original.lastModified);
      fs.utimesSync(copy, mtime, mtime + 1);
      const touched = await openFile(copy);
      assert.notEqual(touched.etag, original.etag);
      await closeRepresentation(touched);
    } finally {
      await closeRepresentation(original);
      await closeRepresentation(replica);
    }
  });

  it('a file can have a weak ETag, none, or no Last-Modified', async () => {
    const weak = await openFile(file, { etag: 'weak' });
    const none = await openFile(file, { etag: false, lastModified: false });
    try {
      const st = fs.statSync(file, { bigint: true });
      assert.equal(weak.etag, `W/"${st.size.toString(16)}-${st.mtimeNs.toString(16)}"`);
      assert.equal(none.etag, undefined);
      assert.equal(none.lastModified, undefined);
    } finally {
      await closeRepresentation(weak);
      await closeRepresentation(none);
    }
  });

  it('a rewrite of the same size within the same second changes the ETag', async () => {
    const f = writeTemp('rewrite.txt', Buffer.from('aaaa'));
    const first = await openFile(f);
    await closeRepresentation(first);
    await delay(30);
    fs.writeFileSync(f, 'bbbb');
    const second = await openFile(f);
    await closeRepresentation(second);
    assert.notEqual(second.etag, first.etag);
  });

  it('a directory is not a file', async () => {
    await assert.rejects(openFile(dir), (err: unknown) => err instanceof NotAFileError && err.code === 'EISDIR');
  });

  it('a missing file rejects with ENOENT', async () => {
    await assert.rejects(openFile(path.join(dir, 'missing')), { code: 'ENOENT' });
  });

  const cases: {
    name: string;
    range: string | undefined;
    expected:
      | { kind: 'full' }
      | { kind: 'partial'; start: number; end: number }
      | { kind: 'multipart'; spans: [number, number][] };
  }[] = [
    { name: 'the whole file is sent with 200', range: undefined, expected: { kind: 'full' } },
    {
      name: 'a single range sends its slice',
      range: 'bytes=1000-2999',
      expected: { kind: 'partial', start: 1000, end: 2999 },
    },
    {
      name: 'a suffix range sends the last bytes',
      range: 'bytes=-17',
      expected: { kind: 'partial', start: 4983, end: 4999 },
    },
    {
      name: 'several ranges are multipart in request order',
      range: 'bytes=4990-,0-9,100-100',
      expected: {
        kind: 'multipart',
        spans: [
          [4990, 4999],
          [0, 9],
          [100, 100],
        ],
      },
    },
  ];
  for (const c of cases) {
    for (const readSize of [7, 1 << 20]) {
      it(`${c.name} (readSize ${readSize})`, async () => {
        const rep = await openFile(file, { contentType: 'application/octet-stream' });
        try {
          await assertBody(plan('GET', c.range, rep), rep, content, c.expected, { readSize, checkInterval: 64 });
        } finally {
          await closeRepresentation(rep);
        }
      });
    }
  }

  it('HEAD, 304, 412 and 416 have no body', async () => {
    const rep = await openFile(file);
    try {
      const plans = [
        plan('HEAD', undefined, rep),
        plan('HEAD', 'bytes=0-1,5-6', rep),
        planResponse({ method: 'GET', headers: { 'if-none-match': rep.etag as string } }, rep, { now: NOW }),
        planResponse({ method: 'GET', headers: { 'if-match': '"other"' } }, rep, { now: NOW }),
        plan('GET', 'bytes=5000-', rep),
      ];
      assert.deepEqual(
        plans.map((p) => p.status),
        [200, 206, 304, 412, 416],
      );
      for (const p of plans) assert.equal(createBody(p, rep), null);
    } finally {
      await closeRepresentation(rep);
    }
  });

  it('an empty file is a 200 with no body stream', async () => {
    const f = writeTemp('empty.txt', Buffer.alloc(0));
    const rep = await openFile(f);
    try {
      const p = plan('GET', 'bytes=0-', rep);
      assert.equal(p.status, 200);
      assert.equal(p.headers['content-length'], '0');
      assert.equal(createBody(p, rep), null);
    } finally {
      await closeRepresentation(rep);
    }
  });
});

describe('bytes representations: content-hash ETag unless the handler set one', () => {
  const buffer = randomBytes(300);
  const text = 'h\u00e9llo w\u00f6rld \u2713 \u{1f600} and some ASCII after it';
  const utf8 = Buffer.from(text, 'utf8');

  it('a Buffer gets a strong ETag of its length and SHA-256, and knows that SHA-256 for Repr-Digest', () => {
    const rep = bytesRepresentation(buffer);
    assert.equal(rep.etag, `"12c-${createHash('sha256').update(buffer).digest('base64url')}"`);
    assert.equal(rep.etag, contentEtag(buffer));
    assert.equal(rep.sha256, createHash('sha256').update(buffer).digest('base64'));
    assert.equal(rep.size, 300);
    assert.notEqual(bytesRepresentation(Buffer.from('a')).etag, bytesRepresentation(Buffer.from('b')).etag);
  });

  it('a string is its UTF-8 bytes and hashes as them', () => {
    const rep = bytesRepresentation(text);
    assert.equal(rep.size, utf8.length);
    assert.equal(rep.etag, contentEtag(utf8));
    assert.deepEqual(Buffer.from(rep.bytes), utf8);
  });

  it('an ETag set by the handler is kept, and an explicit undefined means none; neither knows a digest', () => {
    assert.equal(bytesRepresentation(buffer, { etag: 'W/"mine"' }).etag, 'W/"mine"');
    assert.equal(bytesRepresentation(buffer, { etag: 'W/"mine"' }).sha256, undefined);
    assert.equal(bytesRepresentation(buffer, { etag: undefined }).etag, undefined);
    assert.equal(bytesRepresentation(buffer, { etag: undefined }).sha256, undefined);
  });

  it('the content-hash ETag an adapter computed first brings its SHA-256 to the representation of the same bytes', async () => {
    const sha = createHash('sha256').update(buffer).digest('base64');
    assert.equal(bytesRepresentation(buffer, { etag: contentEtag(buffer) }).sha256, sha);
    // Other bytes, or the same bytes under another ETag, never take a digest that is not theirs.
    const other = Buffer.from(buffer);
    const etag = contentEtag(buffer);
    assert.equal(bytesRepresentation(other, { etag }).sha256, undefined);
    contentEtag(buffer);
    assert.equal(bytesRepresentation(buffer, { etag: '"other"' }).sha256, undefined);
    // Only within the same job: a later representation hashes for itself, and no body is kept alive.
    const later = contentEtag(buffer);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(bytesRepresentation(buffer, { etag: later }).sha256, undefined);
  });

  it('a Buffer: whole, one range and multipart are the exact bytes', async () => {
    const rep = bytesRepresentation(buffer, { contentType: 'application/x-test' });
    await assertBody(plan('GET', undefined, rep), rep, buffer, { kind: 'full' });
    await assertBody(plan('GET', 'bytes=10-19', rep), rep, buffer, { kind: 'partial', start: 10, end: 19 });
    await assertBody(plan('GET', 'bytes=200-,0-0', rep), rep, buffer, {
      kind: 'multipart',
      spans: [
        [200, 299],
        [0, 0],
      ],
    });
  });

  it('a string: ranges are over its UTF-8 bytes, even mid-character', async () => {
    const rep = bytesRepresentation(text, { contentType: 'text/plain; charset=utf-8' });
    await assertBody(plan('GET', undefined, rep), rep, utf8, { kind: 'full' });
    await assertBody(plan('GET', 'bytes=2-2', rep), rep, utf8, { kind: 'partial', start: 2, end: 2 });
    await assertBody(plan('GET', 'bytes=0-1,-4', rep), rep, utf8, {
      kind: 'multipart',
      spans: [
        [0, 1],
        [utf8.length - 4, utf8.length - 1],
      ],
    });
  });

  it('a Uint8Array view into a larger buffer sends only its own bytes', async () => {
    const backing = randomBytes(64);
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 16, 32);
    const rep = bytesRepresentation(view);
    const expected = Buffer.from(backing.subarray(16, 48));
    await assertBody(plan('GET', undefined, rep), rep, expected, { kind: 'full' });
    await assertBody(plan('GET', 'bytes=30-40,0-1', rep), rep, expected, {
      kind: 'multipart',
      spans: [
        [30, 31],
        [0, 1],
      ],
    });
  });

  it('a multipart body over bytes never contains its boundary inside a part', async () => {
    const rep = bytesRepresentation(Buffer.from('--'.repeat(100)));
    const p = plan('GET', 'bytes=0-9,20-29', rep);
    assert.ok(p.kind === 'multipart');
    const body = await collect(createBody(p, rep) as Readable);
    assert.equal(body.toString('latin1').split(`--${p.boundary}`).length, 4, 'two delimiters and one close-delimiter');
  });
});

/** A one-shot stream of `content` in irregular chunks (1, 2, 3, ... bytes). */
function chunked(content: Buffer): Readable {
  const chunks: Buffer[] = [];
  let at = 0;
  for (let n = 1; at < content.length; n++) {
    chunks.push(content.subarray(at, at + n));
    at += n;
  }
  return Readable.from(chunks, { objectMode: false });
}

describe('stream representations (declared length, read once, ranges by skipping)', () => {
  const content = randomBytes(500);

  it('the whole stream is sent with 200', async () => {
    const rep = streamRepresentation(chunked(content), 500, { contentType: 'video/webm' });
    await assertBody(plan('GET', undefined, rep), rep, content, { kind: 'full' });
  });

  it('a single range is served by skipping the bytes before it', async () => {
    const rep = streamRepresentation(chunked(content), 500);
    await assertBody(plan('GET', 'bytes=123-456', rep), rep, content, { kind: 'partial', start: 123, end: 456 });
  });

  it('a suffix range skips to the end', async () => {
    const rep = streamRepresentation(chunked(content), 500);
    await assertBody(plan('GET', 'bytes=-5', rep), rep, content, { kind: 'partial', start: 495, end: 499 });
  });

  it('ascending disjoint ranges are multipart', async () => {
    const rep = streamRepresentation(chunked(content), 500, { contentType: 'video/webm' });
    await assertBody(plan('GET', 'bytes=0-0,10-20,21-30,499-', rep), rep, content, {
      kind: 'multipart',
      spans: [
        [0, 0],
        [10, 30],
        [499, 499],
      ],
    });
  });

  it('descending ranges send the whole stream with 200', async () => {
    const rep = streamRepresentation(chunked(content), 500, { contentType: 'video/webm' });
    const p = plan('GET', 'bytes=400-410,0-10', rep);
    assert.equal(p.status, 200);
    await assertBody(p, rep, content, { kind: 'full' });
  });

  it('ranges that overlap out of order merge and send one range', async () => {
    const rep = streamRepresentation(chunked(content), 500);
    await assertBody(plan('GET', 'bytes=50-60,40-55', rep), rep, content, { kind: 'partial', start: 40, end: 60 });
  });

  it('a stream longer than declared sends only the declared bytes and is closed', async () => {
    const source = chunked(Buffer.concat([content, Buffer.from('EXTRA BYTES')]));
    const rep = streamRepresentation(source, 500);
    await assertBody(plan('GET', undefined, rep), rep, content, { kind: 'full' });
    assert.equal(source.destroyed, true);
  });

  it('a stream is released once the last range is sent', async () => {
    const source = chunked(content);
    const rep = streamRepresentation(source, 500);
    await assertBody(plan('GET', 'bytes=0-9', rep), rep, content, { kind: 'partial', start: 0, end: 9 });
    assert.equal(source.destroyed, true);
  });

  it('a stream shorter than declared makes the body fail', async () => {
    const rep = streamRepresentation(chunked(content.subarray(0, 100)), 500);
    const body = createBody(plan('GET', undefined, rep), rep) as Readable;
    await assert.rejects(collect(body), (err: unknown) => err instanceof ShortRepresentationError);
  });

  for (const split of [false, true]) {
    it(`a stream whose content holds the multipart boundary${split ? ' across two chunks' : ''} aborts the body rather than mis-frame it`, async () => {
      let boundary = '';
      const rep = streamRepresentation(
        Readable.from(
          (async function* () {
            yield Buffer.alloc(10, 0x61);
            // Offsets 60.. hold "--<boundary>", inside the second range below.
            const text = Buffer.from(`${'y'.repeat(50)}--${boundary}`.padEnd(90, 'z'), 'latin1');
            if (split) {
              yield text.subarray(0, 70);
              yield text.subarray(70);
            } else {
              yield text;
            }
          })(),
        ),
        100,
      );
      const p = plan('GET', 'bytes=0-1,50-99', rep);
      assert.ok(p.kind === 'multipart');
      boundary = p.boundary;
      await assert.rejects(collect(createBody(p, rep) as Readable), /boundary occurs in the content/);
    });
  }

  it('a small multipart read whole rejects when a part holds the boundary, rather than mis-frame it', async () => {
    let boundary = '';
    // A store whose bytes hold "--<boundary>" at offset 60, inside the second range below.
    const rep: Representation = {
      size: 100,
      readInto: (buffer, position) => {
        const bytes = Buffer.from(`${'x'.repeat(60)}--${boundary}`.padEnd(100, 'z'), 'latin1');
        const n = bytes.copy(buffer, 0, position);
        return Promise.resolve(n);
      },
    };
    const p = plan('GET', 'bytes=0-1,50-99', rep);
    assert.ok(p.kind === 'multipart');
    boundary = p.boundary;
    await assert.rejects(readWholeBody(p, rep) as Promise<Buffer>, /boundary occurs in the content/);
  });

  it('a stream has only the validators its caller gives', () => {
    const bare = streamRepresentation(Readable.from([]), 0);
    assert.equal(bare.etag, undefined);
    assert.equal(bare.lastModified, undefined);
    const given = streamRepresentation(Readable.from([]), 0, { etag: '"s1"', lastModified: 1_700_000_000_000 });
    assert.equal(given.etag, '"s1"');
    assert.equal(given.lastModified, 1_700_000_000_000);
  });

  it('a declared size that is not a safe integer is a TypeError', () => {
    assert.throws(() => streamRepresentation(chunked(content), -1), TypeError);
    assert.throws(() => streamRepresentation(chunked(content), 1.5), TypeError);
    assert.throws(() => streamRepresentation(chunked(content), 2 ** 53), TypeError);
  });
});

describe('bodies that change while they are sent', () => {
  const SIZE = 256 * 1024;

  /** Reads `body` slowly; after the first chunk runs `change`; resolves with the bytes or rejects with the error. */
  async function slowRead(body: Readable, change: () => void | Promise<void>): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let changed = false;
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      if (!changed) {
        changed = true;
        await change();
      }
      await delay(1);
    }
    return Buffer.concat(chunks);
  }

  it('a file modified in place while it is sent makes the body fail, never finish with mixed bytes', async () => {
    const original = randomBytes(SIZE);
    const f = writeTemp('in-place.bin', original);
    const rep: FileRepresentation = await openFile(f);
    try {
      const body = createBody(plan('GET', undefined, rep), rep, { readSize: 4096, checkInterval: 8192 }) as Readable;
      await assert.rejects(
        slowRead(body, async () => {
          await delay(30); // so the write's mtime differs from the original's on any clock granularity
          const fd = fs.openSync(f, 'r+');
          fs.writeSync(fd, Buffer.alloc(SIZE, 0x5a), 0, SIZE, 0);
          fs.closeSync(fd);
          assert.notEqual(fs.statSync(f, { bigint: true }).mtimeNs, rep.stat.mtimeNs, 'the write moved mtime');
        }),
        (err: unknown) => err instanceof RepresentationChangedError && err.code === 'ERR_REPRESENTATION_CHANGED',
      );
    } finally {
      await closeRepresentation(rep);
    }
  });

  it('a file modified in place while a range is sent makes the body fail', async () => {
    const f = writeTemp('in-place-range.bin', randomBytes(SIZE));
    const rep = await openFile(f);
    try {
      const body = createBody(plan('GET', 'bytes=1000-200000', rep), rep, { readSize: 1024, checkInterval: 1 << 30 });
      await assert.rejects(
        slowRead(body as Readable, async () => {
          await delay(30);
          fs.appendFileSync(f, 'more'); // the final check catches it even with a huge checkInterval
        }),
        RepresentationChangedError,
      );
    } finally {
      await closeRepresentation(rep);
    }
  });

  it('a file truncated while it is sent makes the body fail', async () => {
    const f = writeTemp('truncated.bin', randomBytes(SIZE));
    const rep = await openFile(f);
    try {
      const body = createBody(plan('GET', 'bytes=0-10,-100', rep), rep, { readSize: 4096, checkInterval: 1 << 30 });
      await assert.rejects(
        slowRead(body as Readable, () => fs.truncateSync(f, 50)),
        RepresentationChangedError,
      );
    } finally {
      await closeRepresentation(rep);
    }
  });

  it('a file renamed over while it is sent keeps serving the old bytes', async () => {
    const original = randomBytes(SIZE);
    const f = writeTemp('renamed.bin', original);
    const rep = await openFile(f);
    try {
      const p = plan('GET', 'bytes=0-99,-100', rep);
      const body = createBody(p, rep, { readSize: 16, checkInterval: 32 }) as Readable;
      const bytes = await slowRead(body, async () => {
        await delay(30);
        const next = path.join(dir, 'renamed.next');
        fs.writeFileSync(next, randomBytes(SIZE));
        fs.renameSync(next, f);
      });
      assert.ok(p.kind === 'multipart');
      assert.deepEqual(
        bytes,
        expectedMultipart(
          original,
          [
            { start: 0, end: 99 },
            { start: SIZE - 100, end: SIZE - 1 },
          ],
          p.boundary,
          undefined,
        ),
      );
    } finally {
      await closeRepresentation(rep);
    }
  });

  it('a file unlinked while it is sent keeps serving the old bytes', async () => {
    const original = randomBytes(SIZE);
    const f = writeTemp('unlinked.bin', original);
    const rep = await openFile(f);
    try {
      const body = createBody(plan('GET', undefined, rep), rep, { readSize: 8192, checkInterval: 8192 }) as Readable;
      const bytes = await slowRead(body, () => fs.unlinkSync(f));
      assert.deepEqual(bytes, original);
    } finally {
      await closeRepresentation(rep);
    }
  });
});
