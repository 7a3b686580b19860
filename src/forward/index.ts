/** Forwarding to the tax authority: TDiep 206 batches, the gateway, reply parsing and the forwarding loop. */
export {
  buildTdiep206,
  buildTdiep206Parts,
  checkEnvelopeConfig,
  createBatchBuilder,
  dlieuId,
  type EnvelopeConfig,
  MLTDIEP_MTT_CODED,
  newMtdiep,
} from "./batch.js";
export { createGatewayFromConfig, GatewayConfig, type GatewayDeps, type GatewaySettings } from "./config.js";
export {
  DEFAULT_BATCH_LIMITS,
  type Forwarder,
  type ForwarderDeps,
  type ForwarderEvent,
  ISOLATE_AFTER,
  startForwarder,
} from "./forwarder.js";
export {
  type AuthorityGateway,
  classify,
  createHttpXmlGateway,
  type FetchedReply,
  type GatewayCall,
  type HttpXmlGatewayConfig,
  OUTCOME_TABLE,
  type OutcomeRule,
  type ReplyFetch,
  type Side,
  type SubmitOutcome,
  type TransportFailure,
} from "./gateway.js";
export {
  createJsonBase64Gateway,
  FPT_PATHS,
  type JsonBase64GatewayConfig,
  type JsonBase64Paths,
} from "./gateway-json.js";
export { createHttpClient, type HttpClient, type HttpClientOptions, type HttpExchange } from "./http.js";
export {
  type BatchConclusion,
  concludeBatch,
  formatReplyError,
  mapErrorsToInvoices,
  type ParsedReply,
  type ParseReplyResult,
  parseReply,
  type ReplyError,
} from "./replies.js";
