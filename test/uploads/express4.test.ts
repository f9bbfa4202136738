import type { Express } from 'express';
import express from 'express4';
import { expressUploadFactory } from './factory.ts';
import { runUploadConformance } from './suite.ts';

runUploadConformance('Express 4', expressUploadFactory(express as unknown as () => Express));
