declare module 'basic-auth-connect' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;
  function basicAuth(check: (user: string, password: string) => boolean, realm?: string): Middleware;
  function basicAuth(user: string, password: string): Middleware;
  export default basicAuth;
}
