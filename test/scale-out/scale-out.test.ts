/**
 * Scaled out: two range-serve replicas (one Express, one Koa), each serving its own copy of the same
 * files, behind a real nginx (a round-robin balancer, and a cache of 1 MiB slices) and a real Varnish,
 * all configured from docs/deploying.md. Run once with the default ETag and copies that kept their
 * mtimes, once with `etag: 'digest'` and copies whose mtimes differ. What each replica answered is
 * read from its own log, what nginx did from its access and error logs.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runOk, sha256, sha256File, waitFor } from '../e2e/clients.ts';
import { type RawResponse, request } from '../helpers/http.ts';
import {
  freePort,
  requireCommand,
  type RunningNginx,
  type RunningProcess,
  startNginx,
  startVarnish,
} from './proxies.ts';
import type { ReplicaLogEntry } from './replica.ts';

const REPLICA = fileURLToPath(new URL('./replica.ts', import.meta.url));
const MiB = 1024 * 1024;
const NAME = 'video.bin';
/** Seven 1 MiB slices, the last one short. */
const SIZE = 6 * MiB + 12_345;
const SLICES = Math.ceil(SIZE / MiB);
/** The replicas' maxAge, short so that the test can wait for cached entries to expire. */
const MAX_AGE_SECONDS = 2;
// nginx keeps expiry times in whole seconds: an entry stored at t is stale from the second after t + max-age.
const expiry = () => new Promise((resolve) => setTimeout(resolve, MAX_AGE_SECONDS * 1000 + 1600));

interface Mode {
  readonly name: string;
  readonly options: Record<string, unknown>;
  /** True: copies keep the release's mtimes (`cp -p`); false: each replica's copy gets an mtime of its own. */
  readonly keepMtimes: boolean;
}

const MODES: readonly Mode[] = [
  {
    name: 'the default ETag (size and mtime), copies made with cp -p',
    options: { maxAge: `${MAX_AGE_SECONDS}s` },
    keepMtimes: true,
  },
  {
    name: "etag: 'digest', copies whose mtimes differ",
    options: { etag: 'digest', lastModified: false, maxAge: `${MAX_AGE_SECONDS}s` },
    keepMtimes: false,
  },
];

interface Replica {
  readonly adapter: 'express' | 'koa';
  readonly root: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts a replica as a child process; its log lines go to `log`. */
async function startReplica(
  adapter: 'express' | 'koa',
  root: string,
  options: Record<string, unknown>,
  log: ReplicaLogEntry[],
): Promise<Replica> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', REPLICA, adapter, root, JSON.stringify(options)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let errors = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (errors += chunk));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ${adapter} replica did not start:\n${errors}`)), 30_000);
    let pending = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) !== -1) {
        const line = JSON.parse(pending.slice(0, newline)) as { port?: number } & ReplicaLogEntry;
        pending = pending.slice(newline + 1);
        if (line.port !== undefined) {
          clearTimeout(timer);
          resolve(line.port);
        } else log.push(line);
      }
    });
    child.once('close', (code) => reject(new Error(`the ${adapter} replica exited with ${code}:\n${errors}`)));
  });
  return {
    adapter,
    root,
    port,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Puts a release's file onto a replica as a deploy does: copied beside it, then renamed over it. With
 * `mtime` undefined the copy keeps the release's mtime (`cp -p`); otherwise it gets that one.
 */
function deploy(release: string, root: string, mtime: number | undefined): void {
  const tmp = path.join(root, `.${NAME}.tmp`);
  const cp = spawnSync('cp', mtime === undefined ? ['-p', release, tmp] : [release, tmp], { encoding: 'utf8' });
  assert.equal(cp.status, 0, cp.stderr);
  if (mtime !== undefined) utimesSync(tmp, mtime, mtime);
  renameSync(tmp, path.join(root, NAME));
}

const sha256Base64 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('base64');

for (const mode of MODES) {
  describe(`scale-out, ${mode.name}`, () => {
    let dir = '';
    const log: ReplicaLogEntry[] = [];
    const replicas: Replica[] = [];
    let nginx: RunningNginx | undefined;
    let varnish: RunningProcess | undefined;
    let balancer = '';
    let balancerHttp2 = '';
    let sliceCache = '';
    let varnishUrl = '';
    let v1: Buffer;
    let v2: Buffer;
    let current: Buffer;
    let etag = '';

    const get = (base: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> =>
      request(base, `/${NAME}`, { method, headers });
    const errorLog = () => readFileSync((nginx as RunningNginx).errorLog, 'utf8');
    const accessLog = () => readFileSync((nginx as RunningNginx).accessLog, 'utf8');
    const assertNoSliceMismatch = () => {
      const errors = errorLog();
      assert.doesNotMatch(errors, /mismatch|unexpected range|invalid range in slice/, errors.slice(-2000));
    };
    /** Where the replicas' log stands once the lines of earlier requests (written at close) are in. */
    const settledMark = async (): Promise<number> => {
      let seen = -1;
      while (seen !== log.length) {
        seen = log.length;
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
      return seen;
    };
    /** Each replica's own answer for the file, straight to it. */
    const direct = () => Promise.all(replicas.map((r) => get(`http://127.0.0.1:${r.port}`, {}, 'HEAD')));

    before(async () => {
      requireCommand('nginx', ['-v'], 'nginx');
      requireCommand('varnishd', ['-V'], 'varnish');
      requireCommand('aria2c', ['--version'], 'aria2');
      requireCommand('curl', ['--version'], 'curl');
      dir = mkdtempSync(path.join(tmpdir(), 'range-serve-scale-out-'));
      v1 = randomBytes(SIZE);
      v2 = randomBytes(SIZE); // the same size: only the validators tell the versions apart
      current = v1;
      const release = path.join(dir, 'release-1', NAME);
      mkdirSync(path.dirname(release));
      writeFileSync(release, v1);
      for (const [i, adapter] of (['express', 'koa'] as const).entries()) {
        const root = path.join(dir, `replica-${adapter}`);
        mkdirSync(root);
        deploy(release, root, mode.keepMtimes ? undefined : 1_750_000_000 + 3600 * (i + 1));
        replicas.push(await startReplica(adapter, root, mode.options, log));
      }
      const ports = [replicas[0]?.port, replicas[1]?.port] as [number, number];
      const [b, b2, s, v] = [await freePort(), await freePort(), await freePort(), await freePort()];
      nginx = await startNginx(dir, ports, { balancer: b, balancerHttp2: b2, sliceCache: s });
      varnish = await startVarnish(dir, ports, v);
      balancer = `http://127.0.0.1:${b}`;
      balancerHttp2 = `http://127.0.0.1:${b2}`;
      sliceCache = `http://127.0.0.1:${s}`;
      varnishUrl = `http://127.0.0.1:${v}`;
    });

    after(async () => {
      await varnish?.stop();
      await nginx?.stop();
      await Promise.all(replicas.map((r) => r.stop()));
      if (dir !== '') rmSync(dir, { recursive: true, force: true });
    });

    it('the two replicas send the same ETag and Last-Modified for their copies of the file', async () => {
      const [a, b] = (await direct()) as [RawResponse, RawResponse];
      const [ra, rb] = replicas as [Replica, Replica];
      const mtimes = [ra, rb].map((r) => statSync(path.join(r.root, NAME), { bigint: true }).mtimeNs);
      const inodes = [ra, rb].map((r) => statSync(path.join(r.root, NAME)).ino);
      assert.notEqual(inodes[0], inodes[1], 'the copies share an inode');
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      assert.equal(a.headers.etag, b.headers.etag);
      assert.equal(a.headers['last-modified'], b.headers['last-modified']);
      if (mode.keepMtimes) {
        assert.equal(mtimes[0], mtimes[1]);
        assert.match(a.headers.etag ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/);
        assert.ok(a.headers['last-modified']);
      } else {
        assert.notEqual(mtimes[0], mtimes[1], 'the copies were meant to have different mtimes');
        const sha = createHash('sha256').update(v1);
        assert.equal(a.headers.etag, `"${SIZE.toString(16)}-${sha.copy().digest('base64url')}"`);
        assert.equal(a.headers['repr-digest'], `sha-256=:${sha.digest('base64')}:`);
        assert.equal(b.headers['repr-digest'], a.headers['repr-digest']);
        assert.equal(a.headers['last-modified'], undefined);
      }
      etag = a.headers.etag as string;
    });

    it('eight If-Range resumes through the round-robin balancer are all 206 with the right bytes', async () => {
      const mark = await settledMark();
      for (let i = 0; i < 8; i++) {
        const start = 100_000 + i * 654_321;
        const res = await get(balancer, { range: `bytes=${start}-`, 'if-range': etag });
        assert.equal(res.status, 206, `resume ${i} from byte ${start}`);
        assert.equal(res.headers['content-range'], `bytes ${start}-${SIZE - 1}/${SIZE}`);
        assert.equal(res.headers.etag, etag);
        assert.ok(res.body.equals(v1.subarray(start)), `resume ${i}: wrong bytes`);
      }
      await waitFor(
        'both replicas to log the resumes',
        () => log.slice(mark).filter((e) => e.ifRange === etag).length >= 8,
      );
      const resumes = log.slice(mark).filter((e) => e.ifRange === etag);
      assert.equal(resumes.length, 8);
      assert.ok(resumes.every((e) => e.status === 206));
      for (const adapter of ['express', 'koa']) {
        assert.ok(
          resumes.some((e) => e.replica === adapter),
          `the balancer sent no resume to the ${adapter} replica`,
        );
      }
    });

    it('HTTP/2 ends at the balancer: a ranged If-Range request over h2c is a 206 from the replicas', async () => {
      const out = path.join(dir, 'h2.body');
      const exit = await runOk(
        'curl',
        [
          '-sS',
          '--http2-prior-knowledge',
          '-r',
          '1000-1999',
          '-H',
          `If-Range: ${etag}`,
          '-o',
          out,
          '-w',
          '%{http_version} %{http_code}',
          `${balancerHttp2}/${NAME}`,
        ],
        { timeoutMs: 30_000 },
      );
      assert.equal(exit.stdout, '2 206');
      assert.ok(readFileSync(out).equals(v1.subarray(1000, 2000)));
    });

    it('aria2c -x4 -s4 -k1M through the slice cache gets the right SHA-256, and nginx logs no slice mismatch', async () => {
      const mark = await settledMark();
      const out = path.join(dir, 'aria2');
      await runOk(
        'aria2c',
        [
          ...['-x', '4', '-s', '4', '-k', '1M', '--file-allocation=none', '--auto-file-renaming=false'],
          ...['--console-log-level=warn', '--summary-interval=0', '--download-result=hide', '--max-tries=1'],
          ...['-d', out, '-o', NAME, `${sliceCache}/${NAME}`],
        ],
        { timeoutMs: 60_000 },
      );
      assert.equal(await sha256File(path.join(out, NAME)), sha256(v1));
      const whole = await get(sliceCache);
      assert.equal(whole.status, 200);
      assert.equal(whole.headers['content-length'], String(SIZE));
      assert.equal(sha256(whole.body), sha256(v1), 'a whole GET through the slice cache is not the file');
      assertNoSliceMismatch();
      // nginx asked the replicas for 1 MiB slices, from both of them, and every slice was a 206.
      await waitFor('the replicas to log every slice', () => log.slice(mark).length >= SLICES);
      const slices = log.slice(mark);
      assert.ok(
        slices.every((e) => e.status === 206 && /^bytes=\d+-\d+$/.test(e.range ?? '')),
        JSON.stringify(slices),
      );
      assert.equal(new Set(slices.map((e) => e.range)).size, SLICES);
      for (const adapter of ['express', 'koa']) {
        assert.ok(
          slices.some((e) => e.replica === adapter),
          `no slice came from the ${adapter} replica`,
        );
      }
    });

    it('once the slices expire, nginx revalidates each of them and the replicas answer 304', async () => {
      await expiry();
      const mark = await settledMark();
      const whole = await get(sliceCache);
      assert.equal(whole.status, 200);
      assert.equal(sha256(whole.body), sha256(v1));
      await waitFor('every slice to be revalidated', () => log.slice(mark).length >= SLICES);
      const revalidations = log.slice(mark);
      assert.equal(revalidations.length, SLICES, JSON.stringify(revalidations));
      for (const entry of revalidations) {
        assert.equal(entry.ifNoneMatch, etag, JSON.stringify(entry));
        assert.equal(entry.status, 304, JSON.stringify(entry));
      }
      for (const adapter of ['express', 'koa']) {
        assert.ok(
          revalidations.some((e) => e.replica === adapter),
          `no revalidation reached the ${adapter} replica`,
        );
      }
      assert.match(accessLog(), /upstream=304 cache=REVALIDATED/);
      assertNoSliceMismatch();
    });

    it('a new version deployed to both replicas is served whole once the cached slices expire, never mixed', async () => {
      const release = path.join(dir, 'release-2', NAME);
      mkdirSync(path.dirname(release));
      writeFileSync(release, v2);
      replicas.forEach((r, i) => deploy(release, r.root, mode.keepMtimes ? undefined : 1_760_000_000 + 60 * (i + 1)));
      current = v2;
      const [a, b] = (await direct()) as [RawResponse, RawResponse];
      assert.equal(a.headers.etag, b.headers.etag, 'the replicas disagree on the new version');
      assert.notEqual(a.headers.etag, etag, 'the new version kept the old ETag');
      // Still fresh: the cache may serve the old version, but only whole.
      const early = await get(sliceCache);
      assert.ok([sha256(v1), sha256(v2)].includes(sha256(early.body)), 'a mix of two versions, or a truncated body');
      await expiry();
      const later = await get(sliceCache);
      assert.equal(later.status, 200);
      assert.equal(later.headers.etag, a.headers.etag);
      assert.equal(sha256(later.body), sha256(v2), 'not the whole new version');
      const resumed = await get(sliceCache, { range: `bytes=${3 * MiB - 10}-`, 'if-range': a.headers.etag as string });
      assert.equal(resumed.status, 206);
      assert.ok(resumed.body.equals(v2.subarray(3 * MiB - 10)));
      assertNoSliceMismatch();
      etag = a.headers.etag as string;
    });

    it('Varnish in front: whole and ranged GETs are right, and an expired object is revalidated with a 304', async () => {
      const whole = await get(varnishUrl);
      assert.equal(whole.status, 200);
      assert.equal(whole.headers.etag, etag);
      assert.equal(sha256(whole.body), sha256(current));
      const ranged = await get(varnishUrl, { range: 'bytes=1000-2999' });
      assert.equal(ranged.status, 206);
      assert.equal(ranged.headers['content-range'], `bytes 1000-2999/${SIZE}`);
      assert.ok(ranged.body.equals(current.subarray(1000, 3000)));
      const resumed = await get(varnishUrl, { range: `bytes=${SIZE - 5000}-`, 'if-range': etag });
      assert.equal(resumed.status, 206);
      assert.ok(resumed.body.equals(current.subarray(SIZE - 5000)));
      if (!mode.keepMtimes) assert.equal(whole.headers['repr-digest'], `sha-256=:${sha256Base64(current)}:`);
      await expiry();
      const mark = await settledMark();
      const again = await get(varnishUrl);
      assert.equal(again.status, 200);
      assert.equal(sha256(again.body), sha256(current));
      // Within grace the stale object is served and revalidated in the background.
      await waitFor('Varnish to revalidate the expired object', () =>
        log.slice(mark).some((e) => e.ifNoneMatch === etag),
      );
      const revalidation = log.slice(mark).filter((e) => e.ifNoneMatch === etag);
      assert.deepEqual(
        revalidation.map((e) => e.status),
        [304],
        JSON.stringify(log.slice(mark)),
      );
    });
  });
}
