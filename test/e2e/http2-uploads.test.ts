/**
 * The demo page's upload panel over HTTP/2 in Chromium (the test certificate accepted): the Koa demo on
 * Koa 3 served by `http2.createSecureServer({ allowHTTP1: true, ... }, app.callback())`. The panel uploads
 * with tus-js-client, pauses (its append's stream cancelled with RST_STREAM), resumes, reloads and
 * resumes the same upload, and downloads it back; the server's log shows every upload request came over
 * h2, and the stored bytes are the file's.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeReport } from '../../examples/generated.ts';
import { koaApp } from '../../examples/koa-app.ts';
import { type Http2Listener, listenHttp2, type RunningHttp2Server } from '../helpers/http2.ts';
import { requireTool, sha256, sha256File, waitFor } from './clients.ts';
import { PUBLIC } from './suite.ts';
import { checkUploadPanel } from './upload-browser.ts';

/** One request as the server answered it. */
interface Logged {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  /** The status sent, or 0 when the stream closed before any answer was written. */
  readonly status: number;
  readonly uploadOffset: string | undefined;
  readonly answeredOffset: string | undefined;
  /** The path of the answer's `Location`. */
  readonly location: string | undefined;
  /** The RST_STREAM code the stream closed with: 0 when it ended, 8 (CANCEL) when the client reset it. */
  readonly rstCode: number;
}

describe('Chromium over HTTP/2: the demo page on Koa 3 on http2.createSecureServer', () => {
  let work = '';
  let uploads = '';
  let server: RunningHttp2Server;
  const log: Logged[] = [];

  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'range-serve-h2-uploads-'));
    uploads = path.join(work, 'uploads');
    const app = koaApp(PUBLIC, makeReport(), uploads) as unknown as Http2Listener;
    server = await listenHttp2((req: Http2ServerRequest, res: Http2ServerResponse) => {
      const { url, method, httpVersion } = req;
      res.once('close', () => {
        const location = res.getHeader('location');
        const offset = req.headers['upload-offset'];
        log.push({
          method,
          url,
          httpVersion,
          status: res.headersSent ? res.statusCode : 0,
          uploadOffset: typeof offset === 'string' ? offset : undefined,
          answeredOffset: res.getHeader('upload-offset')?.toString(),
          location: location === undefined ? undefined : new URL(String(location), server.baseUrl).pathname,
          rstCode: req.stream.rstCode ?? 0,
        });
      });
      app(req, res);
    });
  });
  after(async () => {
    await server?.close();
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  it('the upload panel over h2: upload, pause, resume, reload, resume the same upload, download it back', async () => {
    requireTool('chromium');
    const file = path.join(work, 'panel-pick.bin');
    const content = randomBytes(6 * 1024 * 1024);
    writeFileSync(file, content);
    const result = await checkUploadPanel(`${server.baseUrl}/`, 'h2', path.join(work, 'profile'), file, {
      ignoreHTTPSErrors: true,
    });
    console.log(`screenshot: ${result.screenshot}`);
    assert.equal(result.downloadSha256, sha256(content), 'the download link served other bytes');
    const uploadPath = new URL(result.uploadUrl).pathname;
    assert.equal(new URL(result.uploadUrl).origin, server.baseUrl);
    await waitFor('the ranged download to be logged', () =>
      log.some((e) => e.url === uploadPath && e.method === 'GET' && e.status === 206),
    );

    const entries = log.filter((e) => e.url === uploadPath || (e.method === 'POST' && e.location === uploadPath));
    // Every request of the upload and its download came over HTTP/2.
    assert.deepEqual(
      entries.filter((e) => e.httpVersion !== '2.0'),
      [],
    );
    const requests = entries.filter((e) => e.method !== 'GET');
    assert.deepEqual([requests[0]?.method, requests[0]?.status], ['POST', 201]);
    assert.equal(requests.filter((e) => e.method === 'POST').length, 1);
    // Resumed twice (after the pause, after the reload): a HEAD each time, then a PATCH from its offset.
    const heads = requests.filter((e) => e.method === 'HEAD');
    assert.equal(heads.length, 2, JSON.stringify(requests));
    const [first, second] = heads.map((e) => Number(e.answeredOffset)) as [number, number];
    assert.ok(first > 0 && second > first && second < content.length, `offsets ${first}, ${second}`);
    const patches = requests.filter((e) => e.method === 'PATCH');
    assert.deepEqual(
      patches.map((e) => e.uploadOffset),
      ['0', String(first), String(second)],
    );
    // The pause and the reload cancelled their appends' streams; the server kept what had arrived.
    assert.deepEqual(
      patches.map((e) => [e.status, e.rstCode]),
      [
        [0, 8],
        [0, 8],
        [204, 0],
      ],
    );
    assert.equal(patches.at(-1)?.answeredOffset, String(content.length));
    assert.equal(await sha256File(path.join(uploads, uploadPath.split('/').pop() as string)), sha256(content));
  });
});
