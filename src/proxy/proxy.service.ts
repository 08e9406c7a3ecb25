import { type BeforeApplicationShutdown, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { ProxyDrain, ForwardTarget } from './forward-contracts.js';
import { Forwarder } from './forwarder.js';
import { GrpcForwarder } from './grpc-forwarder.js';

/**
 * Owns the forwarders of every route: their undici pools live from start-up to shutdown. Once
 * the application shuts down, responses close their client connections.
 */
@Injectable()
export class ProxyService implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly forwarders: Forwarder[] = [];
  private readonly grpcForwarders: GrpcForwarder[] = [];
  private readonly drain: ProxyDrain = { draining: false };

  /** Builds the forwarder of one route; everything that does not depend on the request is fixed here. */
  forwarder(target: ForwardTarget): Forwarder {
    const forwarder = new Forwarder(target, this.drain);
    this.forwarders.push(forwarder);
    return forwarder;
  }

  /** Builds the forwarder of one gRPC route: its HTTP/2 session lives until shutdown. */
  grpcForwarder(target: ForwardTarget): GrpcForwarder {
    const forwarder = new GrpcForwarder(target);
    this.grpcForwarders.push(forwarder);
    return forwarder;
  }

  /** Closes a forwarder whose target is gone, once its requests in flight have ended. */
  async release(forwarder: Forwarder): Promise<void> {
    const index = this.forwarders.indexOf(forwarder);
    if (index === -1) return;
    this.forwarders.splice(index, 1);
    await forwarder.close();
  }

  beforeApplicationShutdown(): void {
    this.drain.draining = true;
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.forwarders, ...this.grpcForwarders].map((forwarder) => forwarder.close()));
  }
}
