import { createSocket } from 'node:dgram';
import * as packet from 'dns-packet';

export interface DnsServer {
  /** `127.0.0.1:<port>`, for a resolver's `setServers`. */
  address: string;
  /** The A records each name answers with; change it to move what a name resolves to. */
  records: Map<string, string[]>;
  close(): Promise<void>;
}

/** A DNS server on 127.0.0.1 (UDP, an ephemeral port) answering A queries from `records`, TTL 1 s. */
export async function startDnsServer(): Promise<DnsServer> {
  const records = new Map<string, string[]>();
  const socket = createSocket('udp4');
  socket.on('message', (message, peer) => {
    const query = packet.decode(message);
    const question = query.questions?.[0];
    const addresses = question?.type === 'A' ? (records.get(question.name) ?? []) : [];
    const known = question !== undefined && records.has(question.name);
    const response = packet.encode({
      id: query.id,
      type: 'response',
      flags: packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE | (known ? 0 : 3),
      questions: query.questions,
      answers: addresses.map((data) => ({ type: 'A', class: 'IN', name: question!.name, ttl: 1, data })),
    });
    socket.send(response, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    records,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
