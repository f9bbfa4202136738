/**
 * Planning the responses of later route handlers on Node's `ServerResponse` (Express, plain node:http).
 * `writeHead`, `write` and `end` are wrapped once, as `compression` and `on-headers` do: never
 * reassigned afterwards (layers installed after us keep their wrappers), passing straight through once
 * the response is not ours to plan, and `headersSent` stays what Node says it is.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import onFinished from 'on-finished';
import { SequentialBody } from './body.js';
import { claimContentCoding } from './coding.js';
import { mergeResponseFields } from './fields.js';
import type { NormalizedOptions } from './options.js';
import { http2StreamOf } from './http2.js';
import {
  answeredByRangeServe,
  removeStaleContentHeaders,
  type ResponseWriter,
  withMergedFields,
  writeResponse,
} from './respond.js';
import type { Representation } from './representation.js';
import type { ResponseDescription } from './response.js';
import { type AutomaticEtag, type HandlerOutcome, planHandlerBody, planHandlerFile, wholeFilePath } from './serve.js';

/** The request a handler's response is planned for. */
export interface InterceptedRequest {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
}

/** A response whose later handler's body range-serve plans. */
export interface InterceptedResponse {
  /** True until the handler's first write or end shows what the response is. */
  readonly pending: boolean;
  /**
   * Plans with `request` instead of the one given at install (for a framework that hides fields of the
   * request from its own freshness check for one call).
   */
  planWith(request: InterceptedRequest): void;
  /**
   * Sends an answer made elsewhere (a handler's `res.sendFile`) through every layer around the response,
   * this interception passing it through; see {@link writeResponse}.
   */
  send(response: ResponseDescription, representation?: Representation): Promise<void>;
}

type Callback = (error?: Error | null) => void;
type State = 'pending' | 'through' | 'cutting' | 'done';

/** Wraps `res` once so that the 200 of a later handler is planned like any representation. */
export function interceptResponse<Res>(
  res: ServerResponse,
  request: InterceptedRequest,
  options: NormalizedOptions<Res>,
  automaticEtag?: AutomaticEtag,
): InterceptedResponse {
  const below = { writeHead: res.writeHead, write: res.write, end: res.end };
  const writer: ResponseWriter = {
    callsBack: false,
    writeHead: (status, headers) => Reflect.apply(below.writeHead, res, [status, headers]),
    write: (chunk, callback) => Reflect.apply(below.write, res, [chunk, callback]) as boolean,
    end: (chunk) => {
      // Node's HTTP/2 compatibility response ends with a chunk by calling `this.write(chunk)`, which is
      // ours by then and would drop it: there the chunk goes through the write below us first.
      if (chunk !== undefined && http2StreamOf(res) !== undefined) {
        Reflect.apply(below.write, res, [chunk]);
        Reflect.apply(below.end, res, []);
        return;
      }
      Reflect.apply(below.end, res, chunk === undefined ? [] : [chunk]);
    },
  };
  let state: State = 'pending';
  let planRequest = request;
  let calledWriteHead = false;
  let cut: SequentialBody | undefined;
  const getHeader = (name: string) => res.getHeader(name);

  /** Applies an outcome to the response; true when the handler's bytes are ours from now on. */
  function decide(outcome: HandlerOutcome): void {
    if (outcome.kind === 'leave') {
      const headers =
        Object.keys(outcome.headers).length === 0 ? outcome.headers : mergeResponseFields(outcome.headers, getHeader);
      for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
      state = 'through';
      // The handler's own writeHead, as it made it, for the layers below us to see.
      if (calledWriteHead) Reflect.apply(below.writeHead, res, [res.statusCode]);
      return;
    }
    const response = outcome.response;
    if (outcome.representation !== undefined) {
      state = 'done';
      writeResponse(res, response, outcome.representation, { writer }).catch((err: unknown) =>
        res.destroy(err as Error),
      );
      return;
    }
    if (response.body.type === 'none') {
      state = 'done';
      writeHeadOf(response);
      writer.end();
      return;
    }
    state = 'cutting';
    cut = new SequentialBody(response.body, Number(response.headers['content-length'] ?? 0));
    writeHeadOf(response);
  }

  function writeHeadOf(response: ResponseDescription): void {
    removeStaleContentHeaders(res, response);
    claimContentCoding(res, response.headers);
    writer.writeHead(response.status, withMergedFields(res, response).headers);
  }

  /** Writes an answer through `res`'s methods as they are now (every layer around us), passing through ours. */
  function sendFromTop(response: ResponseDescription, representation?: Representation): Promise<void> {
    state = 'through';
    return writeResponse(res, response, representation);
  }

  /** Sends the bytes the plan keeps of `chunk`; answers with the real write's backpressure. */
  function cutAndWrite(chunk: Uint8Array, callback: Callback | undefined): boolean {
    const out = (cut as SequentialBody).push(chunk);
    if (out.length === 0) {
      if (callback !== undefined) process.nextTick(callback);
      return !res.writableNeedDrain;
    }
    let ok = true;
    out.forEach((piece, i) => {
      ok = writer.write(piece, i === out.length - 1 && callback !== undefined ? callback : ignore);
    });
    return ok;
  }

  // A whole-file stream piped into the response is served from our own descriptor instead, ranged with
  // positioned reads; the handler's stream is destroyed unread.
  res.on('pipe', (source: Readable) => {
    const path = state === 'pending' && !res.headersSent ? wholeFilePath(source) : undefined;
    if (path === undefined) return;
    source.unpipe(res);
    source.pause();
    state = 'done'; // the handler's own writes, if any, are not the body now
    planHandlerFile(planRequest, res.statusCode, getHeader, path, options).then(
      (outcome) => {
        if (outcome.kind === 'plan' && outcome.representation !== undefined) {
          source.destroy();
          // Written from the top, as the handler's own writes were, so that layers after us still see it.
          sendFromTop(outcome.response, outcome.representation).catch((err: unknown) => res.destroy(err as Error));
          return;
        }
        state = 'pending';
        if (outcome.kind === 'plan') decide(outcome);
        else {
          decide(outcome);
          source.pipe(res);
          source.resume();
        }
      },
      (err: unknown) => {
        source.destroy();
        res.destroy(err as Error);
      },
    );
  });

  /** A sendRange (or upload download) answer under this interception is already planned: it passes. */
  function passAnswered(): void {
    if (state === 'pending' && answeredByRangeServe(res)) state = 'through';
  }

  res.writeHead = function writeHead(this: ServerResponse, status: number, ...rest: unknown[]) {
    passAnswered();
    if (state !== 'pending') return Reflect.apply(below.writeHead, this, [status, ...rest]) as ServerResponse;
    // Recorded on the response until the body shows whether we plan it; nothing is sent yet.
    calledWriteHead = true;
    res.statusCode = status;
    for (const arg of rest) {
      if (typeof arg === 'string') res.statusMessage = arg;
      else if (Array.isArray(arg)) {
        for (let i = 0; i + 1 < arg.length; i += 2) res.setHeader(String(arg[i]), arg[i + 1] as string);
      } else if (arg !== null && typeof arg === 'object') {
        for (const [name, value] of Object.entries(arg as OutgoingHttpHeaders)) {
          if (value !== undefined) res.setHeader(name, value);
        }
      }
    }
    return this;
  } as ServerResponse['writeHead'];

  res.write = function write(this: ServerResponse, chunk: unknown, ...rest: unknown[]): boolean {
    const [encoding, callback] = splitArgs(rest);
    passAnswered();
    if (state === 'pending' && !res.headersSent) {
      decide(planHandlerBody(planRequest, res.statusCode, getHeader, { type: 'chunks' }, options));
    } else if (state === 'pending') {
      state = 'through';
    }
    if (state === 'cutting') return cutAndWrite(toBuffer(chunk, encoding), callback);
    if (state === 'done') {
      if (callback !== undefined) process.nextTick(callback);
      return true;
    }
    return Reflect.apply(below.write, this, [chunk, ...rest]) as boolean;
  } as ServerResponse['write'];

  res.end = function end(this: ServerResponse, ...args: unknown[]) {
    const hasChunk = args.length > 0 && typeof args[0] !== 'function';
    const chunk = hasChunk ? args[0] : undefined;
    const [encoding, callback] = splitArgs(hasChunk ? args.slice(1) : args);
    passAnswered();
    if (state === 'pending' && !res.headersSent) {
      if (chunk !== undefined && chunk !== null) {
        const bytes = toBuffer(chunk, encoding);
        decide(
          planHandlerBody(planRequest, res.statusCode, getHeader, { type: 'bytes', bytes }, options, automaticEtag),
        );
      } else if (planRequest.method === 'HEAD') {
        // HEAD through a bare res.end(): the handler's Content-Length is all there is to plan from.
        decide(planHandlerBody(planRequest, res.statusCode, getHeader, { type: 'chunks' }, options));
      } else {
        state = 'through';
      }
    } else if (state === 'pending') {
      state = 'through';
    }
    if (state === 'cutting') {
      if (chunk !== undefined && chunk !== null) cutAndWrite(toBuffer(chunk, encoding), undefined);
      state = 'done';
      try {
        (cut as SequentialBody).finish();
        writer.end();
      } catch (err) {
        // A handler that writes fewer bytes than it declared cannot end a response as if complete.
        res.destroy(err as Error);
      }
    } else if (state === 'through') {
      return Reflect.apply(below.end, this, args) as ServerResponse;
    }
    if (callback !== undefined) onFinished(res, () => callback());
    return this;
  } as ServerResponse['end'];

  return {
    get pending() {
      return state === 'pending';
    },
    planWith(next: InterceptedRequest) {
      planRequest = next;
    },
    send: sendFromTop,
  };
}

function ignore(): void {}

function splitArgs(rest: readonly unknown[]): [BufferEncoding | undefined, Callback | undefined] {
  const encoding = typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : undefined;
  const callback = rest.find((arg): arg is Callback => typeof arg === 'function');
  return [encoding, callback];
}

function toBuffer(chunk: unknown, encoding: BufferEncoding | undefined): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk), encoding ?? 'utf8');
}
