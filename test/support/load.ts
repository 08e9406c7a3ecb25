import { Agent, request } from 'node:http';

/** What the clients of a load saw. */
export interface LoadReport {
  /** Responses with a 2xx status. */
  ok: number;
  /** Responses with another status, as `status path`. */
  non2xx: string[];
  /** Requests that failed after their connection was open: resets, hang-ups, broken pipes. */
  resets: string[];
  /** Requests that got no answer within the client's timeout. */
  hung: number;
  /** Connections refused (nothing listened any more): the client stopped there. */
  refused: number;
}

/**
 * The resets a stop may not explain: a connection whose handshake completed in the instant the
 * last listener closed is reset with it, before its request was read (no portable call stops new
 * handshakes first; see docs/security.md). A reset of a reused connection, or of a response, is
 * never one of those.
 */
export function resetsOfOpenConnections(report: LoadReport): string[] {
  return report.resets.filter((reset) => !/^request \((new connection|keep-alive)\): ECONNRESET$/.test(reset));
}

export interface LoadOptions {
  /** Clients each holding one keep-alive connection, sending requests back to back. */
  keepAlive?: number;
  /** Clients opening a new connection for every request, as many clients behind a NAT would. */
  perRequest?: number;
  path?: string;
  /** A request unanswered for this long counts as hung. */
  timeoutMs?: number;
}

export interface Load {
  report(): LoadReport;
  /** Stops the clients after their current request; resolves with the report once all stopped. */
  stop(): Promise<LoadReport>;
}

/**
 * Closed-loop HTTP clients against 127.0.0.1:`port`, each sending its next request once the last
 * one settled. A client whose connection is refused stops: the server no longer accepts, which is
 * what a shutdown ends with; a reset, a hang-up or a timeout is a failed request.
 */
export function startLoad(port: number, { keepAlive = 0, perRequest = 0, path = '/', timeoutMs = 5000 }: LoadOptions): Load {
  const report: LoadReport = { ok: 0, non2xx: [], resets: [], hung: 0, refused: 0 };
  let running = true;

  const send = (agent: Agent | false) =>
    new Promise<boolean>((resolve) => {
      const kind = agent ? 'keep-alive' : 'new connection';
      let settled = false;
      const settle = (goOn: boolean) => {
        if (settled) return;
        settled = true;
        resolve(goOn);
      };
      const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode! >= 200 && res.statusCode! < 300) report.ok++;
          else report.non2xx.push(`${res.statusCode} ${path}`);
          settle(true);
        });
        res.on('error', (error: NodeJS.ErrnoException) => {
          report.resets.push(`response (${kind}): ${error.code ?? error.message}`);
          settle(true);
        });
      });
      req.setTimeout(timeoutMs, () => {
        report.hung++;
        req.destroy();
        settle(true);
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (settled) return;
        if (error.code === 'ECONNREFUSED') {
          report.refused++;
          settle(false);
          return;
        }
        report.resets.push(`request (${kind}${req.reusedSocket ? ', reused' : ''}): ${error.code ?? error.message}`);
        settle(true);
      });
      req.end();
    });

  const client = async (agent: Agent | false) => {
    while (running && (await send(agent)));
    if (agent) agent.destroy();
  };
  const clients = [
    ...Array.from({ length: keepAlive }, () => client(new Agent({ keepAlive: true, maxSockets: 1 }))),
    ...Array.from({ length: perRequest }, () => client(false)),
  ];
  return {
    report: () => report,
    async stop() {
      running = false;
      await Promise.all(clients);
      return report;
    },
  };
}
