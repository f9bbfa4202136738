/**
 * Uploads across replicas: three upload replicas as separate processes (Express, Koa, Express) on one
 * directory and one real redis-server, behind a real nginx round-robin balancer configured from
 * docs/deploying.md (`proxy_request_buffering off`). Requests go to one replica by its own port where
 * the test must say which replica does what, and through nginx where any may.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tus from 'tus-js-client';
import { startCuttingProxy } from '../e2e/proxy.ts';
import { openRequest, pause, send, type UploadReply } from '../uploads/raw.ts';
import {
  type Completion,
  type RunningRedis,
  startRedis,
  startUploadBalancer,
  startUploadReplica,
  type UploadReplica,
} from './upload-cluster.ts';
import { requireCommand } from './proxies.ts';

const TUS = { 'tus-resumable': '1.0.0' };
const APPEND = { ...TUS, 'content-type': 'application/offset+octet-stream' };
const DRAFT8 = { 'upload-draft-interop-version': '8' };
const MiB = 1024 * 1024;
/** Short, so that the tests that wait for a lease to expire stay short. */
const LEASE_MS = 2000;
const ADAPTERS = ['express', 'koa', 'express'] as const;

let dir: string;
let redis: RunningRedis;
const replicas: UploadReplica[] = [];
let balancer: Awaited<ReturnType<typeof startUploadBalancer>>;
const completions: Completion[] = [];
const options = (): Record<string, unknown> => ({ redis: redis.url, leaseTime: LEASE_MS, idleTimeout: '20s' });

function locationOf(res: UploadReply, base: string): string {
  assert.ok(res.headers.location !== undefined, `no Location (status ${res.status}: ${res.body.toString()})`);
  return new URL(res.headers.location, base).pathname;
}

async function createTus(base: string, length: number): Promise<string> {
  const res = await send(base, '/files', 'POST', { ...TUS, 'upload-length': String(length) });
  assert.equal(res.status, 201, res.body.toString());
  return locationOf(res, base);
}

async function assertStored(location: string, content: Buffer, base = balancer.url): Promise<void> {
  const got = await send(base, location, 'GET');
  assert.equal(got.status, 200, got.body.toString());
  assert.equal(got.body.length, content.length, 'stored length');
  assert.ok(got.body.equals(content), 'stored bytes differ from the bytes sent');
}

function completionsOf(location: string): Completion[] {
  const id = location.split('/').pop();
  return completions.filter((c) => c.complete === id);
}

async function restartReplica(index: number): Promise<void> {
  const old = replicas[index] as UploadReplica;
  await old.stop();
  replicas[index] = await startUploadReplica(old.adapter, path.join(dir, 'uploads'), options(), completions, old.port);
}

describe('uploads across replicas on one directory and one Redis, behind nginx', { timeout: 240_000 }, () => {
  before(async () => {
    requireCommand('nginx', ['-v'], 'nginx');
    dir = mkdtempSync(path.join(tmpdir(), 'range-serve-replicas-'));
    redis = await startRedis(path.join(dir, 'redis'));
    for (const adapter of ADAPTERS) {
      replicas.push(await startUploadReplica(adapter, path.join(dir, 'uploads'), options(), completions));
    }
    const ports = replicas.map((r) => r.port) as [number, number, number];
    balancer = await startUploadBalancer(dir, ports);
  });

  after(async () => {
    await balancer?.stop();
    for (const replica of replicas) await replica.stop();
    await redis?.stop();
    for (const replica of replicas) {
      const errors = replica.errors().trim();
      if (errors !== '') console.log(`stderr of the ${replica.adapter} replica:\n${errors}`);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('a HEAD on any replica right after another replica answered 204 gives that offset', async () => {
    const pairs = [
      [0, 1],
      [1, 2],
      [2, 0],
      [0, 2],
      [2, 1],
      [1, 0],
    ] as const;
    const content = randomBytes(pairs.length * 1000);
    const location = await createTus(replicas[0]!.url, content.length);
    for (const [i, [writer, reader]] of pairs.entries()) {
      const patched = await send(
        replicas[writer]!.url,
        location,
        'PATCH',
        { ...APPEND, 'upload-offset': String(i * 1000) },
        content.subarray(i * 1000, (i + 1) * 1000),
      );
      assert.equal(patched.status, 204, patched.body.toString());
      const head = await send(replicas[reader]!.url, location, 'HEAD', TUS);
      assert.equal(head.status, 200);
      assert.equal(head.headers['upload-offset'], String((i + 1) * 1000));
    }
    await assertStored(location, content);
    assert.equal(completionsOf(location).length, 1);
  });

  it('a draft upload (interop 8) created on one replica, appended on another, completed on a third is exact', async () => {
    const content = randomBytes(300 * 1024);
    const third = 100 * 1024;
    const created = await send(
      replicas[0]!.url,
      '/files',
      'POST',
      { ...DRAFT8, 'upload-complete': '?0', 'content-type': 'application/octet-stream' },
      content.subarray(0, third),
    );
    assert.equal(created.status, 201, created.body.toString());
    assert.equal(created.headers['upload-offset'], String(third));
    const location = locationOf(created, replicas[0]!.url);
    const appended = await send(
      replicas[1]!.url,
      location,
      'PATCH',
      {
        ...DRAFT8,
        'content-type': 'application/partial-upload',
        'upload-offset': String(third),
        'upload-complete': '?0',
      },
      content.subarray(third, 2 * third),
    );
    assert.equal(appended.status, 204, appended.body.toString());
    const head = await send(replicas[2]!.url, location, 'HEAD', DRAFT8);
    assert.equal(head.headers['upload-offset'], String(2 * third));
    const completed = await send(
      replicas[2]!.url,
      location,
      'PATCH',
      {
        ...DRAFT8,
        'content-type': 'application/partial-upload',
        'upload-offset': String(2 * third),
        'upload-complete': '?1',
      },
      content.subarray(2 * third),
    );
    assert.ok(completed.status === 200 || completed.status === 204, `status ${completed.status}`);
    assert.equal(completed.headers['upload-complete'], '?1');
    for (const replica of replicas) await assertStored(location, content, replica.url);
    assert.equal(completionsOf(location).length, 1);
  });

  it('200 appends racing on 20 uploads over all replicas lose and duplicate no byte, and complete each once', async () => {
    const UPLOADS = 20;
    const PIECE = 16 * 1024;
    const PIECES = 10;
    const contents = Array.from({ length: UPLOADS }, () => randomBytes(PIECE * PIECES));
    const locations = await Promise.all(contents.map((content, i) => createTus(replicas[i % 3]!.url, content.length)));
    let appends = 0;
    const statuses = new Map<number | string, number>();
    // Each worker appends the next piece at the offset it last learned (from a 204, a 409 or a HEAD),
    // on another replica each time: the ten workers of an upload race for every piece.
    const worker = async (u: number, w: number): Promise<void> => {
      const content = contents[u] as Buffer;
      let offset = 0;
      for (let round = 0; round < 200 && offset < content.length; round += 1) {
        appends += 1;
        const patched = await send(
          replicas[(u + w + round) % 3]!.url,
          locations[u]!,
          'PATCH',
          { ...APPEND, 'upload-offset': String(offset) },
          content.subarray(offset, offset + PIECE),
        ).catch(() => undefined); // a take-over ends the request it took over from
        const status = patched?.status ?? 'taken over';
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (patched !== undefined && (patched.status === 204 || patched.status === 409)) {
          offset = Number(patched.headers['upload-offset']);
        } else {
          const head = await send(replicas[(u + w + round + 1) % 3]!.url, locations[u]!, 'HEAD', TUS);
          offset = Number(head.headers['upload-offset']);
        }
      }
    };
    await Promise.all(contents.flatMap((_, u) => Array.from({ length: 10 }, (_, w) => worker(u, w))));
    console.log(`# racing appends: ${appends} sent, answers ${JSON.stringify(Object.fromEntries(statuses))}`);
    assert.ok(appends >= 200, `${appends} appends were sent`);
    // 503: a request that waited its bound for a turn under this contention (a client retries it).
    for (const status of statuses.keys())
      assert.ok([204, 409, 503, 'taken over'].includes(status), `an append got ${status}`);
    for (const [u, location] of locations.entries()) {
      await assertStored(location, contents[u] as Buffer, replicas[u % 3]!.url);
      assert.equal(completionsOf(location).length, 1, `onComplete ran ${completionsOf(location).length} times`);
    }
  });

  it('tus-js-client through nginx, its connection cut by a proxy twice, resumes to the exact bytes', async () => {
    const proxy = await startCuttingProxy(balancer.port);
    try {
      const content = randomBytes(12 * MiB);
      let upload!: tus.Upload;
      const done = new Promise<void>((resolve, reject) => {
        upload = new tus.Upload(content, {
          endpoint: `${proxy.origin}/files`,
          chunkSize: 4 * MiB,
          retryDelays: [100, 300, 1000, 2000, 3000],
          onError: reject,
          onSuccess: () => resolve(),
        });
      });
      proxy.cutAfter(3 * MiB);
      upload.start();
      await proxy.cut();
      proxy.cutAfter(4 * MiB);
      await proxy.cut();
      await done;
      const location = new URL(upload.url ?? '').pathname;
      await assertStored(location, content);
      assert.equal(completionsOf(location).length, 1);
    } finally {
      await proxy.close();
    }
  });

  it('tus concatenation: partial uploads written on two replicas, the final made on a third, is exact', async () => {
    const parts = [randomBytes(300 * 1024), randomBytes(200 * 1024)];
    const locations: string[] = [];
    for (const [i, part] of parts.entries()) {
      const created = await send(
        replicas[i]!.url,
        '/files',
        'POST',
        { ...APPEND, 'upload-length': String(part.length), 'upload-concat': 'partial' },
        part,
      );
      assert.equal(created.status, 201, created.body.toString());
      locations.push(locationOf(created, replicas[i]!.url));
    }
    const final = await send(replicas[2]!.url, '/files', 'POST', {
      ...TUS,
      'upload-concat': `final;${locations.join(' ')}`,
    });
    assert.equal(final.status, 201, final.body.toString());
    const location = locationOf(final, replicas[2]!.url);
    for (const replica of replicas) await assertStored(location, Buffer.concat(parts), replica.url);
    const head = await send(replicas[0]!.url, location, 'HEAD', TUS);
    assert.equal(head.headers['upload-offset'], String(300 * 1024 + 200 * 1024));
    assert.equal(completionsOf(location).length, 1);
  });

  it('tus-js-client with parallelUploads: 4 through nginx, one connection cut, is the exact file', async () => {
    const proxy = await startCuttingProxy(balancer.port);
    try {
      const content = randomBytes(16 * MiB);
      let upload!: tus.Upload;
      const done = new Promise<void>((resolve, reject) => {
        upload = new tus.Upload(content, {
          endpoint: `${proxy.origin}/files`,
          parallelUploads: 4,
          retryDelays: [100, 300, 1000, 2000, 3000],
          onError: reject,
          onSuccess: () => resolve(),
        });
      });
      proxy.cutAfter(6 * MiB);
      upload.start();
      await proxy.cut();
      await done;
      const location = new URL(upload.url ?? '').pathname;
      for (const replica of replicas) await assertStored(location, content, replica.url);
      assert.equal(completionsOf(location).length, 1);
    } finally {
      await proxy.close();
    }
  });

  it('a replica killed in the middle of a body: the upload resumes on another within the lease time, exact', async () => {
    const content = randomBytes(12 * MiB);
    const location = await createTus(replicas[0]!.url, content.length);
    // 10 MiB: past the 8 MiB checkpoint, so some of it is committed before the kill.
    const open = await openRequest(
      replicas[0]!.url,
      location,
      'PATCH',
      { ...APPEND, 'upload-offset': '0', 'content-length': String(content.length) },
      content.subarray(0, 10 * MiB),
    );
    await pause(800);
    replicas[0]!.signal('SIGKILL');
    await replicas[0]!.exited;
    const killedAt = Date.now();
    const head = await send(replicas[1]!.url, location, 'HEAD', TUS);
    const waited = Date.now() - killedAt;
    assert.equal(head.status, 200);
    assert.ok(waited < LEASE_MS + 1500, `the HEAD waited ${waited} ms for a lease of ${LEASE_MS} ms`);
    const offset = Number(head.headers['upload-offset']);
    assert.ok(offset >= 0 && offset <= 10 * MiB, `offset ${offset}`);
    console.log(`# SIGKILL mid-body: another replica answered offset ${offset} after ${waited} ms`);
    open.cut();
    const rest = await send(
      replicas[2]!.url,
      location,
      'PATCH',
      { ...APPEND, 'upload-offset': String(offset) },
      content.subarray(offset),
    );
    assert.equal(rest.status, 204, rest.body.toString());
    await assertStored(location, content, replicas[1]!.url);
    await restartReplica(0);
    assert.equal(completionsOf(location).length, 1);
  });

  it('a writer paused past its lease neither acknowledges nor overwrites once resumed', async () => {
    const content = randomBytes(6 * MiB);
    const location = await createTus(replicas[1]!.url, content.length);
    const open = await openRequest(
      replicas[1]!.url,
      location,
      'PATCH',
      { ...APPEND, 'upload-offset': '0', 'content-length': String(content.length) },
      content.subarray(0, 2 * MiB),
    );
    await pause(500);
    replicas[1]!.signal('SIGSTOP');
    try {
      // Another replica takes over once the paused writer's lease expired, and finishes the upload.
      const head = await send(replicas[2]!.url, location, 'HEAD', TUS);
      assert.equal(head.status, 200);
      const offset = Number(head.headers['upload-offset']);
      const finished = await send(
        replicas[2]!.url,
        location,
        'PATCH',
        { ...APPEND, 'upload-offset': String(offset) },
        content.subarray(offset),
      );
      assert.equal(finished.status, 204, finished.body.toString());
      assert.equal(finished.headers['upload-offset'], String(content.length));
    } finally {
      replicas[1]!.signal('SIGCONT');
    }
    // The resumed writer goes on with bytes that differ from the upload's, through a checkpoint.
    await open.write(Buffer.alloc(4 * MiB, 0xee)).catch(() => {});
    const answer = await open.reply;
    assert.ok(answer === null || answer.status >= 400, `the paused writer was answered ${answer?.status}`);
    await pause(500);
    for (const replica of replicas) await assertStored(location, content, replica.url);
    assert.equal(completionsOf(location).length, 1);
  });

  it('while Redis is down uploads get 503 with Retry-After, and continue once it is back, without a restart', async () => {
    const content = randomBytes(256 * 1024);
    const location = await createTus(replicas[0]!.url, content.length);
    const half = content.length / 2;
    const first = await send(
      replicas[1]!.url,
      location,
      'PATCH',
      { ...APPEND, 'upload-offset': '0' },
      content.subarray(0, half),
    );
    assert.equal(first.status, 204);
    await redis.kill();
    const started = Date.now();
    const head = await send(replicas[2]!.url, location, 'HEAD', TUS);
    const patch = await send(
      replicas[0]!.url,
      location,
      'PATCH',
      { ...APPEND, 'upload-offset': String(half) },
      content.subarray(half),
    );
    const create = await send(balancer.url, '/files', 'POST', { ...TUS, 'upload-length': '10' });
    const took = Date.now() - started;
    for (const res of [head, patch, create]) {
      assert.equal(res.status, 503, res.body.toString());
      assert.equal(res.headers['retry-after'], '2');
      assert.equal(res.headers['tus-resumable'], '1.0.0');
    }
    assert.ok(took < 10_000, `three requests took ${took} ms while Redis was down`);
    await redis.restart();
    let offset: string | undefined;
    for (let attempt = 0; attempt < 50 && offset === undefined; attempt += 1) {
      const again = await send(replicas[2]!.url, location, 'HEAD', TUS);
      if (again.status === 200) offset = again.headers['upload-offset'] as string;
      else await pause(200);
    }
    assert.equal(offset, String(half), 'the acknowledged offset survived the Redis restart');
    const rest = await send(
      replicas[0]!.url,
      location,
      'PATCH',
      { ...APPEND, 'upload-offset': String(half) },
      content.subarray(half),
    );
    assert.equal(rest.status, 204, rest.body.toString());
    await assertStored(location, content);
  });

  it('onComplete ran exactly once for every upload completed on any replica', () => {
    const counts = new Map<string, number>();
    for (const c of completions) counts.set(c.complete, (counts.get(c.complete) ?? 0) + 1);
    assert.ok(counts.size >= 25, `${counts.size} uploads completed`);
    for (const [id, n] of counts) assert.equal(n, 1, `onComplete ran ${n} times for ${id}`);
  });
});
