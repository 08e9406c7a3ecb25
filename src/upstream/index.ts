export { type Balancer, createBalancer } from './balancers.js';
export { Member, type MemberState } from './member.js';
export { type UpstreamEvents, UpstreamPool, type UpstreamSettings } from './upstream-pool.js';
export { type RouteUpstream, type UpstreamRoute, UpstreamService } from './upstream.service.js';
export { DnsDiscovery, type PoolTarget } from './dns-discovery.js';
