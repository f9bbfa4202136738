/**
 * Uploads from Chromium on one origin to range-serve on another (two loopback ports), with exactly the
 * CORS layer users write in front of `resumableUploads(...)` and nothing else: `cors({ origin })` on
 * Express 5, `@koa/cors({ origin })` on Koa 3. tus-js-client (tus 1.0.0 and `ietf-draft-05`) uploads,
 * pauses, resumes, and after a reload finds its fingerprint in the page origin's localStorage and
 * resumes the same upload; Uppy's Tus plugin (which passes `protocol` through to tus-js-client) uploads,
 * pauses and resumes; a page terminates an upload with DELETE. The server's log shows which requests the
 * browser preflighted and what each answer opened and exposed; the stored bytes are checked on disk.
 * Without a CORS layer the upload fails, nothing is exposed and nothing is stored.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import koaCors from '@koa/cors';
import { rangeServe, resumableUploads as expressUploads } from '@range-serve/express';
import { resumableUploads as koaUploads } from '@range-serve/koa';
import cors from 'cors';
import express from 'express';
import Koa from 'koa';
import mount from 'koa-mount';
import type { BrowserContext, Page } from 'playwright-core';
import { recordHead, VENDOR } from '../../examples/app.ts';
import type { RunningServer } from '../conformance/scenarios.ts';
import { listen } from '../helpers/server.ts';
import { launchChromium } from './browser.ts';
import { requireTool, sha256, sha256File, waitFor } from './clients.ts';
import { pollNumber, throttleUploads } from './upload-browser.ts';

const MiB = 1024 * 1024;
/** About 2 s at the throttled upload rate: long enough to pause and reload part-way. */
const PAYLOAD = randomBytes(4 * MiB);
const PAYLOAD_SHA = sha256(PAYLOAD);

/** One request as the upload server answered it. */
interface Logged {
  readonly method: string;
  readonly url: string;
  readonly origin: string | undefined;
  /** The preflight's `Access-Control-Request-Method` and `-Headers`. */
  readonly requestMethod: string | undefined;
  readonly requestHeaders: string | undefined;
  readonly uploadOffset: string | undefined;
  /** The status sent, or 0 when the client went away before any answer was written. */
  readonly status: number;
  readonly allowOrigin: string | undefined;
  readonly allowMethods: string | undefined;
  readonly allowHeaders: string | undefined;
  readonly exposeHeaders: string | undefined;
  readonly answeredOffset: string | undefined;
  /** The path of the answer's `Location`. */
  readonly location: string | undefined;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * `listener` with every answer logged once its connection is done with it, its fields read through the
 * demo's `recordHead` (the engine gives its fields to `res.writeHead(status, fields)`, which
 * `res.getHeader` does not always see).
 */
function logged(listener: Listener, log: Logged[]): Listener {
  return (req, res) => {
    const field = recordHead(res);
    const url = req.url ?? '';
    res.once('close', () => {
      const one = (name: string) => {
        const value = req.headers[name];
        return typeof value === 'string' ? value : undefined;
      };
      const location = field('location');
      log.push({
        method: req.method ?? '',
        url,
        origin: one('origin'),
        requestMethod: one('access-control-request-method'),
        requestHeaders: one('access-control-request-headers'),
        uploadOffset: one('upload-offset'),
        status: res.headersSent ? res.statusCode : 0,
        allowOrigin: field('access-control-allow-origin'),
        allowMethods: field('access-control-allow-methods'),
        allowHeaders: field('access-control-allow-headers'),
        exposeHeaders: field('access-control-expose-headers'),
        answeredOffset: field('upload-offset'),
        location: location === undefined ? undefined : new URL(location, 'http://x').pathname,
      });
    });
    listener(req, res);
  };
}

type Framework = 'Express 5' | 'Koa 3';

/** `resumableUploads` on `/files`, with `cors({ origin: pageOrigin })` in front unless `withCors` is false. */
function startUploads(
  framework: Framework,
  pageOrigin: string,
  withCors: boolean,
  directory: string,
  log: Logged[],
): Promise<RunningServer> {
  if (framework === 'Express 5') {
    const app = express();
    if (withCors) app.use(cors({ origin: pageOrigin }));
    app.use('/files', expressUploads({ directory }));
    return listen(logged(app, log));
  }
  const app = new Koa();
  app.silent = true; // a paused upload is a client that went away, not an error to print
  if (withCors) app.use(koaCors({ origin: pageOrigin }));
  app.use(mount('/files', koaUploads({ directory })));
  return listen(logged(app.callback(), log));
}

const PAGE = `<!DOCTYPE html><title>the app's origin</title>
<script src="/vendor/tus-js-client/tus.min.js"></script><body></body>`;

/** The page's origin: its page, the tus-js-client and Uppy bundles, and the file the page uploads. */
function startPage(): Promise<RunningServer> {
  const app = express();
  for (const [prefix, dir] of Object.entries(VENDOR)) app.use(prefix, rangeServe(dir, { fallthrough: false }));
  app.get('/payload.bin', (_req, res) => {
    res.type('application/octet-stream').send(PAYLOAD);
  });
  app.get('/', (_req, res) => {
    res.type('html').send(PAGE);
  });
  return listen(app);
}

function inPage<T>(page: Page, fn: string, arg: unknown): Promise<T> {
  return page.evaluate(`(${fn})(${JSON.stringify(arg)})`) as Promise<T>;
}

/**
 * Page side: tus-js-client uploads the payload as a File named `name` (a fixed date, so its fingerprint
 * is the same after a reload). An upload stored under that fingerprint is resumed; the URLs found are
 * returned. Progress and outcome are kept in `window.state`.
 */
const TUS_START = `async ({ endpoint, protocol, name }) => {
  const bytes = await (await fetch('/payload.bin')).arrayBuffer();
  const file = new File([bytes], name, { type: 'application/octet-stream', lastModified: 1700000000000 });
  const state = { sent: 0, url: null, done: false, error: null };
  window.state = state;
  const upload = new tus.Upload(file, {
    endpoint,
    protocol,
    retryDelays: [],
    removeFingerprintOnSuccess: true,
    metadata: { filename: name, filetype: 'application/octet-stream' },
    onProgress: (sent) => { state.sent = sent; },
    onUploadUrlAvailable: () => { state.url = upload.url; },
    onSuccess: () => { state.url = upload.url; state.done = true; },
    onError: (err) => { state.error = String(err && err.message || err); },
  });
  window.upload = upload;
  const previous = await upload.findPreviousUploads();
  if (previous.length > 0) upload.resumeFromPreviousUpload(previous[0]);
  upload.start();
  return previous.map((p) => p.uploadUrl);
}`;

/** Page side: Uppy (no UI) with its Tus plugin uploads the payload; progress and outcome in `window.state`. */
const UPPY_START = `async ({ endpoint, protocol, name }) => {
  const { Uppy, Tus } = await import('/vendor/uppy/uppy.min.mjs');
  const bytes = await (await fetch('/payload.bin')).arrayBuffer();
  const state = { sent: 0, url: null, done: false, error: null };
  window.state = state;
  const options = { endpoint, retryDelays: [] };
  if (protocol !== undefined) options.protocol = protocol;
  const uppy = new Uppy({ autoProceed: false }).use(Tus, options);
  uppy.on('upload-progress', (file, progress) => { state.sent = progress.bytesUploaded; });
  uppy.on('upload-success', (file, response) => { state.url = response.uploadURL; state.done = true; });
  uppy.on('upload-error', (file, err) => { state.error = err.message; });
  uppy.addFile({ name, type: 'application/octet-stream', data: new Blob([bytes], { type: 'application/octet-stream' }) });
  window.uppy = uppy;
  uppy.upload();
}`;

/** Page side: one request with `fetch`; its status and the fields the script can read. */
const FETCH = `async ({ url, method, headers, body }) => {
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : new Uint8Array(body) });
  const read = {};
  for (const name of ['location', 'upload-offset', 'upload-length', 'upload-complete', 'tus-resumable', 'upload-draft-interop-version', 'upload-limit']) {
    const value = response.headers.get(name);
    if (value !== null) read[name] = value;
  }
  return { status: response.status, read };
}`;

const SENT = 'window.state.sent';

/** Waits until `fraction` of the payload is sent; an upload that failed in the page fails at once. */
async function waitSent(page: Page, fraction: number): Promise<void> {
  const sent = await pollNumber(
    page,
    'window.state.error === null ? window.state.sent : -1',
    (v) => v < 0 || v >= fraction * PAYLOAD.length,
    `${fraction * 100} % sent`,
  );
  if (sent < 0) assert.fail(`the upload failed in the page: ${String(await page.evaluate('window.state.error'))}`);
}

async function waitDone(page: Page): Promise<{ url: string }> {
  await page.waitForFunction('window.state.done === true || window.state.error !== null', undefined, {
    timeout: 60_000,
  });
  const state = (await page.evaluate('window.state')) as { url: string; error: string | null };
  assert.equal(state.error, null, 'the upload failed in the page');
  return state;
}

/** Sorted requested fields, as Chromium lists them in `Access-Control-Request-Headers`. */
const fields = (...names: string[]) => names.sort().join(',');

const TUS_HEADERS = {
  'tus-v1': {
    post: fields('tus-resumable', 'upload-length', 'upload-metadata'),
    patch: fields('content-type', 'tus-resumable', 'upload-offset'),
    head: fields('tus-resumable'),
  },
  'ietf-draft-05': {
    post: fields('upload-complete', 'upload-draft-interop-version', 'upload-length', 'upload-metadata'),
    patch: fields('content-type', 'upload-complete', 'upload-draft-interop-version', 'upload-offset'),
    head: fields('upload-draft-interop-version'),
  },
} as const;

for (const framework of ['Express 5', 'Koa 3'] as const) {
  describe(`${framework}: uploads from a page on another origin, the CORS layer in front`, () => {
    let work = '';
    let uploads = '';
    let bareUploads = '';
    let context: BrowserContext;
    let page: Page;
    let pageServer: RunningServer;
    let server: RunningServer;
    let bare: RunningServer;
    const log: Logged[] = [];
    const bareLog: Logged[] = [];

    before(async () => {
      requireTool('chromium');
      work = mkdtempSync(path.join(tmpdir(), 'range-serve-cross-origin-uploads-'));
      uploads = path.join(work, 'uploads');
      bareUploads = path.join(work, 'bare-uploads');
      mkdirSync(uploads);
      mkdirSync(bareUploads);
      pageServer = await startPage();
      server = await startUploads(framework, pageServer.baseUrl, true, uploads, log);
      bare = await startUploads(framework, pageServer.baseUrl, false, bareUploads, bareLog);
      context = await launchChromium(path.join(work, 'profile'));
      context.setDefaultTimeout(30_000);
      page = context.pages()[0] ?? (await context.newPage());
      await throttleUploads(page);
      await page.goto(`${pageServer.baseUrl}/`);
    });
    after(async () => {
      await context?.close();
      await Promise.all([pageServer?.close(), server?.close(), bare?.close()]);
      if (work !== '') rmSync(work, { recursive: true, force: true });
    });

    const endpoint = () => `${server.baseUrl}/files`;
    const entriesOf = (uploadPath: string) =>
      log.filter((e) => e.url.split('?')[0] === uploadPath || (e.method === 'POST' && e.location === uploadPath));
    /** Every preflight so far was answered by the CORS layer: 204, opened to the page, the method allowed. */
    const assertPreflightsPassed = () => {
      const preflights = log.filter((e) => e.method === 'OPTIONS');
      assert.ok(preflights.length > 0);
      for (const entry of preflights) {
        assert.equal(entry.status, 204, JSON.stringify(entry));
        assert.equal(entry.allowOrigin, pageServer.baseUrl);
        assert.ok(entry.allowMethods?.split(',').includes(entry.requestMethod ?? ''), JSON.stringify(entry));
        assert.equal(entry.allowHeaders, entry.requestHeaders, 'the requested fields are reflected');
      }
    };

    for (const protocol of ['tus-v1', 'ietf-draft-05'] as const) {
      it(`tus-js-client (${protocol}): upload, pause, resume, reload and resume the same upload to the exact bytes`, async () => {
        const name = `tus-${protocol}.bin`;
        const from = log.length;
        const found = await inPage<string[]>(page, TUS_START, { endpoint: endpoint(), protocol, name });
        assert.deepEqual(found, [], 'no upload stored under this fingerprint yet');
        const total = PAYLOAD.length;
        await waitSent(page, 0.25);
        await page.evaluate('window.upload.abort()');
        const atPause = Number(await page.evaluate(SENT));
        await new Promise((resolve) => setTimeout(resolve, 400));
        assert.equal(Number(await page.evaluate(SENT)), atPause, 'bytes were sent while paused');
        await page.evaluate('window.upload.start()');
        await waitSent(page, 0.6);
        const uploadUrl = String(await page.evaluate('window.state.url'));

        await page.reload();
        assert.equal(await page.evaluate('typeof window.state'), 'undefined', 'the reloaded page is fresh');
        const resumedFrom = await inPage<string[]>(page, TUS_START, { endpoint: endpoint(), protocol, name });
        assert.deepEqual(resumedFrom, [uploadUrl], "the page origin's localStorage kept the upload's URL");
        const done = await waitDone(page);
        assert.equal(done.url, uploadUrl);

        const uploadPath = new URL(uploadUrl).pathname;
        const ours = entriesOf(uploadPath).filter((e) => e.method !== 'OPTIONS');
        const [creation] = ours;
        assert.deepEqual([creation?.method, creation?.status], ['POST', 201]);
        // Resumed twice (after the pause, after the reload): a HEAD each time, then a PATCH from its offset.
        const heads = ours.filter((e) => e.method === 'HEAD');
        assert.equal(heads.length, 2, JSON.stringify(ours));
        const [first, second] = heads.map((e) => Number(e.answeredOffset)) as [number, number];
        assert.ok(first > 0 && second > first && second < total, `offsets ${first}, ${second}`);
        const patches = ours.filter((e) => e.method === 'PATCH');
        assert.deepEqual(
          patches.map((e) => e.uploadOffset),
          ['0', String(first), String(second)],
        );
        const last = patches.at(-1) as Logged;
        assert.deepEqual([last.status, last.answeredOffset], [204, String(total)]);
        assert.equal(await sha256File(path.join(uploads, uploadPath.split('/').pop() as string)), PAYLOAD_SHA);

        // Every answer was opened to the page and exposed what tus-js-client had to read.
        for (const entry of ours.filter((e) => e.status !== 0)) {
          assert.equal(entry.allowOrigin, pageServer.baseUrl);
          const exposed = (entry.exposeHeaders ?? '').split(', ');
          assert.ok(exposed.includes('Upload-Offset'), JSON.stringify(entry));
          if (entry.method === 'POST') assert.ok(exposed.includes('Location'), JSON.stringify(entry));
        }
        // The creation and the first append were preflighted (new URLs), with exactly the fields sent.
        const preflights = log.slice(from).filter((e) => e.method === 'OPTIONS');
        assert.deepEqual(
          preflights.filter((e) => e.url === '/files').map((e) => [e.requestMethod, e.requestHeaders]),
          [['POST', TUS_HEADERS[protocol].post]],
        );
        assert.deepEqual(
          preflights
            .filter((e) => e.url === uploadPath)
            .slice(0, 1)
            .map((e) => [e.requestMethod, e.requestHeaders]),
          [['PATCH', TUS_HEADERS[protocol].patch]],
        );
        assertPreflightsPassed();
        assert.deepEqual(
          await inPage<string[]>(
            page,
            `async ({ endpoint, name }) => {
              const bytes = await (await fetch('/payload.bin')).arrayBuffer();
              const file = new File([bytes], name, { type: 'application/octet-stream', lastModified: 1700000000000 });
              return (await new tus.Upload(file, { endpoint }).findPreviousUploads()).map((p) => p.uploadUrl);
            }`,
            { endpoint: endpoint(), name },
          ),
          [],
          'the fingerprint was removed once the upload was done',
        );
      });
    }

    for (const protocol of [undefined, 'ietf-draft-05'] as const) {
      it(`Uppy's Tus plugin (${protocol ?? 'tus'}): upload, pause, resume to the exact bytes`, async () => {
        const name = `uppy-${protocol ?? 'tus'}.bin`;
        const from = log.length;
        await inPage(page, UPPY_START, { endpoint: endpoint(), protocol, name });
        const total = PAYLOAD.length;
        await waitSent(page, 0.4);
        await page.evaluate('window.uppy.pauseAll()');
        // Uppy may report progress a little after the pause; what it reports from then on must not move.
        await new Promise((resolve) => setTimeout(resolve, 600));
        const atPause = Number(await page.evaluate(SENT));
        assert.ok(atPause < total, 'the upload ended before the pause');
        await new Promise((resolve) => setTimeout(resolve, 400));
        assert.equal(Number(await page.evaluate(SENT)), atPause, 'bytes were sent while paused');
        await page.evaluate('window.uppy.resumeAll()');
        const done = await waitDone(page);

        const uploadPath = new URL(done.url).pathname;
        const ours = entriesOf(uploadPath).filter((e) => e.method !== 'OPTIONS');
        assert.deepEqual([ours[0]?.method, ours[0]?.status], ['POST', 201]);
        const heads = ours.filter((e) => e.method === 'HEAD');
        assert.equal(heads.length, 1, JSON.stringify(ours));
        const offset = Number(heads[0]?.answeredOffset);
        assert.ok(offset >= 0.3 * total && offset < total, `paused at ${offset} bytes`);
        const last = ours.at(-1) as Logged;
        assert.deepEqual(
          [last.method, last.uploadOffset, last.status, last.answeredOffset],
          ['PATCH', String(offset), 204, String(total)],
        );
        assert.equal(await sha256File(path.join(uploads, uploadPath.split('/').pop() as string)), PAYLOAD_SHA);
        const preflights = log.slice(from).filter((e) => e.method === 'OPTIONS' && e.url === '/files');
        // Uppy adds its own metadata (name, type, ...) and tus-js-client the protocol's fields.
        assert.equal(preflights[0]?.requestMethod, 'POST');
        assert.ok(
          preflights[0]?.requestHeaders?.includes(
            protocol === undefined ? 'tus-resumable' : 'upload-draft-interop-version',
          ),
          JSON.stringify(preflights),
        );
        assertPreflightsPassed();
      });
    }

    it("tus-js-client's termination: a DELETE from the page removes the upload it started", async () => {
      const name = 'terminated.bin';
      await inPage(page, TUS_START, { endpoint: endpoint(), protocol: 'tus-v1', name });
      await waitSent(page, 0.25);
      const uploadPath = new URL(String(await page.evaluate('window.state.url'))).pathname;
      const id = uploadPath.split('/').pop() as string;
      assert.ok(existsSync(path.join(uploads, id)));
      // abort(true): the running append is stopped, then the upload terminated (tus termination extension).
      await page.evaluate('window.upload.abort(true)');
      await waitFor('the DELETE to be logged', () => entriesOf(uploadPath).some((e) => e.method === 'DELETE'));
      const deletes = entriesOf(uploadPath).filter((e) => e.method === 'DELETE');
      assert.deepEqual(
        deletes.map((e) => [e.status, e.allowOrigin]),
        [[204, pageServer.baseUrl]],
      );
      assert.ok(!existsSync(path.join(uploads, id)) && !existsSync(path.join(uploads, `${id}.json`)));
      assertPreflightsPassed();
    });

    it('preflights for POST, PATCH, HEAD and DELETE with the upload fields pass with the defaults, and the script reads the answers', async () => {
      const tus = { 'Tus-Resumable': '1.0.0' };
      const draft = { 'Upload-Draft-Interop-Version': '6' };
      const body = [...Buffer.from('hello')];
      const ask = (url: string, method: string, headers: Record<string, string>, sent?: number[]) =>
        inPage<{ status: number; read: Record<string, string> }>(page, FETCH, { url, method, headers, body: sent });
      const from = log.length;

      const created = await ask(`${endpoint()}?p=tus`, 'POST', {
        ...tus,
        'Upload-Length': '5',
        'Upload-Metadata': `filename ${Buffer.from('a.txt').toString('base64')}`,
      });
      assert.equal(created.status, 201);
      const target = created.read.location ?? '';
      assert.match(target, /\/files\/[A-Za-z0-9_-]{22}$/);
      const url = new URL(target, server.baseUrl).href;
      const appended = await ask(
        `${url}?p=tus-patch`,
        'PATCH',
        { ...tus, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
        body,
      );
      assert.deepEqual(appended, { status: 204, read: { 'upload-offset': '5', 'tus-resumable': '1.0.0' } });
      const head = await ask(`${url}?p=tus-head`, 'HEAD', tus);
      assert.equal(head.status, 200);
      assert.deepEqual([head.read['upload-offset'], head.read['upload-length']], ['5', '5']);
      const deleted = await ask(`${url}?p=tus-delete`, 'DELETE', tus);
      assert.equal(deleted.status, 204);

      const draftCreated = await ask(`${endpoint()}?p=draft`, 'POST', {
        ...draft,
        'Upload-Complete': '?0',
        'Upload-Length': '5',
      });
      assert.equal(draftCreated.status, 201);
      // The draft announces its limits on the creation answer too, where a page on another origin reads them.
      assert.match(draftCreated.read['upload-limit'] ?? '', /\bmax-size=\d+/);
      const draftUrl = new URL(draftCreated.read.location ?? '', server.baseUrl).href;
      const draftAppended = await ask(
        `${draftUrl}?p=draft-patch`,
        'PATCH',
        { ...draft, 'Upload-Offset': '0', 'Upload-Complete': '?1', 'Content-Type': 'application/partial-upload' },
        body,
      );
      assert.equal(draftAppended.status, 204);
      assert.deepEqual([draftAppended.read['upload-offset'], draftAppended.read['upload-complete']], ['5', '?1']);
      const draftHead = await ask(`${draftUrl}?p=draft-head`, 'HEAD', draft);
      assert.deepEqual([draftHead.status, draftHead.read['upload-offset']], [204, '5']);
      const draftDeleted = await ask(`${draftUrl}?p=draft-delete`, 'DELETE', draft);
      assert.equal(draftDeleted.status, 204);

      // Each request (a URL of its own, so none rides on a cached preflight) was preflighted first.
      const seen = log
        .slice(from)
        .map((e) => [e.url.split('?')[1], e.method, e.requestMethod, e.requestHeaders, e.status]);
      const expected: [string, string, string | undefined, string | undefined, number][] = [];
      for (const [tag, method, requested, status] of [
        ['p=tus', 'POST', fields('tus-resumable', 'upload-length', 'upload-metadata'), 201],
        ['p=tus-patch', 'PATCH', fields('content-type', 'tus-resumable', 'upload-offset'), 204],
        ['p=tus-head', 'HEAD', fields('tus-resumable'), 200],
        ['p=tus-delete', 'DELETE', fields('tus-resumable'), 204],
        ['p=draft', 'POST', fields('upload-complete', 'upload-draft-interop-version', 'upload-length'), 201],
        [
          'p=draft-patch',
          'PATCH',
          fields('content-type', 'upload-complete', 'upload-draft-interop-version', 'upload-offset'),
          204,
        ],
        ['p=draft-head', 'HEAD', fields('upload-draft-interop-version'), 204],
        ['p=draft-delete', 'DELETE', fields('upload-draft-interop-version'), 204],
      ] as const) {
        expected.push([tag, 'OPTIONS', method, requested, 204], [tag, method, undefined, undefined, status]);
      }
      assert.deepEqual(seen, expected);
      assertPreflightsPassed();
    });

    it("tus discovery from the page (OPTIONS with Tus-Resumable) is refused at its preflight: OPTIONS is not among the CORS layer's default methods", async () => {
      const from = log.length;
      const outcome = await inPage<string>(
        page,
        `async ({ url }) => fetch(url, { method: 'OPTIONS', headers: { 'Tus-Resumable': '1.0.0' } }).then(
          (r) => 'read ' + r.status + ' ' + r.headers.get('tus-version'),
          (e) => e.name,
        )`,
        { url: `${endpoint()}?p=discovery` },
      );
      assert.equal(outcome, 'TypeError');
      const seen = log.slice(from);
      assert.deepEqual(
        seen.map((e) => [e.method, e.requestMethod, e.requestHeaders, e.status, e.allowOrigin]),
        [['OPTIONS', 'OPTIONS', 'tus-resumable', 204, pageServer.baseUrl]],
      );
      assert.ok(!(seen[0]?.allowMethods ?? '').split(',').includes('OPTIONS'), seen[0]?.allowMethods);
    });

    it('without a CORS layer the upload fails: nothing is exposed and nothing is stored', async () => {
      for (const protocol of ['tus-v1', 'ietf-draft-05'] as const) {
        await inPage(page, TUS_START, { endpoint: `${bare.baseUrl}/files`, protocol, name: `bare-${protocol}.bin` });
        await page.waitForFunction('window.state.error !== null');
        assert.match(String(await page.evaluate('window.state.error')), /^tus: failed to create upload/);
      }
      // Only the preflights reached the server: not ours to answer, and no CORS layer opened them.
      assert.deepEqual(
        bareLog.map((e) => [e.method, e.url, e.requestMethod, e.status, e.allowOrigin, e.exposeHeaders]),
        [
          ['OPTIONS', '/files', 'POST', 404, undefined, undefined],
          ['OPTIONS', '/files', 'POST', 404, undefined, undefined],
        ],
      );
      // The directory holds only the marker of the process that owns it (written at start): no upload.
      assert.deepEqual(readdirSync(bareUploads), ['.range-serve-owner']);
    });
  });
}
