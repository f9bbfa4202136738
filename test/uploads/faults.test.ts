/**
 * Uploads under faults, on Express and Koa, each in a child server: a SIGKILL at the exact step of a
 * completion (found by polling the metadata file), a full disk (a small tmpfs the test mounts), and
 * fsync/fdatasync errors injected with strace. No acknowledged byte is lost, no byte past the durable
 * offset is ever kept or served, and nothing is acknowledged that is not durable.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import {
  type CrashChild,
  type CrashChildOptions,
  injectFaults,
  startCrashChild,
  straceUnavailable,
} from './crash-server.ts';
import { pause, send } from './raw.ts';

/** The upload directory's entries, without the owner file that says which process owns it. */
function listUploads(dir: string): string[] {
  return readdirSync(dir).filter((name) => name !== '.range-serve-owner');
}

const MiB = 1024 * 1024;
const TUS = { 'tus-resumable': '1.0.0' };
const PATCH = { ...TUS, 'content-type': 'application/offset+octet-stream' };

async function kill(running: CrashChild): Promise<void> {
  const { child } = running;
  const exited = child.exitCode === null && child.signalCode === null ? once(child, 'exit') : undefined;
  try {
    process.kill(running.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  await exited;
}

function sha256(bytes: Buffer): string {
  return `sha-256=:${createHash('sha256').update(bytes).digest('base64')}:`;
}

interface Metadata {
  readonly offset: number;
  readonly complete: boolean;
  readonly completionPending?: boolean;
}

/** The upload's metadata file as it is on disk now, or undefined while it cannot be read. */
function metadataOf(dir: string, id: string): Metadata | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, `${id}.json`), 'utf8')) as Metadata;
  } catch {
    return undefined;
  }
}

/** Polls (every millisecond) until `when` holds for the metadata of `id` or `done` settles; true if it held. */
async function pollMetadata(
  dir: string,
  id: string,
  when: (m: Metadata) => boolean,
  done: Promise<unknown>,
): Promise<boolean> {
  let settled = false;
  void done.then(
    () => (settled = true),
    () => (settled = true),
  );
  while (!settled) {
    const metadata = metadataOf(dir, id);
    if (metadata !== undefined && when(metadata)) return true;
    await pause(1);
  }
  return false;
}

for (const adapter of ['express', 'koa'] as const) {
  describe(`uploads under faults (${adapter === 'express' ? 'Express 5' : 'Koa 3'})`, () => {
    const roots: string[] = [];
    const children: CrashChild[] = [];
    after(async () => {
      for (const running of children) await kill(running);
      for (const root of roots) rmSync(root, { recursive: true, force: true });
    });
    const workspace = (): string => {
      const root = mkdtempSync(path.join(tmpdir(), 'range-serve-faults-'));
      roots.push(root);
      return root;
    };
    const start = async (dir: string, options: CrashChildOptions = {}): Promise<CrashChild> => {
      const running = await startCrashChild(dir, { adapter, ...options });
      children.push(running);
      return running;
    };

    it('a SIGKILL at any step of the completion leaves the upload complete or resumable, never full and unfinished', async () => {
      const dir = workspace();
      const content = randomBytes(40 * MiB);
      let server = await start(dir);
      const created = await send(server.url, '/files', 'POST', { ...TUS, 'upload-length': String(content.length) });
      const location = created.headers.location ?? '';
      const id = location.slice('/files/'.length);
      const first = await send(
        server.url,
        location,
        'PATCH',
        { ...PATCH, 'upload-offset': '0' },
        content.subarray(0, MiB),
      );
      assert.equal(first.status, 204);
      // A new process has no running digest of the first MiB: it reads the upload back to complete it,
      // the widest window between "every byte durable" and "complete".
      await kill(server);
      server = await start(dir);
      const rest = send(
        server.url,
        location,
        'PATCH',
        { ...PATCH, 'upload-offset': String(MiB) },
        content.subarray(MiB),
      );
      const sawFull = await pollMetadata(dir, id, (m) => m.offset === content.length, rest);
      await kill(server);
      await rest.catch(() => {});
      server = await start(dir);
      const head = await send(server.url, location, 'HEAD', TUS);
      assert.equal(head.status, 200);
      const offset = Number(head.headers['upload-offset']);
      if (offset < content.length) {
        const again = await send(
          server.url,
          location,
          'PATCH',
          { ...PATCH, 'upload-offset': String(offset) },
          content.subarray(offset),
        );
        assert.equal(again.status, 204);
      }
      const got = await send(server.url, location, 'GET');
      assert.equal(
        got.status,
        200,
        `killed ${sawFull ? 'with every byte recorded' : 'after the answer'}: GET ${got.status}`,
      );
      assert.ok(got.body.equals(content), 'the downloaded bytes differ from the bytes sent');
      assert.equal(got.headers['repr-digest'], sha256(content));
      await kill(server);
    });

    it('an onComplete cut short by a SIGKILL runs on the next request for the upload, once', async () => {
      const root = workspace();
      const dir = path.join(root, 'uploads');
      const hookLog = path.join(root, 'completions.log');
      let server = await start(dir, { hookLog, hookDelay: 60_000 });
      const created = await send(server.url, '/files', 'POST', { ...TUS, 'upload-length': '5' });
      const location = created.headers.location ?? '';
      const id = location.slice('/files/'.length);
      const last = send(server.url, location, 'PATCH', { ...PATCH, 'upload-offset': '0' }, Buffer.from('hello'));
      // Killed while the hook waits: the upload is complete on disk, the hook has not returned.
      assert.ok(await pollMetadata(dir, id, (m) => m.complete, last), 'the upload never became complete');
      await kill(server);
      await last.catch(() => {});
      assert.equal(existsSync(hookLog), false);
      server = await start(dir, { hookLog });
      const head = await send(server.url, location, 'HEAD', TUS);
      assert.equal(head.status, 200);
      assert.equal(head.headers['upload-offset'], '5');
      assert.equal(readFileSync(hookLog, 'utf8'), `${id} 5 5\n`);
      const got = await send(server.url, location, 'GET');
      assert.equal(got.body.toString(), 'hello');
      assert.equal(readFileSync(hookLog, 'utf8'), `${id} 5 5\n`, 'the hook ran more than once');
      await kill(server);
    });

    it('a full disk mid-body keeps no byte past the durable offset, and a later completion serves exactly the upload', async (t) => {
      const root = workspace();
      const mountpoint = path.join(root, 'small-disk');
      mkdirSync(mountpoint);
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountpoint], { stdio: 'pipe' });
      } catch (err) {
        t.skip(`cannot mount a 4 MiB tmpfs to fill (${(err as Error).message.split('\n')[0]}); needs root`);
        return;
      }
      try {
        const dir = path.join(mountpoint, 'uploads');
        const hookLog = path.join(root, 'completions.log');
        const server = await start(dir, { hookLog });
        const created = await send(server.url, '/files', 'POST', { ...TUS, 'upload-defer-length': '1' });
        const location = created.headers.location ?? '';
        const data = path.join(dir, location.slice('/files/'.length));
        const content = randomBytes(100 * 1024 + 10);
        const first = await send(
          server.url,
          location,
          'PATCH',
          { ...PATCH, 'upload-offset': '0' },
          content.subarray(0, 100 * 1024),
        );
        assert.equal(first.status, 204);
        // Leave about 300 KiB free, then send a whole MiB.
        const { bavail, bsize } = statfsSync(mountpoint);
        const filler = path.join(mountpoint, 'filler');
        writeFileSync(filler, Buffer.alloc(Math.max(0, bavail * bsize - 300 * 1024)));
        const full = await send(
          server.url,
          location,
          'PATCH',
          { ...PATCH, 'upload-offset': String(100 * 1024) },
          randomBytes(MiB),
        ).catch(() => undefined);
        assert.notEqual(full?.status, 204, 'an append that could not be stored was acknowledged');
        assert.equal(statSync(data).size, 100 * 1024, 'bytes past the durable offset were left in the data file');
        const head = await send(server.url, location, 'HEAD', TUS);
        assert.equal(head.headers['upload-offset'], String(100 * 1024));
        // Space returns; a short append declares the length and completes the upload.
        rmSync(filler);
        const done = await send(
          server.url,
          location,
          'PATCH',
          { ...PATCH, 'upload-offset': String(100 * 1024), 'upload-length': String(content.length) },
          content.subarray(100 * 1024),
        );
        assert.equal(done.status, 204);
        const got = await send(server.url, location, 'GET');
        assert.equal(got.status, 200);
        assert.ok(got.body.equals(content), `served ${got.body.length} bytes for an upload of ${content.length}`);
        assert.equal(got.headers['repr-digest'], sha256(content));
        const id = location.slice('/files/'.length);
        assert.equal(readFileSync(hookLog, 'utf8'), `${id} ${content.length} ${content.length}\n`);
        await kill(server);
      } finally {
        execFileSync('umount', ['-l', mountpoint]);
      }
    });

    describe('fsync errors injected with strace', () => {
      const unavailable = straceUnavailable();

      it('an fsync of the upload directory failing with EIO fails the request; EINVAL counts as "not supported here"', async (t) => {
        if (unavailable !== undefined) {
          t.skip(unavailable);
          return;
        }
        const dir = workspace();
        const server = await start(dir);
        // The handler opens its store (ending with a directory fsync) as it is made, and the child prints
        // its port before that is done: a request for an unknown upload waits for it, so the faults below
        // hit the requests and not that start-up fsync (which, failing, fails every request after it).
        assert.equal((await send(server.url, '/files/AAAAAAAAAAAAAAAAAAAAAA', 'HEAD', TUS)).status, 404);
        const directoryFsync = (error: string) =>
          injectFaults(server.pid, ['-P', dir, '-e', 'trace=fsync', '-e', `inject=fsync:error=${error}`]);
        let faults = await directoryFsync('EIO');
        const creation = await send(server.url, '/files', 'POST', { ...TUS, 'upload-length': '6' });
        assert.equal(creation.status, 500, 'a creation whose name is not durable was acknowledged');
        assert.deepEqual(listUploads(dir), [], 'the refused creation left files behind');
        await faults.stop();
        const location =
          (await send(server.url, '/files', 'POST', { ...TUS, 'upload-length': '6' })).headers.location ?? '';
        faults = await directoryFsync('EIO');
        const append = await send(
          server.url,
          location,
          'PATCH',
          { ...PATCH, 'upload-offset': '0' },
          Buffer.from('abc'),
        );
        assert.equal(append.status, 500, 'an offset whose metadata is not durable was acknowledged');
        // While the directory cannot be made durable, no offset is stated at all.
        assert.equal((await send(server.url, location, 'HEAD', TUS)).status, 500);
        await faults.stop();
        // Once it can, the upload is settled: whatever offset its metadata holds, now durable, with its bytes.
        const head = await send(server.url, location, 'HEAD', TUS);
        assert.equal(head.status, 200);
        const offset = Number(head.headers['upload-offset']);
        assert.equal(statSync(path.join(dir, location.slice('/files/'.length))).size, offset);
        faults = await directoryFsync('EINVAL');
        const rest = await send(
          server.url,
          location,
          'PATCH',
          { ...PATCH, 'upload-offset': String(offset) },
          Buffer.from('abcdef'.slice(offset)),
        );
        assert.equal(rest.status, 204);
        assert.equal((await send(server.url, location, 'GET')).body.toString(), 'abcdef');
        assert.equal((await send(server.url, '/files', 'POST', { ...TUS, 'upload-length': '1' })).status, 201);
        await faults.stop();
        await kill(server);
      });

      /** An append while `call` on `<data file><suffix>` fails with EIO: 500, and nothing past the durable offset kept. */
      const appendWhileSyncFails = async (t: TestContext, suffix: string, call: string): Promise<void> => {
        if (unavailable !== undefined) {
          t.skip(unavailable);
          return;
        }
        const dir = workspace();
        const server = await start(dir);
        const location =
          (await send(server.url, '/files', 'POST', { ...TUS, 'upload-length': '6' })).headers.location ?? '';
        const data = path.join(dir, location.slice('/files/'.length));
        const faults = await injectFaults(server.pid, [
          '-P',
          `${data}${suffix}`,
          '-e',
          `trace=${call}`,
          '-e',
          `inject=${call}:error=EIO`,
        ]);
        const failed = await send(
          server.url,
          location,
          'PATCH',
          { ...PATCH, 'upload-offset': '0' },
          Buffer.from('abc'),
        );
        await faults.stop();
        assert.equal(failed.status, 500);
        assert.equal(statSync(data).size, 0, 'bytes past the durable offset were left in the data file');
        const head = await send(server.url, location, 'HEAD', TUS);
        assert.equal(head.headers['upload-offset'], '0');
        const whole = await send(
          server.url,
          location,
          'PATCH',
          { ...PATCH, 'upload-offset': '0' },
          Buffer.from('abcdef'),
        );
        assert.equal(whole.status, 204);
        const got = await send(server.url, location, 'GET');
        assert.equal(got.body.toString(), 'abcdef');
        assert.equal(got.headers['repr-digest'], sha256(Buffer.from('abcdef')));
        await kill(server);
      };

      it('the fdatasync of the data failing with EIO fails the append and cuts the data file back to the durable offset', (t) =>
        appendWhileSyncFails(t, '', 'fdatasync'));

      it('the fsync of the new metadata failing with EIO fails the append and cuts the data file back to the durable offset', (t) =>
        appendWhileSyncFails(t, '.json.tmp', 'fsync'));
    });
  });
}
