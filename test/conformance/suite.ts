/**
 * The adapter conformance suite, written once: every adapter runs it through its own ServerFactory.
 * Exact statuses, headers and bytes, over raw node:http; multipart bodies are parsed back with dicer.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { contentEtag } from '@range-serve/core/adapter';
import { type Fixtures, makeFixtures } from '../helpers/fixtures.ts';
import type { RawResponse } from '../helpers/http.ts';
import { parseMultipart } from '../helpers/multipart.ts';
import { servedBy } from './serve.ts';
import { cacheControlCases } from './cache-control.ts';
import { precompressedCases } from './precompressed.ts';
import { sendRangeOptionCases } from './send-range-options.ts';
import {
  BODY,
  GZIP_BODY,
  JSON_BODY,
  OWN_ETAG,
  SCENARIOS,
  STORE_FAILS_AT,
  STORE_SIZE,
  type HostBehaviour,
  type RunningServer,
  type ServerFactory,
  storeByte,
  type ServerSetup,
  TEXT,
} from './scenarios.ts';

export * from './scenarios.ts';

/** Runs the whole suite against one adapter. */
export function runConformance(adapterName: string, factory: ServerFactory, host: HostBehaviour = {}): void {
  describe(`${adapterName} conformance`, () => {
    const fx: Fixtures = makeFixtures();
    after(() => fx.remove());

    const { serve, get } = servedBy(factory);

    function assertNoCanary(res: RawResponse): void {
      assert.equal(res.body.includes(fx.canary), false, 'a byte of the canary outside the root was sent');
    }

    const delivered = (target: string): string | number => host.deliveredTarget?.(target) ?? target;
    /** A test name for `target`, saying so when the host rewrites or answers it before any handler. */
    const named = (name: string, target: string): string =>
      delivered(target) === target ? name : `${name}, unless the host rewrote it first (here: ${delivered(target)})`;

    /**
     * Asks for `target`, which the adapter must refuse with `status` (and `text`). Where the host rewrote
     * the target before any handler saw it, the answer must be exactly the one for what it delivered (or
     * the status the host answered itself). Nothing outside the root is ever sent.
     */
    async function assertRefused(
      s: () => RunningServer,
      target: string,
      status: number,
      text?: string,
    ): Promise<RawResponse> {
      const res = await get(s, target);
      if (!(await answeredAsDelivered(s, target, res))) {
        assert.equal(res.status, status, target);
        if (text !== undefined) assert.equal(res.body.toString(), text, target);
      }
      assertNoCanary(res);
      return res;
    }

    /**
     * True when the host rewrote `target` before any handler saw it (or answered it itself); the answer
     * `res` must then be exactly the one for what the host delivered.
     */
    async function answeredAsDelivered(
      s: () => RunningServer,
      target: string,
      res: RawResponse,
      method = 'GET',
    ): Promise<boolean> {
      const to = delivered(target);
      if (to === target) return false;
      if (typeof to === 'number') {
        assert.equal(res.status, to, `${method} ${target}: answered by the host`);
        return true;
      }
      const direct = await get(s, to, {}, method);
      assert.equal(res.status, direct.status, `${method} ${target} arrives as ${to}`);
      assert.deepEqual(res.body, direct.body, `${method} ${target} arrives as ${to}`);
      return true;
    }

    describe('directory serving with default options', () => {
      const s = serve(() => ({ root: fx.root }));
      const len = () => fx.hello.length;

      it('GET sends the whole file with its validators', async () => {
        const res = await get(s, '/hello.txt');
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, fx.hello);
        assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
        assert.equal(res.headers['content-length'], String(len()));
        assert.equal(res.headers['accept-ranges'], 'bytes');
        assert.equal(res.headers['cache-control'], 'public, max-age=0');
        assert.match(res.headers.etag ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/);
        assert.match(
          res.headers['last-modified'] ?? '',
          /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/,
        );
      });

      it('HEAD sends the headers GET would, and no body', async () => {
        const g = await get(s, '/hello.txt', { range: 'bytes=0-4' });
        const h = await get(s, '/hello.txt', { range: 'bytes=0-4' }, 'HEAD');
        assert.equal(h.status, 206);
        assert.equal(h.body.length, 0);
        for (const name of [
          'content-range',
          'content-length',
          'content-type',
          'etag',
          'last-modified',
          'accept-ranges',
        ]) {
          assert.equal(h.headers[name], g.headers[name], name);
        }
      });

      const single: [string, string, number, number][] = [
        ['a closed range', 'bytes=0-4', 0, 4],
        ['an open-ended range', 'bytes=50-', 50, 61],
        ['a suffix range', 'bytes=-5', 57, 61],
        ['a suffix longer than the file (the whole file as 206)', 'bytes=-500', 0, 61],
        ['a last-pos past the end (clamped)', 'bytes=60-900', 60, 61],
      ];
      for (const [name, range, first, last] of single) {
        it(`${name} is a 206 with exactly those bytes`, async () => {
          const res = await get(s, '/hello.txt', { range });
          assert.equal(res.status, 206);
          assert.equal(res.headers['content-range'], `bytes ${first}-${last}/${len()}`);
          assert.equal(res.headers['content-length'], String(last - first + 1));
          assert.deepEqual(res.body, fx.hello.subarray(first, last + 1));
        });
      }

      it('two ranges are a multipart/byteranges 206 that parses back into the slices', async () => {
        const res = await get(s, '/hello.txt', { range: 'bytes=0-1,10-12' });
        assert.equal(res.status, 206);
        const type = res.headers['content-type'] ?? '';
        assert.match(type, /^multipart\/byteranges; boundary=/);
        assert.equal(res.headers['content-range'], undefined);
        assert.equal(res.headers['content-length'], String(res.body.length));
        const parts = await parseMultipart(res.body, type);
        assert.deepEqual(
          parts.map((p) => [p.headers['content-type'], p.headers['content-range'], p.body.toString()]),
          [
            ['text/plain; charset=utf-8', `bytes 0-1/${len()}`, '01'],
            ['text/plain; charset=utf-8', `bytes 10-12/${len()}`, 'abc'],
          ],
        );
      });

      it('an unsatisfiable range is a 416 with bytes */len', async () => {
        const res = await get(s, '/hello.txt', { range: 'bytes=100-' });
        assert.equal(res.status, 416);
        assert.equal(res.headers['content-range'], `bytes */${len()}`);
        assert.equal(res.body.length, 0);
      });

      it('a syntactically invalid range is ignored: 200', async () => {
        const res = await get(s, '/hello.txt', { range: 'bytes=5-1' });
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, fx.hello);
      });

      it('If-Range with the current ETag serves the range; another ETag or a weak one the whole file', async () => {
        const { headers } = await get(s, '/hello.txt');
        const etag = headers.etag as string;
        assert.equal((await get(s, '/hello.txt', { range: 'bytes=0-1', 'if-range': etag })).status, 206);
        const other = await get(s, '/hello.txt', { range: 'bytes=0-1', 'if-range': '"other"' });
        assert.equal(other.status, 200);
        assert.deepEqual(other.body, fx.hello);
        assert.equal((await get(s, '/hello.txt', { range: 'bytes=0-1', 'if-range': `W/${etag}` })).status, 200);
      });

      it('If-None-Match with the current ETag is a 304 without content headers', async () => {
        const { headers } = await get(s, '/hello.txt');
        const res = await get(s, '/hello.txt', { 'if-none-match': headers.etag as string });
        assert.equal(res.status, 304);
        assert.equal(res.body.length, 0);
        assert.equal(res.headers.etag, headers.etag);
        assert.equal(res.headers['cache-control'], 'public, max-age=0');
        assert.equal(res.headers['content-type'], undefined);
        assert.equal(res.headers['content-range'], undefined);
        // docs/behaviour.md "Responses": a 304 has no Content-Length; RFC 9110 15.4.5 keeps the validators.
        assert.equal(res.headers['content-length'], undefined);
        assert.equal(res.headers['accept-ranges'], undefined);
        assert.equal(res.headers['last-modified'], headers['last-modified']);
      });

      it('If-Modified-Since at Last-Modified is a 304', async () => {
        const { headers } = await get(s, '/hello.txt');
        const res = await get(s, '/hello.txt', { 'if-modified-since': headers['last-modified'] as string });
        assert.equal(res.status, 304);
      });

      it('If-Match with another ETag, and If-Unmodified-Since in the past, are 412', async () => {
        assert.equal((await get(s, '/hello.txt', { 'if-match': '"nope"' })).status, 412);
        const res = await get(s, '/hello.txt', { 'if-unmodified-since': 'Thu, 01 Jan 1970 00:00:00 GMT' });
        assert.equal(res.status, 412);
        assert.equal(res.body.length, 0);
      });

      it('other methods go to the next handler', async () => {
        const res = await get(s, '/hello.txt', {}, 'POST');
        assert.equal(res.status, 404);
        assert.equal(res.body.toString(), 'fallthrough');
      });

      it('a missing file goes to the next handler', async () => {
        const res = await get(s, '/missing.txt');
        assert.equal(res.status, 404);
        assert.equal(res.body.toString(), 'fallthrough');
      });

      const escapes = [
        '/../outside/canary.txt',
        '/%2e%2e/outside/canary.txt',
        '/%2E%2E/%2E%2E/outside/canary.txt',
        '/..%2foutside%2fcanary.txt',
        '/dir/..%2F..%2Foutside/canary.txt',
        '/..\\outside\\canary.txt',
        '/%5c..%5coutside%5ccanary.txt',
        '/escape.txt',
        '/escape-dir/canary.txt',
      ];
      for (const target of escapes) {
        it(named(`refuses ${target} with 403 and never reads outside the root`, target), async () => {
          await assertRefused(s, target, 403);
        });
      }

      const insideRoot: [string, () => Buffer][] = [
        ['/dir/../hello.txt', () => fx.hello],
        ['/./hello.txt', () => fx.hello],
        ['/dir/%2e%2e/hello.txt', () => fx.hello],
        ['/dir/./index.html', () => Buffer.from(fx.indexHtml)],
        ['/empty-dir/../dir/.%2E/dir/index.html', () => Buffer.from(fx.indexHtml)],
      ];
      for (const [target, body] of insideRoot) {
        it(`dot segments that stay inside the root are resolved: ${target} is served`, async () => {
          const res = await get(s, target);
          assert.equal(res.status, 200);
          assert.deepEqual(res.body, body());
          assert.equal(res.headers['content-length'], String(body().length));
        });
      }

      it(
        named('a .. that climbs above the root after a subdirectory is 403', '/dir/../../outside/canary.txt'),
        async () => {
          await assertRefused(s, '/dir/../../outside/canary.txt', 403);
        },
      );

      it('a file asked for with a trailing slash goes to the next handler, never the file', async () => {
        for (const target of ['/hello.txt/', '/dir/index.html/', '/hello.txt/.']) {
          const res = await get(s, target, { range: 'bytes=0-4' });
          assert.equal(res.status, 404, target);
          assert.equal(res.body.toString(), 'fallthrough', target);
        }
      });

      it('a refusal is answered by the middleware, never passed to the next handler', async () => {
        for (const [target, status] of [
          ['/dir%2findex.html', 403],
          ['/../hello.txt', 403],
          ['/hello.txt%00', 400],
        ] as const) {
          await assertRefused(s, target, status, status === 400 ? 'Bad Request' : 'Forbidden');
        }
      });

      it('a path that does not decode is 400', async () => {
        const res = await get(s, '/%E0%A4%A.txt');
        assert.equal(res.status, 400);
      });

      it('a NUL byte is 400', async () => {
        assert.equal((await get(s, '/hello.txt%00.html')).status, 400);
      });

      it('a symbolic link inside the root is served', async () => {
        const res = await get(s, '/inside-link.txt');
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, fx.hello);
      });

      it('dotfiles are ignored by default (as missing)', async () => {
        const res = await get(s, '/.secret');
        assert.equal(res.status, 404);
        assert.equal(res.body.toString(), 'fallthrough');
      });

      it('a directory without its slash is a 301 to the slash, query kept', async () => {
        const res = await get(s, '/dir?x=1&y=2');
        assert.equal(res.status, 301);
        assert.equal(res.headers.location, '/dir/?x=1&y=2');
      });

      it('a redirect Location never points at another host', async () => {
        for (const target of ['//evil.example', '///evil.example']) {
          const res = await get(s, target);
          assert.equal(res.status, 301, target);
          assert.equal(res.headers.location, '/evil.example/', target);
        }
      });

      it('a directory named with a trailing dot segment is a 301 to the directory with its slash, query kept', async () => {
        for (const [target, location] of [
          ['/dir/.?x=1', '/dir/?x=1'],
          ['/dir/sub/..?x=1&y', '/dir/?x=1&y'],
          ['/skipdir/../dir/%2e', '/dir/'],
          ['/dir/%2E%2e', '/'],
          ['/.', '/'],
          ['//evil.example/.', '/evil.example/'],
        ]) {
          for (const method of ['GET', 'HEAD']) {
            const res = await get(s, target as string, {}, method);
            if (await answeredAsDelivered(s, target as string, res, method)) continue;
            assert.equal(res.status, 301, `${method} ${target}`);
            assert.equal(res.headers.location, location, `${method} ${target}`);
            assert.equal(res.body.includes(fx.indexHtml), false, `${method} ${target} sent the index`);
          }
        }
      });

      it('a file named with a trailing dot segment is not that file, and never a redirect', async () => {
        const res = await get(s, '/hello.txt/.');
        assert.equal(res.status, 404);
        assert.equal(res.body.toString(), 'fallthrough');
      });

      it('a directory with its slash serves index.html', async () => {
        const res = await get(s, '/dir/');
        assert.equal(res.status, 200);
        assert.equal(res.body.toString(), fx.indexHtml);
        assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
      });

      it('a directory without an index goes to the next handler', async () => {
        assert.equal((await get(s, '/empty-dir/')).body.toString(), 'fallthrough');
      });

      it('an empty file is a 200 with Content-Length 0 whatever the Range', async () => {
        const res = await get(s, '/empty.txt', { range: 'bytes=0-1' });
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-length'], '0');
      });
    });

    describe('directory serving under a mount with every option set', () => {
      const s = serve(() => ({
        root: fx.root,
        mount: '/files',
        options: {
          fallthrough: false,
          dotfiles: 'deny',
          index: ['index.html', 'default.htm'],
          extensions: ['html'],
          maxAge: '1d',
          immutable: true,
          etag: 'weak',
          setHeaders: (res, path) => res.setHeader('x-served-file', path.slice(path.lastIndexOf('/') + 1)),
        },
      }));

      it('serves with Cache-Control from maxAge and immutable, a weak ETag and setHeaders', async () => {
        const res = await get(s, '/files/hello.txt');
        assert.equal(res.status, 200);
        assert.equal(res.headers['cache-control'], 'public, max-age=86400, immutable');
        assert.match(res.headers.etag ?? '', /^W\/"/);
        assert.equal(res.headers['x-served-file'], 'hello.txt');
        assert.deepEqual(res.body, fx.hello);
      });

      it('If-Range with a weak ETag sends the whole file', async () => {
        const { headers } = await get(s, '/files/hello.txt');
        const res = await get(s, '/files/hello.txt', { range: 'bytes=0-1', 'if-range': headers.etag as string });
        assert.equal(res.status, 200);
      });

      it('a missing file is 404 from the middleware', async () => {
        const res = await get(s, '/files/missing.txt');
        assert.equal(res.status, 404);
        assert.notEqual(res.body.toString(), 'fallthrough');
      });

      it('other methods are 405 with Allow: GET, HEAD', async () => {
        const res = await get(s, '/files/hello.txt', {}, 'DELETE');
        assert.equal(res.status, 405);
        assert.equal(res.headers.allow, 'GET, HEAD');
      });

      it('dotfiles: deny is 403', async () => {
        assert.equal((await get(s, '/files/.secret')).status, 403);
      });

      it('extensions are tried for a missing file', async () => {
        const res = await get(s, '/files/page');
        assert.equal(res.status, 200);
        assert.equal(res.body.toString(), fx.pageHtml);
      });

      it('extensions are not tried for a name that has its own extension', async () => {
        const res = await get(s, '/files/only.html');
        assert.equal(res.status, 404);
        assert.equal(res.body.toString(), 'Not Found');
        assert.equal((await get(s, '/files/only.html.html')).status, 200);
      });

      it('a file asked for with a trailing slash is 404 with fallthrough: false', async () => {
        for (const target of ['/files/hello.txt/', '/files/page/']) {
          const res = await get(s, target);
          assert.equal(res.status, 404, target);
          assert.equal(res.body.toString(), 'Not Found', target);
        }
      });

      it('dot segments are resolved under a mount, and a .. above the mount point is 403', async () => {
        const inside = await get(s, '/files/dir/../hello.txt', { range: 'bytes=0-3' });
        assert.equal(inside.status, 206);
        assert.equal(inside.headers['content-range'], `bytes 0-3/${fx.hello.length}`);
        assert.deepEqual(inside.body, fx.hello.subarray(0, 4));
        const above = await assertRefused(s, '/files/../hello.txt', 403);
        assert.equal(above.body.includes(fx.hello), false);
      });

      it('an index entry that is a directory is skipped', async () => {
        const res = await get(s, '/files/skipdir/');
        assert.equal(res.status, 200);
        assert.equal(res.body.toString(), fx.defaultHtm);
      });

      it('the mount point without its slash redirects to it', async () => {
        const res = await get(s, '/files?q=1');
        assert.equal(res.status, 301);
        assert.equal(res.headers.location, '/files/?q=1');
      });

      it('the mount point named with a trailing dot segment redirects to it with its slash', async () => {
        for (const [target, location] of [
          ['/files/.?q=1', '/files/?q=1'],
          ['/files/dir/..', '/files/'],
          ['/files/dir/.', '/files/dir/'],
        ]) {
          const res = await get(s, target as string);
          if (await answeredAsDelivered(s, target as string, res)) continue;
          assert.equal(res.status, 301, target);
          assert.equal(res.headers.location, location, target);
        }
      });

      it(named('traversal under a mount is still 403', '/files/%2e%2e/outside/canary.txt'), async () => {
        await assertRefused(s, '/files/%2e%2e/outside/canary.txt', 403);
      });
    });

    describe('directory serving with redirect: false', () => {
      const s = serve(() => ({ root: fx.root, options: { redirect: false } }));

      it('a directory named with a trailing dot segment and redirect: false goes to the next handler', async () => {
        for (const target of ['/dir', '/dir/.', '/dir/sub/..', '/.']) {
          const res = await get(s, target);
          if (await answeredAsDelivered(s, target, res)) continue;
          assert.equal(res.status, 404, target);
          assert.equal(res.body.toString(), 'fallthrough', target);
        }
        assert.equal((await get(s, '/dir/')).body.toString(), fx.indexHtml);
      });
    });

    describe("directory serving with etag: 'digest'", () => {
      const s = serve(() => ({ root: fx.root, options: { etag: 'digest', lastModified: false } }));
      const sha = createHash('sha256').update(fx.hello);
      const digest = sha.copy().digest('base64');
      const etag = `"${fx.hello.length.toString(16)}-${sha.digest('base64url')}"`;

      it('GET and HEAD carry the SHA-256 of the content as a strong ETag and as Repr-Digest', async () => {
        for (const method of ['GET', 'HEAD']) {
          const res = await get(s, '/hello.txt', {}, method);
          assert.equal(res.status, 200, method);
          assert.equal(res.headers.etag, etag, method);
          assert.equal(res.headers['repr-digest'], `sha-256=:${digest}:`, method);
          assert.equal(res.headers['last-modified'], undefined, method);
          assert.deepEqual(res.body, method === 'GET' ? fx.hello : Buffer.alloc(0));
        }
      });

      it('a 206 resumed with If-Range and the digest ETag carries the digest of the whole file', async () => {
        const res = await get(s, '/hello.txt', { range: 'bytes=10-19', 'if-range': etag });
        assert.equal(res.status, 206);
        assert.equal(res.headers['content-range'], `bytes 10-19/${fx.hello.length}`);
        assert.equal(res.headers['repr-digest'], `sha-256=:${digest}:`);
        assert.deepEqual(res.body, fx.hello.subarray(10, 20));
      });

      it('If-None-Match with the digest ETag is 304 with the ETag and no Repr-Digest', async () => {
        const res = await get(s, '/hello.txt', { 'if-none-match': etag });
        assert.equal(res.status, 304);
        assert.equal(res.headers.etag, etag);
        assert.equal(res.headers['repr-digest'], undefined);
        assert.equal(res.body.length, 0);
      });

      it('an index file and an empty file get digest ETags too', async () => {
        const index = await get(s, '/dir/');
        assert.equal(index.status, 200);
        assert.equal(
          index.headers['repr-digest'],
          `sha-256=:${createHash('sha256').update(fx.indexHtml).digest('base64')}:`,
        );
        const empty = await get(s, '/empty.txt');
        assert.equal(empty.status, 200);
        assert.equal(empty.headers.etag, `"0-${createHash('sha256').digest('base64url')}"`);
      });
    });

    describe('Want-Repr-Digest (RFC 9530 §4)', () => {
      const allowed = serve(() => ({ root: fx.root, options: { wantReprDigest: true } }));
      const ignored = serve(() => ({ root: fx.root }));
      const digest = `sha-256=:${createHash('sha256').update(fx.hello).digest('base64')}:`;

      it('asked for sha-256 and allowed by wantReprDigest: Repr-Digest is computed, the ETag stays from fstat', async () => {
        for (const want of ['sha-256=5', 'sha-512=9, sha-256=1', 'sha-256']) {
          const res = await get(allowed, '/hello.txt', { 'want-repr-digest': want, range: 'bytes=0-4' });
          assert.equal(res.status, 206, want);
          assert.equal(res.headers['repr-digest'], digest, want);
          assert.match(res.headers.etag ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/, want);
          assert.deepEqual(res.body, fx.hello.subarray(0, 5));
        }
      });

      it('only algorithms we do not offer, sha-256=0, or no option: no Repr-Digest', async () => {
        for (const want of ['sha-512=3', 'sha-256=0', 'md5=10', 'sha-256=11', 'garbage;;']) {
          const res = await get(allowed, '/hello.txt', { 'want-repr-digest': want });
          assert.equal(res.status, 200, want);
          assert.equal(res.headers['repr-digest'], undefined, want);
        }
        const res = await get(ignored, '/hello.txt', { 'want-repr-digest': 'sha-256=10' });
        assert.equal(res.status, 200);
        assert.equal(res.headers['repr-digest'], undefined);
      });
    });

    precompressedCases(factory);
    sendRangeOptionCases(factory);
    cacheControlCases(factory, fx);

    describe('options are validated when the middleware is made', () => {
      const bad: [string, ServerSetup['options']][] = [
        ['an unknown maxAge string', { maxAge: 'soon' }],
        ['an etag mode that does not exist', { etag: 'yes' as unknown as false }],
        ['a digest algorithm as the etag mode', { etag: 'sha256' as unknown as false }],
        ['wantReprDigest that is not a boolean', { wantReprDigest: 'yes' as unknown as boolean }],
        ['a dotfiles policy that does not exist', { dotfiles: 'show' as unknown as 'allow' }],
        ['an unknown option name', { maxage: 1 } as unknown as ServerSetup['options']],
        ['maxRanges 0', { maxRanges: 0 }],
        ['a precompressed coding that does not exist', { precompressed: ['deflate'] as unknown as ['br'] }],
        ['a precompressed coding listed twice', { precompressed: ['br', 'br'] }],
        ['precompressed as a string', { precompressed: 'br' as unknown as ['br'] }],
      ];
      for (const [name, options] of bad) {
        it(`${name} throws a TypeError`, async () => {
          await assert.rejects(factory({ root: fx.root, options }), TypeError);
        });
      }
    });

    describe('ranges for route handlers', () => {
      const s = serve(() => ({ options: {}, routes: SCENARIOS, fileForSendRange: `${fx.root}/hello.txt` }));
      const bodies: [string, Buffer][] = [
        ['buffer', BODY],
        ['string', Buffer.from(TEXT)],
        ['json', Buffer.from(JSON.stringify(JSON_BODY))],
        ['end-chunk', BODY],
        ['chunked-with-length', BODY],
        ['send-range-bytes', BODY],
        ['send-range-stream', BODY],
      ];
      for (const [name, body] of bodies) {
        it(`${name}: a 200 with a strong ETag and Accept-Ranges, then a single range`, async () => {
          const full = await get(s, `/r/${name}`);
          assert.equal(full.status, 200);
          assert.deepEqual(full.body, body);
          assert.equal(full.headers['accept-ranges'], 'bytes');
          assert.equal(full.headers['content-length'], String(body.length));
          const part = await get(s, `/r/${name}`, { range: 'bytes=2-9' });
          assert.equal(part.status, 206);
          assert.equal(part.headers['content-range'], `bytes 2-9/${body.length}`);
          assert.deepEqual(part.body, body.subarray(2, 10));
          if (name !== 'chunked-with-length' && name !== 'send-range-stream') {
            assert.match(full.headers.etag ?? '', /^"/);
            const resumed = await get(s, `/r/${name}`, { range: 'bytes=5-', 'if-range': full.headers.etag as string });
            assert.equal(resumed.status, 206);
            assert.deepEqual(resumed.body, body.subarray(5));
            const cached = await get(s, `/r/${name}`, { 'if-none-match': full.headers.etag as string });
            assert.equal(cached.status, 304);
            assert.equal(cached.body.length, 0);
          }
        });
      }

      for (const name of ['buffer', 'chunked-with-length', 'send-range-bytes']) {
        it(`${name}: two ranges are multipart/byteranges`, async () => {
          const res = await get(s, `/r/${name}`, { range: 'bytes=0-2,10-14' });
          assert.equal(res.status, 206);
          const parts = await parseMultipart(res.body, res.headers['content-type'] ?? '');
          assert.deepEqual(
            parts.map((p) => [p.headers['content-range'], p.body.toString()]),
            [
              [`bytes 0-2/${BODY.length}`, BODY.subarray(0, 3).toString()],
              [`bytes 10-14/${BODY.length}`, BODY.subarray(10, 15).toString()],
            ],
          );
        });
      }

      it('gzip-encoded: a body the handler encoded is ranged over its encoded bytes, under their own ETag', async () => {
        const full = await get(s, '/r/gzip-encoded');
        assert.equal(full.status, 200);
        assert.equal(full.headers['content-encoding'], 'gzip');
        assert.deepEqual(full.body, GZIP_BODY);
        assert.equal(full.headers.etag, contentEtag(GZIP_BODY));
        assert.notEqual(full.headers.etag, contentEtag(BODY));
        const part = await get(s, '/r/gzip-encoded', { range: 'bytes=2-9', 'if-range': full.headers.etag as string });
        assert.equal(part.status, 206);
        assert.equal(part.headers['content-encoding'], 'gzip');
        assert.equal(part.headers['content-range'], `bytes 2-9/${GZIP_BODY.length}`);
        assert.equal(part.headers['content-length'], '8');
        assert.deepEqual(part.body, GZIP_BODY.subarray(2, 10));
        const cached = await get(s, '/r/gzip-encoded', { 'if-none-match': full.headers.etag as string });
        assert.equal(cached.status, 304);
        assert.equal(cached.headers['content-encoding'], undefined);
      });

      it("own-etag: the handler's ETag and Last-Modified are used", async () => {
        const full = await get(s, '/r/own-etag');
        assert.equal(full.headers.etag, OWN_ETAG);
        assert.equal((await get(s, '/r/own-etag', { 'if-none-match': OWN_ETAG })).status, 304);
        const part = await get(s, '/r/own-etag', { range: 'bytes=0-3', 'if-range': OWN_ETAG });
        assert.equal(part.status, 206);
        assert.deepEqual(part.body, BODY.subarray(0, 4));
        assert.equal((await get(s, '/r/own-etag', { 'if-match': '"other"' })).status, 412);
      });

      it('own-etag: a failing If-Match is a 412 even when If-None-Match matches (RFC 9110 13.2.2 order)', async () => {
        const res = await get(s, '/r/own-etag', { 'if-match': '"other"', 'if-none-match': OWN_ETAG });
        assert.equal(res.status, 412);
        assert.equal(res.body.length, 0);
        const unmodified = await get(s, '/r/own-etag', {
          'if-unmodified-since': 'Mon, 31 Dec 2029 23:59:59 GMT',
          'if-modified-since': 'Wed, 02 Jan 2030 00:00:00 GMT',
        });
        assert.equal(unmodified.status, 412);
      });

      it('a HEAD of an in-memory body carries the same strong ETag as its GET', async () => {
        for (const name of ['buffer', 'string', 'json']) {
          const g = await get(s, `/r/${name}`);
          const h = await get(s, `/r/${name}`, {}, 'HEAD');
          assert.equal(h.status, 200, name);
          assert.match(g.headers.etag ?? '', /^"[0-9a-f]+-[A-Za-z0-9_-]{43}"$/, name);
          assert.equal(h.headers.etag, g.headers.etag, name);
          // The content hash is a SHA-256, so the whole body's digest is known: RFC 9530 Repr-Digest.
          assert.equal(g.headers['repr-digest'], `sha-256=:${createHash('sha256').update(g.body).digest('base64')}:`);
          assert.equal(h.headers['repr-digest'], g.headers['repr-digest'], name);
          assert.equal(h.headers['content-length'], g.headers['content-length'], name);
          assert.equal(h.body.length, 0, name);
          const part = await get(s, `/r/${name}`, { range: 'bytes=0-3', 'if-range': h.headers.etag ?? '' });
          assert.equal(part.status, 206, name);
        }
      });

      it('not-200: left alone', async () => {
        const res = await get(s, '/r/not-200', { range: 'bytes=0-3' });
        assert.equal(res.status, 201);
        assert.deepEqual(res.body, BODY);
        assert.equal(res.headers['content-range'], undefined);
      });

      it('unknown-length: never ranged, Accept-Ranges: none', async () => {
        const res = await get(s, '/r/unknown-length', { range: 'bytes=0-3' });
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, BODY);
        assert.equal(res.headers['accept-ranges'], 'none');
      });

      it('has-content-range: left alone', async () => {
        const res = await get(s, '/r/has-content-range', { range: 'bytes=1-2' });
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-range'], 'bytes 0-3/10');
        assert.equal(res.body.toString(), 'abcd');
      });

      it('a HEAD of a handler response has the GET status and length, no body', async () => {
        for (const name of ['buffer', 'end-chunk', 'chunked-with-length']) {
          const g = await get(s, `/r/${name}`, { range: 'bytes=1-4' });
          const h = await get(s, `/r/${name}`, { range: 'bytes=1-4' }, 'HEAD');
          assert.equal(h.status, g.status, name);
          assert.equal(h.headers['content-range'], g.headers['content-range'], name);
          assert.equal(h.headers['content-length'], g.headers['content-length'], name);
          assert.equal(h.body.length, 0, name);
        }
      });

      it('send-range-file: a file chosen by the route, ranged, with its type', async () => {
        const res = await get(s, '/r/send-range-file', { range: 'bytes=-3' });
        assert.equal(res.status, 206);
        assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
        // No max-age nor public after a route's own checks: only the no-transform every 206 carries.
        assert.equal(res.headers['cache-control'], 'no-transform');
        assert.deepEqual(res.body, fx.hello.subarray(-3));
      });

      it('send-range-download: Content-Disposition with filename* for a non-ASCII name', async () => {
        const res = await get(s, '/r/send-range-download');
        assert.equal(res.status, 200);
        assert.equal(
          res.headers['content-disposition'],
          `attachment; filename="naive report.txt"; filename*=UTF-8''na%C3%AFve%20report.txt`,
        );
      });

      it("send-range-store: a user's store read through readInto is ranged like a file", async () => {
        const res = await get(s, '/r/send-range-store', { range: 'bytes=1000-1009,2000000-' });
        assert.equal(res.status, 206);
        const parts = await parseMultipart(res.body, res.headers['content-type'] ?? '');
        const expected = (start: number, end: number) =>
          Buffer.from(Array.from({ length: end - start + 1 }, (_, i) => storeByte(start + i)));
        assert.deepEqual(
          parts.map((p) => p.headers['content-range']),
          [`bytes 1000-1009/${STORE_SIZE}`, `bytes 2000000-${STORE_SIZE - 1}/${STORE_SIZE}`],
        );
        assert.deepEqual(parts[0]?.body, expected(1000, 1009));
        assert.deepEqual(parts[1]?.body, expected(2000000, STORE_SIZE - 1));
        const whole = await get(s, '/r/send-range-store');
        assert.equal(whole.status, 200);
        assert.equal(whole.headers.etag, '"store-v1"');
        assert.deepEqual(whole.body, expected(0, STORE_SIZE - 1));
      });
    });

    describe('errors reach the framework', () => {
      const failing = serve(() => ({
        root: fx.root,
        options: {
          setHeaders() {
            throw new Error('setHeaders failed');
          },
        },
      }));
      const routesOnly = serve(() => ({ routes: SCENARIOS }));

      it('a setHeaders that throws becomes the framework error response (500), and the server lives on', async () => {
        const res = await get(failing, '/hello.txt');
        assert.equal(res.status, 500);
        assert.equal(res.body.toString(), 'error');
        const again = await get(failing, '/hello.txt', { range: 'bytes=0-1' });
        assert.equal(again.status, 500);
      });

      it('a representation whose first read fails becomes the framework error response (500)', async () => {
        for (const range of [undefined, 'bytes=0-9', 'bytes=0-9,100-109']) {
          const res = await get(routesOnly, '/r/send-range-unreadable', range === undefined ? {} : { range });
          assert.equal(res.status, 500, String(range));
          assert.equal(res.body.toString(), 'error', String(range));
        }
      });

      it('a read that fails after the headers cuts the connection: the client never sees a complete body', async () => {
        const outcome = await get(routesOnly, '/r/send-range-fails-later').then(
          (res) => ({ status: res.status, length: res.body.length }),
          (err: unknown) => ({ error: err }),
        );
        if ('status' in outcome) {
          assert.equal(outcome.status, 200);
          assert.ok(outcome.length < STORE_SIZE, `a short body (${outcome.length} of ${STORE_SIZE})`);
          assert.ok(outcome.length <= STORE_FAILS_AT);
        } else {
          // Over HTTP/2 the connection stays and the stream is reset (RFC 9113 §8.1: INTERNAL_ERROR).
          assert.match(String(outcome.error), /aborted|socket hang up|ECONNRESET|NGHTTP2_INTERNAL_ERROR/);
        }
      });
    });
  });
}
