export type { RequestAuditContext, UpstreamCall } from './context.ts';
export { getRequestContext, recordUpstream, setRequestContext } from './context.ts';
