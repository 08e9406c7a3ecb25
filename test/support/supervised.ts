/** A worker of a supervised gateway, from its "Gateway listening on" log line. */
export interface ListeningWorker {
  pid: number;
  url: string;
  port: number;
}

const LISTENING = /"pid":(\d+),[^\n]*Gateway listening on (https?:\/\/[\d.]+:(\d+))/g;

/** Every worker that said it listens, in the order they did, from a gateway's output. */
export function listeningWorkers(output: string): ListeningWorker[] {
  return [...output.matchAll(LISTENING)].map(([, pid, url, port]) => ({ pid: Number(pid), url, port: Number(port) }));
}
