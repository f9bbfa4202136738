// @range-serve/core: what applications call. The kit for writing a framework adapter is
// `@range-serve/core/adapter`.
export { ClientGoneError } from './body.js';
export { negotiateContentCoding, type PrecompressedCoding, preferredCodings } from './accept-encoding.js';
export { type DigestFileOptions, openFileWithDigest } from './digest.js';
export { type EntityTag, parseEntityTagList } from './etag.js';
export { formatHttpDate, parseHttpDate } from './http-date.js';
export type { RangeServeOptions, SendRangeOptions } from './options.js';
export { type PlanOptions, type PlanRequest, planResponse, type ResponsePlan } from './plan.js';
export { evaluatePreconditions, type PreconditionOutcome } from './preconditions.js';
export { type ByteRange, parseRange, type RangeResult } from './range.js';
export {
  BadPathError,
  bytesRepresentation,
  FileForbiddenError,
  FileNotFoundError,
  type FileOptions,
  type FileRepresentation,
  NotAFileError,
  openFile,
  OpenFileError,
  type Representation,
  type RepresentationMetadata,
  RepresentationChangedError,
  ShortRepresentationError,
  streamRepresentation,
} from './representation.js';
export {
  type NodeRequest,
  type NodeResponse,
  type ServeOptions,
  sendPlan,
  serveRepresentation,
  type WriteOptions,
  writeResponse,
} from './respond.js';
export type { ResponseBody, ResponseDescription } from './response.js';
export { openVariant, type VariantOptions } from './variant.js';
