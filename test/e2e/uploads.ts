/**
 * Resumable uploads end to end, written once and run against each adapter: the demo server on
 * loopback, its `/files` endpoint driven by clients no one here wrote (tus-js-client in Node, Uppy and
 * the demo page's tus-js-client in Chromium, curl) and by a draft client of our own, with connections
 * cut by a TCP proxy. Each scenario is checked against the server's log of what it answered and
 * against the bytes in the upload directory.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DRAFT_INTEROP_VERSIONS } from '@range-serve/core/upload';
import * as tus from 'tus-js-client';
import { type Adapter, type LogEntry, type RunningDemo, startDemo } from '../../examples/app.ts';
import { checkParallelPanel, checkUploadPanel, checkUppy } from './upload-browser.ts';
import { type CuttingProxy, startCuttingProxy } from './proxy.ts';
import { killAll, requireTool, run, runOk, sha256, sha256File, sizeOf, waitFor } from './clients.ts';

const PUBLIC = fileURLToPath(new URL('../../examples/public', import.meta.url));
const DOC = fileURLToPath(new URL('../../docs/uploads.md', import.meta.url));
const MiB = 1024 * 1024;
const BIG = 64 * MiB;
/** The newest draft interop version the engine speaks. */
const NEWEST_INTEROP = Math.max(...DRAFT_INTEROP_VERSIONS);

/** One upload's entries in the log: its creation (by `Location`) and every request to its URL. */
function entriesOf(log: readonly LogEntry[], uploadPath: string): LogEntry[] {
  return log.filter((e) => e.location === uploadPath || e.url === uploadPath || e.url.startsWith(`${uploadPath}?`));
}

/** A reply read in full, with the interim (1xx) statuses node:http reported through `'information'`. */
interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly informational: readonly number[];
}

/**
 * Sends one request with node:http and a fresh connection. The body is written in 256 KiB pieces with
 * backpressure; a connection that is cut rejects with the socket's error.
 */
function request(
  origin: string,
  target: string,
  method: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const informational: number[] = [];
    const req = http.request(`${origin}${target}`, { method, headers, agent: false });
    req.on('information', (info) => informational.push(info.statusCode));
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('error', reject);
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), informational }),
      );
    });
    req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${target}: no answer in 60 s`)));
    void (async () => {
      for (let at = 0; body !== undefined && at < body.length; at += 256 * 1024) {
        if (req.destroyed) return;
        if (!req.write(body.subarray(at, at + 256 * 1024))) {
          await new Promise<void>((done) => {
            const go = (): void => {
              req.off('drain', go).off('close', go);
              done();
            };
            req.on('drain', go).on('close', go);
          });
        }
      }
      if (!req.destroyed) req.end();
    })();
  });
}

/** A deferred outcome for the callbacks of a tus-js-client upload that is started more than once. */
class Attempt {
  settle: { resolve: () => void; reject: (err: Error) => void } | undefined;
  next(): Promise<void> {
    return new Promise((resolve, reject) => (this.settle = { resolve, reject }));
  }
}

export function runUploadEndToEnd(adapter: Adapter): void {
  describe(`${adapter}: resumable uploads with real clients end to end`, () => {
    let demo: RunningDemo;
    let proxy: CuttingProxy;
    const log: LogEntry[] = [];
    let work = '';
    let uploads = '';
    let big: Buffer;
    let bigSha = '';
    /** The upload the download scenarios fetch back: tus-js-client's 64 MiB, once it is complete. */
    let completed: string | undefined;

    before(async () => {
      work = mkdtempSync(path.join(tmpdir(), `range-serve-e2e-uploads-${adapter}-`));
      uploads = path.join(work, 'uploads');
      demo = await startDemo({
        root: PUBLIC,
        adapter,
        port: 0,
        host: '127.0.0.1',
        uploadDirectory: uploads,
        onResponse: (e) => log.push(e),
      });
      proxy = await startCuttingProxy(Number(new URL(demo.url).port));
      big = randomBytes(BIG);
      bigSha = sha256(big);
    });
    after(async () => {
      killAll();
      await proxy?.close();
      await demo?.close();
      if (work !== '') rmSync(work, { recursive: true, force: true });
    });

    const origin = () => demo.url.replace(/\/$/, '');
    const stored = (uploadPath: string) => path.join(uploads, uploadPath.split('/').pop() as string);

    for (const protocol of ['tus-v1', 'ietf-draft-05'] as const) {
      it(`tus-js-client (${protocol}): 64 MiB cut by the network at 24 MiB resumes at the same URL from the HEAD's offset`, async () => {
        const attempt = new Attempt();
        // The 4.3 type declarations do not list `protocol`, which the client reads all the same.
        const options: tus.UploadOptions & { protocol: typeof protocol } = {
          endpoint: `${proxy.origin}/files`,
          protocol,
          metadata: { filename: `big-${protocol}.bin`, filetype: 'application/octet-stream' },
          // No retries of its own: the test resumes it, so every request is one the test expects.
          retryDelays: [],
          onError: (err) => attempt.settle?.reject(err),
          onSuccess: () => attempt.settle?.resolve(),
        };
        const upload = new tus.Upload(big, options);
        proxy.cutAfter(24 * MiB);
        const first = attempt.next();
        upload.start();
        await assert.rejects(first, 'the cut connection reached tus-js-client as an error');
        await proxy.cut();
        assert.ok(upload.url !== null, 'the cut came after the creation');
        const uploadPath = new URL(upload.url).pathname;
        assert.match(uploadPath, /^\/files\/[A-Za-z0-9_-]{22}$/);
        const url = upload.url;

        // The server notices the cut and makes what arrived durable; then the client resumes.
        await waitFor('the cut PATCH to be logged', () => entriesOf(log, uploadPath).length === 2);
        const before = proxy.bytesToServer();
        const second = attempt.next();
        upload.start();
        await second;
        const resumedBytes = proxy.bytesToServer() - before;
        assert.equal(upload.url, url, 'the same upload was resumed, not a new one created');

        await waitFor('the resume to be logged', () => entriesOf(log, uploadPath).length === 4);
        const [create, cut, head, append] = entriesOf(log, uploadPath) as [LogEntry, LogEntry, LogEntry, LogEntry];
        assert.deepEqual([create.method, create.url, create.status], ['POST', '/files', 201]);
        assert.deepEqual([cut.method, cut.uploadOffset, cut.complete], ['PATCH', '0', false]);
        assert.deepEqual([head.method, head.status], ['HEAD', protocol === 'tus-v1' ? 200 : 204]);
        const offset = Number(head.answeredOffset);
        assert.ok(offset > 0 && offset <= 24 * MiB, `the HEAD reported ${head.answeredOffset}`);
        assert.deepEqual(
          [append.method, append.uploadOffset, append.status, append.answeredOffset],
          ['PATCH', String(offset), 204, String(BIG)],
          'the resume appended from the reported offset to the end',
        );
        assert.ok(resumedBytes < BIG, `the resume sent ${resumedBytes} bytes: it started over`);
        assert.ok(resumedBytes >= BIG - offset, `the resume sent ${resumedBytes} bytes, less than the rest`);
        assert.equal(await sha256File(stored(uploadPath)), bigSha, 'the stored file');
        if (protocol === 'tus-v1') completed = uploadPath;
      });
    }

    it('tus-js-client with parallelUploads: 4: one part cut by the network resumes alone, and the final upload is the file byte for byte', async () => {
      const attempt = new Attempt();
      const upload = new tus.Upload(big, {
        endpoint: `${proxy.origin}/files`,
        parallelUploads: 4,
        metadata: { filename: 'parallel.bin', filetype: 'application/octet-stream' },
        // No retries of its own: the test resumes it, so every request is one the test expects.
        retryDelays: [],
        onError: (err) => attempt.settle?.reject(err),
        onSuccess: () => attempt.settle?.resolve(),
      });
      const from = log.length;
      const partsOf = () => log.slice(from).filter((e) => e.method === 'POST' && e.uploadConcat === 'partial');
      // Once every part is under way, one connection (whichever carries the byte) is cut.
      proxy.cutOneAfter(24 * MiB);
      const first = attempt.next();
      upload.start();
      await assert.rejects(first, 'the cut part reached tus-js-client as an error');
      await proxy.cut();
      // The other three parts run on to their end; the cut one's bytes that arrived are kept.
      await waitFor('four parts created, three completed, one cut', () => {
        const patches = log.slice(from).filter((e) => e.method === 'PATCH');
        return partsOf().length === 4 && patches.filter((e) => e.status === 204).length === 3 && patches.length === 4;
      });
      const parts = partsOf().map((e) => e.location ?? '');
      const cut = log.slice(from).find((e) => e.method === 'PATCH' && e.status !== 204) as LogEntry;
      assert.ok(parts.includes(cut.url), 'the cut request was an append to a part');
      const before = proxy.bytesToServer();
      const second = attempt.next();
      upload.start();
      await second;
      const resumedBytes = proxy.bytesToServer() - before;
      assert.ok(resumedBytes < BIG / 4, `the resume sent ${resumedBytes} bytes: more than the cut part`);

      const finalPath = new URL(upload.url ?? '').pathname;
      await waitFor('the final upload to be logged', () => entriesOf(log, finalPath).length > 0);
      const [creation] = entriesOf(log, finalPath) as [LogEntry];
      assert.deepEqual([creation.method, creation.status], ['POST', 201]);
      const named = (creation.uploadConcat ?? '')
        .replace(/^final;/, '')
        .split(' ')
        .map((url) => new URL(url).pathname);
      assert.deepEqual(new Set(named), new Set(parts), 'the final names the four parts');
      // Only the cut part was asked for its offset and appended to again.
      const resumed = log.slice(from).filter((e) => e.method === 'PATCH' && e.uploadOffset !== '0');
      assert.deepEqual(
        resumed.map((e) => e.url),
        [cut.url],
      );
      const back = await request(origin(), finalPath, 'GET', {});
      assert.equal(back.status, 200);
      assert.equal(sha256(back.body), bigSha, 'the final upload downloads as the file');
    });

    it(`a node:http client of interop ${NEWEST_INTEROP}: create with Upload-Complete: ?0, cut, HEAD, append with ?1 (no 104: the Location comes from the final 201)`, async () => {
      const content = randomBytes(24 * MiB);
      const draft = { 'upload-draft-interop-version': String(NEWEST_INTEROP) };
      // Node 20 cannot send a 104 (Upload Resumption Supported), so the engine sends none: the client
      // listens for it all the same, and learns the upload's URL from the final response.
      const created = await request(
        proxy.origin,
        '/files',
        'POST',
        {
          ...draft,
          'upload-complete': '?0',
          'upload-length': String(content.length),
          'content-type': 'application/octet-stream',
        },
        content.subarray(0, 4 * MiB),
      );
      assert.equal(created.status, 201);
      assert.deepEqual(created.informational, [], 'an interim response reached the client');
      assert.equal(created.headers['upload-complete'], '?0');
      assert.equal(created.headers['upload-offset'], String(4 * MiB));
      const uploadPath = created.headers.location ?? '';
      assert.match(uploadPath, /^\/files\/[A-Za-z0-9_-]{22}$/);

      proxy.cutAfter(8 * MiB);
      const appendHeaders = (offset: number) => ({
        ...draft,
        'upload-offset': String(offset),
        'upload-complete': '?1',
        'content-type': 'application/partial-upload',
      });
      await assert.rejects(
        request(proxy.origin, uploadPath, 'PATCH', appendHeaders(4 * MiB), content.subarray(4 * MiB)),
        'the cut append failed at the client',
      );
      await proxy.cut();
      await waitFor('the cut PATCH to be logged', () => entriesOf(log, uploadPath).length === 2);

      const head = await request(proxy.origin, uploadPath, 'HEAD', draft);
      assert.equal(head.status, 204);
      assert.equal(head.headers['upload-complete'], '?0');
      assert.equal(head.headers['cache-control'], 'no-store');
      assert.equal(head.headers['upload-length'], String(content.length));
      const offset = Number(head.headers['upload-offset']);
      assert.ok(offset > 4 * MiB && offset <= 12 * MiB, `offset retrieval said ${head.headers['upload-offset']}`);

      const done = await request(proxy.origin, uploadPath, 'PATCH', appendHeaders(offset), content.subarray(offset));
      assert.equal(done.status, 204);
      assert.deepEqual(done.informational, []);
      assert.equal(done.headers['upload-complete'], '?1');
      assert.equal(done.headers['upload-offset'], String(content.length));

      await waitFor('the append to be logged', () => entriesOf(log, uploadPath).length === 4);
      const [create, cut, retrieval, append] = entriesOf(log, uploadPath) as [LogEntry, LogEntry, LogEntry, LogEntry];
      assert.deepEqual([create.method, create.status, create.answeredOffset], ['POST', 201, String(4 * MiB)]);
      assert.deepEqual([cut.method, cut.uploadOffset, cut.complete], ['PATCH', String(4 * MiB), false]);
      assert.deepEqual([retrieval.method, retrieval.answeredOffset], ['HEAD', String(offset)]);
      assert.deepEqual(
        [append.method, append.uploadOffset, append.status, append.answeredOffset],
        ['PATCH', String(offset), 204, String(content.length)],
      );
      assert.equal(await sha256File(stored(uploadPath)), sha256(content), 'the stored file');
      console.log(
        `interop ${NEWEST_INTEROP}: no 104 was sent (Node 20 has no public way to); Location came with the 201`,
      );
    });

    it("curl: the draft's happy path exactly as docs/uploads.md writes it", async () => {
      requireTool('curl');
      const doc = readFileSync(DOC, 'utf8');
      const match = /<!-- draft-happy-path: begin -->\n```sh\n([\s\S]*?)```\n<!-- draft-happy-path: end -->/.exec(doc);
      assert.ok(match, 'docs/uploads.md has no draft-happy-path block');
      const script = (match[1] as string).replace(/^BASE=http:\/\/127\.0\.0\.1:8080$/m, `BASE=${origin()}`);
      assert.ok(script.includes(`BASE=${origin()}`), 'the block sets BASE on a line of its own');
      const before = log.length;
      const exit = await runOk('bash', ['-euo', 'pipefail', '-c', script], { timeoutMs: 30_000 });
      const statuses = [...exit.stdout.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => m[1]);
      assert.deepEqual(statuses, ['204', '204'], exit.stdout);
      const [retrieval, append] = exit.stdout.split(/^HTTP\/1\.1 /m).slice(1) as [string, string];
      assert.match(retrieval, /^upload-offset: 7\r$/im);
      assert.match(retrieval, /^upload-complete: \?0\r$/im);
      assert.match(append, /^upload-complete: \?1\r$/im);
      assert.match(append, /^upload-offset: 13\r$/im);
      assert.ok(exit.stdout.endsWith('\r\n\r\nhello, world!'), `the download printed ${JSON.stringify(exit.stdout)}`);

      await waitFor('the four requests to be logged', () => log.length - before === 4);
      const entries = log.slice(before);
      const uploadPath = entries[0]?.location ?? '';
      assert.deepEqual(
        entries.map((e) => [e.method, e.url, e.status]),
        [
          ['POST', '/files', 201],
          ['HEAD', uploadPath, 204],
          ['PATCH', uploadPath, 204],
          ['GET', uploadPath, 200],
        ],
      );
      assert.equal(readFileSync(stored(uploadPath), 'utf8'), 'hello, world!');
    });

    it('the completed 64 MiB upload downloads back: curl killed part-way resumes with `curl -C -`', async () => {
      requireTool('curl');
      assert.ok(completed !== undefined, 'the tus-v1 upload did not complete');
      const out = path.join(work, 'upload-back.bin');
      const url = `${origin()}${completed}?t=curl-back`;
      const tagged = () => log.filter((e) => e.url === `${completed}?t=curl-back`);
      const exit = await run('curl', ['-sS', '--limit-rate', '4M', '-o', out, url], {
        timeoutMs: 60_000,
        until: () => sizeOf(out) >= 4 * MiB,
      });
      assert.ok(exit.stopped, 'curl finished before it could be interrupted');
      const partial = sizeOf(out);
      assert.ok(partial < BIG);
      await waitFor('the server to see curl go', () => tagged().length === 1);
      await runOk('curl', ['-sS', '--fail', '-C', '-', '-o', out, url], { timeoutMs: 60_000 });
      assert.equal(await sha256File(out), bigSha);
      await waitFor('the resumed response to be logged', () => tagged().length === 2);
      const [first, resumed] = tagged() as [LogEntry, LogEntry];
      assert.deepEqual([first.status, first.complete], [200, false]);
      assert.deepEqual(
        [resumed.range, resumed.status, resumed.contentRange, resumed.complete],
        [`bytes=${partial}-`, 206, `bytes ${partial}-${BIG - 1}/${BIG}`, true],
      );
    });

    it('the completed 64 MiB upload downloads back with aria2c -x4 over several ranges', async () => {
      requireTool('aria2c');
      assert.ok(completed !== undefined, 'the tus-v1 upload did not complete');
      const dir = path.join(work, 'aria2-back');
      mkdirSync(dir);
      const url = `${origin()}${completed}?t=aria2-back`;
      await runOk(
        'aria2c',
        [
          ...['-x', '4', '-s', '4', '-k', '1M', '--file-allocation=none', '--auto-file-renaming=false'],
          ...['--console-log-level=warn', '--summary-interval=0', '--download-result=hide', '--max-tries=1'],
          ...['-d', dir, '-o', 'back.bin', url],
        ],
        { timeoutMs: 90_000 },
      );
      assert.equal(await sha256File(path.join(dir, 'back.bin')), bigSha);
      const ranged = log.filter(
        (e) => e.url === `${completed}?t=aria2-back` && e.range !== undefined && e.status !== 0,
      );
      assert.ok(new Set(ranged.map((e) => e.range)).size >= 2, `aria2c sent ${ranged.length} Range requests`);
      for (const entry of ranged) assert.equal(entry.status, 206, JSON.stringify(entry));
    });

    it('Uppy (its own bundle, Tus plugin) in Chromium: picked, paused near 40 %, resumed, completed', async () => {
      requireTool('chromium');
      const file = path.join(work, 'uppy-pick.bin');
      const content = randomBytes(8 * MiB);
      writeFileSync(file, content);
      const result = await checkUppy(demo.url, adapter, path.join(work, 'uppy-profile'), file);
      console.log(`screenshot: ${result.screenshot}`);
      const uploadPath = new URL(result.uploadUrl).pathname;
      await waitFor('the upload to be logged', () =>
        entriesOf(log, uploadPath).some((e) => e.answeredOffset === String(content.length)),
      );
      const entries = entriesOf(log, uploadPath);
      assert.deepEqual([entries[0]?.method, entries[0]?.status], ['POST', 201]);
      // The pause ended a PATCH part-way; the resume asked the offset and appended from it.
      const heads = entries.filter((e) => e.method === 'HEAD');
      assert.equal(heads.length, 1, JSON.stringify(entries));
      const offset = Number(heads[0]?.answeredOffset);
      assert.ok(offset >= 0.3 * content.length && offset < content.length, `paused at ${offset} bytes`);
      const last = entries.at(-1) as LogEntry;
      assert.deepEqual(
        [last.method, last.uploadOffset, last.status, last.answeredOffset],
        ['PATCH', String(offset), 204, String(content.length)],
      );
      assert.equal(await sha256File(stored(uploadPath)), sha256(content), 'the stored file');
    });

    it('the demo page: upload, pause, resume, reload, resume the same upload, download it back', async () => {
      requireTool('chromium');
      const file = path.join(work, 'panel-pick.bin');
      const content = randomBytes(6 * MiB);
      writeFileSync(file, content);
      const result = await checkUploadPanel(demo.url, adapter, path.join(work, 'panel-profile'), file);
      console.log(`screenshot: ${result.screenshot}`);
      const uploadPath = new URL(result.uploadUrl).pathname;
      assert.equal(result.downloadSha256, sha256(content), 'the download link served other bytes');
      const entries = entriesOf(log, uploadPath).filter((e) => e.method !== 'GET');
      const creations = log.filter((e) => e.method === 'POST' && e.location === uploadPath);
      assert.equal(creations.length, 1);
      // Resumed twice (after the pause, after the reload): each time a HEAD, then a PATCH from its offset.
      const heads = entries.filter((e) => e.method === 'HEAD');
      assert.equal(heads.length, 2, JSON.stringify(entries));
      for (const head of heads) {
        const next = entries[entries.indexOf(head) + 1];
        assert.deepEqual([next?.method, next?.uploadOffset], ['PATCH', head.answeredOffset]);
      }
      assert.ok(
        Number(heads[0]?.answeredOffset) > 0 && Number(heads[1]?.answeredOffset) > Number(heads[0]?.answeredOffset),
      );
      assert.equal(entries.at(-1)?.answeredOffset, String(content.length));
      assert.equal(await sha256File(stored(uploadPath)), sha256(content), 'the stored file');
      const ranged = entriesOf(log, uploadPath).filter((e) => e.method === 'GET' && e.status === 206);
      assert.equal(ranged.length, 1, 'the page fetched a range of the upload');
    });

    it('the demo page with "parallel parts" set to 4: four partial uploads, one final upload, downloaded back', async () => {
      requireTool('chromium');
      const file = path.join(work, 'panel-parallel.bin');
      const content = randomBytes(6 * MiB);
      writeFileSync(file, content);
      const from = log.length;
      const result = await checkParallelPanel(demo.url, adapter, path.join(work, 'panel-parallel-profile'), file);
      console.log(`screenshot: ${result.screenshot}`);
      assert.equal(result.downloadSha256, sha256(content), 'the download link served other bytes');
      const uploadPath = new URL(result.uploadUrl).pathname;
      const parts = log.slice(from).filter((e) => e.method === 'POST' && e.uploadConcat === 'partial');
      assert.equal(parts.length, 4);
      const final = log.slice(from).find((e) => e.location === uploadPath) as LogEntry;
      assert.deepEqual([final.method, final.status], ['POST', 201]);
      assert.match(final.uploadConcat ?? '', /^final;(\S+ ){3}\S+$/);
    });
  });
}
