/**
 * A test-controlled network between cluster members: one TCP proxy in front of each member's
 * peer port. Members advertise their proxy's address, so every peer connection to member X goes
 * through X's proxy; the proxy tells which member dialed by the connection's source address
 * (each member listens for peers on its own loopback IP, and its outbound peer connections leave
 * from that IP).
 *
 * partition(groups) cuts the traffic between members in different groups the way a real
 * partition does, not the way a crash does: nothing is reset or dropped, bytes simply stop
 * moving. Both sockets of a cut connection stop being read (they buffer, then TCP's windows close
 * and the senders' writes queue, as with retransmissions that never get through); a new
 * connection across the cut is accepted and held, not connected onward. A close or error on one
 * side of a cut connection is held as well and passed on at heal() (a FIN or RST cannot cross a
 * partition either). heal() lets everything move again: held connections are connected to their
 * member, buffered bytes flow, held closes follow them. A member that gives up on a connection
 * (its PING went unanswered) closes it itself, as on a real network.
 *
 * Invariant: bytes from a member to another cross the proxy only while the two are in the same
 * group; stop() closes every server and socket.
 */
import net from "node:net";

export interface ProxiedMember {
  readonly name: string;
  /** The IP the member listens for peers on; its outbound peer connections come from it. */
  readonly host: string;
  readonly port: number;
  /** The IP its proxy listens on (port chosen by the OS). */
  readonly proxyHost: string;
}

export interface ProxyCounters {
  /** Connections accepted, per "from->to" pair. */
  readonly accepted: ReadonlyMap<string, number>;
  /** Connections accepted while their pair was cut (held until heal). */
  readonly held: number;
  /** Connections from an address that is no member's (refused: the partition could not place them). */
  readonly unknownSources: number;
}

/** One direction of a proxied connection: reads `from`, writes `to`, pausing on backpressure. */
class Direction {
  private awaitingDrain = false;

  constructor(
    readonly from: net.Socket,
    readonly to: net.Socket,
    private readonly isCut: () => boolean,
  ) {
    from.on("data", (chunk: Buffer) => {
      if (to.write(chunk)) return;
      this.awaitingDrain = true;
      from.pause();
    });
    to.on("drain", () => {
      this.awaitingDrain = false;
      this.resumeIfFree();
    });
    // A FIN is passed on as a FIN (both sockets are half-open capable); only reached while reading.
    from.on("end", () => to.end());
  }

  pause(): void {
    this.from.pause();
  }

  resumeIfFree(): void {
    if (!this.isCut() && !this.awaitingDrain && !this.from.destroyed) this.from.resume();
  }
}

/** One connection through the proxy: the dialing member's socket (downstream) and the one to the target member (upstream). */
class ProxiedConnection {
  private upstream: net.Socket | undefined;
  private readonly directions: Direction[] = [];
  /** A close that happened while cut, to pass on at heal: destroy the other side (with a reset if it was an error). */
  private heldClose: { side: "downstream" | "upstream"; error: boolean } | undefined;

  constructor(
    readonly from: string,
    readonly to: string,
    private readonly downstream: net.Socket,
    private readonly target: { host: string; port: number },
    private readonly isCut: () => boolean,
    private readonly onGone: () => void,
  ) {
    downstream.setNoDelay(true);
    this.watchClose(downstream, "downstream");
    if (isCut()) downstream.pause();
    else this.connectUpstream();
  }

  /** Stops moving bytes both ways (partition). */
  cut(): void {
    for (const d of this.directions) d.pause();
    this.downstream.pause();
  }

  /** Moves bytes again (heal): connects a held connection, resumes reading, passes on held closes. */
  heal(): void {
    if (this.upstream === undefined && !this.downstream.destroyed) this.connectUpstream();
    for (const d of this.directions) d.resumeIfFree();
    const held = this.heldClose;
    this.heldClose = undefined;
    if (held !== undefined) this.passOnClose(held.side, held.error);
  }

  destroy(): void {
    this.downstream.destroy();
    this.upstream?.destroy();
  }

  private connectUpstream(): void {
    const upstream = net.connect({ host: this.target.host, port: this.target.port, noDelay: true, allowHalfOpen: true });
    this.upstream = upstream;
    this.watchClose(upstream, "upstream");
    this.directions.push(new Direction(this.downstream, upstream, this.isCut), new Direction(upstream, this.downstream, this.isCut));
    this.downstream.resume();
  }

  private watchClose(socket: net.Socket, side: "downstream" | "upstream"): void {
    let error = false;
    socket.on("error", () => (error = true));
    socket.once("close", () => {
      if (this.isCut()) this.heldClose ??= { side, error };
      else this.passOnClose(side, error);
      if (this.downstream.destroyed && (this.upstream === undefined || this.upstream.destroyed)) this.onGone();
    });
  }

  /** `side` closed: the other side closes too, after what it still has to write (a reset if `side` failed). */
  private passOnClose(side: "downstream" | "upstream", error: boolean): void {
    const other = side === "downstream" ? this.upstream : this.downstream;
    if (other === undefined || other.destroyed) return;
    if (error) other.resetAndDestroy();
    else other.end();
  }
}

export class PartitionProxy {
  /** Member name -> its group (index into the last partition's groups); empty when healed. */
  private groupOf = new Map<string, number>();
  private readonly connections = new Set<ProxiedConnection>();
  private readonly accepted = new Map<string, number>();
  private held = 0;
  private unknownSources = 0;

  private constructor(
    private readonly members: readonly ProxiedMember[],
    private readonly servers: ReadonlyMap<string, net.Server>,
  ) {}

  /** Starts one proxy per member (each listening on its proxyHost, port 0). */
  static async start(members: readonly ProxiedMember[]): Promise<PartitionProxy> {
    const servers = new Map<string, net.Server>();
    const proxy = new PartitionProxy(members, servers);
    try {
      for (const m of members) {
        const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => proxy.accept(m, socket));
        servers.set(m.name, server);
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(0, m.proxyHost, () => resolve());
        });
      }
    } catch (err) {
      await proxy.stop();
      throw err;
    }
    return proxy;
  }

  /** The URL the other members reach `name` at (its proxy). */
  urlOf(name: string): string {
    const server = this.servers.get(name);
    if (server === undefined) throw new Error(`no proxy for member ${name}`);
    const { address, port } = server.address() as net.AddressInfo;
    return `http://${address}:${port}`;
  }

  /** Cuts every pair of members in different groups; each member must be named in exactly one group. */
  partition(groups: readonly (readonly string[])[]): void {
    const groupOf = new Map<string, number>();
    groups.forEach((group, i) => {
      for (const name of group) {
        if (!this.members.some((m) => m.name === name)) throw new Error(`partition names ${name}, not a member (${this.describeMembers()})`);
        if (groupOf.has(name)) throw new Error(`partition names ${name} twice`);
        groupOf.set(name, i);
      }
    });
    if (groupOf.size !== this.members.length) throw new Error(`partition ${JSON.stringify(groups)} must place every member (${this.describeMembers()})`);
    this.groupOf = groupOf;
    for (const c of this.connections) if (this.isCut(c.from, c.to)) c.cut();
  }

  /** Joins all members again. */
  heal(): void {
    this.groupOf = new Map();
    for (const c of [...this.connections]) c.heal();
  }

  counters(): ProxyCounters {
    return { accepted: new Map(this.accepted), held: this.held, unknownSources: this.unknownSources };
  }

  async stop(): Promise<void> {
    for (const c of this.connections) c.destroy();
    this.connections.clear();
    await Promise.all([...this.servers.values()].map((s) => new Promise((resolve) => s.close(resolve))));
  }

  private isCut(a: string, b: string): boolean {
    const ga = this.groupOf.get(a);
    return ga !== undefined && ga !== this.groupOf.get(b);
  }

  private accept(target: ProxiedMember, socket: net.Socket): void {
    const source = socket.remoteAddress?.replace(/^::ffff:/, "");
    const from = this.members.find((m) => m.host === source);
    if (from === undefined) {
      this.unknownSources++;
      socket.destroy();
      return;
    }
    const pair = `${from.name}->${target.name}`;
    this.accepted.set(pair, (this.accepted.get(pair) ?? 0) + 1);
    if (this.isCut(from.name, target.name)) this.held++;
    const connection: ProxiedConnection = new ProxiedConnection(
      from.name,
      target.name,
      socket,
      target,
      () => this.isCut(from.name, target.name),
      () => this.connections.delete(connection),
    );
    this.connections.add(connection);
  }

  private describeMembers(): string {
    return this.members.map((m) => `${m.name} at ${m.host}:${m.port} via ${m.proxyHost}`).join(", ");
  }
}
