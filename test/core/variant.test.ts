import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { type FileRepresentation, openVariant } from '@range-serve/core';

const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-open-variant-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const JS = Buffer.from('console.log("a script worth compressing");\n'.repeat(100));
const t0 = 1_700_000_000;
function write(name: string, bytes: Buffer | string, mtime: number): string {
  const file = path.join(dir, name);
  writeFileSync(file, bytes);
  utimesSync(file, mtime, mtime);
  return file;
}
const app = write('app.js', JS, t0);
write('app.js.br', brotliCompressSync(JS), t0 + 10);
write('app.js.gz', gzipSync(JS), t0 + 20);
const stale = write('stale.js', JS, t0 + 100);
write('stale.js.gz', gzipSync(JS), t0);
const linked = write('linked.js', JS, t0);
write('elsewhere.br', brotliCompressSync(JS), t0 + 10);
symlinkSync(path.join(dir, 'elsewhere.br'), path.join(dir, 'linked.js.br'));
const alone = write('alone.js', JS, t0);

async function opened(file: string, acceptEncoding?: string, precompressed?: boolean | ('br' | 'gzip')[]) {
  const rep: FileRepresentation = await openVariant(
    file,
    acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding },
    precompressed === undefined ? {} : { precompressed },
  );
  rep.close();
  return rep;
}

describe('openVariant', () => {
  it('opens the best variant the request accepts, with the original type, its coding and a coding ETag', async () => {
    const rep = await opened(app, 'gzip, br');
    assert.equal(rep.path, `${app}.br`);
    assert.equal(rep.contentType, 'text/javascript; charset=utf-8');
    assert.equal(rep.headers?.['content-encoding'], 'br');
    assert.equal(rep.headers?.vary, 'Accept-Encoding');
    assert.match(rep.etag ?? '', /^"[0-9a-f]+-[0-9a-f]+-br"$/);
    assert.equal(rep.lastModified, (t0 + 10) * 1000);
  });

  it('opens the original, with Vary, when the request accepts no variant', async () => {
    const rep = await opened(app, 'identity');
    assert.equal(rep.path, app);
    assert.equal(rep.headers?.['content-encoding'], undefined);
    assert.equal(rep.headers?.vary, 'Accept-Encoding');
    assert.equal(rep.size, JS.length);
  });

  it('follows the codings and order the option gives', async () => {
    const rep = await opened(app, 'br, gzip', ['gzip', 'br']);
    assert.equal(rep.headers?.['content-encoding'], 'gzip');
  });

  it('skips a variant older than its original', async () => {
    const rep = await opened(stale, 'gzip');
    assert.equal(rep.path, stale);
    assert.equal(rep.headers?.['content-encoding'], undefined);
  });

  it('does not follow a variant that is a symbolic link', async () => {
    const rep = await opened(linked, 'br');
    assert.equal(rep.path, linked);
    assert.equal(rep.headers?.['content-encoding'], undefined);
  });

  it('opens a file without variants as it is, without Vary', async () => {
    const rep = await opened(alone, 'br, gzip');
    assert.equal(rep.path, alone);
    assert.equal(rep.headers?.vary, undefined);
  });

  it('rejects a missing original as openFile does, and a bad option with a TypeError', async () => {
    await assert.rejects(openVariant(path.join(dir, 'missing.js'), { 'accept-encoding': 'br' }), { code: 'ENOENT' });
    await assert.rejects(openVariant(app, {}, { precompressed: ['lzma'] as unknown as ['br'] }), TypeError);
  });
});
