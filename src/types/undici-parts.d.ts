// undici's index loads fetch, WebSocket, the cache and mocks too (about 9 MiB of RSS more than
// the pool alone); the forwarder needs only these two files, typed from the package's own types.
declare module 'undici/lib/dispatcher/pool.js' {
  import { Pool } from 'undici';
  export default Pool;
}

declare module 'undici/lib/core/util.js' {
  import { util } from 'undici';
  const parts: { headerNameToString: typeof util.headerNameToString };
  export default parts;
}

declare module 'undici/lib/core/connect.js' {
  import { buildConnector } from 'undici';
  export default buildConnector;
}
