// Uploads from a page on another origin, with the CORS layer users write in front of resumableUploads
// and nothing else (`cors({ origin })` on Express 5, `@koa/cors` on Koa 3): the preflights for POST,
// PATCH, HEAD and DELETE with the upload fields pass with each package's defaults, and every answer
// exposes the fields of ours it carries (Location, Upload-*, Tus-*, Upload-Draft-Interop-Version), so
// tus-js-client and Uppy can read where the upload lives and how far it got.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import koaCors from '@koa/cors';
import * as ex from '@range-serve/express';
import * as kx from '@range-serve/koa';
import cors from 'cors';
import express from 'express';
import Koa from 'koa';
import mount from 'koa-mount';
import type { RunningServer } from '../conformance/scenarios.ts';
import { listen } from '../helpers/server.ts';

const ORIGIN = 'https://app.example';

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
}

/** One request with `body` on its own connection; the status and fields of the answer. */
function ask(baseUrl: string, target: string, method: string, headers: OutgoingHttpHeaders, body?: Buffer) {
  const url = new URL(baseUrl);
  return new Promise<Reply>((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: target, headers, agent: false });
    req.on('error', reject);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.end(body);
  });
}

/** The fields of the upload protocols (and Location) an answer carries, lowercase. */
function uploadFields(headers: IncomingHttpHeaders): string[] {
  return Object.keys(headers).filter(
    (name) => name === 'location' || name.startsWith('upload-') || name.startsWith('tus-'),
  );
}

/** Asserts that the answer was opened to ORIGIN and exposes each upload field it carries, once. */
function assertExposed(reply: Reply, what: string): void {
  assert.equal(reply.headers['access-control-allow-origin'], ORIGIN, what);
  const listed = String(reply.headers['access-control-expose-headers'] ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
  assert.equal(new Set(listed).size, listed.length, `${what}: a field listed twice: ${listed.join(', ')}`);
  const carried = uploadFields(reply.headers);
  assert.ok(carried.length > 0, `${what} carries no upload field`);
  for (const name of carried)
    assert.ok(listed.includes(name), `${what}: ${name} is not exposed (${listed.join(', ')})`);
}

const FRAMEWORKS = [
  {
    name: 'Express 5 with cors({ origin })',
    start: (directory: string): Promise<RunningServer> => {
      const app = express();
      app.use(cors({ origin: ORIGIN }));
      app.use('/files', ex.resumableUploads({ directory }));
      return listen(app);
    },
  },
  {
    name: 'Koa 3 with @koa/cors({ origin })',
    start: (directory: string): Promise<RunningServer> => {
      const app = new Koa();
      app.on('error', () => {});
      app.use(koaCors({ origin: ORIGIN }));
      app.use(mount('/files', kx.resumableUploads({ directory })));
      return listen(app.callback());
    },
  },
] as const;

/** The preflights tus-js-client and Uppy's ietf-draft-05 client make, method and requested fields. */
const PREFLIGHTS = [
  ['tus creation', '/files', 'POST', 'tus-resumable, upload-length, upload-metadata, content-type'],
  ['tus append', 'upload', 'PATCH', 'tus-resumable, upload-offset, content-type'],
  ['tus offset', 'upload', 'HEAD', 'tus-resumable'],
  ['tus termination', 'upload', 'DELETE', 'tus-resumable'],
  ['draft creation', '/files', 'POST', 'upload-draft-interop-version, upload-complete, upload-length, content-type'],
  ['draft append', 'upload', 'PATCH', 'upload-draft-interop-version, upload-offset, upload-complete, content-type'],
  ['draft offset', 'upload', 'HEAD', 'upload-draft-interop-version'],
] as const;

for (const framework of FRAMEWORKS) {
  describe(`uploads from another origin: ${framework.name} in front`, () => {
    let dir: string;
    let server: RunningServer;
    let upload = '';
    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'range-serve-cors-up-'));
      server = await framework.start(dir);
      const created = await ask(server.baseUrl, '/files', 'POST', {
        origin: ORIGIN,
        'tus-resumable': '1.0.0',
        'upload-length': '10',
        'content-length': '0',
      });
      assert.equal(created.status, 201);
      upload = new URL(String(created.headers.location), server.baseUrl).pathname;
    });
    after(async () => {
      await server?.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it('preflights for POST, PATCH, HEAD and DELETE with the upload fields pass with the package defaults', async () => {
      for (const [what, target, method, fields] of PREFLIGHTS) {
        const reply = await ask(server.baseUrl, target === 'upload' ? upload : target, 'OPTIONS', {
          origin: ORIGIN,
          'access-control-request-method': method,
          'access-control-request-headers': fields,
        });
        assert.equal(reply.status, 204, what);
        assert.equal(reply.headers['access-control-allow-origin'], ORIGIN, what);
        assert.match(String(reply.headers['access-control-allow-methods']), new RegExp(`\\b${method}\\b`), what);
        // Both packages' defaults reflect the requested fields.
        assert.equal(reply.headers['access-control-allow-headers'], fields, what);
      }
    });

    it('tus creation, offset, append and termination answers expose Location, Tus-* and Upload-* as they carry them', async () => {
      const tus = { origin: ORIGIN, 'tus-resumable': '1.0.0' };
      const created = await ask(server.baseUrl, '/files', 'POST', {
        ...tus,
        'upload-length': '5',
        'upload-metadata': `filename ${Buffer.from('a.txt').toString('base64')}`,
        'content-length': '0',
      });
      assert.equal(created.status, 201);
      assertExposed(created, 'creation');
      const target = new URL(String(created.headers.location), server.baseUrl).pathname;
      const head = await ask(server.baseUrl, target, 'HEAD', tus);
      assert.equal(head.status, 200);
      assert.equal(head.headers['upload-offset'], '0');
      assertExposed(head, 'HEAD');
      const patched = await ask(
        server.baseUrl,
        target,
        'PATCH',
        { ...tus, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream', 'content-length': '3' },
        Buffer.from('abc'),
      );
      assert.equal(patched.status, 204);
      assert.equal(patched.headers['upload-offset'], '3');
      assertExposed(patched, 'PATCH');
      const deleted = await ask(server.baseUrl, target, 'DELETE', tus);
      assert.equal(deleted.status, 204);
      assertExposed(deleted, 'DELETE');
    });

    it('draft creation and offset answers expose Location, Upload-Offset, Upload-Complete and Upload-Draft-Interop-Version', async () => {
      const draft = { origin: ORIGIN, 'upload-draft-interop-version': '6' };
      const created = await ask(
        server.baseUrl,
        '/files',
        'POST',
        { ...draft, 'upload-complete': '?0', 'content-length': '3', 'content-type': 'application/octet-stream' },
        Buffer.from('abc'),
      );
      assert.equal(created.status, 201);
      assertExposed(created, 'draft creation');
      const listed = String(created.headers['access-control-expose-headers']).toLowerCase();
      for (const name of ['location', 'upload-offset']) assert.ok(listed.includes(name), name);
      const target = new URL(String(created.headers.location), server.baseUrl).pathname;
      const head = await ask(server.baseUrl, target, 'HEAD', draft);
      assert.equal(head.status, 204);
      assert.equal(head.headers['upload-offset'], '3');
      assertExposed(head, 'draft HEAD');
    });
  });
}
