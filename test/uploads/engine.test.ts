/** The upload engine's pure parts: options, header fields and protocol decisions, table-driven. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  detectProtocol,
  normalizeUploadOptions,
  offsetResponse,
  optionsResponse,
  parseSize,
  planAppend,
  planCreation,
  type UploadLimits,
  type UploadState,
} from '@range-serve/core/upload';

/** The upload directory's entries, without the owner file that says which process owns it. */
function listUploads(readdirSync: (dir: string) => string[], dir: string): string[] {
  return readdirSync(dir).filter((name) => name !== '.range-serve-owner');
}

const LIMITS: UploadLimits = { maxSize: 1000, expiresAfter: 60_000, now: 1_000_000 };
const STATE: UploadState = {
  id: 'AAAAAAAAAAAAAAAAAAAAAA',
  protocol: 'tus',
  length: 10,
  offset: 4,
  complete: false,
  metadata: {},
  contentType: undefined,
  fileName: undefined,
  data: {},
  createdAt: 1_000_000,
  updatedAt: 1_000_000,
};

describe('upload options', () => {
  it('sizes are bytes or size strings', () => {
    for (const [value, bytes] of [
      [0, 0],
      [512, 512],
      ['512', 512],
      ['10 MB', 10_000_000],
      ['5 GiB', 5 * 2 ** 30],
      ['1.5KiB', 1536],
      ['2 tb', 2e12],
    ] as const) {
      assert.equal(parseSize(value), bytes, String(value));
    }
    for (const value of [-1, 1.5, Number.NaN, '', 'five', '5 GiBs', '-5 MB', '1e3']) {
      assert.equal(parseSize(value), undefined, String(value));
    }
  });

  it('defaults: 1 TiB, expiry after a day, idle timeout 30 s, hourly sweep, 1 KiB/s, 4 KiB of metadata, 10,000 uploads', () => {
    const options = normalizeUploadOptions({ directory: '/tmp/x' });
    assert.equal(options.minRate, 1024);
    assert.equal(options.maxMetadataSize, 4096);
    assert.equal(options.maxUploads, 10_000);
    assert.equal(normalizeUploadOptions({ directory: '/tmp/x', minRate: false }).minRate, undefined);
    assert.equal(normalizeUploadOptions({ directory: '/tmp/x', minRate: '10 KiB' }).minRate, 10_240);
    assert.equal(options.maxSize, 2 ** 40);
    assert.equal(options.expiresAfter, 86_400_000);
    assert.equal(options.idleTimeout, 30_000);
    assert.equal(options.sweepInterval, 3_600_000);
    assert.equal(normalizeUploadOptions({ directory: '/tmp/x', expiresAfter: false }).expiresAfter, undefined);
    assert.equal(normalizeUploadOptions({ directory: '/tmp/x', expiresAfter: '2h' }).expiresAfter, 7_200_000);
  });

  it('a bad or unknown option throws a TypeError naming it', () => {
    const bad: Array<[unknown, RegExp]> = [
      [undefined, /options must be an object/],
      [{}, /directory/],
      [{ directory: '' }, /directory/],
      [{ directory: '/tmp/x', maxSize: 'lots' }, /maxSize/],
      [{ directory: '/tmp/x', maxSize: -1 }, /maxSize/],
      [{ directory: '/tmp/x', expiresAfter: 'soon' }, /expiresAfter/],
      [{ directory: '/tmp/x', expiresAfter: 0 }, /expiresAfter/],
      [{ directory: '/tmp/x', idleTimeout: true }, /idleTimeout/],
      [{ directory: '/tmp/x', onComplete: 'yes' }, /onComplete must be a function/],
      [{ directory: '/tmp/x', maxsize: 5 }, /unknown option "maxsize"/],
      [{ directory: '/tmp/x', downloadTypes: 'image/svg+xml' }, /downloadTypes/],
      [{ directory: '/tmp/x', minRate: 0 }, /minRate/],
      [{ directory: '/tmp/x', minRate: 'fast' }, /minRate/],
      [{ directory: '/tmp/x', maxMetadataSize: -1 }, /maxMetadataSize/],
      [{ directory: '/tmp/x', maxUploads: 0 }, /maxUploads/],
      [{ directory: '/tmp/x', maxUploads: 2.5 }, /maxUploads/],
      [{ directory: '/tmp/x', downloadTypes: ['image/svg+xml', 'not a type'] }, /downloadTypes/],
    ];
    for (const [options, message] of bad) {
      assert.throws(
        () => normalizeUploadOptions(options as never),
        (err: unknown) => err instanceof TypeError && message.test(err.message),
      );
    }
  });
});

describe('protocol detection', () => {
  it('Tus-Resumable picks tus, Upload-Draft-Interop-Version a draft version, neither is not an upload request', () => {
    const rows: Array<[Record<string, string>, unknown]> = [
      [{ 'tus-resumable': '1.0.0' }, { kind: 'tus' }],
      [{ 'tus-resumable': '0.2.2' }, { kind: 'unsupported-tus' }],
      [{ 'upload-draft-interop-version': '6' }, { kind: 'draft', version: 6 }],
      [{ 'upload-draft-interop-version': '7' }, { kind: 'draft', version: 7 }],
      [{ 'upload-draft-interop-version': '8' }, { kind: 'draft', version: 8 }],
      [{ 'upload-draft-interop-version': '5' }, { kind: 'unsupported-draft' }],
      [{ 'upload-draft-interop-version': '9' }, { kind: 'unsupported-draft' }],
      [{ 'upload-draft-interop-version': 'eight' }, { kind: 'unsupported-draft' }],
      [{}, { kind: 'none' }],
      // tus fields without Tus-Resumable: a tus request whose version is missing (412, not a fall-through).
      [{ 'upload-offset': '0' }, { kind: 'unversioned-tus' }],
      [{ 'upload-length': '5' }, { kind: 'unversioned-tus' }],
      [{ 'content-type': 'application/offset+octet-stream' }, { kind: 'unversioned-tus' }],
      // The draft's fields without its interop version are not tus's: not an upload request.
      [{ 'upload-offset': '0', 'upload-complete': '?1' }, { kind: 'none' }],
      [{ 'upload-offset': '0', 'content-type': 'application/partial-upload' }, { kind: 'none' }],
      [{ 'content-type': 'text/plain' }, { kind: 'none' }],
    ];
    for (const [headers, expected] of rows)
      assert.deepEqual(detectProtocol(headers), expected, JSON.stringify(headers));
  });
});

describe('protocol decisions', () => {
  const tus = { kind: 'tus' } as const;

  it('Location is the mount path and the id, whatever form of prefix an adapter passes', async () => {
    const { uploadLocation } = await import('../../packages/core/src/upload/protocol.ts');
    const id = 'AAAAAAAAAAAAAAAAAAAAAA';
    for (const [prefix, location] of [
      ['/files', `/files/${id}`],
      ['/files/', `/files/${id}`],
      ['', `/${id}`],
      ['http://evil.example/files', `/files/${id}`],
      ['https://evil.example:8443/a/files', `/a/files/${id}`],
      ['//evil.example/files', `/evil.example/files/${id}`],
      ['not a url', `/${id}`],
    ] as const) {
      assert.equal(uploadLocation(prefix, id), location, prefix);
    }
  });

  it('OPTIONS announces tus capabilities and Upload-Limit with the lifetime key of the interop version', () => {
    assert.equal(optionsResponse(LIMITS).headers['upload-limit'], 'max-size=1000, max-age=60');
    assert.equal(optionsResponse(LIMITS, 6).headers['upload-limit'], 'max-size=1000, expires=60');
    assert.equal(optionsResponse({ ...LIMITS, expiresAfter: undefined }).headers['upload-limit'], 'max-size=1000');
  });

  it('tus creation: length rules and metadata, decided before any byte', () => {
    const rows: Array<[Record<string, string>, number | 'create']> = [
      [{ 'upload-length': '10' }, 'create'],
      [{ 'upload-defer-length': '1' }, 'create'],
      [{ 'upload-defer-length': '2' }, 400],
      [{}, 400],
      [{ 'upload-length': '10', 'upload-defer-length': '1' }, 400],
      [{ 'upload-length': '1001' }, 413],
      [{ 'upload-length': '+10' }, 400],
      [{ 'upload-length': '10', 'content-type': 'application/offset+octet-stream', 'content-length': '11' }, 413],
      [{ 'upload-length': '10', 'content-type': 'text/plain', 'content-length': '5' }, 415],
      [{ 'upload-length': '10', 'upload-checksum': 'sha1 !!' }, 400],
      [{ 'upload-length': '10', 'upload-metadata': 'k dg==' }, 'create'],
      [{ 'upload-length': '10', 'upload-metadata': 'k dg' }, 400],
      [{ 'upload-length': '10', 'upload-metadata': ' ' }, 'create'],
      [{ 'upload-length': '10', 'upload-metadata': 'k,,j' }, 400],
      [{ 'upload-length': '10', 'upload-metadata': 'k /w==' }, 400],
    ];
    for (const [headers, expected] of rows) {
      const plan = planCreation(tus, headers, LIMITS);
      const got = plan.kind === 'refuse' ? plan.response.status : plan.kind;
      assert.equal(got, expected, JSON.stringify(headers));
    }
    const plan = planCreation(
      tus,
      { 'upload-length': '10', 'upload-metadata': `filename ${Buffer.from('a.txt').toString('base64')},x` },
      LIMITS,
    );
    assert.equal(plan.kind, 'create');
    if (plan.kind === 'create') {
      assert.deepEqual({ ...plan.metadata }, { filename: 'a.txt', x: null });
      assert.equal(plan.fileName, 'a.txt');
    }
  });

  it('tus append: type, offset, deferred length and limit checks', () => {
    const patch = { 'content-type': 'application/offset+octet-stream' };
    const rows: Array<[Record<string, string>, UploadState, number | 'append']> = [
      [{ ...patch, 'upload-offset': '4' }, STATE, 'append'],
      [{ ...patch, 'upload-offset': '3' }, STATE, 409],
      [{ ...patch }, STATE, 400],
      [{ 'upload-offset': '4' }, STATE, 415],
      [{ ...patch, 'upload-offset': '4', 'content-length': '7' }, STATE, 413],
      [{ ...patch, 'upload-offset': '4', 'upload-length': '11' }, STATE, 400],
      [{ ...patch, 'upload-offset': '4', 'upload-length': '20' }, { ...STATE, length: undefined }, 'append'],
      [{ ...patch, 'upload-offset': '4', 'upload-length': '3' }, { ...STATE, length: undefined }, 400],
      [{ ...patch, 'upload-offset': '4', 'upload-length': '5000' }, { ...STATE, length: undefined }, 413],
      [{ ...patch, 'upload-offset': '4', 'upload-checksum': 'crc32 AAAAAA==' }, STATE, 400],
    ];
    for (const [headers, state, expected] of rows) {
      const plan = planAppend(tus, headers, state, LIMITS);
      assert.equal(plan.kind === 'append' ? 'append' : plan.response.status, expected, JSON.stringify(headers));
    }
  });

  it('draft append: structured fields, an invalid value being ignored', () => {
    const draft = { kind: 'draft', version: 8 } as const;
    const state: UploadState = { ...STATE, protocol: 'draft' };
    const patch = { 'content-type': 'application/partial-upload' };
    const rows: Array<[Record<string, string>, number | string]> = [
      [{ ...patch, 'upload-offset': '4', 'upload-complete': '?0' }, 'append false'],
      [{ ...patch, 'upload-offset': '4', 'upload-complete': '?1', 'content-length': '6' }, 'append true'],
      [{ ...patch, 'upload-offset': '4', 'upload-complete': '?1', 'content-length': '5' }, 400],
      [{ ...patch, 'upload-offset': '4', 'upload-complete': 'maybe' }, 'append false'],
      [{ ...patch, 'upload-offset': '4;a=1', 'upload-complete': '?0' }, 'append false'],
      [{ ...patch, 'upload-offset': '4.0', 'upload-complete': '?0' }, 400],
      [{ ...patch, 'upload-offset': '-4', 'upload-complete': '?0' }, 400],
      [{ ...patch, 'upload-offset': '5', 'upload-complete': '?0' }, 409],
      [{ ...patch, 'upload-offset': '4', 'upload-length': '12' }, 400],
    ];
    for (const [headers, expected] of rows) {
      const plan = planAppend(draft, headers, state, LIMITS);
      assert.equal(
        plan.kind === 'append' ? `append ${plan.completes}` : plan.response.status,
        expected,
        JSON.stringify(headers),
      );
    }
  });

  it('offset retrieval: tus 200 with the length or its deferral, the draft 204 with Upload-Complete', () => {
    assert.deepEqual(
      offsetResponse({ kind: 'tus' }, {}, { ...STATE, length: undefined }, { ...LIMITS, expiresAfter: undefined }),
      {
        status: 200,
        headers: {
          'tus-resumable': '1.0.0',
          'upload-offset': '4',
          'cache-control': 'no-store',
          'upload-defer-length': '1',
        },
      },
    );
    assert.deepEqual(offsetResponse({ kind: 'draft', version: 7 }, {}, STATE, LIMITS), {
      status: 204,
      headers: {
        'upload-offset': '4',
        'upload-complete': '?0',
        'cache-control': 'no-store',
        'upload-length': '10',
        'upload-limit': 'max-size=1000, max-age=60',
      },
    });
    // Draft -05: offset retrieval must not carry the upload fields.
    assert.equal(offsetResponse({ kind: 'draft', version: 6 }, { 'upload-offset': '4' }, STATE, LIMITS).status, 400);
  });
});

describe('start-up reconciliation', () => {
  it('cuts bytes past the durable offset, deactivates uploads missing acknowledged bytes, removes leftovers and expired uploads', async () => {
    const { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } =
      await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { startNodeServer } = await import('./node-server.ts');
    const { send } = await import('./raw.ts');
    const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-reconcile-'));
    try {
      const now = Date.now();
      const state = (id: string, offset: number, updatedAt = now): string =>
        JSON.stringify({ ...STATE, id, offset, length: 100, createdAt: updatedAt, updatedAt });
      const longer = 'L'.repeat(22);
      const shorter = 'S'.repeat(22);
      const expired = 'E'.repeat(22);
      const orphan = 'O'.repeat(22);
      writeFileSync(path.join(dir, longer), Buffer.alloc(30, 1));
      writeFileSync(path.join(dir, `${longer}.json`), state(longer, 20));
      writeFileSync(path.join(dir, shorter), Buffer.alloc(10, 1));
      writeFileSync(path.join(dir, `${shorter}.json`), state(shorter, 20));
      writeFileSync(path.join(dir, expired), Buffer.alloc(10, 1));
      writeFileSync(path.join(dir, `${expired}.json`), state(expired, 10, now - 120_000));
      writeFileSync(path.join(dir, orphan), Buffer.alloc(10, 1));
      writeFileSync(path.join(dir, `${longer}.json.tmp`), '{"half');
      writeFileSync(path.join(dir, 'unrelated.txt'), 'kept');
      // A metadata file that is a link to a file outside: never read, the upload treated as lost.
      const linked = 'K'.repeat(22);
      const outside = path.join(mkdtempSync(path.join(tmpdir(), 'range-serve-outside-')), 'secret.json');
      writeFileSync(outside, state(linked, 0));
      writeFileSync(path.join(dir, linked), Buffer.alloc(0));
      symlinkSync(outside, path.join(dir, `${linked}.json`));
      const server = await startNodeServer({ directory: dir, expiresAfter: 60_000 });
      try {
        const tus = { 'tus-resumable': '1.0.0' };
        const head = await send(server.baseUrl, `/files/${longer}`, 'HEAD', tus);
        assert.equal(head.status, 200);
        assert.equal(head.headers['upload-offset'], '20');
        assert.equal(statSync(path.join(dir, longer)).size, 20);
        assert.equal((await send(server.baseUrl, `/files/${shorter}`, 'HEAD', tus)).status, 410);
        assert.equal((await send(server.baseUrl, `/files/${expired}`, 'HEAD', tus)).status, 404);
        assert.equal((await send(server.baseUrl, `/files/${linked}`, 'HEAD', tus)).status, 410);
        assert.equal(readFileSync(outside, 'utf8'), state(linked, 0));
        assert.deepEqual(listUploads(readdirSync, dir).sort(), [longer, `${longer}.json`, 'unrelated.txt'].sort());
      } finally {
        await server.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('receiving content', () => {
  it('a failing disk write rejects the request with that error instead of leaving it hanging', async () => {
    const { receiveContent } = await import('../../packages/core/src/upload/receive.ts');
    const failure = new Error('EIO: i/o error, write');
    const appender = {
      write: () => Promise.reject(failure),
      sync: () => Promise.resolve(),
      truncate: () => Promise.resolve(),
      size: () => Promise.resolve(0),
      close: () => Promise.resolve(),
    };
    // Content that keeps coming until it is stopped, as a client still sending does.
    let stopped = false;
    let ending: 'stopped' | undefined;
    const content = {
      consumed: false,
      get ending() {
        return ending;
      },
      stop: () => {
        stopped = true;
        ending = 'stopped';
      },
      async *[Symbol.asyncIterator]() {
        while (!stopped) {
          yield new Uint8Array(10);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      },
    };
    const received = receiveContent(content, {
      appender,
      start: 0,
      maxBytes: 100,
      idleTimeout: 10_000,
      checksum: undefined,
      onInterrupt: () => {},
    });
    const outcome = await Promise.race([
      received.then(
        () => 'resolved',
        (err: unknown) => err,
      ),
      new Promise((resolve) => setTimeout(() => resolve('hung'), 2000).unref()),
    ]);
    assert.equal(outcome, failure);
    assert.equal(stopped, true, 'the content was not stopped after the failure');
  });
});

describe('a client that leaves while a hook keeps it waiting', () => {
  it('keeps the bytes that arrived, made durable at once rather than after the idle timeout', async () => {
    const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { startNodeServer } = await import('./node-server.ts');
    const { openRequest, pause, send } = await import('./raw.ts');
    const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-slow-hook-'));
    const server = await startNodeServer({
      directory: dir,
      onRequest: async (req) => {
        if (req.method === 'PATCH') await pause(300);
      },
    });
    try {
      const tus = { 'tus-resumable': '1.0.0' };
      const created = await send(server.baseUrl, '/files', 'POST', { ...tus, 'upload-length': '200' });
      const location = created.headers.location ?? '';
      const headers = {
        ...tus,
        'content-type': 'application/offset+octet-stream',
        'upload-offset': '0',
        'content-length': '200',
      };
      const open = await openRequest(server.baseUrl, location, 'PATCH', headers, Buffer.alloc(100, 1));
      await pause(50);
      open.cut();
      const metadata = path.join(dir, `${location.slice('/files/'.length)}.json`);
      const durable = (): number => (JSON.parse(readFileSync(metadata, 'utf8')) as { offset: number }).offset;
      // Bounded: well under the 30 s idle timeout that would otherwise end the request.
      for (let i = 0; i < 40 && durable() < 100; i++) await pause(50);
      assert.equal(durable(), 100);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tus concatenation, pure', () => {
  it('Upload-Concat is partial, or final; and the references separated by spaces; anything else is invalid', async () => {
    const { parseUploadConcat } = await import('../../packages/core/src/upload/fields.ts');
    for (const [value, expected] of [
      [undefined, undefined],
      ['partial', { kind: 'partial' }],
      [' partial ', { kind: 'partial' }],
      ['final;/files/a /files/b', { kind: 'final', references: ['/files/a', '/files/b'] }],
      ['final; /files/a  http://h/files/b ', { kind: 'final', references: ['/files/a', 'http://h/files/b'] }],
      ['final;', { kind: 'final', references: [] }],
      ['Partial', 'invalid'],
      ['final /files/a', 'invalid'],
      ['partial;', 'invalid'],
      [['partial', 'partial'], 'invalid'],
    ] as const) {
      assert.deepEqual(parseUploadConcat(value as string | string[] | undefined), expected, JSON.stringify(value));
    }
  });

  it('a reference names an upload of this endpoint by its path or a URL of the same origin, and nothing else', async () => {
    const { resolveConcatReference } = await import('../../packages/core/src/upload/protocol.ts');
    const id = 'AbcdefghijklmnopqrstuV';
    const origin = 'https://up.example:8443';
    for (const [reference, prefix, expected] of [
      [`/files/${id}`, '/files', id],
      [`${origin}/files/${id}`, '/files', id],
      [`HTTPS://UP.EXAMPLE:8443/files/${id}`, '/files', id],
      [`/${id}`, '', id],
      [`/api/up/${id}`, '/api/up', id],
      [`https://up.example/files/${id}`, '/files', 'is on another origin'],
      [`http://up.example:8443/files/${id}`, '/files', 'is on another origin'],
      [`ftp://up.example:8443/files/${id}`, '/files', 'is on another origin'],
      [`https://user@up.example:8443/files/${id}`, '/files', 'carries user information'],
      [`//up.example:8443/files/${id}`, '/files', 'is a network-path reference (another host)'],
      [id, '/files', 'is a relative reference: send the path from the root or the whole URL'],
      [`files/${id}`, '/files', 'is a relative reference: send the path from the root or the whole URL'],
      [`/files/../files/${id}`, '/files', 'has dot segments'],
      [`${origin}/files/./${id}`, '/files', 'has dot segments'],
      [`/files/%2e%2e/files/${id}`, '/files', 'has percent-encoding, a backslash, a query or a fragment'],
      [`/files%2f${id}`, '/files', 'has percent-encoding, a backslash, a query or a fragment'],
      [`/files\\${id}`, '/files', 'has percent-encoding, a backslash, a query or a fragment'],
      [`/files/${id}#x`, '/files', 'has percent-encoding, a backslash, a query or a fragment'],
      [`/files/${id}/`, '/files', 'is not an upload of this endpoint'],
      [`/files/x/${id}`, '/files', 'is not an upload of this endpoint'],
      [`/other/${id}`, '/files', 'is not an upload of this endpoint'],
      [`/files/${id}x`, '/files', 'is not an upload of this endpoint'],
      [`/files/${id}`, '/api/up', 'is not an upload of this endpoint'],
      [origin, '/files', 'is not an upload of this endpoint'],
    ] as const) {
      const got = resolveConcatReference(reference, prefix, origin);
      assert.deepEqual(got, expected === id ? { id } : { problem: expected }, reference);
    }
    assert.deepEqual(resolveConcatReference(`${origin}/files/${id}`, '/files', undefined), {
      problem: 'is an absolute URL, and this request has no origin to compare',
    });
  });
});
