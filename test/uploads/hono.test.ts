/**
 * The upload conformance suite against `resumableUploads` of @range-serve/fetch on Hono and
 * @hono/node-server, and what only the fetch adapter has: hooks given the Web `Request`, the mount path.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serve } from '@hono/node-server';
import { resumableUploads } from '@range-serve/fetch';
import { Hono } from 'hono';
import type { RunningServer } from '../conformance/scenarios.ts';
import { running } from '../helpers/server.ts';
import { fetchUploadFactory } from './factory.ts';
import { send } from './raw.ts';
import { runUploadConformance } from './suite.ts';

// The taken-over request's body is cancelled and it is answered 409: a Web handler has no socket to cut.
runUploadConformance('Hono on @hono/node-server (@range-serve/fetch)', fetchUploadFactory(), {
  takenOverAnswered: true,
});

describe('resumableUploads on a Web-standard host', () => {
  const TUS = { 'tus-resumable': '1.0.0' };
  let dir: string;
  let server: RunningServer;
  const seen: string[] = [];
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'range-serve-fetch-uploads-'));
    const uploads = resumableUploads({
      directory: dir,
      beforeCreate: (request) => {
        seen.push(`beforeCreate ${request instanceof Request} ${request.method} ${request.headers.get('x-user')}`);
        return { data: { owner: request.headers.get('x-user') } };
      },
      onRequest: (request, upload) => {
        seen.push(`onRequest ${request instanceof Request} ${request.method} ${new URL(request.url).pathname}`);
        return upload.data.owner === request.headers.get('x-user') ? undefined : { refuse: { status: 403 } };
      },
      onComplete: (request, upload) => {
        seen.push(`onComplete ${request instanceof Request} ${upload.length} ${upload.path === upload.files[0]?.path}`);
      },
    });
    const app = new Hono();
    app.use('/api/files/*', async (c, next) => (await uploads(c.req.raw, '/api/files')) ?? next());
    app.use('/api/files', async (c, next) => (await uploads(c.req.raw, '/api/files')) ?? next());
    app.notFound((c) => c.text('fallthrough', 404));
    server = await running(serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server);
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hooks receive the Web Request; Location is under the mount path', async () => {
    const created = await send(server.baseUrl, '/api/files', 'POST', { ...TUS, 'upload-length': '5', 'x-user': 'ada' });
    assert.equal(created.status, 201);
    const location = created.headers.location ?? '';
    assert.match(location, /^\/api\/files\/[A-Za-z0-9_-]{22}$/);
    const other = await send(server.baseUrl, location, 'HEAD', { ...TUS, 'x-user': 'bob' });
    assert.equal(other.status, 403);
    assert.equal(other.headers['tus-resumable'], '1.0.0');
    const done = await send(
      server.baseUrl,
      location,
      'PATCH',
      { ...TUS, 'x-user': 'ada', 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
      Buffer.from('hello'),
    );
    assert.equal(done.status, 204);
    assert.deepEqual(seen, [
      'beforeCreate true POST ada',
      `onRequest true HEAD ${location}`,
      `onRequest true PATCH ${location}`,
      'onComplete true 5 true',
    ]);
    const got = await send(server.baseUrl, location, 'GET', { 'x-user': 'ada' });
    assert.equal(got.body.toString(), 'hello');
  });

  it('a request outside the mount path, or with no upload field, is not the adapter’s (null)', async () => {
    for (const [target, method, headers] of [
      ['/api/files', 'POST', { 'content-type': 'text/plain' }],
      ['/api/filesX', 'POST', TUS],
      ['/api/files/a/b', 'HEAD', TUS],
    ] as const) {
      const res = await send(server.baseUrl, target, method, headers);
      assert.equal(res.status, 404, `${method} ${target}`);
      if (method !== 'HEAD') assert.equal(res.body.toString(), 'fallthrough', `${method} ${target}`);
    }
  });
});
