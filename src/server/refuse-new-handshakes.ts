/**
 * A listening socket that closes resets the connections in its accept queue, whose clients may
 * have sent a request already. Linux lets a socket filter drop packets before TCP sees them: one
 * that drops every SYN without ACK stops new handshakes, while those under way complete and queue,
 * and established connections (children inherit the filter) carry on. Once Node has accepted
 * what was queued, the listener can close with nothing in its queue; a client whose SYN was
 * dropped sends it again a second later, to a closed port, and is refused before it sent a byte.
 *
 * Node has no call for SO_ATTACH_FILTER; koffi calls libc's `setsockopt` on the listener's
 * descriptor. The program is classic BPF: for a TCP socket the packet starts at the TCP header,
 * whose byte 13 holds the flags.
 */
const SOL_SOCKET = 1;
const SO_ATTACH_FILTER = 26;
const TCP_FLAGS_OFFSET = 13;
const SYN = 0x02;
const ACK = 0x10;
const BPF_LD_B_ABS = 0x30;
const BPF_ALU_AND_K = 0x54;
const BPF_JMP_JEQ_K = 0x15;
const BPF_RET_K = 0x06;
const DROP = 0;
const KEEP_WHOLE_PACKET = 0xffffffff;

const DROP_SYNS = [
  { code: BPF_LD_B_ABS, jt: 0, jf: 0, k: TCP_FLAGS_OFFSET },
  { code: BPF_ALU_AND_K, jt: 0, jf: 0, k: SYN | ACK },
  { code: BPF_JMP_JEQ_K, jt: 0, jf: 1, k: SYN },
  { code: BPF_RET_K, jt: 0, jf: 0, k: DROP },
  { code: BPF_RET_K, jt: 0, jf: 0, k: KEEP_WHOLE_PACKET },
];

type SetFilter = (fd: number) => boolean;

/** Loaded at the first drain only: a gateway that never drains never maps libc through koffi. */
async function loadSetFilter(): Promise<SetFilter | undefined> {
  if (process.platform !== 'linux') return undefined;
  const { default: koffi } = await import('koffi');
  // Unnamed types: koffi's names are process-wide, and a second load (a test runner's module
  // registry) would find them taken.
  const SockFilter = koffi.struct({ code: 'uint16', jt: 'uint8', jf: 'uint8', k: 'uint32' });
  const SockFprog = koffi.struct({ len: 'uint16', filter: koffi.pointer(SockFilter) });
  const setsockopt = koffi.load('libc.so.6').func('setsockopt', 'int', ['int', 'int', 'int', koffi.pointer(SockFprog), 'uint32']);
  const program = { len: DROP_SYNS.length, filter: DROP_SYNS };
  return (fd) => setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, program, koffi.sizeof(SockFprog)) === 0;
}

let setFilter: Promise<SetFilter | undefined> | undefined;

/**
 * Makes the listening socket `fd` drop new connection attempts; resolves whether it does (not on
 * other systems, or where libc or koffi cannot be loaded).
 */
export async function refuseNewHandshakes(fd: number): Promise<boolean> {
  setFilter ??= loadSetFilter().catch(() => undefined);
  const set = await setFilter;
  return set ? set(fd) : false;
}
