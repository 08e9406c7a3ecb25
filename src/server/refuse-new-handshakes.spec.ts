import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { refuseNewHandshakes } from './refuse-new-handshakes.js';

describe('refuseNewHandshakes', () => {
  let server: Server;
  let port: number;
  const opened: Socket[] = [];
  const open = (): Socket => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    opened.push(socket);
    return socket;
  };

  beforeEach(async () => {
    server = createServer((socket) => socket.on('data', (data) => socket.write(data)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });
  afterEach(() => {
    opened.splice(0).forEach((socket) => socket.destroy());
    server.close();
  });

  it('leaves established connections working and lets no new handshake complete', async () => {
    const established = open();
    await once(established, 'connect');
    const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;

    expect(await refuseNewHandshakes(fd)).toBe(true);

    established.write('still here');
    const [echo] = await once(established, 'data');
    expect(String(echo)).toBe('still here');
    const late = open();
    let connected = false;
    late.on('connect', () => (connected = true));
    // A dropped SYN is sent again after a second: until then the client is connecting.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(connected).toBe(false);
    expect(late.connecting).toBe(true);
    server.close();
    const [error] = await once(late, 'error');
    expect((error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('reports that it could not, for a descriptor that is no socket', async () => {
    expect(await refuseNewHandshakes(0x7fff)).toBe(false);
  });
});
