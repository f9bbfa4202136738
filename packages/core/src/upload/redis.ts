/**
 * The Redis connection the shared store and locker use (ioredis): bounded connect and command
 * timeouts, no offline queue, so a request never waits on a Redis that is down; any Redis failure
 * reaches the engine as {@link UploadUnavailableError}, answered 503 with `Retry-After`. ioredis
 * reconnects by itself, so uploads go on without a restart once Redis is back.
 *
 * The Lua scripts below are each one atomic step on Redis; what each step survives is written beside it.
 */
import { randomBytes } from 'node:crypto';
import type { Redis, RedisOptions } from 'ioredis';

/** Raised when the shared state cannot be reached in time (Redis down or too slow): answered 503. */
export class UploadUnavailableError extends Error {
  /** Seconds after which a retry may succeed (sent as `Retry-After`). */
  readonly retryAfter: number;
  constructor(message: string, retryAfter = 2) {
    super(message);
    this.name = 'UploadUnavailableError';
    this.retryAfter = retryAfter;
  }
}

/** What the store and locker need of a connection: the command client, a subscriber, the key prefix. */
export interface RedisLink {
  /** Runs `command` on the command connection; a failure of Redis becomes {@link UploadUnavailableError}. */
  run<T>(command: (redis: Redis) => Promise<T>): Promise<T>;
  /** Calls `listener(channel, message)` for every message on `channels` (re-subscribed after a reconnect). */
  subscribe(channels: readonly string[], listener: (channel: string, message: string) => void): Promise<void>;
  /** Prefix of every key and channel: `range-serve:<namespace>:` once {@link RedisLink.setNamespace} ran. */
  readonly prefix: string;
  /** Sets the namespace (shared by every replica on one directory) that keys are prefixed with. */
  setNamespace(namespace: string): void;
  /** Closes both connections (only those this link opened). */
  close(): void;
}

/** Connection bounds: no request waits longer than this for Redis. */
const CONNECT_TIMEOUT = 2000;
const COMMAND_TIMEOUT = 2000;
/** How long a command waits for a connection under way (a reconnect) before the request gets 503. */
const READY_WAIT = 1000;

const OPTIONS: RedisOptions = {
  connectTimeout: CONNECT_TIMEOUT,
  commandTimeout: COMMAND_TIMEOUT,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  // Reconnect for ever, at most every second: Redis coming back needs no restart.
  retryStrategy: (times) => Math.min(100 * times, 1000),
  lazyConnect: false,
};

/** A fresh lease token or namespace: 128 random bits, base64url (22 characters). */
export function randomToken(): string {
  return randomBytes(16).toString('base64url');
}

/** Something that looks like an ioredis client (`duplicate`, `eval`, `status`). */
export function isRedisClient(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v.duplicate === 'function' && typeof v.eval === 'function' && typeof v.status === 'string';
}

/**
 * Connects to `redis` (a `redis://`/`rediss://` URL, or an ioredis client the app made, of which a
 * duplicate is made for the subscriber). ioredis is imported only here, so an app without `redis`
 * never loads it.
 */
export function connectRedis(redis: string | object): RedisLink {
  const clients = (async () => {
    const { Redis: RedisClass } = await import('ioredis');
    const own = typeof redis === 'string';
    const command = own ? new RedisClass(redis, OPTIONS) : (redis as Redis);
    const subscriber = own ? new RedisClass(redis, OPTIONS) : command.duplicate(OPTIONS);
    // Errors surface through the commands that fail; an unhandled 'error' event would crash the process.
    command.on('error', () => {});
    subscriber.on('error', () => {});
    return { command, subscriber, own };
  })();
  clients.catch(() => {});
  let prefix = 'range-serve:';
  let closed = false;

  const ready = async (client: Redis): Promise<void> => {
    if (client.status === 'ready') return;
    if (client.status === 'end' || client.status === 'close' || closed) {
      if (closed) throw new UploadUnavailableError('the Redis connection is closed');
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off('ready', onReady);
        reject(new UploadUnavailableError('Redis is not reachable'));
      }, READY_WAIT);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      client.once('ready', onReady);
    });
  };

  return {
    get prefix() {
      return prefix;
    },
    setNamespace(namespace) {
      prefix = `range-serve:${namespace}:`;
    },
    async run(command) {
      let client: Redis;
      try {
        client = (await clients).command;
      } catch (err) {
        throw new UploadUnavailableError(`the Redis client could not be loaded: ${(err as Error).message}`);
      }
      await ready(client);
      try {
        return await command(client);
      } catch (err) {
        if (err instanceof UploadUnavailableError) throw err;
        // ioredis' own failures (closed connection, timeout, a Redis error reply) are Redis trouble.
        throw new UploadUnavailableError(`Redis failed: ${(err as Error).message}`);
      }
    },
    async subscribe(channels, listener) {
      const { subscriber } = await clients;
      subscriber.on('message', listener);
      // ioredis subscribes again on its own after a reconnect.
      await subscriber.subscribe(...channels).catch(() => {});
    },
    close() {
      closed = true;
      void clients.then(({ command, subscriber, own }) => {
        subscriber.disconnect();
        if (own) command.disconnect();
      });
    },
  };
}

/**
 * Takes a lease: sets the lock key to the token only when no one holds it, with an expiry.
 * KEYS: lock. ARGV: token, lease ms.
 */
export const TAKE_LEASE = `return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0`;

/**
 * Renews a lease still held by this token. A holder that was paused past its lease finds another
 * token (or none) and learns it lost the upload. KEYS: lock. ARGV: token, lease ms.
 */
export const RENEW_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

/**
 * Lets go of a lease still held by this token and tells waiting replicas. KEYS: lock. ARGV: token,
 * released channel, id.
 */
export const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0`;

/**
 * Creates an upload: its state and an empty segment list, only if the id is new.
 * KEYS: upload, unfinished, partials. ARGV: state JSON, segments JSON, id, unfinished score or '',
 * partial score or ''.
 */
export const CREATE_UPLOAD = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'segments', ARGV[2])
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3]) end
if ARGV[5] ~= '' then redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3]) end
return 1`;

/**
 * The commit: in one atomic step, checks the lease token still holds the lock, then records the
 * state and the segment list (the committed segments before this writer's, plus this writer's own
 * segment up to the new offset). A writer paused past its lease (SIGSTOP, a GC pause, a partition)
 * finds another token or none and records nothing (returns 0), so it never acknowledges an offset;
 * its bytes went only into its own segment file, which no committed list names. An upload removed
 * meanwhile returns -1; a segment list that does not add up to this writer's base returns -2.
 * KEYS: upload, lock, unfinished, partials. ARGV: token ('' for a commit without a lease), state
 * JSON, segment name ('' for none), base, offset, id, unfinished score or '', partial score or ''.
 */
export const COMMIT_UPLOAD = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local raw = redis.call('HGET', KEYS[1], 'segments')
if not raw then return -1 end
local segments = cjson.decode(raw)
local base = tonumber(ARGV[4])
local offset = tonumber(ARGV[5])
if ARGV[3] ~= '' then
  if #segments > 0 and segments[#segments][1] == ARGV[3] then table.remove(segments) end
  local total = 0
  for _, s in ipairs(segments) do total = total + s[2] end
  if total ~= base or offset < base then return -2 end
  if offset > base then table.insert(segments, { ARGV[3], offset - base }) end
  redis.call('HSET', KEYS[1], 'segments', #segments == 0 and '[]' or cjson.encode(segments))
end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
if ARGV[7] ~= '' then redis.call('ZADD', KEYS[3], ARGV[7], ARGV[6]) else redis.call('ZREM', KEYS[3], ARGV[6]) end
if ARGV[8] ~= '' then redis.call('ZADD', KEYS[4], ARGV[8], ARGV[6]) else redis.call('ZREM', KEYS[4], ARGV[6]) end
return 1`;
