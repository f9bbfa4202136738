import express from 'express4';
import { type ExpressModule, expressStacks } from './express-stacks.ts';
import { runStacks } from './matrix.ts';

runStacks('Express 4', expressStacks(express as unknown as ExpressModule));
