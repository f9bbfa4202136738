/**
 * The adapters every hardening and stress test runs against. Adding an adapter is one line here: its
 * conformance ServerFactory (a real server on 127.0.0.1:0 serving `setup.root`, falling through to a
 * plain 404 `fallthrough`).
 */
import type { HostBehaviour, ServerFactory } from '../conformance/scenarios.ts';
import type { Express } from 'express';
import express5 from 'express';
import express4 from 'express4';
import type Koa from 'koa';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { expressFactory } from '../express/factory.ts';
import { honoFactory, NODE_SERVER } from '../fetch/factory.ts';
import { koaFactory } from '../koa/factory.ts';

export interface Adapter {
  readonly name: string;
  readonly factory: ServerFactory;
  /** What its host does to requests before the adapter sees them (default: Node's own server). */
  readonly host?: HostBehaviour;
}

export const ADAPTERS: readonly Adapter[] = [
  { name: 'Express 4', factory: expressFactory(express4 as unknown as () => Express) },
  { name: 'Express 5', factory: expressFactory(express5) },
  { name: 'Koa 2', factory: koaFactory(Koa2 as unknown as new () => Koa) },
  { name: 'Koa 3', factory: koaFactory(Koa3) },
  { name: 'fetch on Hono', factory: honoFactory, host: NODE_SERVER },
];
