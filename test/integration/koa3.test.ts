import Koa from 'koa';
import { KOA_MATRIX, koaStacks } from './koa-stacks.ts';
import { runStacks } from './matrix.ts';

runStacks('Koa 3', koaStacks(Koa), KOA_MATRIX);
