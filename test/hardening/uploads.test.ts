/**
 * Upload requests meant to hurt: a body that trickles, a body past maxSize, ids that try to leave the
 * upload directory or name someone else's upload. Each gets its 4xx (or its timeout) and leaves the
 * upload directory exactly as it was, apart from the bytes the protocol says to keep.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import Koa from 'koa';
import {
  expressUploadFactory,
  koaUploadFactory,
  type RunningServer,
  type UploadServerFactory,
} from '../uploads/factory.ts';
import { openRequest, pause, send } from '../uploads/raw.ts';

const TUS = { 'tus-resumable': '1.0.0' };
const PATCH = { ...TUS, 'content-type': 'application/offset+octet-stream' };
const MAX = 64 * 1024;

const FACTORIES: readonly [string, UploadServerFactory][] = [
  ['Express 5', expressUploadFactory(express)],
  ['Koa 3', koaUploadFactory(Koa)],
];

/** Every file under `dir` (and the folder around it): name, size, mtime and SHA-256. */
function snapshot(dir: string): string {
  const lines: string[] = [];
  const walk = (folder: string): void => {
    for (const name of readdirSync(folder).sort()) {
      const full = path.join(folder, name);
      const s = statSync(full);
      if (s.isDirectory()) walk(full);
      else {
        const sum = createHash('sha256').update(readFileSync(full)).digest('hex');
        lines.push(`${path.relative(dir, full)} ${s.size} ${s.mtimeMs} ${sum}`);
      }
    }
  };
  walk(dir);
  return lines.join('\n');
}

/** Writes a raw request (for targets node:http will not send as they are) and reads the status line. */
function rawStatus(baseUrl: string, head: string): Promise<number> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let text = '';
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (match !== null) {
        socket.destroy();
        resolve(Number(match[1]));
      }
    });
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
    socket.write(head);
  });
}

for (const [name, factory] of FACTORIES) {
  describe(`${name}: hostile upload requests`, () => {
    const root = mkdtempSync(path.join(tmpdir(), 'range-serve-upload-attack-'));
    const dir = path.join(root, 'uploads');
    let server: RunningServer;
    before(async () => {
      mkdirSync(dir);
      // A file beside the upload directory that a traversal would reach.
      writeFileSync(path.join(root, 'secret'), 'not an upload');
      server = await factory({
        options: {
          directory: dir,
          maxSize: MAX,
          idleTimeout: 600,
          beforeCreate: (req) => ({ data: { owner: String(req.headers['x-user'] ?? '') } }),
          onRequest: (req, upload) =>
            upload.data.owner === String(req.headers['x-user'] ?? '') ? undefined : { refuse: { status: 403 } },
        },
      });
    });
    after(async () => {
      await server.close();
      rmSync(root, { recursive: true, force: true });
    });

    const create = async (length: number | 'deferred', user = 'alice'): Promise<string> => {
      const created = await send(server.baseUrl, '/files', 'POST', {
        ...TUS,
        'x-user': user,
        ...(length === 'deferred' ? { 'upload-defer-length': '1' } : { 'upload-length': String(length) }),
      });
      assert.equal(created.status, 201);
      return created.headers.location ?? '';
    };

    it('a body trickling slower than the idle timeout ends with 408 and keeps the bytes that arrived', async () => {
      const location = await create(1000);
      const started = Date.now();
      const open = await openRequest(
        server.baseUrl,
        location,
        'PATCH',
        { ...PATCH, 'x-user': 'alice', 'upload-offset': '0', 'content-length': '1000' },
        Buffer.from('a'),
      );
      // One byte a second: each gap is longer than the 600 ms idle timeout.
      let ended = false;
      const trickle = (async () => {
        for (let i = 0; i < 5 && !ended; i++) {
          await pause(1000);
          await open.write(Buffer.from('b')).catch(() => {});
        }
      })();
      const reply = await open.reply;
      ended = true;
      const elapsed = Date.now() - started;
      assert.equal(reply?.status, 408);
      assert.equal(reply?.headers['tus-resumable'], '1.0.0');
      assert.ok(elapsed >= 550 && elapsed < 1500, `ended after ${elapsed} ms`);
      const head = await send(server.baseUrl, location, 'HEAD', { ...TUS, 'x-user': 'alice' });
      assert.equal(head.headers['upload-offset'], '1');
      assert.equal(readFileSync(path.join(dir, location.slice('/files/'.length))).toString(), 'a');
      open.cut();
      await trickle;
    });

    it('a body past maxSize is refused with 413 and none of its bytes stored', async () => {
      const location = await create('deferred');
      const content = randomBytes(MAX + 40_000);
      // Chunked, so the size is found out while the body streams, not from Content-Length.
      const open = await openRequest(
        server.baseUrl,
        location,
        'PATCH',
        { ...PATCH, 'x-user': 'alice', 'upload-offset': '0' },
        content.subarray(0, 30_000),
      );
      await open.write(content.subarray(30_000));
      const reply = await open.reply;
      assert.equal(reply?.status, 413);
      // A refused request stores none of its bytes: the offset and the data file are as before it.
      const head = await send(server.baseUrl, location, 'HEAD', { ...TUS, 'x-user': 'alice' });
      assert.equal(head.headers['upload-offset'], '0');
      assert.equal(readFileSync(path.join(dir, location.slice('/files/'.length))).length, 0);
      // And a declared length above maxSize is refused before any byte.
      const over = await send(server.baseUrl, '/files', 'POST', { ...TUS, 'upload-length': String(MAX + 1) });
      assert.equal(over.status, 413);
    });

    it("ids with '..', an encoded slash, NUL, an over-long id or someone else's upload get 4xx and touch nothing", async () => {
      const location = await create(100);
      const ok = await send(
        server.baseUrl,
        location,
        'PATCH',
        { ...PATCH, 'x-user': 'alice', 'upload-offset': '0' },
        Buffer.from('0123456789'),
      );
      assert.equal(ok.status, 204);
      const id = location.slice('/files/'.length);
      const targets = [
        '/files/..',
        '/files/..%2fsecret',
        '/files/..%2Fsecret',
        '/files/%2e%2e%2fsecret',
        `/files/${id}%2f..`,
        `/files/${id}%00`,
        `/files/%00${id.slice(1)}`,
        `/files/${id}A`,
        `/files/${id}${'A'.repeat(4000)}`,
        `/files/${id.slice(0, 21)}.`,
        `/files/${id}.json`,
      ];
      // One request as `user`; a PATCH appends one byte at offset 10.
      const sendAs = (user: string, target: string, method: 'HEAD' | 'GET' | 'PATCH' | 'DELETE') =>
        send(
          server.baseUrl,
          target,
          method,
          method === 'PATCH' ? { ...PATCH, 'x-user': user, 'upload-offset': '10' } : { ...TUS, 'x-user': user },
          method === 'PATCH' ? Buffer.from('x') : undefined,
        );
      const before = snapshot(root);
      const statuses: string[] = [];
      for (const target of targets) {
        for (const method of ['HEAD', 'GET', 'PATCH', 'DELETE'] as const) {
          const res = await sendAs('alice', target, method);
          statuses.push(`${method} ${target.slice(0, 40)} ${res.status}`);
          assert.ok(res.status >= 400 && res.status < 500, `${method} ${target}: ${res.status}`);
        }
      }
      // A raw NUL byte and a backslash in the request target.
      for (const target of [`/files/${id.slice(0, 21)}\0`, `/files/..\\secret`]) {
        const status = await rawStatus(
          server.baseUrl,
          `HEAD ${target} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n\r\n`,
        );
        assert.ok(status >= 400 && status < 500, `raw ${JSON.stringify(target)}: ${status}`);
      }
      // Someone else's upload: the onRequest hook refuses every method with 403.
      for (const method of ['HEAD', 'GET', 'PATCH', 'DELETE'] as const) {
        const res = await sendAs('mallory', location, method);
        assert.equal(res.status, 403, `${method} by another user`);
      }
      assert.equal(snapshot(root), before, 'the upload directory changed');
      const head = await send(server.baseUrl, location, 'HEAD', { ...TUS, 'x-user': 'alice' });
      assert.equal(head.headers['upload-offset'], '10');
    });
  });
}
