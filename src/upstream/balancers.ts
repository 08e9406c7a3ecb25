import type { IncomingMessage } from 'node:http';
import HashRing from 'hashring';
import type { BalanceMode } from '../config/gateway-options.interface.js';
import { requestKeyFunction } from '../request-key.js';
import type { Member } from './member.js';

/** Picks one of the candidates (the targets that may take the request now, never empty). */
export interface Balancer {
  pick(candidates: Member[], req: IncomingMessage, clientIp: string | undefined): Member;
}

/**
 * Smooth weighted round-robin (nginx's): each pick adds every candidate's weight to its score,
 * takes the highest and lowers it by the total, so that weights 1:2 give a, b, b, a, b, b...
 * interleaved rather than in runs.
 */
class RoundRobin implements Balancer {
  private readonly score = new Map<Member, number>();

  pick(candidates: Member[]): Member {
    if (candidates.length === 1) return candidates[0];
    let total = 0;
    let best = candidates[0];
    let bestScore = -Infinity;
    for (const member of candidates) {
      const score = (this.score.get(member) ?? 0) + member.weight;
      this.score.set(member, score);
      total += member.weight;
      if (score > bestScore) {
        best = member;
        bestScore = score;
      }
    }
    this.score.set(best, bestScore - total);
    return best;
  }
}

/**
 * Least request as power of two choices: of two candidates drawn at random, the one with fewer
 * requests in flight for its weight. Nearly as good as asking every target, at the cost of two.
 */
class LeastRequest implements Balancer {
  pick(candidates: Member[]): Member {
    if (candidates.length === 1) return candidates[0];
    const first = Math.floor(Math.random() * candidates.length);
    const second = (first + 1 + Math.floor(Math.random() * (candidates.length - 1))) % candidates.length;
    const [a, b] = [candidates[first], candidates[second]];
    return a.inFlight / a.weight <= b.inFlight / b.weight ? a : b;
  }
}

/**
 * Consistent hashing on a ketama ring (`hashring`, 160 points per unit of weight): one key
 * keeps its target, and removing one of N targets moves about 1/N of the keys. A key whose
 * target cannot take the request goes to the next target on the ring.
 */
class ConsistentHash implements Balancer {
  private readonly ring: HashRing;
  private readonly byName = new Map<string, Member>();
  private readonly keyOf: (req: IncomingMessage, clientIp: string | undefined) => string;

  constructor(
    private readonly members: Member[],
    hashOn: string,
  ) {
    const servers: Record<string, { weight: number }> = {};
    for (const member of members) {
      servers[member.href] = { weight: member.weight };
      this.byName.set(member.href, member);
    }
    this.ring = new HashRing(servers);
    this.keyOf = requestKeyFunction(hashOn);
  }

  pick(candidates: Member[], req: IncomingMessage, clientIp: string | undefined): Member {
    const key = this.keyOf(req, clientIp);
    if (candidates.length === this.members.length) return this.byName.get(this.ring.get(key))!;
    // The ring from the key's point on, every member once: the first that may take it.
    const order = this.ring.range(key, this.members.length).map((name) => this.byName.get(name)!);
    return order.find((member) => candidates.includes(member))!;
  }
}

export function createBalancer(mode: BalanceMode, members: Member[], hashOn: string | undefined): Balancer {
  if (mode === 'least-request') return new LeastRequest();
  if (mode === 'consistent-hash') return new ConsistentHash(members, hashOn!);
  return new RoundRobin();
}
