/**
 * A child upload server for the crash and fault tests: serves `argv[2]` under `/files` and prints its
 * port and pid. `argv[3]` (JSON, optional) picks the framework (`node`, `express`, `koa`) and an
 * `onComplete` that appends `<id> <length> <size of the data file>` to `hookLog` after `hookDelay` ms.
 */
import { appendFileSync, statSync } from 'node:fs';
import type { ResumableUploadOptions } from '@range-serve/express';
import express from 'express';
import Koa from 'koa';
import { expressUploadFactory, koaUploadFactory } from './factory.ts';
import { startNodeServer } from './node-server.ts';

interface ChildConfig {
  readonly adapter?: 'node' | 'express' | 'koa';
  readonly hookLog?: string;
  readonly hookDelay?: number;
}

const config = JSON.parse(process.argv[3] ?? '{}') as ChildConfig;
const options: ResumableUploadOptions = { directory: process.argv[2] ?? '' };
if (config.hookLog !== undefined) {
  const log = config.hookLog;
  options.onComplete = async (_req, upload) => {
    await new Promise((resolve) => setTimeout(resolve, config.hookDelay ?? 0));
    appendFileSync(log, `${upload.id} ${upload.length} ${statSync(upload.path).size}\n`);
  };
}
const adapter = config.adapter ?? 'node';
const server =
  adapter === 'express'
    ? await expressUploadFactory(express)({ options })
    : adapter === 'koa'
      ? await koaUploadFactory(Koa)({ options })
      : await startNodeServer(options);
process.stdout.write(`${JSON.stringify({ port: Number(new URL(server.baseUrl).port), pid: process.pid })}\n`);
