/** Forwarding to the tax authority: TDiep 206 batches, the gateway, reply parsing and the forwarding loop. */
export {
  buildTdiep206,
  checkEnvelopeConfig,
  createBatchBuilder,
  dlieuId,
  type EnvelopeConfig,
  MLTDIEP_MTT_CODED,
  newMtdiep,
} from "./batch.js";
export {
  DEFAULT_BATCH_LIMITS,
  type Forwarder,
  type ForwarderDeps,
  type ForwarderEvent,
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
} from "./gateway.js";
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
