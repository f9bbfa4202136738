/**
 * `sendRange` options through an adapter: every option that can apply to the representation a route
 * chose is honoured (validators, a file's precompressed variants, caching, a download name,
 * `setHeaders`, ranges), and one that cannot is a TypeError at the call, which the framework answers 500.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { contentEtag } from '@range-serve/core/adapter';
import { servedBy } from './serve.ts';
import { BODY, SCENARIOS, type ServerFactory } from './scenarios.ts';

/** The sendRange option cases against one adapter. */
export function sendRangeOptionCases(factory: ServerFactory): void {
  describe('sendRange options', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-send-options-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const js = Buffer.from(Array.from({ length: 500 }, (_, i) => `console.log(${i});\n`).join(''));
    const br = brotliCompressSync(js);
    const file = path.join(dir, 'app.js');
    const t0 = 1_700_000_000;
    writeFileSync(file, js);
    utimesSync(file, t0, t0);
    writeFileSync(`${file}.br`, br);
    utimesSync(`${file}.br`, t0 + 60, t0 + 60);
    writeFileSync(`${file}.gz`, gzipSync(js));
    utimesSync(`${file}.gz`, t0 + 60, t0 + 60);
    const sha = createHash('sha256').update(js).digest();
    const digestTag = `"${js.length.toString(16)}-${sha.toString('base64url')}"`;

    const { serve, get } = servedBy(factory);
    const with_ = (sendRangeOptions: Parameters<ServerFactory>[0]['sendRangeOptions']) =>
      serve(() => ({ routes: SCENARIOS, fileForSendRange: file, sendRangeOptions }));

    const digest = with_({ etag: 'digest', lastModified: false });
    it("sendRange with etag: 'digest' and lastModified: false sends the content's SHA-256 as ETag and Repr-Digest, and no Last-Modified", async () => {
      const full = await get(digest, '/r/send-range-file');
      assert.equal(full.status, 200);
      assert.equal(full.headers.etag, digestTag);
      assert.equal(full.headers['repr-digest'], `sha-256=:${sha.toString('base64')}:`);
      assert.equal(full.headers['last-modified'], undefined);
      assert.deepEqual(full.body, js);
      const part = await get(digest, '/r/send-range-file', { range: 'bytes=10-19', 'if-range': digestTag });
      assert.equal(part.status, 206);
      assert.deepEqual(part.body, js.subarray(10, 20));
      const cached = await get(digest, '/r/send-range-file', { 'if-none-match': digestTag });
      assert.equal(cached.status, 304);
      assert.equal(cached.headers['last-modified'], undefined);
    });

    it("sendRange with etag: 'digest' on in-memory bytes sends their SHA-256 tag; on a stream or a store without a declared sha256 it is a TypeError (500)", async () => {
      const bytes = await get(digest, '/r/send-range-bytes');
      assert.equal(bytes.status, 200);
      assert.equal(bytes.headers.etag, contentEtag(BODY));
      assert.equal(bytes.headers['repr-digest'], `sha-256=:${createHash('sha256').update(BODY).digest('base64')}:`);
      for (const route of ['/r/send-range-stream', '/r/send-range-store']) {
        const res = await get(digest, route);
        assert.equal(res.status, 500, route);
        assert.equal(res.body.toString(), 'error', route);
      }
    });

    const weak = with_({ etag: 'weak' });
    it("sendRange with etag: 'weak' sends the weak form of the tag, which If-Range never matches", async () => {
      const full = await get(weak, '/r/send-range-file');
      assert.match(full.headers.etag ?? '', /^W\/"[0-9a-f]+-[0-9a-f]+"$/);
      assert.ok(full.headers['last-modified']);
      const part = await get(weak, '/r/send-range-file', {
        range: 'bytes=0-9',
        'if-range': full.headers.etag as string,
      });
      assert.equal(part.status, 200);
      assert.deepEqual(part.body, js);
      const store = await get(weak, '/r/send-range-store', {}, 'HEAD');
      assert.equal(store.headers.etag, 'W/"store-v1"');
    });

    const none = with_({ etag: false, lastModified: false });
    it('sendRange with etag: false and lastModified: false sends no validator, for a file and for bytes', async () => {
      for (const route of ['/r/send-range-file', '/r/send-range-bytes']) {
        const res = await get(none, route, { range: 'bytes=0-4' });
        assert.equal(res.status, 206, route);
        assert.equal(res.headers.etag, undefined, route);
        assert.equal(res.headers['last-modified'], undefined, route);
      }
    });

    const precompressed = with_({ precompressed: true });
    it('sendRange with precompressed: an opened file is sent as its best variant, ranged over its bytes, with Vary', async () => {
      const res = await get(precompressed, '/r/send-range-file', { 'accept-encoding': 'gzip, br', range: 'bytes=5-' });
      assert.equal(res.status, 206);
      assert.equal(res.headers['content-encoding'], 'br');
      assert.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
      assert.equal(res.headers['content-range'], `bytes 5-${br.length - 1}/${br.length}`);
      assert.match(res.headers.etag ?? '', /^"[0-9a-f]+-[0-9a-f]+-br"$/);
      assert.equal(res.headers.vary, 'Accept-Encoding');
      assert.deepEqual(res.body, br.subarray(5));
      const identity = await get(precompressed, '/r/send-range-file', { 'accept-encoding': 'identity' });
      assert.equal(identity.status, 200);
      assert.equal(identity.headers['content-encoding'], undefined);
      assert.equal(identity.headers.vary, 'Accept-Encoding');
      assert.deepEqual(identity.body, js);
      // The variant keeps the original's name for a download.
      const download = await get(precompressed, '/r/send-range-download', { 'accept-encoding': 'br' });
      assert.equal(download.headers['content-encoding'], 'br');
      assert.match(download.headers['content-disposition'] ?? '', /^attachment; filename="naive report.txt"/);
      // What openVariant already negotiated is not negotiated again.
      const variant = await get(precompressed, '/r/send-range-variant', { 'accept-encoding': 'br' });
      assert.equal(variant.headers['content-encoding'], 'br');
      assert.deepEqual(variant.body, br);
    });

    it('sendRange with precompressed on a representation that is not a file is a TypeError (500)', async () => {
      const res = await get(precompressed, '/r/send-range-bytes', { 'accept-encoding': 'br' });
      assert.equal(res.status, 500);
      assert.equal(res.body.toString(), 'error');
    });

    const want = with_({ wantReprDigest: true });
    it('sendRange with wantReprDigest: Want-Repr-Digest gets Repr-Digest for a file and for bytes, the ETag unchanged', async () => {
      const plain = await get(want, '/r/send-range-file');
      assert.equal(plain.headers['repr-digest'], undefined);
      const asked = await get(want, '/r/send-range-file', { 'want-repr-digest': 'sha-256=5', range: 'bytes=0-9' });
      assert.equal(asked.status, 206);
      assert.equal(asked.headers['repr-digest'], `sha-256=:${sha.toString('base64')}:`);
      assert.equal(asked.headers.etag, plain.headers.etag);
      const bytes = await get(want, '/r/send-range-bytes', { 'want-repr-digest': 'sha-256=1' });
      assert.equal(bytes.headers['repr-digest'], `sha-256=:${createHash('sha256').update(BODY).digest('base64')}:`);
    });

    const headers = with_({
      setHeaders: (res, filePath, stat) => {
        res.setHeader('x-file', `${path.basename(filePath)} ${stat.size}`);
        res.setHeader('cache-control', 'private, max-age=60');
      },
    });
    it("sendRange with setHeaders: called with a file's path and stats, the fields it sets win; for bytes it is a TypeError (500)", async () => {
      const res = await get(headers, '/r/send-range-file', { range: 'bytes=0-0' });
      assert.equal(res.status, 206);
      assert.equal(res.headers['x-file'], `app.js ${js.length}`);
      assert.equal(res.headers['cache-control'], 'private, max-age=60, no-transform');
      const variant = await get(headers, '/r/send-range-variant', { 'accept-encoding': 'br' });
      assert.equal(variant.headers['x-file'], `app.js.br ${br.length}`);
      const bytes = await get(headers, '/r/send-range-bytes');
      assert.equal(bytes.status, 500);
      assert.equal(bytes.body.toString(), 'error');
    });

    const cached = with_({ maxAge: '1h', immutable: true, acceptRanges: true, maxRanges: 1 });
    it('sendRange with maxAge, immutable and maxRanges: the caching policy on 200, 206 and 304, and more ranges than allowed are a 200', async () => {
      const full = await get(cached, '/r/send-range-file');
      assert.equal(full.headers['cache-control'], 'public, max-age=3600, immutable');
      const part = await get(cached, '/r/send-range-file', { range: 'bytes=0-4' });
      assert.equal(part.status, 206);
      assert.equal(part.headers['cache-control'], 'public, max-age=3600, immutable, no-transform');
      const revalidated = await get(cached, '/r/send-range-file', { 'if-none-match': full.headers.etag as string });
      assert.equal(revalidated.status, 304);
      assert.equal(revalidated.headers['cache-control'], 'public, max-age=3600, immutable');
      const two = await get(cached, '/r/send-range-file', { range: 'bytes=0-1,10-11' });
      assert.equal(two.status, 200);
      assert.deepEqual(two.body, js);
    });

    const whole = with_({ acceptRanges: false });
    it('sendRange with acceptRanges: false sends the whole body with Accept-Ranges: none', async () => {
      const res = await get(whole, '/r/send-range-bytes', { range: 'bytes=0-4' });
      assert.equal(res.status, 200);
      assert.equal(res.headers['accept-ranges'], 'none');
      assert.deepEqual(res.body, BODY);
    });

    const named = with_({ download: true });
    it('sendRange with download: true names a file by its own name; a representation without a name is a TypeError (500)', async () => {
      const res = await get(named, '/r/send-range-file');
      assert.equal(res.headers['content-disposition'], 'attachment; filename="app.js"');
      const bytes = await get(named, '/r/send-range-bytes');
      assert.equal(bytes.status, 500);
    });

    const directory = with_({ dotfiles: 'allow' } as never);
    it('sendRange refuses an option of directory serving with a TypeError at the call (500), before any byte', async () => {
      const res = await get(directory, '/r/send-range-file');
      assert.equal(res.status, 500);
      assert.equal(res.body.toString(), 'error');
    });
  });
}
