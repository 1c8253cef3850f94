// A TCP relay between a browser and the hub that can "lose the network" the way Wi-Fi or a NAT
// does: freeze() stops moving bytes both ways without closing anything, so both ends keep a
// socket that looks open (half-open) and only a heartbeat can tell it is dead. New connections
// made while frozen hang too. thaw() drops the frozen ones (as a router's reset would) and
// relays again.
import { createServer, connect } from "node:net";

export async function startProxy(target) {
  const { hostname, port } = new URL(target);
  const links = new Set();
  let frozen = false;
  const server = createServer((client) => {
    const link = { client, upstream: null };
    links.add(link);
    const drop = () => { client.destroy(); link.upstream?.destroy(); links.delete(link); };
    client.on("error", drop);
    client.on("close", drop);
    if (frozen) { client.pause(); return; }
    const upstream = connect(Number(port), hostname);
    link.upstream = upstream;
    upstream.on("error", drop);
    upstream.on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    /** Stops every byte, both ways, on every connection, without closing any. */
    freeze() {
      frozen = true;
      for (const { client, upstream } of links) {
        client.unpipe();
        upstream?.unpipe();
        client.pause();
        upstream?.pause();
      }
    },
    /** The network is back: the dead connections are reset, new ones are relayed. */
    thaw() {
      frozen = false;
      for (const { client, upstream } of [...links]) { client.destroy(); upstream?.destroy(); }
      links.clear();
    },
    close() {
      for (const { client, upstream } of links) { client.destroy(); upstream?.destroy(); }
      return new Promise((ok) => server.close(ok));
    },
  };
}
