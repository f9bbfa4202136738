import express from 'express';
import { expressStacks } from './express-stacks.ts';
import { runStacks } from './matrix.ts';

runStacks('Express 5', expressStacks(express));
