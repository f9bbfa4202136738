/**
 * @range-serve/core/upload: the resumable-upload engine (tus 1.0.0 and the draft "Resumable Uploads
 * for HTTP", interop versions 6 to 8) that `resumableUploads()` in the Express and Koa adapters run on.
 */
export { createUploadHandler, type UploadHandler, type UploadTarget } from './handler.js';
export {
  type CompletedUpload,
  type HookRefusal,
  type NormalizedUploadOptions,
  normalizeUploadOptions,
  parseSize,
  type ResumableUploadOptions,
  type UploadCompletion,
  type UploadCreation,
  type UploadData,
  type UploadDescription,
  type UploadHookResponse,
  type UploadHooks,
} from './options.js';
export {
  type AppendPlan,
  type BodyOutcome,
  type CreationPlan,
  DRAFT_INTEROP_VERSIONS,
  type DraftInteropVersion,
  detectProtocol,
  discoveryResponse,
  downloadContentType,
  INERT_DOWNLOAD_HEADERS,
  SAFE_DOWNLOAD_TYPES,
  offsetResponse,
  optionsResponse,
  planAppend,
  planCreation,
  type ProtocolChoice,
  TUS_EXTENSIONS,
  TUS_VERSION,
  type UploadLimits,
  type UploadProtocol,
  type UploadResponse,
  type UploadState,
} from './protocol.js';
export { ConsumedBodyError } from './receive.js';
export { newUploadId, UPLOAD_ID } from './store.js';
