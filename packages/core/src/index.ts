export {
  applySetHeaders,
  declaredLength,
  type HeaderGetter,
  isPlannableResponse,
  mountedPath,
  responseMetadata,
  sendRangeRepresentation,
  serveArguments,
} from './adapter.js';
export {
  type BodyOptions,
  type ByteSink,
  type FlushedSink,
  writeFileRange,
  createBody,
  RepresentationChangedError,
  readSmallBody,
  readSpan,
  ShortRepresentationError,
  SMALL_BODY,
} from './body.js';
export {
  createFileDigests,
  DIGEST_CACHE_ENTRIES,
  type DigestFileOptions,
  type FileDigests,
  fileDigests,
  type FileEtagMode,
  openFileWithDigest,
  withFileDigest,
} from './digest.js';
export {
  type EntityTag,
  type EntityTagList,
  parseEntityTag,
  parseEntityTagList,
  strongMatch,
  weakMatch,
} from './etag.js';
export { formatHttpDate, parseHttpDate, toSeconds } from './http-date.js';
export { type MultipartLayout, type MultipartPart, multipartLayout, randomBoundary } from './multipart.js';
export {
  attachmentDisposition,
  cacheControlValue,
  contentTypeFor,
  type DotfilesPolicy,
  MAX_MAX_AGE,
  type NormalizedOptions,
  normalizeOptions,
  OVERRIDABLE_HEADERS,
  optionHeaders,
  parseMaxAge,
  type RangeServeOptions,
  withHeaderOverrides,
} from './options.js';
export {
  CONTENT_HEADERS,
  type FullPlan,
  type MultipartPlan,
  NOT_MODIFIED_HEADERS,
  type NotModifiedPlan,
  type PartialPlan,
  type PlanHeaders,
  type PlanOptions,
  type PlanRequest,
  type PreconditionFailedPlan,
  planResponse,
  type RangeNotSatisfiablePlan,
  type ResponsePlan,
} from './plan.js';
export {
  evaluatePreconditions,
  type HeaderValue,
  ifMatch,
  ifModifiedSince,
  ifNoneMatch,
  ifRange,
  ifUnmodifiedSince,
  type PreconditionOutcome,
  type Validators,
} from './preconditions.js';
export {
  type ByteRange,
  DEFAULT_MAX_RANGES,
  type ParseRangeOptions,
  parseRange,
  type RangeIgnoredReason,
  type RangeResult,
} from './range.js';
export {
  type BytesRepresentation,
  bytesRepresentation,
  closeRepresentation,
  contentEtag,
  type FileOptions,
  type FileRepresentation,
  fileEtag,
  fileRepresentation,
  fstatBig,
  NotAFileError,
  openFile,
  type Representation,
  type RepresentationInfo,
  type RepresentationMetadata,
  type StreamRepresentation,
  streamRepresentation,
} from './representation.js';
export { digestEtag, reprDigestValue, wantsSha256 } from './repr-digest.js';
export { type ServeOptions, sendPlan, serveRepresentation } from './respond.js';
export {
  type DirectoryRedirect,
  directoryRedirect,
  type StaticOptions,
  type StaticResolver,
  type StaticResult,
  staticResolver,
} from './static.js';
