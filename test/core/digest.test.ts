/**
 * Content digests: file SHA-256 computed once per version and shared, the bounded cache, `etag: 'digest'`,
 * `Repr-Digest` on the plans that carry a representation, and `Want-Repr-Digest` parsing (RFC 9530).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type FileRepresentation,
  openFile,
  openFileWithDigest,
  planResponse,
  RepresentationChangedError,
} from '@range-serve/core';
import {
  closeRepresentation,
  createFileDigests,
  normalizeOptions,
  type RepresentationInfo,
  wantsSha256,
  withFileDigest,
} from '@range-serve/core/adapter';

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'range-serve-digest-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function writeTemp(name: string, content: Uint8Array): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest();

async function withOpen<T>(file: string, use: (rep: FileRepresentation) => Promise<T>): Promise<T> {
  const rep = await openFile(file);
  try {
    return await use(rep);
  } finally {
    await closeRepresentation(rep);
  }
}

describe('file digests: SHA-256 of the content, once per version of the file', () => {
  it('equals the SHA-256 of the bytes for an empty file, a small one and one of several read chunks', async () => {
    for (const size of [0, 1, 5000, 1024 * 1024, 2.5 * 1024 * 1024 + 3]) {
      const content = randomBytes(size);
      const file = writeTemp(`sized-${size}.bin`, content);
      const digests = createFileDigests();
      const got = await withOpen(file, (rep) => digests.sha256(rep.fd, rep.stat));
      assert.deepEqual(got, sha256(content), `size ${size}`);
    }
  });

  it('concurrent first requests share one computation, and a later one gets the cached result', async () => {
    const file = writeTemp('shared.bin', randomBytes(3 * 1024 * 1024));
    const digests = createFileDigests();
    await withOpen(file, async (a) => {
      await withOpen(file, async (b) => {
        const first = digests.sha256(a.fd, a.stat);
        const second = digests.sha256(b.fd, b.stat);
        assert.equal(second, first, 'the second request started a computation of its own');
        await first;
        assert.equal(digests.sha256(b.fd, b.stat), first);
        assert.equal(digests.size, 1);
      });
    });
  });

  it('a new version of the file (other bytes, same size, mtime set back) is hashed again', async () => {
    const file = writeTemp('versions.bin', randomBytes(4096));
    const digests = createFileDigests();
    fs.utimesSync(file, 1_700_000_000, 1_700_000_000);
    const before = await withOpen(file, (rep) => digests.sha256(rep.fd, rep.stat));
    const next = randomBytes(4096);
    await new Promise((resolve) => setTimeout(resolve, 20)); // file times tick in coarse steps
    fs.writeFileSync(file, next); // in place: same inode and size
    fs.utimesSync(file, 1_700_000_000, 1_700_000_000); // even the mtime restored: the ctime still moved
    const after = await withOpen(file, (rep) => digests.sha256(rep.fd, rep.stat));
    assert.notDeepEqual(after, before);
    assert.deepEqual(after, sha256(next));
  });

  it('the cache is bounded: the least recently used version is dropped first', async () => {
    const digests = createFileDigests(2);
    const files = ['lru-a', 'lru-b', 'lru-c'].map((name) => writeTemp(name, randomBytes(100)));
    const reps = await Promise.all(files.map((f) => openFile(f)));
    try {
      const [a, b, c] = reps as [FileRepresentation, FileRepresentation, FileRepresentation];
      const pa = digests.sha256(a.fd, a.stat);
      const pb = digests.sha256(b.fd, b.stat);
      await Promise.all([pa, pb]);
      assert.equal(digests.sha256(a.fd, a.stat), pa); // a is now the most recently used
      await digests.sha256(c.fd, c.stat);
      assert.equal(digests.size, 2);
      assert.equal(digests.sha256(a.fd, a.stat), pa, 'a was used last but was dropped');
      assert.notEqual(digests.sha256(b.fd, b.stat), pb, 'b was the least recently used and was kept');
    } finally {
      await Promise.all(reps.map((r) => closeRepresentation(r)));
    }
    assert.throws(() => createFileDigests(0), TypeError);
  });

  it('a file that changes while it is hashed rejects, and the failure is not remembered', async () => {
    const file = writeTemp('growing.bin', randomBytes(4 * 1024 * 1024));
    const digests = createFileDigests();
    await withOpen(file, async (rep) => {
      const computing = digests.sha256(rep.fd, rep.stat);
      fs.appendFileSync(file, 'more'); // before the first read comes back: the final fstat differs
      await assert.rejects(computing, RepresentationChangedError);
      assert.equal(digests.size, 0);
    });
  });

  it("withFileDigest gives the digest ETag and Repr-Digest's SHA-256; openFileWithDigest does it by option", async () => {
    const content = randomBytes(777);
    const file = writeTemp('tagged.bin', content);
    const etag = `"309-${sha256(content).toString('base64url')}"`;
    const tagged = await withFileDigest(await openFile(file), { digestEtag: true });
    const kept = await withFileDigest(await openFile(file));
    const opened = await openFileWithDigest(file, { etag: 'digest' });
    const asked = await openFileWithDigest(file, { etag: 'weak', reprDigest: true });
    const plain = await openFileWithDigest(file);
    try {
      assert.equal(tagged.etag, etag);
      assert.equal(tagged.sha256, sha256(content).toString('base64'));
      assert.match(kept.etag ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/);
      assert.equal(kept.sha256, tagged.sha256);
      assert.equal(opened.etag, etag);
      assert.match(asked.etag ?? '', /^W\/"/);
      assert.equal(asked.sha256, tagged.sha256);
      assert.equal(plain.sha256, undefined);
    } finally {
      for (const rep of [tagged, kept, opened, asked, plain]) await closeRepresentation(rep);
    }
  });
});

describe('Repr-Digest in plans (RFC 9530 §3: the whole representation, on 200 and 206)', () => {
  const REP: RepresentationInfo = { size: 100, etag: '"d"', sha256: 'q83vEjRWeJA=', contentType: 'text/plain' };
  const plan = (method: string, headers: Record<string, string> = {}) =>
    planResponse({ method, headers }, REP, { now: Date.UTC(2030, 0, 1) });
  const value = 'sha-256=:q83vEjRWeJA=:';

  it('200, 206, multipart 206 and their HEADs carry it', () => {
    for (const method of ['GET', 'HEAD']) {
      assert.equal(plan(method).headers['repr-digest'], value);
      assert.equal(plan(method, { range: 'bytes=0-9' }).headers['repr-digest'], value);
      const multi = plan(method, { range: 'bytes=0-9,50-59' });
      assert.equal(multi.kind, 'multipart');
      assert.equal(multi.headers['repr-digest'], value);
    }
  });

  it('304, 412 and 416 do not, and a representation without a known digest never does', () => {
    assert.equal(plan('GET', { 'if-none-match': '"d"' }).headers['repr-digest'], undefined);
    assert.equal(plan('GET', { 'if-match': '"x"' }).headers['repr-digest'], undefined);
    assert.equal(plan('GET', { range: 'bytes=500-' }).headers['repr-digest'], undefined);
    const unknown = planResponse({ method: 'GET', headers: {} }, { ...REP, sha256: undefined });
    assert.equal(unknown.headers['repr-digest'], undefined);
  });
});

describe('Want-Repr-Digest (RFC 9530 §4): only sha-256 with a preference of 1 to 10 asks for it', () => {
  const rows: [string | string[] | undefined, boolean][] = [
    ['sha-256=1', true],
    ['sha-256=10', true],
    ['sha-256', true],
    ['sha-512=3, sha-256=5', true],
    ['sha-256=5;note=1', true],
    [['sha-512=3', 'sha-256=2'], true],
    ['sha-256=0', false],
    ['sha-256=11', false],
    ['sha-256=-1', false],
    ['sha-512=10', false],
    ['SHA-256=5', false],
    ['md5=10, unixsum=10', false],
    ['', false],
    [undefined, false],
    [`${'x=1,'.repeat(2000)}sha-256=1`, false],
  ];
  for (const [field, wanted] of rows) {
    it(`${JSON.stringify(field)?.slice(0, 40)} ${wanted ? 'asks' : 'does not ask'} for sha-256`, () => {
      assert.equal(wantsSha256(field), wanted);
    });
  }
});

describe("options: etag 'digest' and wantReprDigest", () => {
  it('are accepted, with wantReprDigest false by default', () => {
    assert.equal(normalizeOptions({ etag: 'digest' }).etag, 'digest');
    assert.equal(normalizeOptions({}).wantReprDigest, false);
    assert.equal(normalizeOptions({ wantReprDigest: true }).wantReprDigest, true);
  });

  it('bad values throw a TypeError', () => {
    assert.throws(() => normalizeOptions({ etag: 'sha-256' as unknown as false }), TypeError);
    assert.throws(() => normalizeOptions({ wantReprDigest: 1 as unknown as boolean }), TypeError);
  });
});
