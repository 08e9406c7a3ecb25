export { ProxyService } from './proxy.service.js';
export type {
  AttemptFailure,
  AttemptPolicy,
  AttemptTarget,
  AttemptWatch,
  ForwardAttempts,
  ForwardRequest,
  ForwardTarget,
  UpstreamTls,
  Forwarding,
} from './forward-contracts.js';
export { Forwarder, isSafeToResend } from './forwarder.js';
export { GrpcForwarder } from './grpc-forwarder.js';
export { answerFailure, FailedAnswerError, FAILURE_STATUSES, NoTargetError, RETRY_AFTER_SECONDS, writeProxyError } from './proxy-errors.js';
export type { ResponseReceiver, ResponseTap } from './response-tap.js';
export { assignHeaderList, forwardsClientHeader, isGatewayOwnedHeader, type ResponseHeaders, toHeaderObject } from './upstream-headers.js';
export type { UpstreamErrorKind } from './proxy-errors.js';
export {
  type HandshakeResult,
  type UpgradeClient,
  type UpgradeDestination,
  type UpgradeOutcome,
  type UpgradeRequest,
  type UpgradeTargets,
  type WebSocketRoute,
  type WebSocketTraffic,
  WebSocketProxy,
} from './websocket-proxy.js';
