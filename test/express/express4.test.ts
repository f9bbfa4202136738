import type { Express } from 'express';
import express from 'express4';
import { runConformance } from '../conformance/suite.ts';
import { expressFactory } from './factory.ts';

runConformance('Express 4', expressFactory(express as unknown as () => Express));
