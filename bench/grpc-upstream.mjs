// The gRPC rows' service: grpc-js on 127.0.0.1 (port 0), one unary method `/bench.Echo/Unary`
// answering the request's bytes. Prints its port on one line.
import * as grpc from '@grpc/grpc-js';

const bytes = (value) => value;
const service = {
  unary: { path: '/bench.Echo/Unary', requestStream: false, responseStream: false, requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes },
};
const server = new grpc.Server();
server.addService(service, { unary: (call, callback) => callback(null, call.request) });
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  console.log(String(port));
});
process.once('SIGTERM', () => server.forceShutdown());
