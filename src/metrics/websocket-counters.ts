/** What became of a WebSocket upgrade request on a gateway route. */
export type UpgradeResult = 'upgraded' | 'refused' | 'declined' | 'failed' | 'over_capacity';

/**
 * The process's WebSocket figures, as plain numbers bumped by upgrades and connections and read
 * when the metrics are scraped: `refused` (answered by the gateway's own stages: path, auth,
 * guards, hook, no route), `declined` (the target answered without switching protocols),
 * `failed` (the target was unreachable or silent), `over_capacity` (the connection cap).
 */
export class WebSocketCounters {
  open = 0;
  readonly upgrades: Record<UpgradeResult, number> = { upgraded: 0, refused: 0, declined: 0, failed: 0, over_capacity: 0 };
  bytesFromClients = 0;
  bytesToClients = 0;

  ended(result: Exclude<UpgradeResult, 'upgraded'>): void {
    this.upgrades[result] += 1;
  }

  opened(): void {
    this.upgrades.upgraded += 1;
    this.open += 1;
  }

  closed(bytesFromClient: number, bytesToClient: number): void {
    this.open -= 1;
    this.bytesFromClients += bytesFromClient;
    this.bytesToClients += bytesToClient;
  }
}
