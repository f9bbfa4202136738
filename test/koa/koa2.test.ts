import type Koa from 'koa';
import Koa2 from 'koa2';
import { runConformance } from '../conformance/suite.ts';
import { koaFactory } from './factory.ts';
import { runKoaSpecific } from './koa-specific.ts';

const Koa2Constructor = Koa2 as unknown as new () => Koa;
runConformance('Koa 2', koaFactory(Koa2Constructor));
runKoaSpecific('Koa 2', Koa2Constructor);
