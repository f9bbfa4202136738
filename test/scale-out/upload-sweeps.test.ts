/**
 * Start-up and expiry across upload replicas: replica processes (Express and Koa) on one directory
 * and one real redis-server, each test with its own directory (so its own namespace in Redis) and
 * its own replicas. What the replicas do in Redis is watched from outside, with MONITOR (every
 * command, the Lua scripts' own commands among them) and keyspace notifications on the sweep key:
 * nothing in the product is there for the test.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { openRequest, pause, send, type UploadReply } from '../uploads/raw.ts';
import {
  type Completion,
  type RunningRedis,
  startRedis,
  startUploadReplica,
  type UploadReplica,
} from './upload-cluster.ts';

const TUS = { 'tus-resumable': '1.0.0' };
const APPEND = { ...TUS, 'content-type': 'application/offset+octet-stream' };
const KiB = 1024;
const MiB = 1024 * KiB;
const LEASE_MS = 2000;

let dir: string;
let redis: RunningRedis;
const running: UploadReplica[] = [];
const completions: Completion[] = [];

/** One command as MONITOR showed it: Redis' time (ms), the client's address (or `lua`), its words. */
interface Command {
  readonly time: number;
  readonly source: string;
  readonly args: readonly string[];
}

/**
 * Every command Redis runs from now on, as MONITOR reports it, read on a plain socket: ioredis's own
 * `monitor()` can fail with "Command queue state error" when a monitored line arrives with its reply
 * to MONITOR (seen in CI), and a client left reconnecting keeps the test process alive.
 */
async function monitor(): Promise<{ readonly commands: Command[]; stop(): Promise<void> }> {
  const socket = net.connect(redis.port, '127.0.0.1');
  const commands: Command[] = [];
  let pending = '';
  let started!: () => void;
  const ready = new Promise<void>((resolve, reject) => {
    started = resolve;
    socket.once('error', reject);
  });
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    pending += chunk;
    let end: number;
    while ((end = pending.indexOf('\r\n')) !== -1) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 2);
      if (line === '+OK') started();
      else {
        const command = monitoredCommand(line);
        if (command !== undefined) commands.push(command);
      }
    }
  });
  socket.write('MONITOR\r\n');
  await ready;
  socket.on('error', () => {});
  return {
    commands,
    stop: () =>
      new Promise<void>((resolve) => {
        if (socket.closed) return resolve();
        socket.once('close', () => resolve());
        socket.destroy();
      }),
  };
}

/** One MONITOR line (`+1700000000.123456 [0 127.0.0.1:5000] "SET" "k" "v"`) as a command, its words unescaped. */
function monitoredCommand(line: string): Command | undefined {
  const head = /^\+(\d+\.\d+) \[\d+ ([^\]]+)\] /.exec(line);
  if (head === null) return undefined;
  const args: string[] = [];
  for (const word of line.slice(head[0].length).matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
    args.push(
      (word[1] ?? '').replace(/\\(x[0-9a-f]{2}|.)/g, (_, escaped: string) =>
        escaped.length === 3
          ? String.fromCharCode(parseInt(escaped.slice(1), 16))
          : (({ n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' } as Record<string, string>)[escaped] ?? escaped),
      ),
    );
  }
  return { time: Number(head[1]) * 1000, source: head[2] as string, args };
}

/** The pid of the process behind each of its connections to Redis, by the connection's local address (`ss`). */
function redisClientsByAddress(): Map<string, number> {
  const listing = spawnSync('ss', ['-tnpH', 'state', 'established', `( dport = :${redis.port} )`], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  assert.equal(listing.status, 0, listing.stderr);
  const pids = new Map<string, number>();
  for (const line of listing.stdout.split('\n')) {
    const local = /\s(127\.0\.0\.1:\d+)\s+127\.0\.0\.1:\d+\s/.exec(line)?.[1];
    const pid = /pid=(\d+)/.exec(line)?.[1];
    if (local !== undefined && pid !== undefined) pids.set(local, Number(pid));
  }
  return pids;
}

async function startReplica(
  adapter: 'express' | 'koa',
  directory: string,
  options: Record<string, unknown>,
  clockAhead = 0,
): Promise<UploadReplica> {
  const replica = await startUploadReplica(adapter, directory, options, completions, 0, clockAhead);
  running.push(replica);
  return replica;
}

function locationOf(res: UploadReply, base: string): string {
  assert.ok(res.headers.location !== undefined, `no Location (status ${res.status}: ${res.body.toString()})`);
  return new URL(res.headers.location, base).pathname;
}

/** Creates a tus upload of `content` on `base` and appends its first `written` bytes. */
async function startUpload(base: string, content: Buffer, written: number): Promise<string> {
  const created = await send(base, '/files', 'POST', { ...TUS, 'upload-length': String(content.length) });
  assert.equal(created.status, 201, created.body.toString());
  const location = locationOf(created, base);
  if (written > 0) await append(base, location, content, 0, written);
  return location;
}

async function append(base: string, location: string, content: Buffer, from: number, to: number): Promise<void> {
  const res = await send(
    base,
    location,
    'PATCH',
    { ...APPEND, 'upload-offset': String(from) },
    content.subarray(from, to),
  );
  assert.equal(res.status, 204, res.body.toString());
  assert.equal(res.headers['upload-offset'], String(to));
}

async function assertStored(base: string, location: string, content: Buffer): Promise<void> {
  const got = await send(base, location, 'GET');
  assert.equal(got.status, 200, got.body.toString());
  assert.equal(got.body.length, content.length, 'stored length');
  assert.ok(got.body.equals(content), 'stored bytes differ from the bytes sent');
}

const idOf = (location: string): string => location.split('/').pop() as string;

/** The files of upload `id` in `directory` (its segments, `<id>.<lease token>.<n>`). */
function segmentsOf(directory: string, id: string): string[] {
  return readdirSync(directory)
    .filter((name) => name.startsWith(`${id}.`))
    .sort();
}

/** The key prefix the replicas on `directory` share (the namespace the first one wrote there). */
function prefixOf(directory: string): string {
  return `range-serve:${readFileSync(path.join(directory, '.range-serve-redis'), 'utf8').trim()}:`;
}

async function until(what: string, done: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await pause(50);
  }
}

async function stopAll(): Promise<void> {
  for (const replica of running.splice(0)) {
    await replica.stop();
    const errors = replica.errors().trim();
    if (errors !== '') console.log(`stderr of the ${replica.adapter} replica ${replica.pid}:\n${errors}`);
  }
}

describe('start-up and expiry across upload replicas on one directory and one Redis', { timeout: 120_000 }, () => {
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'range-serve-sweeps-'));
    redis = await startRedis(path.join(dir, 'redis'));
  });

  after(async () => {
    await stopAll();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a replica starting while another writes neither cuts nor removes the upload it holds, nor an idle one', async () => {
    const directory = path.join(dir, 'start-up');
    const options = { redis: redis.url, leaseTime: LEASE_MS, idleTimeout: '20s' };
    const a = await startReplica('express', directory, options);
    const b = await startReplica('koa', directory, options);
    const prefix = prefixOf(directory);
    const watch = await monitor();
    try {
      // Idle on B: half of it appended, then nothing.
      const idleContent = randomBytes(512 * KiB);
      const idle = await startUpload(b.url, idleContent, 256 * KiB);
      // Held on A: 1 MiB committed by an earlier append, then a body from 1 MiB that stops after 9 MiB
      // (past the 8 MiB checkpoint, so part of it is committed while A holds it) and is held open.
      const content = randomBytes(12 * MiB);
      const held = await startUpload(a.url, content, 1 * MiB);
      const open = await openRequest(
        a.url,
        held,
        'PATCH',
        { ...APPEND, 'upload-offset': String(1 * MiB), 'content-length': String(11 * MiB) },
        content.subarray(1 * MiB, 10 * MiB),
      );
      // Held on B: a body stopped after 2 MiB, short of any checkpoint, so no commit names its segment
      // yet: only B's lease in Redis says it is being written.
      const shortContent = randomBytes(3 * MiB);
      const heldShort = await startUpload(b.url, shortContent, 0);
      const openShort = await openRequest(
        b.url,
        heldShort,
        'PATCH',
        { ...APPEND, 'upload-offset': '0', 'content-length': String(shortContent.length) },
        shortContent.subarray(0, 2 * MiB),
      );
      // Every offset Redis records for an upload: the state its creation and each commit write.
      const offsets = (location: string): number[] =>
        watch.commands
          .filter(
            (c) =>
              c.args[0]?.toLowerCase() === 'hset' &&
              c.args[1] === `${prefix}u:${idOf(location)}` &&
              c.args.includes('state'),
          )
          .map((c) => (JSON.parse(c.args[c.args.indexOf('state') + 1] as string) as { offset: number }).offset);
      await until('the held body’s checkpoint commit', () => offsets(held).some((o) => o > 1 * MiB), 15_000);
      await until('the short body’s segment', () => segmentsOf(directory, idOf(heldShort)).length === 1, 5_000);
      const heldFiles = segmentsOf(directory, idOf(held));
      assert.equal(heldFiles.length, 2, `the held upload's files: ${heldFiles.join(' ')}`);
      const shortFiles = segmentsOf(directory, idOf(heldShort));
      const idleFiles = segmentsOf(directory, idOf(idle));
      assert.equal(idleFiles.length, 1, `the idle upload's files: ${idleFiles.join(' ')}`);
      // A writer's tail that no list names and no lease writes: the sweep must remove it, which shows it
      // looked at every file. Its clock ten minutes ahead (a host whose clock is off) puts every file past
      // the sweep's one-minute age guard, so only what the replicas hold in Redis protects the others.
      const stray = `${idOf(idle)}.${randomBytes(16).toString('base64url')}.0`;
      writeFileSync(path.join(directory, stray), randomBytes(1000));

      const sweeps = (): number =>
        watch.commands.filter((cmd) => cmd.args[0]?.toLowerCase() === 'zrange' && cmd.args[1] === `${prefix}unfinished`)
          .length;
      const sweepsBefore = sweeps();
      const c = await startReplica(
        'express',
        directory,
        { ...options, expiresAfter: '1h', sweepInterval: 200 },
        600_000,
      );
      // Two sweeps of the new replica: each lists the expiring uploads once it has looked at every file.
      await until('two sweeps of the new replica', () => sweeps() >= sweepsBefore + 2, 10_000);
      assert.equal(existsSync(path.join(directory, stray)), false, 'the stray segment was not swept');
      assert.deepEqual(segmentsOf(directory, idOf(held)), heldFiles, 'the held upload lost a file');
      assert.deepEqual(segmentsOf(directory, idOf(heldShort)), shortFiles, 'the short held upload lost its segment');
      assert.deepEqual(segmentsOf(directory, idOf(idle)), idleFiles, 'the idle upload lost a file');

      // A finishes its body, never interrupted: the answer is its own, and every byte is there.
      await open.write(content.subarray(10 * MiB));
      const answer = await open.reply;
      assert.equal(answer?.status, 204, answer?.body.toString());
      assert.equal(answer?.headers['upload-offset'], String(12 * MiB));
      await openShort.write(shortContent.subarray(2 * MiB));
      const shortAnswer = await openShort.reply;
      assert.equal(shortAnswer?.status, 204, shortAnswer?.body.toString());
      assert.equal(shortAnswer?.headers['upload-offset'], String(shortContent.length));
      for (const [location, whole] of [
        [held, content],
        [heldShort, shortContent],
      ] as const) {
        const recorded = offsets(location);
        console.log(`# offsets recorded for a held upload: ${recorded.join(', ')}`);
        assert.ok(
          recorded.every((o, i) => i === 0 || o >= (recorded[i - 1] as number)),
          `an offset went back: ${recorded.join(', ')}`,
        );
        assert.equal(recorded.at(-1), whole.length);
        for (const replica of [a, b, c]) {
          const head = await send(replica.url, location, 'HEAD', TUS);
          assert.equal(head.status, 200);
          assert.equal(head.headers['upload-offset'], String(whole.length));
        }
        await assertStored(c.url, location, whole);
      }

      // The idle upload answers its offset on the new replica and finishes there.
      const head = await send(c.url, idle, 'HEAD', TUS);
      assert.equal(head.status, 200);
      assert.equal(head.headers['upload-offset'], String(256 * KiB));
      await append(c.url, idle, idleContent, 256 * KiB, idleContent.length);
      await assertStored(a.url, idle, idleContent);
    } finally {
      await watch.stop();
      await stopAll();
    }
  });

  it('expired uploads are swept by one replica at a time, on every replica 404 and their files gone; the others stay', async () => {
    const directory = path.join(dir, 'expiry');
    const EXPIRES = 2500;
    const options = { redis: redis.url, leaseTime: LEASE_MS, expiresAfter: EXPIRES, sweepInterval: 250 };
    const replicas = [
      await startReplica('express', directory, options),
      await startReplica('koa', directory, options),
      await startReplica('express', directory, options),
    ];
    const prefix = prefixOf(directory);
    // Read once the replicas' connections are all up (a replica listens before ioredis connected).
    let pidOf: Map<string, number> | undefined;
    const replicaOf = (source: string): string => {
      pidOf ??= redisClientsByAddress();
      const index = replicas.findIndex((r) => r.pid === pidOf?.get(source));
      return index === -1 ? `unknown ${source}` : `replica ${index + 1} (${replicas[index]?.adapter})`;
    };
    const sweepKey = `${prefix}sweep`;
    // Keyspace notifications: the sweep key's `set` (taken; a refused SET NX sets nothing) and `expired`.
    const admin = new Redis(redis.url);
    const events = new Redis(redis.url);
    await admin.config('SET', 'notify-keyspace-events', 'K$gx');
    const turns: string[] = [];
    events.on('message', (_channel: string, event: string) => turns.push(event));
    await events.subscribe(`__keyspace@0__:${sweepKey}`);
    const watch = await monitor();
    try {
      // To expire: an unfinished upload on each replica, each with bytes in a segment file.
      const oldContents = replicas.map(() => randomBytes(64 * KiB));
      const old = await Promise.all(replicas.map((r, i) => startUpload(r.url, oldContents[i] as Buffer, 16 * KiB)));
      const oldFiles = old.flatMap((location) => segmentsOf(directory, idOf(location)));
      assert.equal(oldFiles.length, 3, oldFiles.join(' '));
      // To stay: a finished upload (finished uploads never expire), and two unfinished ones that get a
      // piece every 700 ms, each time on another replica.
      const finishedContent = randomBytes(32 * KiB);
      const finished = await startUpload(replicas[0]!.url, finishedContent, finishedContent.length);
      const liveContents = [randomBytes(64 * KiB), randomBytes(64 * KiB)];
      const live = await Promise.all(liveContents.map((content, i) => startUpload(replicas[i]!.url, content, KiB)));
      const liveOffsets = [KiB, KiB];
      let round = 0;
      const feed = async (): Promise<void> => {
        round += 1;
        for (const [i, location] of live.entries()) {
          const from = liveOffsets[i] as number;
          await append(replicas[(i + round) % 3]!.url, location, liveContents[i] as Buffer, from, from + KiB);
          liveOffsets[i] = from + KiB;
        }
      };
      const removed = async (): Promise<boolean> => {
        await feed();
        const keys = await admin.exists(...old.map((location) => `${prefix}u:${idOf(location)}`));
        return keys === 0 && oldFiles.every((name) => !existsSync(path.join(directory, name)));
      };
      const startedAt = Date.now();
      await until(
        'the expired uploads to be swept',
        async () => {
          await pause(700);
          return removed();
        },
        EXPIRES + 6000,
      );
      console.log(`# the expired uploads were gone ${Date.now() - startedAt} ms after their last byte`);

      // Removed by a sweep (no request touched them), so unknown now: 404 on every replica, as for any unknown id.
      for (const location of old) {
        for (const replica of replicas) {
          const head = await send(replica.url, location, 'HEAD', TUS);
          assert.equal(head.status, 404, `HEAD of an expired upload on ${replica.adapter}`);
          assert.equal(head.headers['tus-resumable'], '1.0.0');
        }
      }
      // Each removed once, by one replica.
      for (const location of old) {
        const deletes = watch.commands.filter(
          (c) => c.args[0]?.toLowerCase() === 'del' && c.args[1] === `${prefix}u:${idOf(location)}`,
        );
        assert.equal(deletes.length, 1, `upload ${idOf(location)} was removed ${deletes.length} times`);
        console.log(`# ${idOf(location)} removed by ${replicaOf(deletes[0]!.source)}`);
      }
      // The others are untouched: the finished one downloads, the live ones answer their offsets and finish.
      for (const replica of replicas) await assertStored(replica.url, finished, finishedContent);
      for (const [i, location] of live.entries()) {
        for (const replica of replicas) {
          const head = await send(replica.url, location, 'HEAD', TUS);
          assert.equal(head.status, 200);
          assert.equal(head.headers['upload-offset'], String(liveOffsets[i]));
        }
        const content = liveContents[i] as Buffer;
        await append(replicas[2]!.url, location, content, liveOffsets[i] as number, content.length);
        await assertStored(replicas[0]!.url, location, content);
      }

      // One at a time: the sweep key is taken (set) only after the previous turn's key expired, while
      // every replica asks for it; a turn (its listing of the expiring uploads) only after a take.
      const attempts = new Map<string, number>();
      for (const c of watch.commands) {
        if (c.args[0]?.toLowerCase() === 'eval' && c.args[3] === sweepKey) {
          attempts.set(replicaOf(c.source), (attempts.get(replicaOf(c.source)) ?? 0) + 1);
        }
      }
      const sweeps = watch.commands.filter(
        (c) => c.args[0]?.toLowerCase() === 'zrange' && c.args[1] === `${prefix}unfinished`,
      );
      const byReplica = new Map<string, number>();
      for (const c of sweeps) byReplica.set(replicaOf(c.source), (byReplica.get(replicaOf(c.source)) ?? 0) + 1);
      const gaps = sweeps.slice(1).map((c, i) => Math.round(c.time - (sweeps[i] as Command).time));
      console.log(
        `# sweep turns asked for: ${JSON.stringify(Object.fromEntries(attempts))}; sweeps run: ` +
          `${JSON.stringify(Object.fromEntries(byReplica))}; ms between sweeps: ${gaps.join(' ')}`,
      );
      assert.equal(attempts.size, 3, `replicas asking for a sweep turn: ${[...attempts.keys()].join(', ')}`);
      assert.ok(sweeps.length >= 2, `${sweeps.length} sweeps ran`);
      const taken = turns.filter((t) => t === 'set').length;
      assert.ok(taken >= sweeps.length, `${taken} turns taken for ${sweeps.length} sweeps`);
      for (const [i, event] of turns.entries()) {
        if (event === 'set' && i > 0)
          assert.equal(turns[i - 1], 'expired', `the sweep turn was taken twice: ${turns.join(' ')}`);
      }
      const asked = [...attempts.values()].reduce((sum, n) => sum + n, 0);
      assert.ok(asked > sweeps.length * 2, `${asked} asks for ${sweeps.length} sweeps`);
    } finally {
      await watch.stop();
      events.disconnect();
      await admin.config('SET', 'notify-keyspace-events', '').catch(() => {});
      admin.disconnect();
      await stopAll();
    }
  });
});
