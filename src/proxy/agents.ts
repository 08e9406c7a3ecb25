import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

/** Keep-alive agents shared by every route: without one, http-proxy closes each upstream connection. */
export interface UpstreamAgents {
  http: HttpAgent;
  https: HttpsAgent;
}

export function createUpstreamAgents(): UpstreamAgents {
  const options = { keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' as const };
  return { http: new HttpAgent(options), https: new HttpsAgent(options) };
}

export function destroyUpstreamAgents(agents: UpstreamAgents): void {
  agents.http.destroy();
  agents.https.destroy();
}
