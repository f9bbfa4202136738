// docs/behaviour.md "Changing files", through every adapter: a file renamed over
// during a download keeps serving the old bytes under the old ETag; a file modified in place cuts the
// response short (socket destroyed), never a complete body with mixed bytes; a file deleted between the
// lookup and the open is a clean 404; a file that grows never yields more than the announced length
// nor a complete body that differs from the announced version.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../conformance/scenarios.ts';
import { type Fixtures, makeFixtures } from '../helpers/fixtures.ts';
import { ADAPTERS } from './adapters.ts';
import { Download } from './download.ts';
import { buildRequest, exchange } from './raw.ts';

/** Larger than the loopback socket buffers, so the server is still reading the file when the test acts. */
const SIZE = 24 * 1024 * 1024;
const FIRST = 1024 * 1024;

for (const adapter of ADAPTERS) {
  describe(`${adapter.name}: files that change during a response`, () => {
    let fx: Fixtures;
    let server: RunningServer;
    let content: Buffer;
    let n = 0;
    /** A fresh copy of the content at a new path in the root. */
    const place = (dir = ''): { name: string; file: string } => {
      const name = path.posix.join(dir, `f${n++}.bin`);
      const file = path.join(fx.root, name);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content);
      return { name, file };
    };

    before(async () => {
      fx = makeFixtures();
      content = randomBytes(SIZE);
      server = await adapter.factory({ root: fx.root });
    });
    after(async () => {
      await server.close();
      fx.remove();
    });

    it('a file renamed over mid-download: the response completes with the old bytes, under the old ETag', async () => {
      const { name, file } = place();
      const before = await exchange(server.baseUrl, buildRequest(`/${name}`, [['Range', 'bytes=0-0']]));
      const oldEtag = before.headers.etag;
      const dl = new Download(server.baseUrl, `/${name}`);
      await dl.readAtLeast(FIRST);
      const replacement = Buffer.alloc(SIZE + 10, 0x41);
      fs.writeFileSync(`${file}.new`, replacement);
      fs.renameSync(`${file}.new`, file);
      const res = await dl.finish();
      assert.equal(res.status, 200);
      assert.equal(res.headers.etag, oldEtag);
      assert.ok(res.complete, `received ${res.body.length} of ${res.headers['content-length']}`);
      assert.ok(res.body.equals(content), 'the old bytes, all of them');
      const after = await exchange(server.baseUrl, buildRequest(`/${name}`));
      assert.notEqual(after.headers.etag, oldEtag, 'the new file has its own ETag');
      assert.ok(after.body.equals(replacement));
    });

    for (const [label, range] of [
      ['the whole file', undefined],
      ['a multipart range', `bytes=0-99,${FIRST * 2}-${SIZE - 1}`],
    ] as const) {
      it(`a file modified in place mid-download (${label}): cut short, never complete with mixed bytes`, async () => {
        const { name, file } = place();
        const dl = new Download(server.baseUrl, `/${name}`, range === undefined ? [] : [['Range', range]]);
        await dl.readAtLeast(FIRST);
        // Same size, new bytes near the end: only the mtime says the file changed.
        const fd = fs.openSync(file, 'r+');
        fs.writeSync(fd, Buffer.alloc(4096, 0x42), 0, 4096, SIZE - 8192);
        fs.closeSync(fd);
        const res = await dl.finish();
        assert.equal(res.status, range === undefined ? 200 : 206);
        assert.equal(res.complete, false, `a complete ${res.body.length}-byte body was sent after an in-place write`);
        assert.ok(res.body.length < Number(res.headers['content-length']));
      });
    }

    it('a file that grows mid-download: never more than Content-Length, never a complete body that differs', async () => {
      const { name, file } = place();
      const dl = new Download(server.baseUrl, `/${name}`);
      await dl.readAtLeast(FIRST);
      fs.appendFileSync(file, randomBytes(2 * 1024 * 1024));
      const res = await dl.finish();
      const announced = Number(res.headers['content-length']);
      assert.equal(announced, SIZE);
      assert.ok(res.body.length <= announced, `${res.body.length} bytes sent for a Content-Length of ${announced}`);
      if (res.complete) assert.ok(res.body.equals(content), 'a complete body is the announced version');
      // The core cannot tell an append from a rewrite that also grew the file, so it aborts (docs/behaviour.md "Changing files").
      assert.equal(res.complete, false);
      assert.ok(content.subarray(0, res.body.length).equals(res.body), 'the bytes sent are the announced version');
    });

    it('a file deleted between the lookup and the open: a clean 404, and the server goes on', async () => {
      // One directory down, so the core resolves links with fs/promises.realpath and then opens (a name
      // directly under the root is opened in one step, leaving no gap); unlink in between.
      const { name, file } = place('sub');
      const realRealpath = fsp.realpath;
      let hits = 0;
      fsp.realpath = (async (...args: Parameters<typeof realRealpath>) => {
        const resolved = await Reflect.apply(realRealpath, fsp, args);
        if (String(resolved) === file) {
          hits++;
          fs.unlinkSync(file);
        }
        return resolved;
      }) as typeof fsp.realpath;
      syncBuiltinESMExports();
      try {
        const res = await exchange(server.baseUrl, buildRequest(`/${name}`));
        assert.equal(hits, 1, 'the deletion happened between the lookup and the open');
        assert.equal(res.status, 404);
        assert.match(res.body.toString(), /^(fallthrough|Not Found)$/);
      } finally {
        fsp.realpath = realRealpath;
        syncBuiltinESMExports();
      }
      const ok = await exchange(server.baseUrl, buildRequest('/hello.txt'));
      assert.equal(ok.status, 200);
    });

    it('files deleted at random moments around their requests: each answer is the whole file or a 404', async () => {
      const small = content.subarray(0, 64 * 1024);
      const answers = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const file = path.join(fx.root, `race${i}.bin`);
          fs.writeFileSync(file, small);
          const pending = exchange(server.baseUrl, buildRequest(`/race${i}.bin`));
          setTimeout(() => fs.rmSync(file, { force: true }), i % 5);
          return pending;
        }),
      );
      for (const res of answers) {
        if (res.status === 200) assert.ok(res.body.equals(small));
        else assert.equal(res.status, 404);
      }
    });
  });
}
