/**
 * @range-serve/core/adapter: the kit for writing a framework adapter (the Express and Koa adapters are
 * built from it and nothing else). Every function returns a response description or an outcome; the
 * adapter translates its framework's request in and writes the answer out, deciding nothing itself.
 */
export {
  abandonBody,
  type BodyOptions,
  type BodyStreamOptions,
  bodyChunks,
  createBody,
  type FlushedSink,
  openBody,
  type ReadBuffers,
  readWholeBody,
  SequentialBody,
  SMALL_BODY,
} from './body.js';
export {
  createFileDigests,
  DIGEST_CACHE_ENTRIES,
  type FileDigests,
  type FileEtagMode,
  fileDigests,
  withFileDigest,
} from './digest.js';
export { digestEtag, reprDigestValue, wantsSha256 } from './repr-digest.js';
export { claimContentCoding, guardAnsweredResponse, guardContentCodings } from './coding.js';
export {
  exposedFieldList,
  exposeResponseFields,
  type FieldMerge,
  LIST_FIELDS,
  mergeList,
  mergeResponseFields,
  mergeVary,
} from './fields.js';
export { type InterceptedRequest, type InterceptedResponse, interceptResponse } from './intercept.js';
export {
  type DotfilesPolicy,
  type NormalizedOptions,
  type NormalizedSendRangeOptions,
  normalizeOptions,
  normalizeSendRangeOptions,
} from './options.js';
export { nearestName, unknownOptionError } from './option-names.js';
export { planConditional } from './plan.js';
export { closeRepresentation, contentEtag, type RepresentationInfo } from './representation.js';
export { removeStaleContentHeaders, type ResponseWriter, type WriteOptions, writeResponse } from './respond.js';
export {
  CONTENT_HEADERS,
  describesRepresentation,
  directoryRedirect,
  methodNotAllowed,
  NO_BODY,
  type ResponseHeaders,
  textResponse,
} from './response.js';
export {
  type AutomaticEtag,
  encodedFileValidators,
  type HandlerBody,
  type HandlerOutcome,
  type HeaderGetter,
  planHandlerBody,
  planHandlerFile,
  type RangeServer,
  rangeServer,
  type ResponseTarget,
  type ServeOutcome,
  type ServeRequest,
  wholeFilePath,
} from './serve.js';
export { planSendRange } from './send-range.js';
export { type StaticOptions, type StaticResolver, type StaticResult, staticResolver } from './static.js';
export { chooseVariant, type VariantFileOptions } from './variant.js';
