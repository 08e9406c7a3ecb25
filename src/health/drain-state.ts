import { Injectable } from '@nestjs/common';

/**
 * Whether the gateway has been told to stop. From then on readiness fails, so that load
 * balancers and Kubernetes take it out of rotation while it still serves (`server.drainDelay`)
 * and drains; liveness does not. Shutdown sets it, readiness reads it.
 */
@Injectable()
export class DrainState {
  private stopping = false;

  /** Readiness fails from now on. */
  begin(): void {
    this.stopping = true;
  }

  get draining(): boolean {
    return this.stopping;
  }
}
