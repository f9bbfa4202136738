/**
 * Cache-Control as docs/behaviour.md states it, sentence by sentence: the caching policy (`public,
 * max-age`, `immutable`) is sent where the options ask for it, on 200, HEAD and 304; a 206 always adds
 * `no-transform` (RFC 9111 §5.2.2.6), whatever `cacheControl` says, so that no compressing layer or proxy
 * re-encodes the bytes its Content-Range describes; 412 and 416 carry none of ours.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Fixtures } from '../helpers/fixtures.ts';
import type { RawResponse } from '../helpers/http.ts';
import { servedBy } from './serve.ts';
import type { RunningServer, ServerFactory } from './scenarios.ts';

/** The Cache-Control cases against one adapter; `fx` is the suite's fixture tree. */
export function cacheControlCases(factory: ServerFactory, fx: Fixtures): void {
  describe('Cache-Control', () => {
    const { serve, get } = servedBy(factory);
    const byDefault = serve(() => ({ root: fx.root }));
    const off = serve(() => ({ root: fx.root, options: { cacheControl: false, maxAge: '1d', immutable: true } }));
    const routes = serve(() => ({ routes: ['send-range-file'], fileForSendRange: `${fx.root}/hello.txt` }));
    const routesOff = serve(() => ({
      routes: ['send-range-file'],
      fileForSendRange: `${fx.root}/hello.txt`,
      sendRangeOptions: { maxAge: '1d', cacheControl: false },
    }));

    /** Every kind of answer for `target`, each named, in the order the docs list them. */
    async function answers(s: () => RunningServer, target: string): Promise<Record<string, RawResponse>> {
      const full = await get(s, target);
      const validators: Record<string, string> =
        full.headers.etag === undefined ? {} : { 'if-none-match': full.headers.etag };
      return {
        200: full,
        HEAD: await get(s, target, {}, 'HEAD'),
        304: await get(s, target, validators),
        412: await get(s, target, { 'if-match': '"another"' }),
        416: await get(s, target, { range: 'bytes=1000-' }),
        206: await get(s, target, { range: 'bytes=0-4' }),
        'HEAD 206': await get(s, target, { range: 'bytes=0-4' }, 'HEAD'),
        'multipart 206': await get(s, target, { range: 'bytes=0-1,10-12' }),
      };
    }

    function assertCacheControl(all: Record<string, RawResponse>, expected: Record<string, string | undefined>): void {
      for (const [what, value] of Object.entries(expected)) {
        const res = all[what] as RawResponse;
        const status = what.replace(/^HEAD ?/, '').replace(/^multipart /, '') || '200';
        assert.equal(String(res.status), status, `${what}: status`);
        assert.equal(res.headers['cache-control'], value, `${what}: Cache-Control`);
      }
    }

    it('directory serving: the caching policy on 200, HEAD and 304, with no-transform added on every 206; none on 412 and 416', async () => {
      assertCacheControl(await answers(byDefault, '/hello.txt'), {
        200: 'public, max-age=0',
        HEAD: 'public, max-age=0',
        304: 'public, max-age=0',
        412: undefined,
        416: undefined,
        206: 'public, max-age=0, no-transform',
        'HEAD 206': 'public, max-age=0, no-transform',
        'multipart 206': 'public, max-age=0, no-transform',
      });
    });

    it('cacheControl: false sends no caching policy, whatever maxAge and immutable say; every 206 still carries no-transform alone', async () => {
      assertCacheControl(await answers(off, '/hello.txt'), {
        200: undefined,
        HEAD: undefined,
        304: undefined,
        412: undefined,
        416: undefined,
        206: 'no-transform',
        'HEAD 206': 'no-transform',
        'multipart 206': 'no-transform',
      });
    });

    it('sendRange without maxAge or immutable sends no caching policy; every 206 carries no-transform alone', async () => {
      for (const s of [routes, routesOff]) {
        assertCacheControl(await answers(s, '/r/send-range-file'), {
          200: undefined,
          HEAD: undefined,
          304: undefined,
          412: undefined,
          416: undefined,
          206: 'no-transform',
          'HEAD 206': 'no-transform',
          'multipart 206': 'no-transform',
        });
      }
    });
  });
}
