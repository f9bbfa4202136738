/**
 * @range-serve/core/upload: the resumable-upload engine (tus 1.0.0 and the draft "Resumable Uploads
 * for HTTP", interop versions 6 to 8) that `resumableUploads()` in the Express, Koa and fetch adapters
 * run on. `createUploadEngine` takes requests and gives answers as values; `createUploadHandler` runs it
 * on Node's request and response.
 */
export { createUploadEngine, type EngineParts, type UploadEngine } from './engine.js';
export { createUploadHandler, handleUpload, type UploadHandler } from './node.js';
export {
  type ContentEnding,
  type UploadAnswer,
  type UploadContent,
  type UploadReply,
  type UploadRequest,
  type UploadTarget,
} from './request.js';
export { LeaseLostError, type UploadLease, type UploadLocker, UploadLocks } from './lock.js';
export {
  type Appender,
  type DownloadMetadata,
  newUploadId,
  type Reconciliation,
  type StoreCapabilities,
  type StoredUpload,
  UPLOAD_ID,
  type UploadFile,
  type UploadStore,
} from './store.js';
export { FileUploadStore } from './file-store.js';
export {
  type CompletedUpload,
  type CompletedUploadFile,
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
  type ConcatPart,
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
  type UploadConcat,
  type UploadLimits,
  type UploadProtocol,
  type UploadResponse,
  type UploadState,
} from './protocol.js';
export { ConsumedBodyError } from './receive.js';
