// Helpers for tests that run the relay agent: where its binary is, and free loopback ports.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

/** The `srwan-relay` binary built beside the node the suite runs. */
export const RELAY = join(dirname(process.env.SRWAN_NODE ?? '/var/tmp/srwan-target/release/srwan-node'), 'srwan-relay');

/** A port nobody listens on now (`udp` or `tcp`, on loopback). */
export async function freePort(kind) {
  if (kind === 'udp') {
    const socket = createSocket('udp4');
    await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const { port } = socket.address();
    socket.close();
    return port;
  }
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}
