/**
 * The integration matrix, written once: every stack (an app built the way users write it, with the
 * real middleware around range-serve) is started on 127.0.0.1:0, and every route of it is asked the
 * same questions with a browser's Accept-Encoding, a gzip-only one and identity. The expected answers
 * are RFC 9110's and range-serve's documented behaviour for ranges under content codings.
 */
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import test, { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningServer } from '../conformance/scenarios.ts';
import { parseMultipart } from '../helpers/multipart.ts';
import { eventually, fdCount } from '../stress/resources.ts';
import {
  abandonMidBody,
  CLIENT_ENCODINGS,
  type ClientEncoding,
  contentCodings,
  type DecodedResponse,
  IDENTITY,
  send,
} from './client.ts';
import { type FileName, makeServedFiles, type ServedFiles } from './files.ts';

/** Each way range-serve puts bytes on the wire, as the matrix names it. */
export type ServingPath =
  | 'directory'
  | 'res.send'
  | 'res.end'
  | 'res.write with a length'
  | 'res.write over time'
  | 'sendRange'
  | 'res.sendFile'
  | 'res.download'
  | 'piped fs.ReadStream'
  | 'ctx.body Buffer'
  | 'ctx.body string'
  | 'ctx.body JSON'
  | 'ctx.body fs.ReadStream'
  | 'ctx.body stream with a length'
  | 'ctx.body stream over time'
  | 'upload download';

/**
 * Where a stack's compressing layer sits for a route: installed before range-serve's layer for it
 * (`rangeServe`, the route calling `sendRange`, `resumableUploads`), after it, or not at all.
 */
export type Placement = 'in front' | 'behind' | 'none';

/** One URL of a stack and what it must answer. */
export interface Route {
  /** The request-target, and the name of its cases (a running stack may map it to another target). */
  readonly url: string;
  /** The file whose bytes the route sends. */
  readonly file: FileName;
  /** The bytes it sends for the file's bytes (a JSON body wraps them); the file's own by default. */
  readonly body?: ((file: Buffer) => Buffer) | undefined;
  /** The serving path its bytes take. */
  readonly path: ServingPath;
  /** Where the stack's compressing layer sits for it. */
  readonly placement: Placement;
  /** Whether its length is known, so that it must answer Range (false: timed writes of unknown length). */
  readonly ranged: boolean;
  /** Whether the stack's compression layer encodes its 200 for a client that offers gzip. */
  readonly encoded: boolean;
  /**
   * Whether the handler streams a body of known length and sets no validator of its own, so that the
   * response may carry no ETag (it is then checked as a representation without validators).
   */
  readonly mayLackValidator: boolean;
  /**
   * Whether the compression layer runs after range-serve and before the handler, so that range-serve
   * only sees an encoded body of unknown length: such a 200 is then not ranged (the whole encoded body,
   * RFC 9110 §14.2 lets a server ignore Range) and may carry no ETag, but never the identity one.
   */
  readonly encodedBeforeUs: boolean;
}

/** A started stack; `targets` maps a route's url to the request-target it stands for (a finished upload's). */
export interface StartedStack extends RunningServer {
  readonly targets?: ReadonlyMap<string, string>;
}

/** An app as users write it, and the routes to ask it. */
export interface Stack {
  /** The middleware in the order the app uses it. */
  readonly name: string;
  /** Starts the app on 127.0.0.1:0 serving `files.root`. */
  start(files: ServedFiles): Promise<StartedStack>;
  readonly routes: readonly Route[];
  /** Routes that send `big.bin`, each abandoned mid-body by 40 clients. */
  readonly downloads: readonly string[];
}

/** Makes the route rows for `files` under `prefix` (`${prefix}${file}`). */
export function routesFor(
  prefix: string,
  files: readonly FileName[],
  expect: {
    readonly path: ServingPath;
    readonly placement: Placement;
    readonly body?: (file: Buffer) => Buffer;
    readonly ranged?: boolean;
    readonly encoded: boolean;
    readonly mayLackValidator?: boolean;
    readonly encodedBeforeUs?: boolean;
  },
): Route[] {
  return files.map((file) => ({
    url: `${prefix}${file}`,
    file,
    body: expect.body,
    path: expect.path,
    placement: expect.placement,
    ranged: expect.ranged ?? true,
    encoded: expect.encoded,
    mayLackValidator: expect.mayLackValidator ?? false,
    encodedBeforeUs: expect.encodedBeforeUs ?? false,
  }));
}

const TEST = { timeout: 15_000 };
const same = (bytes: Buffer): Buffer => bytes;
const ABORTED_DOWNLOADS = 40;
/** The whole 4 MiB download before the aborts: a loaded two-core machine may take seconds, a hang never ends. */
const BIG_DOWNLOAD_TIMEOUT_MS = 15_000;
const ABORT_WAVE = 10;

function list(headers: IncomingHttpHeaders, name: string): string[] {
  const value = headers[name];
  const joined = Array.isArray(value) ? value.join(',') : (value ?? '');
  return joined
    .split(',')
    .map((item) => item.trim().toLowerCase())
    .filter((item) => item !== '');
}

function assertVary(res: DecodedResponse, route: Route, what: string): void {
  if (!route.encoded) return;
  assert.ok(
    list(res.headers, 'vary').includes('accept-encoding'),
    `${what} of a path whose 200 is encoded lacks Vary: Accept-Encoding (Vary: ${res.headers.vary ?? 'absent'})`,
  );
}

function assertIdentity(res: DecodedResponse, what: string): void {
  assert.equal(
    res.headers['content-encoding'],
    undefined,
    `${what} was encoded by the compression layer (Content-Encoding: ${res.headers['content-encoding']})`,
  );
}

/**
 * A 206 says `no-transform` (RFC 9111 §5.2.2.6), so that no layer or proxy re-encodes the bytes its
 * Content-Range describes; a 416 has no body to transform, and range-serve adds none to it.
 */
function assertNoTransform(res: DecodedResponse, what: string, expected: boolean): void {
  const directives = (res.headers['cache-control'] ?? '').split(',').map((d) => d.trim().toLowerCase());
  assert.equal(directives.includes('no-transform'), expected, `${what}: Cache-Control ${res.headers['cache-control']}`);
}

function assertStatus(res: DecodedResponse, status: number, what: string): void {
  assert.equal(res.status, status, `${what}: status ${res.status}, expected ${status}`);
}

function assertBytes(actual: Buffer, expected: Buffer, what: string): void {
  if (actual.equals(expected)) return;
  let first = 0;
  while (first < Math.min(actual.length, expected.length) && actual[first] === expected[first]) first++;
  assert.fail(`${what}: ${actual.length} bytes, expected ${expected.length}; first difference at byte ${first}`);
}

/** The opaque-tag of an entity-tag, without any `W/`. */
function opaque(etag: string): string {
  return etag.startsWith('W/') ? etag.slice(2) : etag;
}

/** The byte ranges asked of a representation of `size` bytes. */
function ranges(size: number) {
  // Both spans are over compression's 1 KiB threshold, so a compression layer would encode them.
  const first = Math.floor(size / 3);
  const last = first + Math.min(20_000, Math.floor(size / 4)) - 1;
  const middle = Math.floor(size / 2);
  return {
    single: { field: `bytes=${first}-${last}`, first, last },
    suffix: { field: 'bytes=-1500', first: size - 1500, last: size - 1 },
    multi: {
      field: `bytes=0-99,${middle}-${middle + 99},-100`,
      parts: [
        [0, 99],
        [middle, middle + 99],
        [size - 100, size - 1],
      ] as const,
    },
  };
}

/** Asks one route every question; `server()` is the running stack. */
function routeCases(route: Route, files: () => ServedFiles, server: () => StartedStack): number {
  let count = 0;
  const it = ((...args: unknown[]) => {
    count++;
    return Reflect.apply(test.it, undefined, args) as unknown;
  }) as typeof test.it;
  const content = (): Buffer => (route.body ?? same)(files().bytes[route.file]);
  const target = (): string => server().targets?.get(route.url) ?? route.url;
  const get = (encoding: ClientEncoding, headers: OutgoingHttpHeaders = {}, method = 'GET') =>
    send(server().baseUrl, target(), { method, headers: { 'accept-encoding': encoding.acceptEncoding, ...headers } });
  // The whole-body answer for each client, asked once and shared by the cases that need it.
  const whole = new Map<ClientEncoding, Promise<DecodedResponse>>();
  const wholeFor = (encoding: ClientEncoding): Promise<DecodedResponse> => {
    let answer = whole.get(encoding);
    if (answer === undefined) {
      answer = get(encoding);
      whole.set(encoding, answer);
    }
    return answer;
  };
  // For the cases that start from that 200: its failure is theirs, said as such.
  const firstAnswer = (encoding: ClientEncoding): Promise<DecodedResponse> =>
    wholeFor(encoding).catch((err: Error) => assert.fail(`the 200 this case starts from failed: ${err.message}`));
  // The identity 200's ETag; undefined only where the route may lack a validator.
  const identityEtag = async (): Promise<string | undefined> => {
    const res = await firstAnswer(IDENTITY);
    const etag = res.headers.etag;
    assert.ok(etag !== undefined || route.mayLackValidator, 'the identity 200 carries no ETag');
    return etag;
  };
  const expectEncoded = (encoding: ClientEncoding): boolean => route.encoded && encoding.offers.length > 0;
  /** A 200 of the whole encoded body where range-serve only saw it encoded: allowed instead of a 206 or 416. */
  const wholeEncodedInstead = (encoding: ClientEncoding, res: DecodedResponse): boolean => {
    if (!route.encodedBeforeUs || !expectEncoded(encoding) || res.status !== 200) return false;
    assert.equal(res.headers['content-range'], undefined, 'Content-Range on a 200');
    assert.ok(contentCodings(res.headers).length === 1, 'a whole 200 in place of a range must be the encoded one');
    assertBytes(res.body, content(), 'the decoded whole body');
    return true;
  };

  for (const encoding of CLIENT_ENCODINGS) {
    const on = `(Accept-Encoding: ${encoding.acceptEncoding})`;

    it(`GET ${on} completes with the exact bytes once decoded`, TEST, async () => {
      const res = await wholeFor(encoding);
      assertStatus(res, 200, 'GET');
      assertBytes(res.body, content(), 'the decoded body');
      const codings = contentCodings(res.headers);
      if (expectEncoded(encoding))
        assert.ok(
          codings.length === 1 && encoding.offers.includes(codings[0] as string),
          `the compression layer should encode this 200 with one of ${encoding.offers.join(', ')}; Content-Encoding: ${res.headers['content-encoding'] ?? 'absent'}`,
        );
      else assertIdentity(res, 'GET');
    });

    if (!route.ranged) {
      it(`GET ${on} with Range sends the whole body (the length is unknown)`, TEST, async () => {
        const res = await get(encoding, { range: 'bytes=0-99' });
        assertStatus(res, 200, 'GET with Range of a body of unknown length');
        assert.equal(res.headers['content-range'], undefined, 'Content-Range on a body of unknown length');
        assert.notEqual(res.headers['accept-ranges'], 'bytes', 'Accept-Ranges: bytes on a body that is never ranged');
        assertBytes(res.body, content(), 'the decoded body');
      });
      it(`HEAD ${on} answers 200 without a body`, TEST, async () => {
        const res = await get(encoding, {}, 'HEAD');
        assertStatus(res, 200, 'HEAD');
        assert.equal(res.wire.length, 0, 'HEAD carried a body');
      });
      continue;
    }

    it(`GET ${on}: validators and Vary fit the coding sent`, TEST, async () => {
      const res = await firstAnswer(encoding);
      assertStatus(res, 200, 'GET');
      const strong = await identityEtag();
      assert.ok(!strong?.startsWith('W/'), `the identity 200's ETag is weak (${strong}): If-Range can never match it`);
      assertVary(res, route, 'the 200');
      if (contentCodings(res.headers).length === 0) {
        assert.equal(res.headers.etag, strong, 'the identity 200 has another ETag than the identity 200 before it');
        assert.equal(res.headers['accept-ranges'], 'bytes', 'Accept-Ranges of the identity 200');
        assert.equal(res.headers['content-length'], String(content().length), 'Content-Length of the identity 200');
      } else {
        const etag = res.headers.etag;
        if (etag === undefined && (strong === undefined || route.encodedBeforeUs)) return; // no validator to weaken
        assert.ok(etag !== undefined, `the ${res.headers['content-encoding']} 200 carries no ETag`);
        assert.notEqual(
          etag,
          strong,
          `the ${res.headers['content-encoding']} 200 carries the identity body's strong ETag ${strong}`,
        );
        // Weak (`W/` and the identity tag, as a layer in front makes it) or coding-specific (Express's own
        // weak tag of res.send when compression encodes before we see the bytes): either way it can never
        // satisfy If-Range, and it is never the identity body's strong tag.
        assert.ok(
          etag.startsWith('W/') || opaque(etag) !== opaque(strong ?? ''),
          `the ${res.headers['content-encoding']} 200's ETag ${etag} could pass for the identity ${strong}`,
        );
      }
    });

    it(`single Range ${on}: 206 of identity bytes with the exact Content-Range`, TEST, async () => {
      const { single } = ranges(content().length);
      const res = await get(encoding, { range: single.field });
      if (wholeEncodedInstead(encoding, res)) return;
      assertStatus(res, 206, `Range: ${single.field}`);
      assertIdentity(res, 'the 206');
      assert.equal(res.headers['content-range'], `bytes ${single.first}-${single.last}/${content().length}`);
      assert.equal(res.headers['content-length'], String(single.last - single.first + 1), 'Content-Length of the 206');
      assertBytes(res.wire, content().subarray(single.first, single.last + 1), 'the 206 body');
      assert.equal(res.headers.etag, await identityEtag(), 'the 206 ETag is not the identity ETag');
      assertNoTransform(res, 'the 206', true);
      assertVary(res, route, 'the 206');
    });

    it(`suffix Range ${on}: 206 of the last 1500 identity bytes`, TEST, async () => {
      const { suffix } = ranges(content().length);
      const res = await get(encoding, { range: suffix.field });
      if (wholeEncodedInstead(encoding, res)) return;
      assertStatus(res, 206, `Range: ${suffix.field}`);
      assertIdentity(res, 'the 206');
      assert.equal(res.headers['content-range'], `bytes ${suffix.first}-${suffix.last}/${content().length}`);
      assertBytes(res.wire, content().subarray(suffix.first), 'the 206 body');
      assertNoTransform(res, 'the 206', true);
      assertVary(res, route, 'the 206');
    });

    it(`multi-range ${on}: multipart/byteranges of identity parts, in order`, TEST, async () => {
      const { multi } = ranges(content().length);
      const res = await get(encoding, { range: multi.field });
      if (wholeEncodedInstead(encoding, res)) return;
      assertStatus(res, 206, `Range: ${multi.field}`);
      assertIdentity(res, 'the multipart 206');
      const type = res.headers['content-type'] ?? '';
      assert.match(type, /^multipart\/byteranges; boundary=/, 'Content-Type of the multipart 206');
      assert.equal(res.headers['content-length'], String(res.wire.length), 'Content-Length of the multipart 206');
      const parts = await parseMultipart(res.wire, type);
      assert.deepEqual(
        parts.map((part) => part.headers['content-range']),
        multi.parts.map(([first, last]) => `bytes ${first}-${last}/${content().length}`),
        'the parts and their Content-Range',
      );
      multi.parts.forEach(([first, last], i) =>
        assertBytes(parts[i]?.body ?? Buffer.alloc(0), content().subarray(first, last + 1), `part ${i + 1}`),
      );
      assertNoTransform(res, 'the multipart 206', true);
      assertVary(res, route, 'the multipart 206');
    });

    it(`Range past the end ${on}: 416 with bytes */length, not encoded`, TEST, async () => {
      const res = await get(encoding, { range: `bytes=${content().length}-` });
      if (wholeEncodedInstead(encoding, res)) return;
      assertStatus(res, 416, 'Range past the end');
      assertIdentity(res, 'the 416');
      assert.equal(res.headers['content-range'], `bytes */${content().length}`);
      assertNoTransform(res, 'the 416', false);
      assertVary(res, route, 'the 416');
    });

    it(
      `If-Range with the ETag just received ${on}: 206 after identity, the whole body after an encoded 200`,
      TEST,
      async () => {
        const first = await firstAnswer(encoding);
        const { single } = ranges(content().length);
        const unvalidated = route.encodedBeforeUs && contentCodings(first.headers).length > 0;
        if (first.headers.etag === undefined && (unvalidated || (await identityEtag()) === undefined)) {
          // No validator was sent: an If-Range can match nothing (RFC 9110 §13.1.5), the whole body comes back.
          const res = await get(encoding, { range: single.field, 'if-range': '"never-sent"' });
          assertStatus(res, 200, 'If-Range on a representation without validators');
          assertBytes(res.body, content(), 'the decoded whole body');
          return;
        }
        const etag = first.headers.etag;
        assert.ok(etag !== undefined, 'the 200 carries no ETag to resume with');
        const res = await get(encoding, { range: single.field, 'if-range': etag });
        if (contentCodings(first.headers).length === 0) {
          assertStatus(res, 206, `If-Range: ${etag} from the identity 200`);
          assertIdentity(res, 'the 206');
          assertBytes(res.wire, content().subarray(single.first, single.last + 1), 'the 206 body');
        } else {
          assert.equal(
            res.status,
            200,
            `If-Range: ${etag} from a ${first.headers['content-encoding']} 200 got ${res.status}${res.status === 206 ? ': identity bytes to splice onto encoded ones' : ''}`,
          );
          assertBytes(res.body, content(), 'the decoded whole body');
        }
      },
    );

    it(`If-None-Match with the ETag just received ${on}: 304 with that ETag`, TEST, async () => {
      const first = await firstAnswer(encoding);
      const unvalidated = route.encodedBeforeUs && contentCodings(first.headers).length > 0;
      if (first.headers.etag === undefined && (unvalidated || (await identityEtag()) === undefined)) {
        // No validator was sent: a tag the client made up matches nothing, the whole body comes back.
        const res = await get(encoding, { 'if-none-match': '"never-sent"' });
        assertStatus(res, 200, 'If-None-Match on a representation without validators');
        assertBytes(res.body, content(), 'the decoded whole body');
        return;
      }
      const etag = first.headers.etag;
      assert.ok(etag !== undefined, 'the 200 carries no ETag to revalidate with');
      const res = await get(encoding, { 'if-none-match': etag });
      assertStatus(res, 304, `If-None-Match: ${etag}`);
      assert.equal(res.wire.length, 0, 'the 304 has a body');
      assert.equal(res.headers.etag, etag, 'the 304 carries another ETag than its 200');
      assertVary(res, route, 'the 304');
    });

    it(`HEAD ${on}: the headers of a GET, no body`, TEST, async () => {
      const res = await get(encoding, {}, 'HEAD');
      assertStatus(res, 200, 'HEAD');
      assert.equal(res.wire.length, 0, 'HEAD carried a body');
      const getRes = await firstAnswer(encoding);
      if (contentCodings(res.headers).length === 0) {
        assert.equal(
          res.headers.etag,
          await identityEtag(),
          'the identity HEAD has another ETag than the identity GET',
        );
        assert.equal(res.headers['content-length'], String(content().length), 'Content-Length of the identity HEAD');
      } else {
        assert.equal(res.headers['content-encoding'], getRes.headers['content-encoding'], 'Content-Encoding of HEAD');
        assert.equal(res.headers.etag, getRes.headers.etag, 'the encoded HEAD has another ETag than its GET');
      }
      assertVary(res, route, 'the HEAD');
    });
  }

  if (!route.ranged) return count;
  it('If-Range with a weak ETag: 200 with the whole body (strict comparison, RFC 9110 §13.1.5)', TEST, async () => {
    const weak = `W/${opaque((await identityEtag()) ?? '"never-sent"')}`;
    const { single } = ranges(content().length);
    const res = await get(IDENTITY, { range: single.field, 'if-range': weak });
    assertStatus(res, 200, `If-Range: ${weak}`);
    assertBytes(res.body, content(), 'the whole body');
  });
  return count;
}

/**
 * 40 clients, ten at a time, abandon `url` mid-body; afterwards the process's descriptors are back at
 * the baseline. A wave whose client gets no body byte in time fails the case, and no later wave starts.
 */
function abandonedDownloads(label: string, files: () => ServedFiles, server: () => StartedStack): void {
  it(`${ABORTED_DOWNLOADS} downloads abandoned mid-body leave no descriptor open`, { timeout: 120_000 }, async () => {
    const url = server().targets?.get(label) ?? label;
    const warm = await send(server().baseUrl, url, {
      headers: { 'accept-encoding': 'identity' },
      timeoutMs: BIG_DOWNLOAD_TIMEOUT_MS,
    });
    assertBytes(warm.body, files().bytes['big.bin'], 'the download before the aborts');
    await sleep(100);
    const baseline = fdCount();
    for (let wave = 0; wave < ABORTED_DOWNLOADS; wave += ABORT_WAVE) {
      const outcomes = await Promise.allSettled(
        Array.from({ length: ABORT_WAVE }, (_, i) =>
          abandonMidBody(server().baseUrl, url, {
            'accept-encoding': (CLIENT_ENCODINGS[(wave + i) % CLIENT_ENCODINGS.length] as ClientEncoding)
              .acceptEncoding,
          }),
        ),
      );
      const failed = outcomes.find((outcome) => outcome.status === 'rejected');
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    }
    const settled = await eventually(() => fdCount() <= baseline, 3_000);
    const left = fdCount() - baseline;
    assert.ok(settled, `${left} descriptors still open 3 s after ${ABORTED_DOWNLOADS} clients went away`);
  });
}

/** What one framework's matrix must hold: every serving path it has, under its compressing layer. */
export interface MatrixShape {
  /** The compressing layer users put around range-serve on this framework. */
  readonly compressor: string;
  /** The serving paths of this framework. */
  readonly paths: readonly ServingPath[];
}

const PLACEMENTS: readonly Placement[] = ['in front', 'behind'];

/**
 * Checks that `stacks` hold a route for every serving path with the compressing layer in front and
 * behind, and prints the matrix's size; counts the cases registered by then (all of them, at run time).
 */
function matrixCoverage(framework: string, shape: MatrixShape, stacks: readonly Stack[], cases: () => number): void {
  it('the matrix holds every serving path with the compressing layer in front of range-serve and behind it', (t) => {
    const routes = stacks.flatMap((stack) => stack.routes);
    const missing = shape.paths.flatMap((path) =>
      PLACEMENTS.filter((placement) => !routes.some((r) => r.path === path && r.placement === placement)).map(
        (placement) => `${path} with ${shape.compressor} ${placement}`,
      ),
    );
    assert.deepEqual(missing, [], 'cells of the matrix without a route');
    const cells = shape.paths.length * PLACEMENTS.length;
    t.diagnostic(
      `${framework} matrix: ${shape.paths.length} serving paths × ${PLACEMENTS.length} placements of ${shape.compressor} = ${cells} cells, ` +
        `covered by ${routes.filter((r) => r.placement !== 'none').length} routes (${routes.length} with the uncompressed stacks) × ` +
        `${CLIENT_ENCODINGS.length} Accept-Encodings: ${cases()} cases`,
    );
  });
}

/** Runs the matrix over every stack, each in its own server, closed in `after`. */
export function runStacks(framework: string, stacks: readonly Stack[], shape: MatrixShape): void {
  describe(framework, () => {
    let files: ServedFiles;
    before(() => {
      files = makeServedFiles();
    });
    after(() => files.remove());
    let registered = 0;
    matrixCoverage(framework, shape, stacks, () => registered);
    for (const stack of stacks) {
      describe(stack.name, () => {
        let server: StartedStack | undefined;
        const running = (): StartedStack => {
          assert.ok(server !== undefined, 'the stack did not start');
          return server;
        };
        before(async () => {
          server = await stack.start(files);
        });
        after(async () => server?.close());
        for (const route of stack.routes)
          describe(route.url, { concurrency: true }, () => {
            registered += routeCases(route, () => files, running);
          });
        for (const url of stack.downloads) describe(url, () => abandonedDownloads(url, () => files, running));
      });
    }
  });
}
