// A name directly under the root is opened in one step with O_NOFOLLOW (static.ts), and the opened
// descriptor's own path is checked. These pin what that shortcut must still guarantee, through every
// adapter: a link there is judged by the realpath check (inside: served; outside: 403), a FIFO does not
// hang the server, and a root that was swapped for a link after start-up never serves what it points at.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../conformance/scenarios.ts';
import { ADAPTERS } from './adapters.ts';
import { buildRequest, exchange } from './raw.ts';

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

    it('a root swapped for a link after start-up never serves what the link points at', async () => {
      assert.equal((await get('/a.txt')).status, 200); // the real root is resolved and kept
      const moved = path.join(base, 'root-moved');
      fs.renameSync(root, moved);
      fs.symlinkSync(path.join(base, 'outside'), root);
      try {
        const res = await get('/a.txt');
        assert.equal(res.body.includes('CANARY'), false, 'the file behind the swapped root was sent');
        assert.equal(res.status, 403);
      } finally {
        fs.unlinkSync(root);
        fs.renameSync(moved, root);
      }
    });
  });
}
