/**
 * Chromium on one origin, range-serve on another (two loopback ports), with the CORS layer users write in
 * front and nothing else: `cors({ origin })` on Express 5, `@koa/cors` on Koa 3. A script downloads a
 * range and reads Content-Range, ETag, Accept-Ranges and Repr-Digest; resumes with If-Range; a
 * `<video crossorigin>` seeks. Without a CORS layer, none of it is readable. The server's log shows which
 * requests the browser preflighted (Fetch §3.2.2: a single `bytes=N-` or `bytes=N-M` Range is
 * CORS-safelisted, If-Range is not).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import koaCors from '@koa/cors';
import { rangeServe as expressRangeServe } from '@range-serve/express';
import { rangeServe as koaRangeServe } from '@range-serve/koa';
import cors from 'cors';
import express, { type NextFunction, type Request, type Response } from 'express';
import Koa from 'koa';
import type { BrowserContext, Page } from 'playwright-core';
import type { RunningServer } from '../conformance/scenarios.ts';
import { listen } from '../helpers/server.ts';
import { launchChromium } from './browser.ts';
import { PUBLIC } from './suite.ts';

const CLIP = 'clip.webm';
const clip = readFileSync(path.join(PUBLIC, CLIP));
const CLIP_SHA256 = createHash('sha256').update(clip).digest('base64');

/** One request as the range-serve server answered it. */
interface Logged {
  readonly method: string;
  readonly url: string;
  readonly range: string | undefined;
  readonly requestHeaders: string | undefined;
  readonly status: number;
  readonly allowOrigin: string | undefined;
}

type Framework = 'Express 5' | 'Koa 3';

/** range-serve on `framework`, with `cors({ origin: pageOrigin })` in front unless `withCors` is false. */
async function startFiles(framework: Framework, pageOrigin: string, withCors: boolean, log: Logged[]) {
  const record = (method: string, url: string, headers: http.IncomingHttpHeaders, res: http.ServerResponse) =>
    res.on('finish', () => {
      const allow = res.getHeader('access-control-allow-origin');
      log.push({
        method,
        url,
        range: headers.range,
        requestHeaders: headers['access-control-request-headers'],
        status: res.statusCode,
        allowOrigin: allow === undefined ? undefined : String(allow),
      });
    });
  // A digest ETag gives every 200 and 206 a Repr-Digest too.
  const options = { etag: 'digest' } as const;
  if (framework === 'Express 5') {
    const app = express();
    app.use((req: Request, res: Response, next: NextFunction) => {
      record(req.method, req.url, req.headers, res);
      next();
    });
    if (withCors) app.use(cors({ origin: pageOrigin }));
    app.use(expressRangeServe(PUBLIC, options));
    return listen(app);
  }
  const app = new Koa();
  app.use(async (ctx, next) => {
    record(ctx.method, ctx.url, ctx.headers, ctx.res);
    await next();
  });
  if (withCors) app.use(koaCors({ origin: pageOrigin }));
  app.use(koaRangeServe(PUBLIC, options));
  return listen(app.callback());
}

/** The page's origin: one empty HTML page, from which the scripts run. */
function startPage(): Promise<RunningServer> {
  return listen((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!DOCTYPE html><title>another origin</title><body></body>');
  });
}

/** Runs `fn` (page-side source of an async function of one argument) in the page with `arg`. */
function inPage<T>(page: Page, fn: string, arg: unknown): Promise<T> {
  return page.evaluate(`(${fn})(${JSON.stringify(arg)})`) as Promise<T>;
}

/** Page side: fetch with a Range, and what the script can read of the answer. */
const READ_RANGE = `async ({ url, range }) => {
  const response = await fetch(url, { headers: { Range: range } });
  const body = new Uint8Array(await response.arrayBuffer());
  return {
    status: response.status,
    contentRange: response.headers.get('content-range'),
    etag: response.headers.get('etag'),
    acceptRanges: response.headers.get('accept-ranges'),
    reprDigest: response.headers.get('repr-digest'),
    length: body.length,
  };
}`;

/** Page side: a download cut after its first range, resumed with If-Range, checked against Repr-Digest. */
const RESUME = `async ({ url, first }) => {
  const head = await fetch(url, { headers: { Range: 'bytes=0-' + (first - 1) } });
  const start = new Uint8Array(await head.arrayBuffer());
  const etag = head.headers.get('etag');
  const rest = await fetch(url, { headers: { Range: 'bytes=' + start.length + '-', 'If-Range': etag } });
  const end = new Uint8Array(await rest.arrayBuffer());
  const whole = new Uint8Array(start.length + end.length);
  whole.set(start);
  whole.set(end, start.length);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', whole));
  let binary = '';
  for (const byte of digest) binary += String.fromCharCode(byte);
  const stale = await fetch(url, { headers: { Range: 'bytes=' + start.length + '-', 'If-Range': '"stale"' } });
  const staleLength = (await stale.arrayBuffer()).byteLength;
  return {
    etag,
    resumed: rest.status,
    resumedRange: rest.headers.get('content-range'),
    reprDigest: rest.headers.get('repr-digest'),
    sha256: btoa(binary),
    length: whole.length,
    stale: stale.status,
    staleLength,
  };
}`;

/** Page side: a \`<video crossorigin>\` from the other origin, seeked near its end. */
const SEEK = `async ({ src, to }) => {
  const video = document.createElement('video');
  video.crossOrigin = 'anonymous';
  video.muted = true;
  video.preload = 'auto';
  document.body.append(video);
  const loaded = new Promise((resolve, reject) => {
    video.onloadedmetadata = resolve;
    video.onerror = () => reject(new Error('media error ' + (video.error && video.error.code)));
  });
  video.src = src;
  await loaded;
  const seeked = new Promise((resolve) => { video.onseeked = resolve; });
  video.currentTime = to;
  await seeked;
  while (video.readyState < 2) await new Promise((resolve) => setTimeout(resolve, 20));
  return { duration: video.duration, currentTime: video.currentTime, readyState: video.readyState };
}`;

for (const framework of ['Express 5', 'Koa 3'] as const) {
  describe(`${framework}: a page on another origin, the CORS layer in front`, () => {
    let work = '';
    let context: BrowserContext;
    let page: Page;
    let pageServer: RunningServer;
    let files: RunningServer;
    let bare: RunningServer;
    const log: Logged[] = [];
    const bareLog: Logged[] = [];

    before(async () => {
      work = mkdtempSync(path.join(tmpdir(), 'range-serve-cross-origin-'));
      pageServer = await startPage();
      files = await startFiles(framework, pageServer.baseUrl, true, log);
      bare = await startFiles(framework, pageServer.baseUrl, false, bareLog);
      context = await launchChromium(path.join(work, 'profile'));
      context.setDefaultTimeout(30_000);
      page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`${pageServer.baseUrl}/`);
    });
    after(async () => {
      await context?.close();
      await Promise.all([pageServer?.close(), files?.close(), bare?.close()]);
      if (work !== '') rmSync(work, { recursive: true, force: true });
    });

    it('fetch with a single Range reads Content-Range, ETag, Accept-Ranges and Repr-Digest, with no preflight', async () => {
      const url = `${files.baseUrl}/${CLIP}?t=single`;
      const read = await inPage<Record<string, unknown>>(page, READ_RANGE, { url, range: 'bytes=0-99' });
      assert.deepEqual(read, {
        status: 206,
        contentRange: `bytes 0-99/${clip.length}`,
        etag: read.etag,
        acceptRanges: 'bytes',
        reprDigest: `sha-256=:${CLIP_SHA256}:`,
        length: 100,
      });
      assert.match(String(read.etag), /^"[0-9a-f]+-[A-Za-z0-9_-]+"$/);
      // Fetch §2.2.2: `bytes=0-99` is a CORS-safelisted Range, so the browser asked without a preflight.
      const seen = log.filter((entry) => entry.url.endsWith('t=single'));
      assert.deepEqual(
        seen.map((entry) => [entry.method, entry.range, entry.status, entry.allowOrigin]),
        [['GET', 'bytes=0-99', 206, pageServer.baseUrl]],
      );
    });

    it('a multi-range or suffix Range is preflighted, and the CORS layer lets it through with its defaults', async () => {
      for (const [tag, range, status] of [
        ['multi', 'bytes=0-9,20-29', 206],
        ['suffix', 'bytes=-100', 206],
      ] as const) {
        const url = `${files.baseUrl}/${CLIP}?t=${tag}`;
        const read = await inPage<{ status: number; contentRange: string | null }>(page, READ_RANGE, { url, range });
        assert.equal(read.status, status, tag);
        if (tag === 'suffix')
          assert.equal(read.contentRange, `bytes ${clip.length - 100}-${clip.length - 1}/${clip.length}`);
        const seen = log.filter((entry) => entry.url.endsWith(`t=${tag}`));
        assert.deepEqual(
          seen.map((entry) => [entry.method, entry.requestHeaders, entry.status]),
          [
            ['OPTIONS', 'range', 204],
            ['GET', undefined, status],
          ],
          tag,
        );
      }
    });

    it('a download cut after its first range resumes with If-Range to the bytes Repr-Digest names; a stale tag gets the whole file', async () => {
      const url = `${files.baseUrl}/${CLIP}?t=resume`;
      const result = await inPage<Record<string, unknown>>(page, RESUME, { url, first: 100_000 });
      assert.equal(result.resumed, 206);
      assert.equal(result.resumedRange, `bytes 100000-${clip.length - 1}/${clip.length}`);
      assert.equal(result.length, clip.length);
      assert.equal(result.sha256, CLIP_SHA256);
      assert.equal(result.reprDigest, `sha-256=:${CLIP_SHA256}:`);
      assert.equal(result.stale, 200);
      assert.equal(result.staleLength, clip.length);
      // If-Range is not CORS-safelisted: the resumes were preflighted, and cors's defaults allowed them.
      const seen = log.filter((entry) => entry.url.endsWith('t=resume'));
      const preflights = seen.filter((entry) => entry.method === 'OPTIONS');
      assert.ok(preflights.length >= 1, JSON.stringify(seen));
      for (const entry of preflights) {
        assert.equal(entry.requestHeaders, 'if-range');
        assert.equal(entry.status, 204);
      }
      assert.deepEqual(
        seen.filter((entry) => entry.method === 'GET').map((entry) => [entry.range, entry.status]),
        [
          ['bytes=0-99999', 206],
          ['bytes=100000-', 206],
          ['bytes=100000-', 200],
        ],
      );
    });

    it('a <video crossorigin> on the other origin loads and seeks near its end over 206 responses', async () => {
      const src = `${files.baseUrl}/${CLIP}?t=video`;
      const state = await inPage<{ duration: number; currentTime: number; readyState: number }>(page, SEEK, {
        src,
        to: 18.5,
      });
      assert.ok(Math.abs(state.duration - 20) < 0.5, `the clip lasts ${state.duration} s`);
      assert.ok(Math.abs(state.currentTime - 18.5) < 0.05, `currentTime is ${state.currentTime}`);
      assert.ok(state.readyState >= 2);
      const media = log.filter((entry) => entry.url.endsWith('t=video') && entry.method === 'GET');
      assert.ok(media.length >= 1);
      for (const entry of media) {
        assert.match(entry.range ?? '', /^bytes=\d+-\d*$/);
        assert.equal(entry.status, 206);
        assert.equal(entry.allowOrigin, pageServer.baseUrl);
      }
    });

    it('without a CORS layer nothing is exposed: the fetch fails and the <video crossorigin> does not load', async () => {
      const url = `${bare.baseUrl}/${CLIP}?t=bare`;
      const fetched = await inPage<string>(
        page,
        `async ({ url }) => fetch(url, { headers: { Range: 'bytes=0-99' } }).then((r) => 'read ' + r.headers.get('content-range'), (e) => e.name)`,
        { url },
      );
      assert.equal(fetched, 'TypeError');
      const video = await inPage<string>(page, `async (arg) => (${SEEK})(arg).then(() => 'loaded', (e) => e.message)`, {
        src: `${bare.baseUrl}/${CLIP}?t=bare-video`,
        to: 1,
      });
      assert.equal(video, 'media error 4');
      // The server answered as always; it never opened CORS itself.
      const answered = bareLog.filter((entry) => entry.url.includes('t=bare'));
      assert.ok(answered.length >= 2);
      for (const entry of answered) assert.equal(entry.allowOrigin, undefined);
    });
  });
}
