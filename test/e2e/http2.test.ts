/**
 * Chromium over HTTP/2 (the test certificate accepted): Koa 3 on `http2.createSecureServer({ allowHTTP1:
 * true }, app.callback())` and `serveRepresentation` on plain node:http2 serve a page and its video. The
 * video seeks, then seeks fast back and forth, which makes Chromium cancel range streams one after
 * another on its one connection; the last seek lands and a ranged fetch is still answered on it. The page
 * also cancels 100 downloads of a large file on that connection, after which it is still answered.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openFile, serveRepresentation } from '@range-serve/core';
import { rangeServe } from '@range-serve/koa';
import Koa from 'koa';
import type { BrowserContext, Page } from 'playwright-core';
import { type Http2Listener, listenHttp2, type RunningHttp2Server } from '../helpers/http2.ts';
import { launchChromium } from './browser.ts';
import { PUBLIC } from './suite.ts';

const CLIP = 'clip.webm';
const clip = readFileSync(path.join(PUBLIC, CLIP));
const PAGE = '<!DOCTYPE html><title>HTTP/2</title><body></body>';
/** A file far larger than any window, for downloads the page cancels. */
const LARGE = 'large.bin';
const LARGE_SIZE = 256 * 1024 * 1024;

/** One request as the server answered it. */
interface Logged {
  readonly path: string;
  readonly httpVersion: string;
  readonly range: string | undefined;
  readonly status: number;
  /** The RST_STREAM code the stream closed with: 0 when it ended, 8 (CANCEL) when the client reset it. */
  readonly rstCode: number;
}

/** Records `req` once its response ends or its stream is reset. */
function record(log: Logged[], req: Http2ServerRequest, res: Http2ServerResponse): void {
  res.once('close', () => {
    const { url, httpVersion, headers } = req;
    log.push({
      path: url,
      httpVersion,
      range: headers.range,
      status: res.statusCode,
      rstCode: req.stream.rstCode ?? 0,
    });
  });
}

function koaServer(root: string, log: Logged[]): Promise<RunningHttp2Server> {
  const app = new Koa();
  app.silent = true; // a cancelled stream is a client that went away, not an error to print
  app.use(async (ctx, next) => {
    record(log, ctx.req as unknown as Http2ServerRequest, ctx.res as unknown as Http2ServerResponse);
    if (ctx.path !== '/') return next();
    ctx.type = 'html';
    ctx.body = PAGE;
  });
  app.use(rangeServe(root));
  return listenHttp2(app.callback() as unknown as Http2Listener);
}

function nodeServer(root: string, log: Logged[]): Promise<RunningHttp2Server> {
  return listenHttp2((req, res) => {
    record(log, req, res);
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
      return;
    }
    openFile(path.join(root, path.basename(req.url.split('?')[0] ?? ''))).then(
      (file) => serveRepresentation(req, res, file),
      () => {
        res.writeHead(404);
        res.end();
      },
    );
  });
}

/** Page side: the video, seeked to each of `times` without waiting for the previous seek, then to `to`. */
const SEEK = `async ({ src, times, to }) => {
  const video = document.createElement('video');
  video.muted = true;
  video.preload = 'auto';
  document.body.append(video);
  const loaded = new Promise((resolve, reject) => {
    video.onloadedmetadata = resolve;
    video.onerror = () => reject(new Error('media error ' + (video.error && video.error.code)));
  });
  video.src = src;
  await loaded;
  for (const time of times) {
    video.currentTime = time;
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
  const seeked = new Promise((resolve) => { video.onseeked = resolve; });
  video.currentTime = to;
  await seeked;
  while (video.readyState < 2) await new Promise((resolve) => setTimeout(resolve, 20));
  return { duration: video.duration, currentTime: video.currentTime, readyState: video.readyState };
}`;

/** Page side: a ranged fetch, its status, Content-Range and the SHA-256 of its bytes (hex). */
const FETCH_RANGE = `async ({ url, range }) => {
  const response = await fetch(url, { headers: { Range: range } });
  const bytes = new Uint8Array(await response.arrayBuffer());
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return {
    status: response.status,
    contentRange: response.headers.get('content-range'),
    sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''),
  };
}`;

/** Page side: \`count\` ranged fetches of \`url\`, each aborted once its first bytes arrived; their statuses. */
const CANCEL_DOWNLOADS = `async ({ url, count }) => {
  const statuses = [];
  for (let i = 0; i < count; i++) {
    const controller = new AbortController();
    const response = await fetch(url + '&i=' + i, { headers: { Range: 'bytes=' + i * 1000000 + '-' }, signal: controller.signal });
    const reader = response.body.getReader();
    await reader.read();
    controller.abort();
    await reader.closed.catch(() => {});
    statuses.push(response.status);
  }
  return statuses;
}`;

function inPage<T>(page: Page, fn: string, arg: unknown): Promise<T> {
  return page.evaluate(`(${fn})(${JSON.stringify(arg)})`) as Promise<T>;
}

const SERVERS = [
  ['Koa 3 on http2.createSecureServer', koaServer],
  ['serveRepresentation on node:http2', nodeServer],
] as const;

for (const [name, start] of SERVERS) {
  describe(`Chromium over HTTP/2: ${name}`, () => {
    let work = '';
    let context: BrowserContext;
    let page: Page;
    let server: RunningHttp2Server;
    let sessions = 0;
    const log: Logged[] = [];

    before(async () => {
      work = mkdtempSync(path.join(tmpdir(), 'range-serve-h2-e2e-'));
      const root = path.join(work, 'files');
      mkdirSync(root);
      copyFileSync(path.join(PUBLIC, CLIP), path.join(root, CLIP));
      // Sparse: its reads are zeros from the page cache.
      writeFileSync(path.join(root, LARGE), '');
      truncateSync(path.join(root, LARGE), LARGE_SIZE);
      server = await start(root, log);
      server.server.on('session', () => {
        sessions += 1;
      });
      context = await launchChromium(path.join(work, 'profile'), { ignoreHTTPSErrors: true });
      context.setDefaultTimeout(60_000);
      page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`${server.baseUrl}/`);
    });
    after(async () => {
      await context?.close();
      await server?.close();
      if (work !== '') rmSync(work, { recursive: true, force: true });
    });

    it('a <video> seeks near its end over HTTP/2 206 responses', async () => {
      const state = await inPage<{ duration: number; currentTime: number; readyState: number }>(page, SEEK, {
        src: `/${CLIP}?t=seek`,
        times: [],
        to: 18.5,
      });
      assert.ok(Math.abs(state.duration - 20) < 0.5, `the clip lasts ${state.duration} s`);
      assert.ok(Math.abs(state.currentTime - 18.5) < 0.05, `currentTime is ${state.currentTime}`);
      const media = log.filter((entry) => entry.path.endsWith('t=seek'));
      assert.ok(media.length >= 1);
      for (const entry of media) {
        assert.equal(entry.httpVersion, '2.0');
        assert.match(entry.range ?? '', /^bytes=\d+-\d*$/);
        assert.equal(entry.status, 206);
      }
    });

    it('seeking fast back and forth cancels streams, and the same connection still answers: the last seek lands and a range is exact', async () => {
      const times = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 1 + (i % 17) : 19 - (i % 13)));
      const state = await inPage<{ currentTime: number }>(page, SEEK, { src: `/${CLIP}?t=fast`, times, to: 12 });
      assert.ok(Math.abs(state.currentTime - 12) < 0.05, `currentTime is ${state.currentTime}`);
      const fetched = await inPage<{ status: number; contentRange: string; sha256: string }>(page, FETCH_RANGE, {
        url: `/${CLIP}?t=after`,
        range: 'bytes=1000-200999',
      });
      assert.deepEqual(fetched, {
        status: 206,
        contentRange: `bytes 1000-200999/${clip.length}`,
        sha256: createHash('sha256').update(clip.subarray(1000, 201_000)).digest('hex'),
      });
      // One connection throughout: every stream the player cancelled was on the session that answered last.
      assert.equal(sessions, 1);
      for (const entry of log) assert.equal(entry.httpVersion, '2.0');
    });

    it('100 downloads of a large file cancelled mid-body on one connection, and the next requests on it are answered', async () => {
      const statuses = await inPage<number[]>(page, CANCEL_DOWNLOADS, { url: `/${LARGE}?t=cancel`, count: 100 });
      assert.deepEqual(
        statuses,
        Array.from({ length: 100 }, () => 206),
      );
      // Chromium reset each stream (RST_STREAM CANCEL) while the server still had most of the file to send.
      // The server logs a stream when it closes, which may come just after the page saw it cancelled.
      const cancelledSoFar = () => log.filter((entry) => entry.path.includes('t=cancel'));
      for (const deadline = Date.now() + 5000; cancelledSoFar().length < 100 && Date.now() < deadline;) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const cancelled = cancelledSoFar();
      assert.equal(cancelled.length, 100);
      assert.ok(
        cancelled.every((entry) => entry.rstCode === 8),
        JSON.stringify(cancelled.map((entry) => entry.rstCode)),
      );
      const state = await inPage<{ currentTime: number }>(page, SEEK, { src: `/${CLIP}?t=then`, times: [], to: 15 });
      assert.ok(Math.abs(state.currentTime - 15) < 0.05, `currentTime is ${state.currentTime}`);
      const fetched = await inPage<{ status: number; contentRange: string; sha256: string }>(page, FETCH_RANGE, {
        url: `/${CLIP}?t=then-fetch`,
        range: 'bytes=0-99',
      });
      assert.equal(fetched.status, 206);
      assert.equal(fetched.sha256, createHash('sha256').update(clip.subarray(0, 100)).digest('hex'));
      assert.equal(sessions, 1);
    });
  });
}
