/**
 * A final upload of tus concatenation under SIGKILL, on Express and Koa, each in a child server: the
 * child is killed at each step of the final's creation (strace attached to it delivers SIGKILL as the
 * step's system call starts: the first link, a later link, the directory fsync that makes the links
 * durable, the rename of its metadata into place) and once its metadata is in place (polled). After each
 * restart there is no final upload and nothing of one left behind, or a whole one; the partial uploads
 * are untouched, and a final made afterwards is exact.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { type CrashChild, injectFaults, startCrashChild, straceUnavailable } from './crash-server.ts';
import { pause, send } from './raw.ts';

const TUS = { 'tus-resumable': '1.0.0' };
const PATCH = { ...TUS, 'content-type': 'application/offset+octet-stream' };

async function killed(running: CrashChild): Promise<void> {
  const { child } = running;
  if (child.exitCode !== null || child.signalCode !== null) return;
  await once(child, 'exit');
}

/** The final upload in `dir` (its id), when its metadata file is there. */
function finalIn(dir: string): string | undefined {
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json')) continue;
    try {
      const state = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as { concat?: { kind: string } };
      if (state.concat?.kind === 'final') return name.slice(0, -'.json'.length);
    } catch {
      // being written
    }
  }
  return undefined;
}

for (const adapter of ['express', 'koa'] as const) {
  describe(`a final upload under SIGKILL (${adapter === 'express' ? 'Express 5' : 'Koa 3'})`, () => {
    const roots: string[] = [];
    const children: CrashChild[] = [];
    after(() => {
      for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const root of roots) rmSync(root, { recursive: true, force: true });
    });
    const start = async (dir: string): Promise<CrashChild> => {
      const running = await startCrashChild(dir, { adapter });
      children.push(running);
      return running;
    };

    it('killed at any step of its creation, the server comes back with no final upload or a whole one', async (t) => {
      const unavailable = straceUnavailable();
      if (unavailable !== undefined) {
        t.skip(unavailable);
        return;
      }
      const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-concat-kill-'));
      roots.push(dir);
      let server = await start(dir);
      const parts = [randomBytes(300_000), randomBytes(1), randomBytes(200_000), randomBytes(123_457)];
      const whole = Buffer.concat(parts);
      const locations: string[] = [];
      for (const bytes of parts) {
        const res = await send(
          server.url,
          '/files',
          'POST',
          { ...PATCH, 'upload-concat': 'partial', 'upload-length': String(bytes.length) },
          bytes,
        );
        assert.equal(res.status, 201);
        locations.push(res.headers.location ?? '');
      }
      const ids = locations.map((location) => location.slice('/files/'.length));
      const partialFiles = ids.flatMap((id) => [id, `${id}.json`]).sort();
      const value = `final;${locations.join(' ')}`;

      const steps: Array<[string, string[]]> = [
        ['the first link', ['-e', 'trace=link', '-e', 'inject=link:signal=KILL', '-P', path.join(dir, ids[0] ?? '')]],
        ['the third link', ['-e', 'trace=link', '-e', 'inject=link:signal=KILL', '-P', path.join(dir, ids[2] ?? '')]],
        ['the directory fsync after the links', ['-e', 'trace=fsync', '-e', 'inject=fsync:signal=KILL', '-P', dir]],
        ['the rename of its metadata into place', ['-e', 'trace=rename', '-e', 'inject=rename:signal=KILL']],
      ];
      for (const [step, args] of steps) {
        const faults = await injectFaults(server.pid, args);
        const res = await send(server.url, '/files', 'POST', { ...TUS, 'upload-concat': value }).catch(() => undefined);
        assert.equal(res, undefined, `killed at ${step}, yet answered ${res?.status}`);
        await killed(server);
        await faults.stop();
        server = await start(dir);
        // A request waits for the start-up reconciliation: the partial uploads are whole...
        for (const [i, location] of locations.entries()) {
          const head = await send(server.url, location, 'HEAD', TUS);
          assert.equal(head.headers['upload-offset'], String(parts[i]?.length), `killed at ${step}`);
        }
        // ...and there is no final, nor anything of it left: no link, no metadata, no temporary file.
        assert.deepEqual(
          readdirSync(dir)
            .filter((name) => name !== '.range-serve-owner')
            .sort(),
          partialFiles,
          `killed at ${step}`,
        );
      }

      // Killed the moment its metadata is in place: a whole final upload after the restart.
      const answered = send(server.url, '/files', 'POST', { ...TUS, 'upload-concat': value }).catch(() => undefined);
      let id: string | undefined;
      for (let i = 0; i < 5000 && id === undefined; i++) {
        id = finalIn(dir);
        if (id === undefined) await pause(1);
      }
      process.kill(server.pid, 'SIGKILL');
      await killed(server);
      await answered;
      assert.ok(id !== undefined, 'the final upload never reached its metadata');
      server = await start(dir);
      const digest = `sha-256=:${createHash('sha256').update(whole).digest('base64')}:`;
      const got = await send(server.url, `/files/${id}`, 'GET');
      assert.equal(finalIn(dir), id);
      assert.equal(got.status, 200);
      assert.ok(got.body.equals(whole), 'the final upload is not its parts in order');
      // Its digest, not taken before the kill, is taken once a download finds it missing.
      let reprDigest = got.headers['repr-digest'];
      for (let i = 0; i < 100 && reprDigest === undefined; i++) {
        await pause(20);
        reprDigest = (await send(server.url, `/files/${id}`, 'HEAD')).headers['repr-digest'];
      }
      assert.equal(reprDigest, digest);
      assert.deepEqual(
        readdirSync(dir)
          .filter((name) => name.startsWith(`${id}.`))
          .sort(),
        [`${id}.0`, `${id}.1`, `${id}.2`, `${id}.3`, `${id}.json`],
      );

      // The partial uploads are still whole, and a final made now is exact with its digest.
      const again = await send(server.url, '/files', 'POST', { ...TUS, 'upload-concat': value });
      assert.equal(again.status, 201);
      let res = await send(server.url, again.headers.location ?? '', 'GET');
      assert.ok(res.body.equals(whole));
      for (let i = 0; i < 50 && res.headers['repr-digest'] === undefined; i++) {
        await pause(20);
        res = await send(server.url, again.headers.location ?? '', 'HEAD');
      }
      assert.equal(res.headers['repr-digest'], digest);
      process.kill(server.pid, 'SIGKILL');
      await killed(server);
    });
  });
}
