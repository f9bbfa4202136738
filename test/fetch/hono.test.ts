import { runConformance } from '../conformance/suite.ts';
import { honoFactory, NODE_SERVER } from './factory.ts';

runConformance('fetch adapter on Hono (@hono/node-server)', honoFactory, NODE_SERVER);
