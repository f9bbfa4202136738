/**
 * The end-to-end suite, written once and run against each adapter: the demo server on loopback, and
 * real clients (curl, wget, aria2c, Chromium) downloading, resuming, segmenting and seeking through it.
 * The server's own log of every response shows that a resume really sent a Range and got a 206.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync } from 'node:zlib';
import { type Adapter, type LogEntry, type RunningDemo, startDemo } from '../../examples/app.ts';
import {
  BIG_FILE_NAME,
  BIG_FILE_SIZE,
  ensureBigFile,
  ensurePrecompressedScript,
  makeReport,
  PRECOMPRESSED_SCRIPT,
} from '../../examples/generated.ts';
import { parseMultipart } from '../helpers/multipart.ts';
import {
  killAll,
  lastResponseHead,
  requireTool,
  run,
  runOk,
  sha256,
  sha256File,
  sizeOf,
  startBackground,
  waitFor,
} from './clients.ts';
import { checkBrowser } from './browser.ts';

export const PUBLIC = fileURLToPath(new URL('../../examples/public', import.meta.url));
const MiB = 1024 * 1024;
// curl --limit-rate reads up to 100 buffers of the rate's size before it first pauses, so whatever sits
// in the socket buffers (a few MiB on loopback) can arrive at once. The bodies cut part-way here are
// either much larger than that (32 MiB) or read at 8K (a first burst of about 800 KB).

/** A started demo and everything it answered. */
interface Served {
  readonly demo: RunningDemo;
  readonly log: LogEntry[];
}

async function serve(adapter: Adapter, root: string, uploadDirectory: string): Promise<Served> {
  const log: LogEntry[] = [];
  const demo = await startDemo({
    root,
    adapter,
    port: 0,
    host: '127.0.0.1',
    uploadDirectory,
    onResponse: (e) => log.push(e),
  });
  return { demo, log };
}

/** `first-last` of a `bytes first-last/len` Content-Range. */
function spanOf(contentRange: string | undefined): { first: number; last: number; length: number } {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(contentRange ?? '');
  assert.ok(match, `not a satisfied byte range: ${contentRange}`);
  return { first: Number(match[1]), last: Number(match[2]), length: Number(match[3]) };
}

export function runEndToEnd(adapter: Adapter): void {
  describe(`${adapter}: real clients end to end`, () => {
    let site: Served;
    let base = '';
    let bigSha = '';
    let work = '';
    const tagged = (tag: string) => site.log.filter((e) => e.url.includes(`t=${tag}`));

    before(async () => {
      await ensureBigFile(PUBLIC);
      bigSha = await sha256File(path.join(PUBLIC, BIG_FILE_NAME));
      ensurePrecompressedScript(PUBLIC);
      work = mkdtempSync(path.join(tmpdir(), `range-serve-e2e-${adapter}-`));
      site = await serve(adapter, PUBLIC, path.join(work, 'uploads'));
      base = site.demo.url;
    });
    after(async () => {
      killAll();
      await site?.demo.close();
      if (work !== '') rmSync(work, { recursive: true, force: true });
    });

    /**
     * Starts a throttled download, kills the client once `atLeast` bytes are on disk, and checks that it
     * really was partial: the file is shorter than `total` and (for a large body) the server saw the
     * response cut short.
     */
    async function interrupted(
      tag: string,
      out: string,
      total: number,
      command: string,
      args: string[],
      atLeast = MiB,
    ) {
      const exit = await run(command, args, { timeoutMs: 60_000, until: () => sizeOf(out) >= atLeast });
      assert.ok(exit.stopped, `${command} finished before it could be interrupted`);
      const partial = sizeOf(out);
      assert.ok(partial >= atLeast && partial < total, `partial file has ${partial} of ${total} bytes`);
      await waitFor('the server to see the client go', () => tagged(tag).length === 1);
      // A body smaller than the socket buffers can be all written out before the client dies.
      if (total > 16 * MiB) assert.equal(tagged(tag)[0]?.complete, false, 'the first response was not cut short');
      return partial;
    }

    function assertResumedFrom(tag: string, partial: number, total: number): void {
      const resumed = tagged(tag).slice(1);
      assert.equal(resumed.length, 1, JSON.stringify(resumed));
      const [entry] = resumed as [LogEntry];
      assert.equal(entry.range, `bytes=${partial}-`);
      assert.equal(entry.status, 206);
      assert.equal(entry.contentRange, `bytes ${partial}-${total - 1}/${total}`);
      assert.equal(entry.complete, true);
    }

    it('the demo command line serves examples/public and prints its URL', async () => {
      const server = fileURLToPath(new URL('../../examples/server.ts', import.meta.url));
      const uploads = path.join(work, 'cli-uploads');
      const args = ['--import', 'tsx', server, '--port', '0', '--quiet', '--uploads', uploads];
      if (adapter === 'koa') args.push('--koa');
      const child = startBackground(process.execPath, args);
      try {
        await waitFor('the demo to print its URL', () => /at http:\/\/\S+/.test(child.output()), 30_000);
        const url = (/at (http:\/\/\S+)/.exec(child.output()) as RegExpExecArray)[1] as string;
        assert.match(
          child.output(),
          new RegExp(`^range-serve demo \\(${adapter === 'koa' ? 'Koa' : 'Express'}\\) serving `, 'm'),
        );
        const page = await fetch(url);
        assert.equal(page.status, 200);
        assert.match(await page.text(), /<video id="video" src="clip.webm"/);
        const big = await fetch(`${url}${BIG_FILE_NAME}`, { method: 'HEAD' });
        assert.equal(big.headers.get('content-length'), String(BIG_FILE_SIZE));
        assert.equal(big.headers.get('accept-ranges'), 'bytes');
        // The uploads endpoint announces the demo's maxSize (1 GiB), and keeps its files where it said.
        assert.match(child.output(), new RegExp(`^uploads to ${url}files are kept in ${uploads}$`, 'm'));
        const options = await fetch(`${url}files`, { method: 'OPTIONS', headers: { 'tus-resumable': '1.0.0' } });
        assert.equal(options.status, 204);
        assert.equal(options.headers.get('tus-max-size'), String(2 ** 30));
        const created = await fetch(`${url}files`, {
          method: 'POST',
          headers: { 'tus-resumable': '1.0.0', 'upload-length': '5' },
        });
        assert.equal(created.status, 201);
        const id = (created.headers.get('location') ?? '').split('/').pop() as string;
        assert.equal(sizeOf(path.join(uploads, id)), 0, 'the upload is in the --uploads directory');
        assert.ok(existsSync(path.join(uploads, `${id}.json`)));
      } finally {
        await child.stop();
      }
    });

    it('curl: a throttled download killed part-way resumes with `curl -C -` to the right SHA-256', async () => {
      requireTool('curl');
      const out = path.join(work, 'curl-big.bin');
      const url = `${base}${BIG_FILE_NAME}?t=curl`;
      const partial = await interrupted('curl', out, BIG_FILE_SIZE, 'curl', [
        '-sS',
        '--limit-rate',
        '1M',
        '-o',
        out,
        url,
      ]);
      await runOk('curl', ['-sS', '--fail', '-C', '-', '-o', out, url], { timeoutMs: 60_000 });
      assert.equal(await sha256File(out), bigSha);
      await waitFor('the resumed response to be logged', () => tagged('curl').length === 2);
      assertResumedFrom('curl', partial, BIG_FILE_SIZE);
    });

    it('wget: a throttled download killed part-way resumes with `wget -c` to the right SHA-256', async () => {
      requireTool('wget');
      const out = path.join(work, 'wget-big.bin');
      const url = `${base}${BIG_FILE_NAME}?t=wget`;
      const partial = await interrupted('wget', out, BIG_FILE_SIZE, 'wget', ['-q', '--limit-rate=2m', '-O', out, url]);
      await runOk('wget', ['-q', '-c', '-O', out, url], { timeoutMs: 60_000 });
      assert.equal(await sha256File(out), bigSha);
      await waitFor('the resumed response to be logged', () => tagged('wget').length === 2);
      assertResumedFrom('wget', partial, BIG_FILE_SIZE);
    });

    const aria2Args = (dir: string, name: string) => [
      ...['-x', '4', '-s', '4', '-k', '1M', '--file-allocation=none', '--auto-file-renaming=false'],
      ...['--console-log-level=warn', '--summary-interval=0', '--download-result=hide', '--max-tries=1'],
      ...['-d', dir, '-o', name],
    ];

    it('aria2c -x 4 -s 4 -k 1M: a segmented download over several ranges has the right SHA-256', async () => {
      requireTool('aria2c');
      const dir = path.join(work, 'aria2-segmented');
      mkdirSync(dir);
      await runOk('aria2c', [...aria2Args(dir, 'big.bin'), `${base}${BIG_FILE_NAME}?t=aria2`], { timeoutMs: 90_000 });
      assert.equal(await sha256File(path.join(dir, 'big.bin')), bigSha);
      const ranged = tagged('aria2').filter((e) => e.range !== undefined && e.status !== 0); // 0: aria2c gave up on it before any answer
      const distinct = new Set(ranged.map((e) => e.range));
      assert.ok(distinct.size >= 2, `the server saw ${distinct.size} distinct Range requests`);
      for (const entry of ranged) {
        assert.equal(entry.status, 206, JSON.stringify(entry));
        const span = spanOf(entry.contentRange);
        assert.equal(entry.range, `bytes=${span.first}-${span.last}`);
        assert.equal(span.length, BIG_FILE_SIZE);
      }
    });

    it('aria2c -x4 -s4 -k1M asking Want-Repr-Digest: the file assembled from ranges matches Repr-Digest (sha256sum)', async () => {
      requireTool('aria2c');
      const dir = path.join(work, 'aria2-digest');
      mkdirSync(dir);
      const log = path.join(dir, 'aria2c.log');
      await runOk(
        'aria2c',
        [
          ...aria2Args(dir, 'big.bin'),
          '--header=Want-Repr-Digest: sha-256=10',
          `--log=${log}`,
          '--log-level=info',
          `${base}${BIG_FILE_NAME}?t=aria2-digest`,
        ],
        { timeoutMs: 90_000 },
      );
      // aria2c logs every response head it received: each one names the digest of the whole file.
      const heads = readFileSync(log, 'utf8').split('Response received:').slice(1);
      const statuses = heads.map((h) => /^\s*HTTP\/1\.1 (\d{3})/.exec(h)?.[1]);
      assert.ok(statuses.filter((s) => s === '206').length >= 2, `aria2c saw ${statuses.join(',')}`);
      const digests = new Set(heads.map((h) => /^repr-digest: sha-256=:([A-Za-z0-9+/]+=*):\r?$/im.exec(h)?.[1]));
      assert.equal(digests.size, 1, `the responses disagree on Repr-Digest: ${[...digests].join(' ')}`);
      const announced = Buffer.from([...digests][0] ?? '', 'base64').toString('hex');
      const sum = await runOk('sha256sum', [path.join(dir, 'big.bin')], { timeoutMs: 30_000 });
      assert.equal(sum.stdout.split(' ')[0], announced, 'the assembled file does not match the Repr-Digest');
      assert.equal(announced, bigSha);
      const ranged = tagged('aria2-digest').filter((e) => e.range !== undefined && e.status !== 0);
      assert.ok(new Set(ranged.map((e) => e.range)).size >= 2, 'the download was not assembled from ranges');
    });

    it('aria2c: an interrupted segmented download resumes with --continue to the right SHA-256', async () => {
      requireTool('aria2c');
      const dir = path.join(work, 'aria2-resumed');
      mkdirSync(dir);
      const url = `${base}${BIG_FILE_NAME}?t=aria2-continue`;
      const started = Date.now();
      // SIGINT is Ctrl-C: aria2c stops and writes its control file (.aria2) with the pieces it has.
      const first = await run('aria2c', [...aria2Args(dir, 'big.bin'), '--max-overall-download-limit=4M', url], {
        timeoutMs: 60_000,
        until: () => Date.now() - started > 1500 && sizeOf(path.join(dir, 'big.bin')) > 0,
        stopSignal: 'SIGINT',
      });
      assert.ok(first.stopped, 'aria2c finished before it could be interrupted');
      assert.notEqual(first.code, 0, 'aria2c reported an interrupted download as complete');
      assert.ok(sizeOf(path.join(dir, 'big.bin.aria2')) > 0, 'aria2c left no control file to resume from');
      // Responses of the first run that close late are cut short, so the filter below leaves them out.
      const before = tagged('aria2-continue').length;

      await runOk('aria2c', [...aria2Args(dir, 'big.bin'), '--continue=true', url], { timeoutMs: 90_000 });
      assert.equal(await sha256File(path.join(dir, 'big.bin')), bigSha);
      const resumed = tagged('aria2-continue')
        .slice(before)
        .filter((e) => e.status === 206 && e.complete);
      assert.ok(resumed.length >= 1, 'the resume sent no Range request that completed');
      const fetched = resumed.reduce((sum, e) => {
        const span = spanOf(e.contentRange);
        return sum + span.last - span.first + 1;
      }, 0);
      assert.ok(fetched < BIG_FILE_SIZE, `the resume fetched ${fetched} bytes: it started over`);
      assert.ok(
        resumed.some((e) => spanOf(e.contentRange).first % MiB !== 0),
        'no resumed range starts inside a piece',
      );
    });

    it('a route handler body is resumed by `curl -C -` (the middleware wraps a plain in-memory response)', async () => {
      requireTool('curl');
      const report = makeReport();
      // See the note on --limit-rate at the top: the handler's whole body reaches the socket at once.
      const out = path.join(work, 'report.csv');
      const url = `${base}report.csv?t=report`;
      const partial = await interrupted(
        'report',
        out,
        report.length,
        'curl',
        ['-sS', '--limit-rate', '8K', '-o', out, url],
        256 * 1024,
      );
      await runOk('curl', ['-sS', '--fail', '-C', '-', '-o', out, url], { timeoutMs: 60_000 });
      assert.equal(await sha256File(out), sha256(report));
      await waitFor('the resumed response to be logged', () => tagged('report').length === 2);
      assertResumedFrom('report', partial, report.length);
    });

    it('curl --compressed: the script is sent from its br variant and decodes to the original bytes', async () => {
      requireTool('curl');
      const script = readFileSync(path.join(PUBLIC, PRECOMPRESSED_SCRIPT));
      const out = path.join(work, 'compressed.js');
      const head = path.join(work, 'compressed.head');
      await runOk('curl', ['-sS', '--fail', '--compressed', '-D', head, '-o', out, `${base}${PRECOMPRESSED_SCRIPT}`], {
        timeoutMs: 30_000,
      });
      assert.deepEqual(readFileSync(out), script);
      const headers = readFileSync(head, 'latin1').toLowerCase();
      assert.match(headers, /^content-encoding: br\r$/m);
      assert.match(headers, /^vary: accept-encoding\r$/m);
    });

    it('curl -C -: a download of the br variant cut part-way resumes to exactly the variant bytes', async () => {
      requireTool('curl');
      const variant = ensurePrecompressedScript(PUBLIC);
      const half = Math.floor(variant.length / 2);
      const out = path.join(work, 'resumed.js.br');
      const url = `${base}${PRECOMPRESSED_SCRIPT}?t=br-resume`;
      const br = ['-H', 'Accept-Encoding: br'];
      // The first half, as a download stopped there would leave it; then curl resumes from its length.
      await runOk('curl', ['-sS', '--fail', ...br, '-r', `0-${half - 1}`, '-o', out, url], { timeoutMs: 30_000 });
      assert.equal(sizeOf(out), half);
      await runOk('curl', ['-sS', '--fail', ...br, '-C', '-', '-o', out, url], { timeoutMs: 30_000 });
      assert.deepEqual(readFileSync(out), variant);
      assert.deepEqual(brotliDecompressSync(readFileSync(out)), readFileSync(path.join(PUBLIC, PRECOMPRESSED_SCRIPT)));
      await waitFor('the resumed response to be logged', () => tagged('br-resume').length === 2);
      assertResumedFrom('br-resume', half, variant.length);
    });

    it('a multi-range request from curl parses back (dicer) into the right bytes and Content-Ranges', async () => {
      requireTool('curl');
      const clip = readFileSync(path.join(PUBLIC, 'clip.webm'));
      const headers = path.join(work, 'multipart.headers');
      const body = path.join(work, 'multipart.body');
      const tail = clip.length - 1000;
      await runOk(
        'curl',
        ['-sS', '-r', `0-99,5000-5999,${tail}-,200-299`, '-D', headers, '-o', body, `${base}clip.webm?t=multi`],
        { timeoutMs: 30_000 },
      );
      const head = lastResponseHead(readFileSync(headers, 'latin1'));
      const bytes = readFileSync(body);
      assert.equal(head.status, 206);
      assert.match(head.headers['content-type'] ?? '', /^multipart\/byteranges; boundary=/);
      assert.equal(head.headers['content-length'], String(bytes.length));
      assert.equal(head.headers['content-range'], undefined);
      const parts = await parseMultipart(bytes, head.headers['content-type'] as string);
      const expected = [
        [0, 99],
        [5000, 5999],
        [tail, clip.length - 1],
        [200, 299],
      ] as const;
      assert.equal(parts.length, expected.length);
      expected.forEach(([first, last], i) => {
        const part = parts[i] as (typeof parts)[number];
        assert.equal(part.headers['content-range'], `bytes ${first}-${last}/${clip.length}`);
        assert.equal(part.headers['content-type'], 'video/webm');
        assert.deepEqual(part.body, clip.subarray(first, last + 1), `part ${i} bytes`);
      });
    });

    describe('a resume after the file changed on disk', () => {
      let changing: Served;
      let root = '';
      before(async () => {
        root = path.join(work, 'changing');
        mkdirSync(root);
        changing = await serve(adapter, root, path.join(work, 'changing-uploads'));
      });
      after(async () => changing?.demo.close());

      /** Downloads part of `doc.bin` with curl, killed part-way; returns the first response's ETag and the partial size. */
      async function firstAttempt(name: string, original: Buffer) {
        writeFileSync(path.join(root, name), original);
        const out = path.join(work, `${name}.part`);
        const dump = path.join(work, `${name}.headers`);
        const exit = await run(
          'curl',
          ['-sS', '--limit-rate', '8K', '-D', dump, '-o', out, `${changing.demo.url}${name}`],
          {
            timeoutMs: 60_000,
            until: () => sizeOf(out) >= 128 * 1024,
          },
        );
        assert.ok(exit.stopped, 'curl finished before it could be interrupted');
        const partial = sizeOf(out);
        assert.ok(partial < original.length);
        const head = lastResponseHead(readFileSync(dump, 'latin1'));
        assert.equal(head.status, 200);
        const etag = head.headers.etag;
        assert.match(etag ?? '', /^"/, 'the first response has a strong ETag');
        return { etag: etag as string, partial };
      }

      async function resume(name: string, etag: string, partial: number) {
        const out = path.join(work, `${name}.resume`);
        const dump = path.join(work, `${name}.resume.headers`);
        await runOk(
          'curl',
          ['-sS', '-H', `If-Range: ${etag}`, '-r', `${partial}-`, '-D', dump, '-o', out, `${changing.demo.url}${name}`],
          { timeoutMs: 60_000 },
        );
        return { ...lastResponseHead(readFileSync(dump, 'latin1')), body: readFileSync(out) };
      }

      it('unchanged: If-Range with the first ETag gets 206 and the rest of the file', async () => {
        requireTool('curl');
        const original = randomBytes(4 * MiB);
        const { etag, partial } = await firstAttempt('same.bin', original);
        const res = await resume('same.bin', etag, partial);
        assert.equal(res.status, 206);
        assert.equal(res.headers['content-range'], `bytes ${partial}-${original.length - 1}/${original.length}`);
        assert.deepEqual(res.body, original.subarray(partial));
      });

      it('same size, different bytes: If-Range with the old ETag gets 200 and the whole new file', async () => {
        requireTool('curl');
        const original = randomBytes(4 * MiB);
        const { etag, partial } = await firstAttempt('edited.bin', original);
        const edited = randomBytes(original.length);
        writeFileSync(path.join(root, 'edited.bin'), edited); // in place: same inode, same size
        const res = await resume('edited.bin', etag, partial);
        assert.equal(res.status, 200);
        assert.notEqual(res.headers.etag, etag);
        assert.equal(res.headers['content-range'], undefined);
        assert.equal(res.body.length, edited.length);
        assert.equal(sha256(res.body), sha256(edited), 'not the whole new file');
      });

      it('a different size: If-Range with the old ETag gets 200 and the whole new file', async () => {
        requireTool('curl');
        const original = randomBytes(4 * MiB);
        const { etag, partial } = await firstAttempt('replaced.bin', original);
        const replaced = randomBytes(3 * MiB + 17);
        const tmp = path.join(root, '.replaced.tmp');
        writeFileSync(tmp, replaced);
        renameSync(tmp, path.join(root, 'replaced.bin')); // replaced as a deploy does: a new inode
        const res = await resume('replaced.bin', etag, partial);
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-length'], String(replaced.length));
        assert.equal(sha256(res.body), sha256(replaced), 'not the whole new file');
      });
    });

    it('Chromium: the demo page runs its script sent from a br variant and seeks its video near the end over 206 responses', async () => {
      requireTool('chromium');
      const shot = await checkBrowser(base, adapter, path.join(work, 'chromium-profile'));
      console.log(`screenshot: ${shot}`);
      const video = site.log.filter((e) => e.url.startsWith('/clip.webm'));
      assert.ok(
        video.some((e) => e.range !== undefined && e.status === 206),
        `no Range request for the video was answered with 206: ${JSON.stringify(video)}`,
      );
    });
  });
}
