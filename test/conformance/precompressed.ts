/**
 * Precompressed variants (`precompressed` option) through an adapter: `<file>.br`, `.zst`, `.gz` beside
 * a file, chosen by Accept-Encoding, each its own representation with its own validators, ranged over
 * its encoded bytes, and `Vary: Accept-Encoding` on every answer for a path that has a variant.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { formatHttpDate } from '@range-serve/core';
import type { RawResponse } from '../helpers/http.ts';
import { parseMultipart } from '../helpers/multipart.ts';
import { servedBy } from './serve.ts';
import type { ServerFactory } from './scenarios.ts';

/** The fixture tree: originals, their variants (each with its own mtime), and the traps. */
function makeTree() {
  const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-variants-'));
  const root = path.join(dir, 'root');
  mkdirSync(root);
  mkdirSync(path.join(dir, 'outside'));
  const canary = `CANARY-${Math.random().toString(36).slice(2)}`;
  const js = Buffer.from(Array.from({ length: 2000 }, (_, i) => `console.log(${i} * 2);\n`).join(''));
  const br = brotliCompressSync(js);
  const gz = gzipSync(js);
  // Served as bytes, so no encoder is needed: what matters is that exactly these bytes go out.
  const zst = Buffer.from('zstd frame bytes stand-in '.repeat(20));
  const bin = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff));
  const t0 = 1_700_000_000;
  const write = (name: string, bytes: Buffer | string, mtime: number): void => {
    const file = path.join(root, name);
    writeFileSync(file, bytes);
    utimesSync(file, mtime, mtime);
  };
  write('app.js', js, t0);
  write('app.js.br', br, t0 + 60);
  write('app.js.gz', gz, t0 + 120);
  write('app.js.zst', zst, t0 + 180);
  // A type no compression layer encodes, so its Vary comes from its variant alone.
  write('data.png', bin, t0);
  write('data.png.gz', gzipSync(bin), t0 + 60);
  write('plain.png', bin, t0);
  // A variant left from an older build.
  write('stale.js', js, t0 + 600);
  write('stale.js.gz', gz, t0);
  // A variant with no original is just a file.
  write('orphan.txt.gz', gz, t0);
  // A sidecar that is a link out of the root, and one that is a directory.
  writeFileSync(path.join(dir, 'outside', 'canary.js.br'), canary);
  write('linked.js', js, t0);
  symlinkSync(path.join(dir, 'outside', 'canary.js.br'), path.join(root, 'linked.js.br'));
  write('dirvariant.js', js, t0);
  mkdirSync(path.join(root, 'dirvariant.js.br'));
  // A dotfile original: its variant must not make it servable.
  write('.hidden.js', js, t0);
  write('.hidden.js.br', br, t0 + 60);
  // Index and extensions resolve the original first.
  mkdirSync(path.join(root, 'dir'));
  write('dir/index.html', '<p>index</p>'.repeat(50), t0);
  write('dir/index.html.br', brotliCompressSync('<p>index</p>'.repeat(50)), t0 + 60);
  write('page.html', '<p>page</p>'.repeat(50), t0);
  write('page.html.gz', gzipSync('<p>page</p>'.repeat(50)), t0 + 60);
  return { dir, root, js, br, gz, zst, bin, canary, t0, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The precompressed-variant cases against one adapter; `sendRange` cases need the `send-range-variant` route. */
export function precompressedCases(factory: ServerFactory): void {
  describe('precompressed variants', () => {
    const tree = makeTree();
    after(() => tree.remove());

    const { serve, get } = servedBy(factory);

    const s = serve(() => ({ root: tree.root, options: { precompressed: true, extensions: ['html'] } }));
    const gzipFirst = serve(() => ({ root: tree.root, options: { precompressed: ['gzip', 'br'] } }));
    const off = serve(() => ({ root: tree.root }));
    const withVary = serve(() => ({
      root: tree.root,
      options: { precompressed: true, setHeaders: (res) => res.setHeader('Vary', 'Origin') },
    }));
    const routes = serve(() => ({ routes: ['send-range-variant'], fileForSendRange: path.join(tree.root, 'app.js') }));

    const assertVaryOnce = (res: RawResponse, expected = 'Accept-Encoding'): void => {
      assert.equal(res.headers.vary, expected, `Vary on a ${res.status}`);
    };

    it('precompressed: the br variant keeps the original type, adds Content-Encoding, and has its own strong ETag and Last-Modified', async () => {
      const identity = await get(s, '/app.js');
      const res = await get(s, '/app.js', { 'accept-encoding': 'br' });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, tree.br);
      assert.deepEqual(brotliDecompressSync(res.body), tree.js);
      assert.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
      assert.equal(res.headers['content-encoding'], 'br');
      assert.equal(res.headers['content-length'], String(tree.br.length));
      assert.equal(res.headers['accept-ranges'], 'bytes');
      assert.match(res.headers.etag ?? '', /^"[0-9a-f]+-[0-9a-f]+-br"$/);
      assert.equal(res.headers['last-modified'], formatHttpDate((tree.t0 + 60) * 1000));
      assertVaryOnce(res);
      assert.equal(identity.headers['content-encoding'], undefined);
      assert.deepEqual(identity.body, tree.js);
      assert.equal(identity.headers['last-modified'], formatHttpDate(tree.t0 * 1000));
      assert.notEqual(identity.headers.etag, res.headers.etag);
    });

    it('precompressed: each coding has an ETag of its own, distinct from identity and from the others', async () => {
      const tags = new Set<string>();
      for (const coding of ['br', 'zstd', 'gzip', 'identity']) {
        const res = await get(s, '/app.js', { 'accept-encoding': coding });
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-encoding'], coding === 'identity' ? undefined : coding);
        tags.add(res.headers.etag ?? '');
      }
      assert.equal(tags.size, 4);
    });

    it('precompressed: the zstd variant is sent as its exact bytes with Content-Encoding: zstd', async () => {
      const res = await get(s, '/app.js', { 'accept-encoding': 'zstd' });
      assert.equal(res.headers['content-encoding'], 'zstd');
      assert.deepEqual(res.body, tree.zst);
      assert.equal(res.headers['last-modified'], formatHttpDate((tree.t0 + 180) * 1000));
    });

    it('precompressed: the highest q wins and ties go to the server order', async () => {
      const cases: [string, string | undefined, Buffer][] = [
        ['gzip;q=1, br;q=0.5', 'gzip', tree.gz],
        ['gzip, br', 'br', tree.br],
        ['gzip, deflate, br, zstd', 'br', tree.br],
        ['x-gzip', 'gzip', tree.gz],
        ['GZIP', 'gzip', tree.gz],
      ];
      for (const [header, coding, body] of cases) {
        const res = await get(s, '/app.js', { 'accept-encoding': header });
        assert.equal(res.headers['content-encoding'], coding, header);
        assert.deepEqual(res.body, body, header);
      }
      const ordered = await get(gzipFirst, '/app.js', { 'accept-encoding': 'br, gzip, zstd' });
      assert.equal(ordered.headers['content-encoding'], 'gzip');
      assert.deepEqual(ordered.body, tree.gz);
    });

    it('precompressed: q=0 excludes a coding and * covers the codings not listed', async () => {
      const cases: [string, string | undefined][] = [
        ['br;q=0, *', 'zstd'],
        ['br;q=0, zstd;q=0, *;q=0.5', 'gzip'],
        ['br;q=0', undefined],
        ['gzip;q=0, *;q=0.1, identity;q=0.5', undefined],
      ];
      for (const [header, coding] of cases) {
        const res = await get(s, '/app.js', { 'accept-encoding': header });
        assert.equal(res.status, 200, header);
        assert.equal(res.headers['content-encoding'], coding, header);
      }
    });

    it('precompressed: identity when the field is absent or empty, when identity ties, and when nothing else is acceptable (never 406)', async () => {
      for (const headers of [
        {},
        { 'accept-encoding': '' },
        { 'accept-encoding': 'identity, br' },
        { 'accept-encoding': '*;q=0' },
      ]) {
        const res = await get(s, '/app.js', headers);
        assert.equal(res.status, 200, JSON.stringify(headers));
        assert.equal(res.headers['content-encoding'], undefined, JSON.stringify(headers));
        assert.deepEqual(res.body, tree.js, JSON.stringify(headers));
        assertVaryOnce(res);
      }
    });

    it('precompressed: a range of a variant is a 206 over its encoded bytes', async () => {
      const res = await get(s, '/app.js', { 'accept-encoding': 'br', range: 'bytes=10-99' });
      assert.equal(res.status, 206);
      assert.equal(res.headers['content-range'], `bytes 10-99/${tree.br.length}`);
      assert.equal(res.headers['content-length'], '90');
      assert.equal(res.headers['content-encoding'], 'br');
      assert.deepEqual(res.body, tree.br.subarray(10, 100));
      assertVaryOnce(res);
    });

    it('precompressed: several ranges of a variant are a multipart 206 of its encoded bytes', async () => {
      const res = await get(s, '/app.js', { 'accept-encoding': 'gzip', range: 'bytes=0-9,-10' });
      assert.equal(res.status, 206);
      const type = res.headers['content-type'] ?? '';
      assert.match(type, /^multipart\/byteranges; boundary=/);
      assert.equal(res.headers['content-length'], String(res.body.length));
      // The parts are ranges of the gzip representation: its coding stays the response's metadata.
      assert.equal(res.headers['content-encoding'], 'gzip');
      const parts = await parseMultipart(res.body, type);
      const n = tree.gz.length;
      assert.deepEqual(
        parts.map((p) => [p.headers['content-type'], p.headers['content-range'], p.body]),
        [
          ['text/javascript; charset=utf-8', `bytes 0-9/${n}`, tree.gz.subarray(0, 10)],
          ['text/javascript; charset=utf-8', `bytes ${n - 10}-${n - 1}/${n}`, tree.gz.subarray(n - 10)],
        ],
      );
      assertVaryOnce(res);
    });

    it('precompressed: a range past the end of a variant is a 416 with its encoded length', async () => {
      const res = await get(s, '/app.js', { 'accept-encoding': 'br', range: `bytes=${tree.br.length}-` });
      assert.equal(res.status, 416);
      assert.equal(res.headers['content-range'], `bytes */${tree.br.length}`);
      assert.equal(res.body.length, 0);
      assertVaryOnce(res);
    });

    it('precompressed: HEAD of a variant sends the headers GET would, and no body', async () => {
      const headers = { 'accept-encoding': 'br', range: 'bytes=0-4' };
      const g = await get(s, '/app.js', headers);
      const h = await get(s, '/app.js', headers, 'HEAD');
      assert.equal(h.status, 206);
      assert.equal(h.body.length, 0);
      for (const name of [
        'content-range',
        'content-length',
        'content-type',
        'content-encoding',
        'etag',
        'last-modified',
        'vary',
      ]) {
        assert.equal(h.headers[name], g.headers[name], name);
      }
    });

    it("precompressed: If-Range with another coding's ETag sends the whole variant, never a splice", async () => {
      const gz = await get(s, '/app.js', { 'accept-encoding': 'gzip' });
      const identity = await get(s, '/app.js');
      for (const tag of [gz.headers.etag, identity.headers.etag]) {
        const res = await get(s, '/app.js', {
          'accept-encoding': 'br',
          range: 'bytes=10-99',
          'if-range': tag as string,
        });
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, tree.br);
        assert.equal(res.headers['content-encoding'], 'br');
      }
      const br = await get(s, '/app.js', { 'accept-encoding': 'br' });
      const ranged = await get(s, '/app.js', {
        'accept-encoding': 'br',
        range: 'bytes=10-99',
        'if-range': br.headers.etag as string,
      });
      assert.equal(ranged.status, 206);
      assert.deepEqual(ranged.body, tree.br.subarray(10, 100));
    });

    it("precompressed: If-None-Match with another coding's ETag is a 200; with the variant's own a 304 with Vary", async () => {
      const gz = await get(s, '/app.js', { 'accept-encoding': 'gzip' });
      const identity = await get(s, '/app.js');
      for (const tag of [gz.headers.etag, identity.headers.etag]) {
        const res = await get(s, '/app.js', { 'accept-encoding': 'br', 'if-none-match': tag as string });
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, tree.br);
      }
      const br = await get(s, '/app.js', { 'accept-encoding': 'br' });
      const res = await get(s, '/app.js', { 'accept-encoding': 'br', 'if-none-match': br.headers.etag as string });
      assert.equal(res.status, 304);
      assert.equal(res.headers.etag, br.headers.etag);
      assert.equal(res.headers['content-encoding'], undefined);
      assert.equal(res.body.length, 0);
      assertVaryOnce(res);
    });

    it('precompressed: a 412 for a path with a variant carries Vary: Accept-Encoding', async () => {
      const res = await get(s, '/app.js', { 'accept-encoding': 'br', 'if-match': '"other"' });
      assert.equal(res.status, 412);
      assertVaryOnce(res);
    });

    it('precompressed: every answer for a path with a variant says Vary: Accept-Encoding, identity included; a path without none', async () => {
      const answers = [
        await get(s, '/data.png'),
        await get(s, '/data.png', { 'accept-encoding': 'gzip' }),
        await get(s, '/data.png', { range: 'bytes=0-1' }),
        await get(s, '/data.png', { range: 'bytes=900-' }),
        await get(s, '/data.png', {}, 'HEAD'),
        await get(s, '/data.png', { 'if-match': '"other"' }),
      ];
      assert.deepEqual(
        answers.map((res) => res.status),
        [200, 200, 206, 416, 200, 412],
      );
      for (const res of answers) assertVaryOnce(res);
      const etag = answers[0]?.headers.etag as string;
      const notModified = await get(s, '/data.png', { 'if-none-match': etag });
      assert.equal(notModified.status, 304);
      assertVaryOnce(notModified);
      const without = await get(s, '/plain.png', { 'accept-encoding': 'gzip' });
      assert.equal(without.status, 200);
      assert.equal(without.headers.vary, undefined);
    });

    it('precompressed: Vary is merged into a Vary already set, never duplicated', async () => {
      for (const headers of [{ 'accept-encoding': 'br' }, {}, { 'accept-encoding': 'br', range: 'bytes=0-3' }]) {
        const res = await get(withVary, '/app.js', headers);
        assertVaryOnce(res, 'Origin, Accept-Encoding');
      }
    });

    it('precompressed: a variant older than its original is not used', async () => {
      const res = await get(s, '/stale.js', { 'accept-encoding': 'gzip' });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-encoding'], undefined);
      assert.deepEqual(res.body, tree.js);
    });

    it('precompressed: a variant with no original is a file served under its own name; the original name is a miss', async () => {
      const own = await get(s, '/orphan.txt.gz', { 'accept-encoding': 'gzip' });
      assert.equal(own.status, 200);
      assert.equal(own.headers['content-type'], 'application/gzip');
      assert.equal(own.headers['content-encoding'], undefined);
      assert.deepEqual(gunzipSync(own.body), tree.js);
      const missing = await get(s, '/orphan.txt', { 'accept-encoding': 'gzip' });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.toString(), 'fallthrough');
    });

    it('precompressed: a variant that is a link out of the root, or a directory, is not used', async () => {
      for (const file of ['/linked.js', '/dirvariant.js']) {
        const res = await get(s, file, { 'accept-encoding': 'br' });
        assert.equal(res.status, 200, file);
        assert.equal(res.headers['content-encoding'], undefined, file);
        assert.deepEqual(res.body, tree.js, file);
        assert.equal(res.body.includes(tree.canary), false);
      }
    });

    it('precompressed: a dotfile stays hidden even with a variant beside it', async () => {
      for (const file of ['/.hidden.js', '/.hidden.js.br']) {
        const res = await get(s, file, { 'accept-encoding': 'br' });
        assert.equal(res.status, 404, file);
        assert.equal(res.body.toString(), 'fallthrough', file);
      }
    });

    it('precompressed: an index file and an extension-completed name use their own variants', async () => {
      const index = await get(s, '/dir/', { 'accept-encoding': 'br' });
      assert.equal(index.status, 200);
      assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(index.headers['content-encoding'], 'br');
      assert.equal(brotliDecompressSync(index.body).toString(), '<p>index</p>'.repeat(50));
      const page = await get(s, '/page', { 'accept-encoding': 'gzip' });
      assert.equal(page.status, 200);
      assert.equal(page.headers['content-encoding'], 'gzip');
      assert.equal(gunzipSync(page.body).toString(), '<p>page</p>'.repeat(50));
    });

    it('precompressed: without the option a variant beside a file is never sent for it', async () => {
      const res = await get(off, '/app.js', { 'accept-encoding': 'br' });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-encoding'], undefined);
      assert.deepEqual(res.body, tree.js);
    });

    it('precompressed: sendRange with openVariant sends the best variant, ranged over its bytes, with Vary', async () => {
      const res = await get(routes, '/r/send-range-variant', { 'accept-encoding': 'gzip, br', range: 'bytes=5-' });
      assert.equal(res.status, 206);
      assert.equal(res.headers['content-encoding'], 'br');
      assert.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
      assert.equal(res.headers['content-range'], `bytes 5-${tree.br.length - 1}/${tree.br.length}`);
      assert.match(res.headers.etag ?? '', /-br"$/);
      assert.deepEqual(res.body, tree.br.subarray(5));
      assertVaryOnce(res);
      const identity = await get(routes, '/r/send-range-variant', { 'accept-encoding': 'identity' });
      assert.equal(identity.status, 200);
      assert.deepEqual(identity.body, tree.js);
      assertVaryOnce(identity);
      const failed = await get(routes, '/r/send-range-variant', { 'accept-encoding': 'br', 'if-match': '"x"' });
      assert.equal(failed.status, 412);
      assertVaryOnce(failed);
    });
  });
}
