import Koa from 'koa';
import { koaStacks } from './koa-stacks.ts';
import { runStacks } from './matrix.ts';

runStacks('Koa 3', koaStacks(Koa));
