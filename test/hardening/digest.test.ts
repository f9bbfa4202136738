// `etag: 'digest'` through every adapter: a client that goes away while the first digest of a file is
// computed leaves no descriptor open, concurrent first requests all get the same digest and bytes, and a
// file written to while it is hashed is never served under a digest of other bytes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../conformance/scenarios.ts';
import { type Fixtures, makeFixtures } from '../helpers/fixtures.ts';
import { request } from '../helpers/http.ts';
import { eventually, fdCount } from '../stress/resources.ts';
import { ADAPTERS } from './adapters.ts';

/** Large enough that its first digest takes tens of milliseconds. */
const SIZE = 64 * 1024 * 1024;

for (const adapter of ADAPTERS) {
  describe(`${adapter.name}: etag 'digest' while the first digest is computed`, () => {
    let fx: Fixtures;
    let server: RunningServer;
    let content: Buffer;
    let n = 0;
    const place = (): string => {
      const name = `d${n++}.bin`;
      fs.writeFileSync(path.join(fx.root, name), content);
      return name;
    };
    const digestOf = (bytes: Buffer) => `sha-256=:${createHash('sha256').update(bytes).digest('base64')}:`;

    before(async () => {
      fx = makeFixtures();
      content = Buffer.alloc(SIZE, 0x61);
      content.write('a file to hash', 1000);
      server = await adapter.factory({ root: fx.root, options: { etag: 'digest' } });
    });
    after(async () => {
      await server?.close();
      fx?.remove();
    });

    it('a client that goes away before the digest is known leaves no descriptor open', async () => {
      const name = place();
      const baseline = fdCount();
      const url = new URL(server.baseUrl);
      let responded = false;
      await new Promise<void>((resolve) => {
        const req = http.get({ host: url.hostname, port: url.port, path: `/${name}`, agent: false });
        req.on('error', () => resolve());
        req.on('response', () => (responded = true));
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 5);
      });
      assert.equal(responded, false, 'the response came before the client went away');
      assert.ok(await eventually(() => fdCount() <= baseline, 10_000), `${fdCount()} descriptors, ${baseline} before`);
      const res = await request(server.baseUrl, `/${name}`, { method: 'HEAD' });
      assert.equal(res.status, 200);
      assert.equal(res.headers['repr-digest'], digestOf(content));
    });

    it('concurrent first requests all get the same digest ETag, Repr-Digest and bytes', async () => {
      const name = place();
      const responses = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          request(server.baseUrl, `/${name}`, { headers: i % 2 === 0 ? {} : { range: 'bytes=1000-1013' } }),
        ),
      );
      const etag = responses[0]?.headers.etag;
      assert.match(etag ?? '', /^"4000000-[A-Za-z0-9_-]{43}"$/);
      for (const [i, res] of responses.entries()) {
        assert.equal(res.headers.etag, etag, `response ${i}`);
        assert.equal(res.headers['repr-digest'], digestOf(content), `response ${i}`);
        if (i % 2 === 0) assert.ok(res.body.equals(content), `response ${i}`);
        else assert.equal(res.body.toString(), 'a file to hash');
      }
    });

    it('a file written to while it is hashed is never served under a digest of other bytes', async () => {
      const name = place();
      const file = path.join(fx.root, name);
      const pending = request(server.baseUrl, `/${name}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      fs.appendFileSync(file, 'grown');
      const res = await pending.catch(() => undefined); // a cut connection is an acceptable answer
      if (res !== undefined && res.status === 200) {
        assert.equal(res.headers['repr-digest'], digestOf(res.body), 'the digest is not of the bytes sent');
        assert.equal(res.headers['content-length'], String(res.body.length));
      } else if (res !== undefined) {
        assert.equal(res.status, 500, 'only a server error may stand in for the body');
      }
      const next = await request(server.baseUrl, `/${name}`);
      assert.equal(next.status, 200);
      assert.equal(next.headers['repr-digest'], digestOf(fs.readFileSync(file)));
    });
  });
}
