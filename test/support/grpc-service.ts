import * as grpc from '@grpc/grpc-js';

/** Messages are raw bytes: no .proto, the service defined with grpc-js's generic constructor. */
const bytes = {
  requestSerialize: (value: Buffer) => value,
  requestDeserialize: (value: Buffer) => value,
  responseSerialize: (value: Buffer) => value,
  responseDeserialize: (value: Buffer) => value,
};

export const ECHO_SERVICE = {
  unary: { path: '/test.Echo/Unary', requestStream: false, responseStream: false, ...bytes },
  serverStream: { path: '/test.Echo/ServerStream', requestStream: false, responseStream: true, ...bytes },
  clientStream: { path: '/test.Echo/ClientStream', requestStream: true, responseStream: false, ...bytes },
  bidi: { path: '/test.Echo/Bidi', requestStream: true, responseStream: true, ...bytes },
  hang: { path: '/test.Echo/Hang', requestStream: false, responseStream: false, ...bytes },
} satisfies grpc.ServiceDefinition;

export const EchoClient = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
export type EchoClient = InstanceType<typeof EchoClient>;

/** What the service saw of one call: its method, its metadata, whether it was cancelled. */
export interface SeenCall {
  method: string;
  metadata: grpc.Metadata;
  cancelled: boolean;
}

export interface EchoServer {
  address: string;
  port: number;
  calls: SeenCall[];
  /** Resolves the server stream's wait between its first message and its second. */
  releaseSecond(): void;
  close(): Promise<void>;
}

/**
 * A real gRPC service (grpc-js) on an ephemeral port of 127.0.0.1:
 * - `unary` echoes the request with a head (`x-head`) and trailer (`x-trailer`) of metadata;
 *   the request `fail` ends with NOT_FOUND and `no such thing`, trailers kept;
 * - `serverStream` sends `one`, waits for `releaseSecond()`, then sends `two`;
 * - `clientStream` answers the messages joined by `+`; `bidi` echoes each as it comes;
 * - `hang` never answers (for deadlines and cancels).
 */
export async function startEchoServer(credentials = grpc.ServerCredentials.createInsecure()): Promise<EchoServer> {
  const server = new grpc.Server();
  const calls: SeenCall[] = [];
  let release!: () => void;
  let second = new Promise<void>((resolve) => (release = resolve));
  const seen = (method: string, call: { metadata: grpc.Metadata; on(event: 'cancelled', listener: () => void): unknown }) => {
    const entry: SeenCall = { method, metadata: call.metadata, cancelled: false };
    calls.push(entry);
    call.on('cancelled', () => (entry.cancelled = true));
  };
  const trailer = () => {
    const metadata = new grpc.Metadata();
    metadata.set('x-trailer', 'trailer-value');
    return metadata;
  };
  server.addService(ECHO_SERVICE, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      seen('unary', call);
      const head = new grpc.Metadata();
      head.set('x-head', 'head-value');
      call.sendMetadata(head);
      if (call.request.toString() === 'fail') return callback({ code: grpc.status.NOT_FOUND, details: 'no such thing', metadata: trailer() });
      callback(null, Buffer.concat([Buffer.from('echo:'), call.request]), trailer());
    },
    serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      seen('serverStream', call);
      call.write(Buffer.from('one'));
      void second.then(() => {
        call.write(Buffer.from('two'));
        call.end();
      });
    },
    clientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      seen('clientStream', call);
      const got: string[] = [];
      call.on('data', (message: Buffer) => got.push(message.toString()));
      call.on('end', () => callback(null, Buffer.from(got.join('+'))));
    },
    bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      seen('bidi', call);
      call.on('data', (message: Buffer) => call.write(Buffer.concat([Buffer.from('re:'), message])));
      call.on('end', () => call.end());
    },
    hang: (call: grpc.ServerUnaryCall<Buffer, Buffer>) => {
      seen('hang', call);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return {
    address: `127.0.0.1:${port}`,
    port,
    calls,
    releaseSecond: () => {
      release();
      second = new Promise<void>((resolve) => (release = resolve));
    },
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

/** A unary call's outcome: the answer, or the status it ended with; and the metadata either way. */
export function unary(
  client: EchoClient,
  method: 'unary' | 'hang',
  message: string,
  options: { metadata?: grpc.Metadata; deadline?: number; cancelAfterMs?: number } = {},
): Promise<{ value?: string; error?: grpc.ServiceError; head?: grpc.Metadata; trailers?: grpc.Metadata }> {
  return new Promise((resolve) => {
    let head: grpc.Metadata | undefined;
    let trailers: grpc.Metadata | undefined;
    const call = (client[method] as grpc.requestCallback<Buffer> & ((...args: unknown[]) => grpc.ClientUnaryCall))(
      Buffer.from(message),
      options.metadata ?? new grpc.Metadata(),
      options.deadline === undefined ? {} : { deadline: Date.now() + options.deadline },
      (error: grpc.ServiceError | null, value?: Buffer) => {
        // The status event comes after the callback: its trailers are read on the next turn.
        setImmediate(() => resolve({ value: value?.toString(), error: error ?? undefined, head, trailers }));
      },
    );
    call.on('metadata', (metadata: grpc.Metadata) => (head = metadata));
    call.on('status', (status: grpc.StatusObject) => (trailers = status.metadata));
    if (options.cancelAfterMs !== undefined) setTimeout(() => call.cancel(), options.cancelAfterMs);
  });
}
