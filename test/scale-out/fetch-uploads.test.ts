/**
 * `resumableUploads` of @range-serve/fetch with `redis`: a Hono app and an Express app, one directory
 * and one real redis-server, are one upload server. An upload created on Hono is appended on Express and
 * completed on Hono again, its offset read on either side right after the other's 204; a final upload
 * (tus concatenation) made on Hono of parts written on both is exact.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serve } from '@hono/node-server';
import { resumableUploads as expressUploads } from '@range-serve/express';
import { resumableUploads as fetchUploads } from '@range-serve/fetch';
import express from 'express';
import { Hono } from 'hono';
import type { RunningServer } from '../conformance/scenarios.ts';
import { running } from '../helpers/server.ts';
import { send } from '../uploads/raw.ts';
import { type RunningRedis, startRedis } from './upload-cluster.ts';

const TUS = { 'tus-resumable': '1.0.0' };
const APPEND = { ...TUS, 'content-type': 'application/offset+octet-stream' };

describe('the fetch adapter with redis shares uploads with an Express replica', { timeout: 60_000 }, () => {
  let dir: string;
  let redis: RunningRedis;
  let hono: RunningServer;
  let viaExpress: RunningServer;
  let uploads: ReturnType<typeof fetchUploads> | undefined;
  let replica: ReturnType<typeof expressUploads> | undefined;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'range-serve-fetch-redis-'));
    redis = await startRedis(path.join(dir, 'redis'));
    const options = { directory: path.join(dir, 'uploads'), redis: redis.url, leaseTime: '2s' };
    const served = fetchUploads(options);
    uploads = served;
    const app = new Hono();
    app.use('/files', async (c, next) => (await served(c.req.raw, '/files')) ?? next());
    app.use('/files/*', async (c, next) => (await served(c.req.raw, '/files')) ?? next());
    hono = await running(serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server);
    const other = express();
    replica = expressUploads(options);
    other.use('/files', replica);
    viaExpress = await running(other.listen(0, '127.0.0.1'));
  });
  after(async () => {
    await hono?.close();
    await viaExpress?.close();
    // Their Redis connections closed, nothing keeps the process alive: what a graceful shutdown does.
    uploads?.close();
    replica?.close();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('created on Hono, appended on Express, completed on Hono: each HEAD right after a 204 has its offset', async () => {
    const created = await send(hono.baseUrl, '/files', 'POST', { ...TUS, 'upload-length': '11' });
    assert.equal(created.status, 201);
    const location = created.headers.location ?? '';
    assert.match(location, /^\/files\/[A-Za-z0-9_-]{22}$/);
    const first = await send(
      viaExpress.baseUrl,
      location,
      'PATCH',
      { ...APPEND, 'upload-offset': '0' },
      Buffer.from('hello '),
    );
    assert.equal(first.status, 204);
    assert.equal(first.headers['upload-offset'], '6');
    const seen = await send(hono.baseUrl, location, 'HEAD', TUS);
    assert.equal(seen.status, 200);
    assert.equal(seen.headers['upload-offset'], '6');
    assert.equal(seen.headers['upload-length'], '11');
    const last = await send(hono.baseUrl, location, 'PATCH', { ...APPEND, 'upload-offset': '6' }, Buffer.from('world'));
    assert.equal(last.status, 204);
    assert.equal(last.headers['upload-offset'], '11');
    const back = await send(viaExpress.baseUrl, location, 'HEAD', TUS);
    assert.equal(back.headers['upload-offset'], '11');
    for (const base of [hono.baseUrl, viaExpress.baseUrl]) {
      const got = await send(base, location, 'GET', {});
      assert.equal(got.status, 200);
      assert.equal(got.body.toString(), 'hello world');
    }
  });

  it('a final upload made on Hono of partial uploads written on Hono and on Express is exact', async () => {
    const partial = async (base: string, bytes: string): Promise<string> => {
      const made = await send(
        base,
        '/files',
        'POST',
        { ...APPEND, 'upload-concat': 'partial', 'upload-length': String(bytes.length) },
        Buffer.from(bytes),
      );
      assert.equal(made.status, 201);
      return made.headers.location ?? '';
    };
    const a = await partial(hono.baseUrl, 'parts from ');
    const b = await partial(viaExpress.baseUrl, 'two servers');
    const final = await send(hono.baseUrl, '/files', 'POST', { ...TUS, 'upload-concat': `final;${a} ${b}` });
    assert.equal(final.status, 201, final.body.toString());
    const location = final.headers.location ?? '';
    const described = await send(viaExpress.baseUrl, location, 'HEAD', TUS);
    assert.equal(described.headers['upload-concat'], `final;${a} ${b}`);
    assert.equal(described.headers['upload-offset'], '22');
    const range = await send(viaExpress.baseUrl, location, 'GET', { range: 'bytes=6-15' });
    assert.equal(range.status, 206);
    assert.equal(range.headers['content-range'], 'bytes 6-15/22');
    assert.equal(range.body.toString(), 'from two s');
  });
});
