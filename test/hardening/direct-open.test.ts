// A name directly under the root is opened in one step with O_NOFOLLOW (static.ts), and the opened
// descriptor's own path is checked. These pin what that shortcut must still guarantee, through every
// adapter: a link there is judged by the realpath check (inside: served; outside: 403), a FIFO does not
// hang the server, and a root that was swapped for a link after start-up never serves what it points at.
// A request that may be answered 304 first looks at the name with lstat alone: the same rules hold there.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../conformance/scenarios.ts';
import { ADAPTERS } from './adapters.ts';
import { buildRequest, exchange, type HeaderLine } from './raw.ts';

for (const adapter of ADAPTERS) {
  describe(`${adapter.name}: names directly under the root`, () => {
    let base: string;
    let root: string;
    let server: RunningServer;
    const get = (target: string) => exchange(server.baseUrl, buildRequest(target), 5_000);

    before(async () => {
      base = fs.mkdtempSync(path.join(os.tmpdir(), 'rs-direct-'));
      root = path.join(base, 'root');
      fs.mkdirSync(root);
      fs.mkdirSync(path.join(base, 'outside'));
      fs.writeFileSync(path.join(root, 'a.txt'), 'inside a\n');
      fs.mkdirSync(path.join(root, 'sub'));
      fs.writeFileSync(path.join(base, 'outside', 'a.txt'), 'CANARY outside\n');
      fs.symlinkSync('a.txt', path.join(root, 'link-inside.txt'));
      fs.symlinkSync(path.join(base, 'outside', 'a.txt'), path.join(root, 'link-outside.txt'));
      execFileSync('mkfifo', [path.join(root, 'pipe')]);
      server = await adapter.factory({ root, options: { fallthrough: false } });
    });
    after(async () => {
      await server.close();
      fs.rmSync(base, { recursive: true, force: true });
    });

    it('a plain file is served, a link inside the root is followed, a link outside is 403', async () => {
      const plain = await get('/a.txt');
      assert.equal(plain.status, 200);
      assert.equal(plain.body.toString(), 'inside a\n');
      const inside = await get('/link-inside.txt');
      assert.equal(inside.status, 200);
      assert.equal(inside.body.toString(), 'inside a\n');
      const outside = await get('/link-outside.txt');
      assert.equal(outside.status, 403);
      assert.equal(outside.body.includes('CANARY'), false);
    });

    it('a FIFO in the root is refused at once (403), without waiting for a writer', async () => {
      const res = await get('/pipe');
      assert.equal(res.status, 403);
      assert.equal((await get('/a.txt')).status, 200, 'the server goes on');
    });

    it('If-None-Match: * is 304 only for a regular file or a link inside; a link out, a FIFO, a miss are not', async () => {
      const any: HeaderLine[] = [['If-None-Match', '*']];
      const plain = await exchange(server.baseUrl, buildRequest('/a.txt', any), 5_000);
      assert.equal(plain.status, 304);
      assert.equal(plain.headers.etag, (await get('/a.txt')).headers.etag);
      assert.equal(plain.body.length, 0);
      assert.equal((await exchange(server.baseUrl, buildRequest('/link-inside.txt', any), 5_000)).status, 304);
      const outside = await exchange(server.baseUrl, buildRequest('/link-outside.txt', any), 5_000);
      assert.equal(outside.status, 403);
      assert.equal(outside.headers.etag, undefined);
      assert.equal((await exchange(server.baseUrl, buildRequest('/pipe', any), 5_000)).status, 403);
      assert.equal((await exchange(server.baseUrl, buildRequest('/missing.txt', any), 5_000)).status, 404);
      const dir = await exchange(server.baseUrl, buildRequest('/sub', any), 5_000);
      assert.equal(dir.status, 301);
      assert.equal(dir.headers.location, '/sub/');
    });

    it('a conditional GET that does not match is answered from the file it opens, changed or not', async () => {
      const first = await get('/a.txt');
      const tag = first.headers.etag ?? '';
      fs.writeFileSync(path.join(root, 'a.txt'), 'inside a, rewritten\n');
      try {
        const since = new Date(Date.now() - 3_600_000).toUTCString();
        const res = await exchange(
          server.baseUrl,
          buildRequest('/a.txt', [
            ['If-None-Match', tag],
            ['If-Modified-Since', since],
          ]),
          5_000,
        );
        assert.equal(res.status, 200);
        assert.equal(res.body.toString(), 'inside a, rewritten\n');
        assert.notEqual(res.headers.etag, tag);
        const again = await exchange(
          server.baseUrl,
          buildRequest('/a.txt', [['If-None-Match', res.headers.etag ?? '']]),
          5_000,
        );
        assert.equal(again.status, 304);
        assert.equal(again.headers.etag, res.headers.etag);
      } finally {
        fs.writeFileSync(path.join(root, 'a.txt'), 'inside a\n');
      }
    });

    it('a file this process may not read is 403 to a conditional GET too, never 304', async (t) => {
      if (process.getuid?.() === 0) {
        t.skip('running as root, which reads a file whatever its permission bits');
        console.log('# skipped: running as root, which reads a file whatever its permission bits');
        return;
      }
      const secret = path.join(root, 'secret.txt');
      fs.writeFileSync(secret, 'secret\n');
      fs.chmodSync(secret, 0o000);
      try {
        const res = await exchange(server.baseUrl, buildRequest('/secret.txt', [['If-None-Match', '*']]), 5_000);
        assert.equal(res.status, 403);
      } finally {
        fs.rmSync(secret, { force: true });
      }
    });

    it('a root swapped for a link after start-up never serves what the link points at', async () => {
      assert.equal((await get('/a.txt')).status, 200); // the real root is resolved and kept
      const moved = path.join(base, 'root-moved');
      fs.renameSync(root, moved);
      fs.symlinkSync(path.join(base, 'outside'), root);
      try {
        const res = await get('/a.txt');
        assert.equal(res.body.includes('CANARY'), false, 'the file behind the swapped root was sent');
        assert.equal(res.status, 403);
        // Nor does it say a 304 about it: not even that it exists, nor its validators.
        const any = await exchange(server.baseUrl, buildRequest('/a.txt', [['If-None-Match', '*']]), 5_000);
        assert.equal(any.status, 403);
        assert.equal(any.headers.etag, undefined);
      } finally {
        fs.unlinkSync(root);
        fs.renameSync(moved, root);
      }
    });
  });
}
