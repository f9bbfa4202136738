import Koa from 'koa';
import { runConformance } from '../conformance/suite.ts';
import { koaFactory } from './factory.ts';
import { runKoaSpecific } from './koa-specific.ts';

runConformance('Koa 3', koaFactory(Koa));
runKoaSpecific('Koa 3', Koa);
