import { runUploadEndToEnd } from './uploads.ts';

runUploadEndToEnd('express');
