/**
 * Every code block of README.md, docs/*.md and packages/*\/README.md, run as written. A JavaScript or
 * TypeScript block is type-checked and started (its servers on loopback ports), with Node, or with the
 * Bun or Deno binary the repository installs when it calls `Bun.serve` or `Deno.serve`; the shell blocks
 * printed beside it run against it with bash and curl, and their answers are checked; a block that is not
 * run (an install from the registry, the demo's commands) is on a short list below with its reason, and the
 * proxies' configurations go through `nginx -t` and `varnishd -C`. A block without a spec here, or a spec
 * without its block, fails the suite.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseMultipart } from '../helpers/multipart.ts';
import { findRuntime } from '../helpers/runtimes.ts';
import { writeNginxConfig, writeVcl } from '../scale-out/proxies.ts';
import { allBlocks, type DocBlock, repo } from './blocks.ts';
import {
  type CommandResult,
  createWorkspace,
  type CurlResponse,
  curlResponses,
  type Program,
  run,
  type RunningSnippet,
  runShell,
  startProgram,
  typecheck,
  writeProgram,
} from './run.ts';

/** A JavaScript or TypeScript block: the files it expects beside it, and what it must do. */
interface ProgramSpec {
  readonly kind: 'program';
  /** Files in its working directory before it starts, path to contents. */
  readonly files?: Readonly<Record<string, string | Buffer>>;
  /**
   * How many servers it starts (default: how many times its text calls `.listen(`, or starts a statement
   * with `serve(`, `Bun.serve(` or `Deno.serve(`; koa-static's `app.use(serve(dir))` is not one).
   */
  readonly listens?: number;
  /** All it prints on stdout (checked once its shell blocks and checks are done). */
  readonly stdout?: string | RegExp;
  /** What it prints on stderr; by default nothing. */
  readonly stderr?: RegExp;
  /** Checks of its own with node:http, after the shell blocks beside it have run. */
  readonly check?: (snippet: RunningSnippet, program: Program) => Promise<void>;
}

/** A shell block run against the program named `against`, and the check of what it printed. */
interface ShellSpec {
  readonly kind: 'shell';
  readonly against: string;
  readonly check: (
    responses: readonly CurlResponse[],
    result: CommandResult,
    snippet: RunningSnippet,
    program: Program,
  ) => void | Promise<void>;
}

/** A block that is not run here, and why. */
interface NotRunSpec {
  readonly kind: 'not-run';
  readonly why: string;
}

/** A proxy's configuration from docs/deploying.md: checked by the proxy here, run by test:scale-out. */
interface ProxyConfigSpec {
  readonly kind: 'proxy-config';
  readonly proxy: 'nginx' | 'varnish';
}

/**
 * A configuration the scale-out suite runs as written (`docsBlock(name)` in `test`), with real servers it
 * starts there: checked here only for being read by that suite, run by `npm run test:scale-out`.
 */
interface ScaleOutSpec {
  readonly kind: 'scale-out';
  readonly test: string;
}

type Spec = ProgramSpec | ShellSpec | NotRunSpec | ProxyConfigSpec | ScaleOutSpec;

/** Bytes that differ from their neighbours, so that a wrong slice shows. */
function pattern(length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i * 7 + (i >> 8)) % 251));
}
const VIDEO = pattern(1000);
const BIG = pattern(10_000);
const STREAMED = pattern(16 * 1024 * 1024);
const PDF = Buffer.from('%PDF-1.7\nthe quarterly report, in short: all is well\n');
const latin1 = (bytes: Buffer) => bytes.toString('latin1');

/** The CSV the Express and Koa examples build. */
function exampleCsv(): string {
  let csv = 'id,total\n';
  for (let id = 1; id <= 500; id++) csv += `${id},${id * 7}\n`;
  return csv;
}

/** Exactly `count` responses from what curl printed. */
function responses(all: readonly CurlResponse[], count: number): CurlResponse[] {
  assert.equal(all.length, count, `curl printed ${all.length} responses: ${JSON.stringify(all.map((r) => r.status))}`);
  return [...all];
}

/** A 206 of one range: its Content-Range and bytes. */
function assertPartial(response: CurlResponse | undefined, first: number, whole: Buffer | string, type?: string): void {
  assert.ok(response);
  const bytes = typeof whole === 'string' ? Buffer.from(whole) : whole;
  const last = first + Buffer.byteLength(response.body, 'latin1') - 1;
  assert.equal(response.status, 206, response.body.slice(0, 200));
  assert.equal(response.headers['content-range'], `bytes ${first}-${last}/${bytes.length}`);
  assert.equal(response.body, latin1(bytes.subarray(first, last + 1)));
  assert.equal(response.headers['content-length'], String(last - first + 1));
  if (type !== undefined) assert.equal(response.headers['content-type'], type);
}

/** A 206 of `length` bytes from `first`. */
function assertRange(
  response: CurlResponse | undefined,
  first: number,
  length: number,
  whole: Buffer | string,
  type?: string,
): void {
  assert.ok(response);
  assert.equal(Buffer.byteLength(response.body, 'latin1'), length, `a body of ${length} bytes`);
  assertPartial(response, first, whole, type);
}

/** A tus creation's 201 and the upload's path. */
function assertCreated(response: CurlResponse | undefined): string {
  assert.ok(response);
  assert.equal(response.status, 201, response.body);
  assert.match(response.headers.location ?? '', /^\/files\/[A-Za-z0-9_-]{22}$/);
  return response.headers.location as string;
}

/** Starts a download and drops the connection after its first bytes, `times` times. */
async function abortDownloads(origin: string, target: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${origin}${target}`, (res) => {
        assert.equal(res.statusCode, 200);
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? resolve() : reject(err)));
    });
  }
  // Time for the server to notice and report whatever it reports.
  await new Promise((resolve) => setTimeout(resolve, 500));
}

/** Polls `done` until it holds, for up to 5 s. */
async function waitFor(what: string, done: () => boolean): Promise<void> {
  for (const started = Date.now(); !done();) {
    if (Date.now() - started > 5_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const REGISTRY =
  'installs from the npm registry; `npm run test:packaging` installs the packed tarballs into a new project the same way and serves a range through each';

const specs: Record<string, Spec> = {
  // README.md
  'snippet: quick-start-install': { kind: 'not-run', why: REGISTRY },
  'snippet: quick-start-directory': { kind: 'program', files: { 'public/video.mp4': VIDEO } },
  'snippet: quick-start-directory-curl': {
    kind: 'shell',
    against: 'snippet: quick-start-directory',
    check: (all) => assertRange(responses(all, 1)[0], 0, 100, VIDEO, 'video/mp4'),
  },
  'snippet: quick-start-route': { kind: 'program' },
  'snippet: quick-start-route-curl': {
    kind: 'shell',
    against: 'snippet: quick-start-route',
    check: (all) => {
      const [csv] = responses(all, 1);
      assertRange(csv, 9, 10, 'id,total\n1,42\n2,17\n');
      assert.match(csv?.headers['content-type'] ?? '', /^text\/csv/);
      assert.doesNotMatch(csv?.headers.etag ?? '', /^W\//, 'a strong ETag, which If-Range can use');
    },
  },
  'snippet: quick-start-uploads': { kind: 'program' },
  'snippet: quick-start-uploads-curl': {
    kind: 'shell',
    against: 'snippet: quick-start-uploads',
    async check(all, _result, snippet, program) {
      const [created] = responses(all, 1);
      assert.equal(created?.status, 201);
      assert.equal(created?.headers['upload-complete'], '?1');
      const location = created?.headers.location ?? '';
      assert.match(location, /^\/files\/[A-Za-z0-9_-]{22}$/);
      assert.equal(readFileSync(path.join(program.dir, 'uploads', location.slice(7)), 'utf8'), 'hello, world!');
      // "The Location it answers downloads the upload back, with ranges."
      const back = await fetch(`${snippet.origin()}${location}`, { headers: { range: 'bytes=7-' } });
      assert.equal(back.status, 206);
      assert.equal(await back.text(), 'world!');
    },
  },
  'snippet: readme-web-standard': { kind: 'program', files: { 'public/video.mp4': VIDEO } },
  'snippet: readme-web-standard-curl': {
    kind: 'shell',
    against: 'snippet: readme-web-standard',
    check: (all) => assertRange(responses(all, 1)[0], 0, 100, VIDEO, 'video/mp4'),
  },
  'snippet: development': {
    kind: 'not-run',
    why: '`npm start` is run by test/docs/npm-start.test.ts, which stops it with Ctrl-C and SIGTERM; `npm test` is the command that runs this suite',
  },

  // docs/core.md
  'snippet: core-node-http': {
    kind: 'program',
    files: { 'media/clip.mp4': VIDEO },
    async check(snippet, program) {
      // The example's catch: a file that is not there is a 404, and the server goes on serving.
      rmSync(path.join(program.dir, 'media', 'clip.mp4'));
      const missing = await fetch(`${snippet.origin()}/`);
      assert.equal(missing.status, 404);
      writeFileSync(path.join(program.dir, 'media', 'clip.mp4'), 'back');
      assert.equal(await (await fetch(`${snippet.origin()}/`)).text(), 'back');
    },
  },
  'snippet: core-node-http-curl': {
    kind: 'shell',
    against: 'snippet: core-node-http',
    check: (all) => assertRange(responses(all, 1)[0], 0, 100, VIDEO, 'video/mp4'),
  },
  'snippet: core-plan-response': { kind: 'program', stdout: /^multipart 206 \d+\n$/ },
  'snippet: core-own-store': {
    kind: 'program',
    async check(snippet) {
      assert.equal((await fetch(`${snippet.origin()}/reports/q4`)).status, 404);
    },
  },
  'snippet: core-own-store-curl': {
    kind: 'shell',
    against: 'snippet: core-own-store',
    check: (all) => {
      const blob = Buffer.from('%PDF-1.7 a report that is only pretending\n');
      const [pdf] = responses(all, 1);
      assertRange(pdf, 0, 8, blob, 'application/pdf');
      assert.equal(pdf?.body, '%PDF-1.7');
      assert.equal(pdf?.headers.etag, `"${createHash('sha1').update(blob).digest('hex')}"`);
    },
  },

  // docs/deploying.md
  'snippet: deploying-digest': { kind: 'program', files: { 'files/video.mp4': VIDEO } },
  'snippet: deploying-digest-curl': {
    kind: 'shell',
    against: 'snippet: deploying-digest',
    check: (all) => {
      const [head] = responses(all, 1);
      const sha256 = createHash('sha256').update(VIDEO);
      assert.equal(head?.status, 200);
      assert.equal(head?.headers['repr-digest'], `sha-256=:${sha256.copy().digest('base64')}:`);
      assert.equal(head?.headers.etag, `"${VIDEO.length.toString(16)}-${sha256.digest('base64url')}"`);
      assert.equal(head?.headers['last-modified'], undefined);
      assert.equal(head?.headers['cache-control'], 'public, max-age=3600');
    },
  },
  'snippet: deploying-upload-replicas': {
    kind: 'program',
    // No Redis answers at redis.internal here: the replica starts, and upload requests get the 503 the
    // docs give for Redis out of reach (test/scale-out/uploads.test.ts runs these options with Redis).
    check: async (snippet) => {
      const res = await fetch(`${snippet.origin()}/files`, {
        method: 'POST',
        headers: { 'tus-resumable': '1.0.0', 'upload-length': '5' },
      });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '2');
      assert.equal(res.headers.get('location'), null);
    },
  },
  'scale-out: nginx-uploads': { kind: 'scale-out', test: 'test/scale-out/upload-cluster.ts' },
  'scale-out: redis-conf': { kind: 'scale-out', test: 'test/scale-out/upload-cluster.ts' },
  'scale-out: nginx-log-format': { kind: 'proxy-config', proxy: 'nginx' },
  'scale-out: nginx-balancer': { kind: 'proxy-config', proxy: 'nginx' },
  'scale-out: nginx-slice-cache': { kind: 'proxy-config', proxy: 'nginx' },
  'scale-out: varnish-vcl': { kind: 'proxy-config', proxy: 'varnish' },
  'scale-out: varnishd': {
    kind: 'not-run',
    why: "varnishd's command line: `npm run test:scale-out` starts Varnish with it (its paths, port and storage replaced), and its VCL goes through `varnishd -C` here",
  },

  // docs/development.md
  'snippet: development-setup': {
    kind: 'not-run',
    why: '`npm start` is run by test/docs/npm-start.test.ts, which stops it with Ctrl-C and SIGTERM; `npm test` is the command that runs this suite',
  },
  'snippet: demo-commands': {
    kind: 'not-run',
    why: 'the demo\'s commands: test/docs/npm-start.test.ts runs `npm start`, test:e2e runs its `--port`, `--koa` and `--uploads` ("the demo command line serves examples/public and prints its URL") and is itself run by CI',
  },

  // docs/express.md
  'snippet: express-directory': {
    kind: 'program',
    files: {
      'public/video.webm': VIDEO,
      'public/about.html': '<h1>About</h1>\n',
      'public/guides/index.html': '<h1>Guides</h1>\n',
    },
  },
  'snippet: express-directory-curl': {
    kind: 'shell',
    against: 'snippet: express-directory',
    async check(all) {
      const [range, multi, about, guides] = responses(all, 4);
      assertRange(range, 0, 100, VIDEO, 'video/webm');
      assert.match(range?.headers['cache-control'] ?? '', /^public, max-age=86400\b/);
      assert.equal(multi?.status, 206);
      const type = multi?.headers['content-type'] ?? '';
      assert.match(type, /^multipart\/byteranges; boundary=/);
      const parts = await parseMultipart(Buffer.from(multi?.body ?? '', 'latin1'), type);
      assert.deepEqual(
        parts.map((p) => [p.headers['content-range'], latin1(p.body)]),
        [
          ['bytes 0-9/1000', latin1(VIDEO.subarray(0, 10))],
          ['bytes 50-59/1000', latin1(VIDEO.subarray(50, 60))],
        ],
      );
      assert.equal(about?.status, 200);
      assert.equal(about?.body, '<h1>About</h1>\n');
      assert.match(about?.headers['content-type'] ?? '', /^text\/html/);
      assert.equal(guides?.status, 301);
      assert.equal(guides?.headers.location, '/media/guides/');
    },
  },
  'snippet: express-route-handlers': {
    kind: 'program',
    files: { 'files/manual.txt': 'The manual: read it.\n' },
    async check(snippet) {
      const head = await fetch(`${snippet.origin()}/report.csv`, { method: 'HEAD' });
      assert.match(head.headers.get('etag') ?? '', /^"[^"]+"$/, 'a strong ETag for If-Range');
    },
  },
  'snippet: express-route-handlers-curl': {
    kind: 'shell',
    against: 'snippet: express-route-handlers',
    check: (all) => {
      const csv = exampleCsv();
      const [resumed, manual] = responses(all, 2);
      assertRange(resumed, 1000, csv.length - 1000, csv);
      assertRange(manual, 0, 5, 'The manual: read it.\n');
      assert.equal(manual?.body, 'The m');
    },
  },
  'snippet: express-send-range': {
    kind: 'program',
    files: { 'reports/q3.pdf': PDF },
    // Express's final handler prints the stack of every error passed to next(), a 404's too (outside NODE_ENV=test).
    stderr: /^FileNotFoundError: [^\n]*q4\.pdf/,
    // It prints on the turn after the response, so possibly after curl is done.
    check: (snippet) => waitFor("Express's final handler to print the 404", () => snippet.stderr().includes('q4.pdf')),
  },
  'snippet: express-send-range-curl': {
    kind: 'shell',
    against: 'snippet: express-send-range',
    check: (all) => {
      const [download, refused, totals, missing] = responses(all, 4);
      assertRange(download, 0, 10, PDF);
      assert.equal(download?.headers['content-disposition'], 'attachment; filename="Quarterly report.pdf"');
      assert.equal(refused?.status, 401);
      assert.equal(refused?.body, 'sign in first');
      assertRange(totals, 9, 10, 'id,total\n1,42\n2,17\n', 'text/csv');
      assert.equal(missing?.status, 404, missing?.body);
      assert.equal(missing?.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(missing?.headers['content-disposition'], undefined);
    },
  },
  'snippet: express-uploads': { kind: 'program' },
  'snippet: express-uploads-curl': {
    kind: 'shell',
    against: 'snippet: express-uploads',
    check: (all) => {
      const [created, echoed] = responses(all, 2);
      assertCreated(created);
      assert.equal(created?.headers['tus-resumable'], '1.0.0');
      assert.equal(echoed?.status, 200);
      assert.equal(echoed?.body, '{"total":42}');
    },
  },

  // docs/koa.md
  'snippet: koa-install': { kind: 'not-run', why: REGISTRY },
  'snippet: koa-directory': { kind: 'program', files: { 'public/video.webm': VIDEO } },
  'snippet: koa-directory-curl': {
    kind: 'shell',
    against: 'snippet: koa-directory',
    check: (all) => {
      const [range, redirect] = responses(all, 2);
      assertRange(range, 0, 100, VIDEO, 'video/webm');
      assert.equal(redirect?.status, 301);
      assert.equal(redirect?.headers.location, '/media/');
    },
  },
  'snippet: koa-later-middleware': { kind: 'program', files: { 'big.iso': BIG } },
  'snippet: koa-later-middleware-curl': {
    kind: 'shell',
    against: 'snippet: koa-later-middleware',
    check: (all) => {
      const [csv, iso] = responses(all, 2);
      assertRange(csv, 1000, 100, exampleCsv());
      assertRange(iso, 4000, 6000, BIG, 'application/octet-stream');
    },
  },
  'snippet: koa-send-range': { kind: 'program', files: { 'reports/q3.pdf': PDF } },
  'snippet: koa-send-range-curl': {
    kind: 'shell',
    against: 'snippet: koa-send-range',
    check: (all) => {
      const [download, refused, missing] = responses(all, 3);
      assertRange(download, 0, 10, PDF);
      assert.equal(download?.headers['content-disposition'], 'attachment; filename="Quarterly report.pdf"');
      assert.equal(refused?.status, 401);
      assert.equal(refused?.body, 'sign in first');
      // Koa's own 404, its text; the server printing nothing is checked once the block has run.
      assert.equal(missing?.status, 404);
      assert.equal(missing?.body, 'Not Found');
    },
  },
  'snippet: koa-error-filter': {
    kind: 'program',
    files: { 'big.iso': STREAMED },
    stderr: /ENOENT/,
    async check(snippet, program) {
      // Downloads a client drops are left out...
      await abortDownloads(snippet.origin(), '/', 3);
      assert.equal(snippet.stderr(), '', 'nothing printed for a client that went away');
      // ...and a real fault is still printed: here the file is gone.
      rmSync(path.join(program.dir, 'big.iso'));
      await fetch(`${snippet.origin()}/`).then(
        (res) => res.arrayBuffer(),
        () => undefined,
      );
      await waitFor('the error to be printed', () => snippet.stderr().includes('ENOENT'));
    },
  },
  'snippet: koa-uploads': { kind: 'program' },
  'snippet: koa-uploads-curl': {
    kind: 'shell',
    against: 'snippet: koa-uploads',
    check: (all) => void assertCreated(responses(all, 1)[0]),
  },

  // docs/options.md
  'snippet: options-checked': { kind: 'program', stdout: /^TypeError: .*"maxage".*maxAge.*\n$/ },

  // docs/typescript.md
  'snippet: typescript-types': {
    kind: 'program',
    files: { 'public/video.mp4': VIDEO },
    stdout: 'GET /hello.txt -> 206\n',
    async check(snippet) {
      const video = await fetch(`${snippet.origin()}/media/video.mp4`);
      assert.equal(video.headers.get('x-file'), 'video');
      const created = await fetch(`${snippet.origin()}/files`, {
        method: 'POST',
        headers: { 'tus-resumable': '1.0.0', 'upload-length': '5', 'x-user': 'ada' },
      });
      assert.equal(created.status, 201);
      const location = created.headers.get('location') ?? '';
      const asked = (user: string) =>
        fetch(`${snippet.origin()}${location}`, {
          method: 'HEAD',
          headers: { 'tus-resumable': '1.0.0', 'x-user': user },
        });
      assert.equal((await asked('ada')).status, 200);
      assert.equal((await asked('bob')).status, 403);
      const appended = await fetch(`${snippet.origin()}${location}`, {
        method: 'PATCH',
        headers: {
          'tus-resumable': '1.0.0',
          'x-user': 'ada',
          'upload-offset': '0',
          'content-type': 'application/offset+octet-stream',
        },
        body: 'hello',
      });
      assert.equal(appended.status, 204);
      // The README: a finished upload downloads for anyone with its URL unless onRequest refuses, as here.
      const download = (user: string) => fetch(`${snippet.origin()}${location}`, { headers: { 'x-user': user } });
      assert.equal((await download('bob')).status, 403);
      const own = await download('ada');
      assert.equal(own.status, 200);
      assert.equal(await own.text(), 'hello');
    },
  },
  'snippet: typescript-types-curl': {
    kind: 'shell',
    against: 'snippet: typescript-types',
    check: (all) => {
      const [hello] = responses(all, 1);
      assertRange(hello, 7, 5, 'hello, world!\n');
      assert.equal(hello?.body, 'world');
    },
  },
  'snippet: commonjs': { kind: 'program', files: { 'public/video.mp4': VIDEO } },
  'snippet: commonjs-curl': {
    kind: 'shell',
    against: 'snippet: commonjs',
    check: (all) => assertRange(responses(all, 1)[0], 0, 100, VIDEO, 'video/mp4'),
  },

  // docs/uploads.md
  'snippet: uploads-mount': { kind: 'program' },
  'draft-happy-path: begin': {
    kind: 'shell',
    against: 'snippet: uploads-mount',
    check: (all, result, _snippet, program) => {
      const [retrieval, append] = responses(all, 2);
      assert.equal(retrieval?.status, 204);
      assert.equal(retrieval?.headers['upload-offset'], '7');
      assert.equal(retrieval?.headers['upload-complete'], '?0');
      assert.equal(append?.status, 204);
      assert.equal(append?.headers['upload-complete'], '?1');
      assert.equal(append?.headers['upload-offset'], '13');
      assert.ok(result.stdout.endsWith('\r\n\r\nhello, world!'), JSON.stringify(result.stdout));
      const stored = readdirSync(path.join(program.dir, 'uploads')).filter((name) => !name.includes('.'));
      assert.deepEqual(
        stored.map((name) => readFileSync(path.join(program.dir, 'uploads', name), 'utf8')),
        ['hello, world!'],
      );
    },
  },
  'snippet: uploads-hooks': { kind: 'program', files: { 'media/.keep': '' } },
  'snippet: uploads-hooks-curl': {
    kind: 'shell',
    against: 'snippet: uploads-hooks',
    check: (all, _result, _snippet, program) => {
      const [unsigned, notTheOwner, completed] = responses(all, 3);
      assert.equal(unsigned?.status, 401);
      assert.equal(unsigned?.body, 'sign in');
      assert.equal(notTheOwner?.status, 403);
      assert.equal(completed?.status, 200);
      assert.equal(completed?.body, '{"ok":true}');
      assert.equal(completed?.headers['tus-resumable'], '1.0.0');
      assert.equal(completed?.headers['upload-offset'], '5');
      const moved = readdirSync(path.join(program.dir, 'media')).filter((name) => name !== '.keep');
      assert.equal(moved.length, 1, 'onComplete moved the upload into ./media');
      assert.equal(readFileSync(path.join(program.dir, 'media', moved[0] as string), 'utf8'), 'hello');
    },
  },
  'snippet: uploads-concatenation-curl': {
    kind: 'shell',
    against: 'snippet: uploads-mount',
    check: (all) => {
      const [described, final] = responses(all, 2);
      assert.equal(described?.status, 200);
      assert.match(
        described?.headers['upload-concat'] ?? '',
        /^final;\/files\/[A-Za-z0-9_-]{22} \/files\/[A-Za-z0-9_-]{22}$/,
      );
      assert.equal(described?.headers['upload-offset'], '11');
      assert.equal(described?.headers['upload-length'], '11');
      assert.equal(final?.status, 200);
      assert.equal(final?.headers['content-length'], '11');
      assert.equal(final?.body, 'hello world');
    },
  },
  'snippet: upload-engine': { kind: 'program' },
  'snippet: upload-engine-curl': {
    kind: 'shell',
    against: 'snippet: upload-engine',
    check: (all) => {
      const [created, unknown, elsewhere] = responses(all, 3);
      assertCreated(created);
      assert.equal(unknown?.status, 404);
      assert.equal(elsewhere?.status, 404);
    },
  },

  // docs/works-with.md
  'snippet: works-with-express-static-in-front': { kind: 'program', files: { 'public/video.mp4': VIDEO } },
  'snippet: works-with-express-static-in-front-curl': {
    kind: 'shell',
    against: 'snippet: works-with-express-static-in-front',
    check: (all, result) => {
      assert.match(result.stdout, /^ETag: W\/"[^"]+"\r?\n/i);
      const [whole] = responses(all, 1);
      assert.equal(whole?.status, 200);
      assert.equal(whole?.headers['content-range'], undefined);
      assert.equal(whole?.body, latin1(VIDEO));
    },
  },
  'snippet: works-with-koa2-http2-head': {
    kind: 'program',
    files: {
      'public/video.mp4': VIDEO,
      'key.pem': readFileSync(path.join(repo, 'test/helpers/tls/localhost-key.pem')),
      'cert.pem': readFileSync(path.join(repo, 'test/helpers/tls/localhost-cert.pem')),
    },
    // A HEAD and a ranged GET over HTTP/2 (TLS, the test certificate) are answered, the HEAD without a body.
    check: async (snippet) => {
      const port = new URL(snippet.origin()).port;
      const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
      try {
        const ask = (headers: http2.OutgoingHttpHeaders) =>
          new Promise<{ headers: http2.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
            const stream = session.request({ ':path': '/video.mp4', ...headers });
            const chunks: Buffer[] = [];
            let answered: http2.IncomingHttpHeaders = {};
            stream.on('response', (h) => (answered = h));
            stream.on('data', (chunk: Buffer) => chunks.push(chunk));
            stream.on('end', () => resolve({ headers: answered, body: Buffer.concat(chunks) }));
            stream.on('error', reject);
            stream.setTimeout(5000, () => reject(new Error(`no answer to ${String(headers[':method'])}`)));
            stream.end();
          });
        const head = await ask({ ':method': 'HEAD' });
        assert.equal(head.headers[':status'], 200);
        assert.equal(head.headers['content-length'], String(VIDEO.length));
        assert.equal(head.body.length, 0);
        const range = await ask({ ':method': 'GET', range: 'bytes=0-9' });
        assert.equal(range.headers[':status'], 206);
        assert.equal(range.headers['content-range'], `bytes 0-9/${VIDEO.length}`);
        assert.deepEqual(range.body, VIDEO.subarray(0, 10));
      } finally {
        session.close();
      }
    },
  },
  'snippet: works-with-koa-static-in-front': { kind: 'program', files: { 'public/video.mp4': VIDEO } },
  'snippet: works-with-koa-static-in-front-curl': {
    kind: 'shell',
    against: 'snippet: works-with-koa-static-in-front',
    check: (all) => {
      const [whole] = responses(all, 1);
      assert.equal(whole?.status, 200);
      assert.equal(whole?.headers['content-range'], undefined);
      assert.equal(whole?.headers.etag, undefined);
      assert.equal(whole?.body, latin1(VIDEO));
    },
  },

  // docs/web-standard.md
  'snippet: web-standard-install': { kind: 'not-run', why: REGISTRY },
  'snippet: web-standard-hono': { kind: 'program', files: { 'public/video.mp4': VIDEO } },
  'snippet: web-standard-hono-curl': {
    kind: 'shell',
    against: 'snippet: web-standard-hono',
    check: (all) => {
      const [video, redirect] = responses(all, 2);
      assertRange(video, 0, 100, VIDEO, 'video/mp4');
      assert.equal(redirect?.status, 301);
      assert.equal(redirect?.headers.location, '/static/?v=2');
    },
  },
  'snippet: web-standard-with-ranges': { kind: 'program' },
  'snippet: web-standard-with-ranges-curl': {
    kind: 'shell',
    against: 'snippet: web-standard-with-ranges',
    check: (all) => assertRange(responses(all, 1)[0], 9, 10, 'id,total\n1,42\n2,17\n'),
  },
  'snippet: web-standard-send-range': { kind: 'program', files: { 'reports/q3.pdf': PDF } },
  'snippet: web-standard-send-range-curl': {
    kind: 'shell',
    against: 'snippet: web-standard-send-range',
    check: (all) => {
      const [download, missing] = responses(all, 2);
      assertRange(download, 0, 10, PDF, 'application/pdf');
      assert.equal(download?.headers['content-disposition'], 'attachment; filename="q3.pdf"');
      const sha256 = createHash('sha256').update(PDF).digest();
      assert.equal(download?.headers.etag, `"${PDF.length.toString(16)}-${sha256.toString('base64url')}"`);
      assert.equal(download?.headers['repr-digest'], `sha-256=:${sha256.toString('base64')}:`);
      assert.equal(download?.headers['last-modified'], undefined);
      assert.equal(missing?.status, 404);
      assert.equal(missing?.body, '');
    },
  },
  'snippet: web-standard-uploads': { kind: 'program' },
  'snippet: web-standard-uploads-curl': {
    kind: 'shell',
    against: 'snippet: web-standard-uploads',
    check: (all) => {
      const [offset, append, download] = responses(all, 3);
      assert.equal(offset?.status, 200);
      assert.equal(offset?.headers['upload-offset'], '3');
      assert.equal(offset?.headers['upload-length'], '5');
      assert.equal(append?.status, 204);
      assert.equal(append?.headers['upload-offset'], '5');
      assert.equal(download?.status, 200);
      assert.equal(download?.body, 'hello');
    },
  },
  'snippet: web-standard-bun': { kind: 'program', files: { 'public/video.mp4': VIDEO } },
  'snippet: web-standard-bun-curl': {
    kind: 'shell',
    against: 'snippet: web-standard-bun',
    check: (all) => assertRange(responses(all, 1)[0], 0, 100, VIDEO, 'video/mp4'),
  },
  'snippet: web-standard-deno': { kind: 'program', files: { 'public/video.mp4': VIDEO } },
  'snippet: web-standard-deno-curl': {
    kind: 'shell',
    against: 'snippet: web-standard-deno',
    check: (all) => assertRange(responses(all, 1)[0], 0, 100, VIDEO, 'video/mp4'),
  },
  'snippet: web-standard-next': {
    kind: 'program',
    files: { 'downloads/guide.txt': 'The guide, in one line.\n' },
    async check(_snippet, program) {
      // No Next.js server here: the route module is imported and its handlers called as Next.js calls them.
      writeFileSync(
        path.join(program.dir, 'call.ts'),
        [
          "const route = await import('./index.ts');",
          'const ask = (target: string, init?: RequestInit) => route.GET(new Request(`http://localhost${target}`, init));',
          "const ranged = await ask('/downloads/guide.txt', { headers: { range: 'bytes=4-8' } });",
          "const head = await route.HEAD(new Request('http://localhost/downloads/guide.txt', { method: 'HEAD' }));",
          'console.log(JSON.stringify({',
          '  runtime: route.runtime,',
          '  dynamic: route.dynamic,',
          '  status: ranged.status,',
          "  range: ranged.headers.get('content-range'),",
          '  body: await ranged.text(),',
          '  head: head.status,',
          "  missing: (await ask('/downloads/nope.txt')).status,",
          '}));',
        ].join('\n'),
      );
      const called = await run(process.execPath, ['--import', 'tsx', 'call.ts'], { cwd: program.dir });
      assert.equal(called.code, 0, called.stderr);
      assert.deepEqual(JSON.parse(called.stdout), {
        runtime: 'nodejs',
        dynamic: 'force-dynamic',
        status: 206,
        range: 'bytes 4-8/24',
        body: 'guide',
        head: 200,
        missing: 404,
      });
    },
  },

  // packages/fetch/README.md
  'snippet: fetch-package-install': { kind: 'not-run', why: REGISTRY },
  'snippet: fetch-package-example': { kind: 'program', files: { 'public/video.mp4': VIDEO } },
  'snippet: fetch-package-example-curl': {
    kind: 'shell',
    against: 'snippet: fetch-package-example',
    check: (all) => {
      const [video, csv] = responses(all, 2);
      assertRange(video, 0, 100, VIDEO, 'video/mp4');
      assertRange(csv, 9, 10, 'id,total\n1,42\n2,17\n');
    },
  },

  // packages/core/README.md
  'snippet: core-package-install': { kind: 'not-run', why: REGISTRY },
  'snippet: core-package-example': {
    kind: 'program',
    files: { 'media/clip.mp4': VIDEO },
    stdout: 'multipart 206\n',
    async check(snippet, program) {
      rmSync(path.join(program.dir, 'media', 'clip.mp4'));
      assert.equal((await fetch(`${snippet.origin()}/`)).status, 404);
    },
  },
  'snippet: core-package-example-curl': {
    kind: 'shell',
    against: 'snippet: core-package-example',
    check: (all) => assertRange(responses(all, 1)[0], 0, 100, VIDEO, 'video/mp4'),
  },

  // packages/express/README.md
  'snippet: express-package-install': { kind: 'not-run', why: REGISTRY },
  'snippet: express-package-example': {
    kind: 'program',
    files: { 'public/video.webm': VIDEO, 'private/7.pdf': PDF },
    async check(snippet) {
      const pdf = await fetch(`${snippet.origin()}/downloads/7`, { headers: { range: 'bytes=0-7' } });
      assert.equal(pdf.status, 206);
      assert.equal(await pdf.text(), '%PDF-1.7');
      assert.equal(pdf.headers.get('content-disposition'), 'attachment; filename="report.pdf"');
    },
  },
  'snippet: express-package-example-curl': {
    kind: 'shell',
    against: 'snippet: express-package-example',
    check: (all) => {
      const [video, csv] = responses(all, 2);
      assertRange(video, 0, 100, VIDEO, 'video/webm');
      assertRange(csv, 9, 5, 'id,total\n1,42\n');
    },
  },

  // packages/koa/README.md
  'snippet: koa-package-install': { kind: 'not-run', why: REGISTRY },
  'snippet: koa-package-example': { kind: 'program', files: { 'public/video.webm': VIDEO, 'big.iso': BIG } },
  'snippet: koa-package-example-curl': {
    kind: 'shell',
    against: 'snippet: koa-package-example',
    check: (all) => {
      const [video, iso] = responses(all, 2);
      assertRange(video, 0, 100, VIDEO, 'video/webm');
      assertRange(iso, 4000, 6000, BIG, 'application/octet-stream');
    },
  },
  'snippet: koa-package-error-filter': {
    kind: 'program',
    files: { 'big.iso': STREAMED },
    stderr: /ENOENT/,
    async check(snippet, program) {
      await abortDownloads(snippet.origin(), '/', 3);
      assert.equal(snippet.stderr(), '', 'nothing printed for a client that went away');
      rmSync(path.join(program.dir, 'big.iso'));
      await fetch(`${snippet.origin()}/`).then(
        (res) => res.arrayBuffer(),
        () => undefined,
      );
      await waitFor('the error to be printed', () => snippet.stderr().includes('ENOENT'));
    },
  },
};

/** True when `command` runs (`-v`/`-V` style probe), for the proxies a developer may not have installed. */
function installed(command: string, args: readonly string[]): boolean {
  const probe = spawnSync(command, args, { stdio: 'ignore', timeout: 15_000 });
  return probe.error === undefined && probe.status === 0;
}

describe('the code blocks of the docs', () => {
  const blocks = allBlocks();
  const named = new Map<string, DocBlock>();
  for (const block of blocks) if (block.label !== undefined && !named.has(block.label)) named.set(block.label, block);
  const workspace = createWorkspace();
  const programs = new Map<string, Program>();
  before(() => {
    for (const [label, spec] of Object.entries(specs)) {
      const block = named.get(label);
      if (spec.kind === 'program' && block !== undefined)
        programs.set(label, writeProgram(workspace.root, label.replace(/^[\w-]+: /, ''), block));
    }
  });
  after(() => workspace.remove());

  it('every block is named by the comment before it, once, and has its spec here; every spec has its block', () => {
    const where = (b: DocBlock) => `${b.file}:${b.line}`;
    assert.deepEqual(
      blocks.filter((b) => b.label === undefined).map(where),
      [],
      'blocks without a <!-- snippet: name --> comment on the line before them',
    );
    const seen = new Set<string>();
    const twice = blocks.filter((b) => b.label !== undefined && (seen.has(b.label) || !seen.add(b.label)));
    assert.deepEqual(
      twice.map((b) => `${where(b)} ${b.label}`),
      [],
      'names given twice',
    );
    assert.deepEqual(
      blocks.filter((b) => b.label !== undefined && !(b.label in specs)).map((b) => `${where(b)} ${b.label}`),
      [],
      'blocks without a spec in test/docs/snippets.test.ts',
    );
    assert.deepEqual(
      Object.keys(specs).filter((label) => !named.has(label)),
      [],
      'specs whose block is gone',
    );
  });

  it('every JavaScript and TypeScript block is a program, and every shell block beside one is run against it', () => {
    const kindOf = (b: DocBlock) => (b.label === undefined ? undefined : specs[b.label]?.kind);
    const code = blocks.filter((b) => ['js', 'javascript', 'ts', 'typescript'].includes(b.lang));
    assert.deepEqual(
      code.filter((b) => kindOf(b) !== 'program').map((b) => `${b.file}:${b.line}`),
      [],
    );
    const others = blocks.filter((b) => !code.includes(b));
    assert.deepEqual(
      others.filter((b) => kindOf(b) === 'program').map((b) => `${b.file}:${b.line} ${b.lang}`),
      [],
      'only JavaScript and TypeScript are programs',
    );
    for (const spec of Object.values(specs)) {
      if (spec.kind === 'shell') assert.equal(specs[spec.against]?.kind, 'program', `${spec.against} is a program`);
    }
  });

  it('the blocks that are not run are these few, each for its reason', () => {
    const notRun = Object.entries(specs).filter((entry): entry is [string, NotRunSpec] => entry[1].kind === 'not-run');
    for (const [label, spec] of notRun) {
      const block = named.get(label);
      assert.ok(block && ['sh', 'bash', 'shell'].includes(block.lang), `${label} is a shell block`);
      console.log(`not run: ${block.file}:${block.line} (${label}): ${spec.why}`);
    }
    assert.deepEqual(notRun.map(([label]) => label).sort(), [
      'scale-out: varnishd',
      'snippet: core-package-install',
      'snippet: demo-commands',
      'snippet: development',
      'snippet: development-setup',
      'snippet: express-package-install',
      'snippet: fetch-package-install',
      'snippet: koa-install',
      'snippet: koa-package-install',
      'snippet: quick-start-install',
      'snippet: web-standard-install',
    ]);
  });

  it('every JavaScript and TypeScript block type-checks (strict; JavaScript through checkJs)', async () => {
    assert.deepEqual(await typecheck(workspace.root, [...programs.values()]), []);
  });

  for (const [label, spec] of Object.entries(specs)) {
    if (spec.kind !== 'program') continue;
    const block = named.get(label);
    const at = block === undefined ? 'missing' : `${block.file}:${block.line}`;
    it(`${label} (${at}) runs, and answers the requests the docs show beside it`, async (t) => {
      const program = programs.get(label);
      assert.ok(program, `no block named ${label}`);
      if (program.runtime !== 'node') {
        const binary = findRuntime(program.runtime);
        if ('missing' in binary) {
          // CI sets REQUIRE_RUNTIMES=1: there a missing runtime is a failure, as in test/fetch/runtimes.test.ts.
          assert.notEqual(process.env.REQUIRE_RUNTIMES, '1', `${label} runs on ${program.runtime}: ${binary.missing}`);
          t.skip(`${label} runs on ${program.runtime}, and ${binary.missing}; it is type-checked all the same`);
          return;
        }
      }
      for (const [file, contents] of Object.entries(spec.files ?? {})) {
        mkdirSync(path.dirname(path.join(program.dir, file)), { recursive: true });
        writeFileSync(path.join(program.dir, file), contents);
      }
      const listens =
        spec.listens ?? (program.block.code.match(/\.listen\(|^\s*(?:Bun\.|Deno\.)?serve\(/gm) ?? []).length;
      const snippet = await startProgram(program, listens);
      try {
        if (listens === 0) assert.equal(snippet.exitCode(), 0, snippet.stderr());
        for (const [shellLabel, shell] of Object.entries(specs)) {
          if (shell.kind !== 'shell' || shell.against !== label) continue;
          const shellBlock = named.get(shellLabel) as DocBlock;
          const result = await runShell(shellBlock, snippet, program.dir);
          assert.equal(result.code, 0, `${shellLabel} failed:\n${result.stdout}${result.stderr}`);
          await shell.check(curlResponses(result.stdout), result, snippet, program);
        }
        await spec.check?.(snippet, program);
        if (typeof spec.stdout === 'string') assert.equal(snippet.stdout(), spec.stdout);
        else if (spec.stdout !== undefined) assert.match(snippet.stdout(), spec.stdout);
        if (listens > 0) assert.equal(snippet.exitCode(), undefined, `the server ended:\n${snippet.stderr()}`);
        if (spec.stderr === undefined) assert.equal(snippet.stderr(), '', 'the snippet printed to stderr');
        else assert.match(snippet.stderr(), spec.stderr);
      } finally {
        await snippet.stop();
      }
    });
  }

  describe("the proxies' configurations in docs/deploying.md", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-docs-proxies-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('nginx -t accepts the log format, balancer and slice-cache blocks', (t) => {
      if (!installed('nginx', ['-v'])) {
        t.skip('nginx is not installed (apt-get install nginx; .ci/run installs it): its blocks are not checked here');
        return;
      }
      // writeNginxConfig throws with nginx's message when `nginx -t` refuses the configuration.
      const config = writeNginxConfig(dir, [3001, 3002], { balancer: 18080, balancerHttp2: 18082, sliceCache: 18081 });
      assert.match(readFileSync(config.file, 'utf8'), /slice 1m;/);
    });

    it('varnishd -C compiles the VCL', (t) => {
      if (!installed('varnishd', ['-V'])) {
        t.skip('varnishd is not installed (apt-get install varnish; .ci/run installs it): its VCL is not checked here');
        return;
      }
      const vcl = writeVcl(dir, [3001, 3002]);
      const compiled = spawnSync('varnishd', ['-C', '-f', vcl, '-n', path.join(dir, 'varnish', 'run')], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(compiled.status, 0, compiled.stderr);
    });

    it("the upload replicas' nginx and Redis blocks are read as written by the scale-out suite", () => {
      const read = Object.entries(specs).filter(
        (entry): entry is [string, ScaleOutSpec] => entry[1].kind === 'scale-out',
      );
      assert.deepEqual(read.map(([label]) => label).sort(), ['scale-out: nginx-uploads', 'scale-out: redis-conf']);
      for (const [label, spec] of read) {
        const name = label.slice('scale-out: '.length);
        assert.ok(
          readFileSync(path.join(repo, spec.test), 'utf8').includes(`docsBlock('${name}')`),
          `${spec.test} runs the ${name} block`,
        );
      }
    });

    it('every proxy block is one of those', () => {
      assert.deepEqual(
        Object.entries(specs)
          .filter(([, spec]) => spec.kind === 'proxy-config')
          .map(([label, spec]) => `${label} ${(spec as ProxyConfigSpec).proxy}`),
        [
          'scale-out: nginx-log-format nginx',
          'scale-out: nginx-balancer nginx',
          'scale-out: nginx-slice-cache nginx',
          'scale-out: varnish-vcl varnish',
        ],
      );
    });
  });
});
