export { DASHBOARD_MAX_EVENT_CLIENTS, DashboardEndpoint } from './dashboard.endpoint.js';
export type { DashboardRoute, DashboardState, TargetState } from './dashboard-state.js';
export { PurgeEndpoint } from './purge-endpoint.js';
