// Helpers for tests that run the relay agent: where its binary is, free loopback ports, and a
// set of running agents (`Relays`).
import { execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

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

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Relay agents of one test, each with its config and data dir under one temporary dir: starts
 * them, runs their CLI, reads their dashboards, waits for what they show, and stops them all
 * (with `stop()`, in the test's `after`).
 */
export class Relays {
  constructor(prefix) {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    this.running = [];
  }

  /** Runs `srwan-relay ARGS -c <name>.toml` to completion; fails with its stderr. */
  async cli(name, ...args) {
    const { stdout } = await promisify(execFile)(RELAY, [...args, '-c', join(this.dir, `${name}.toml`)], { timeout: 200_000 });
    return stdout;
  }

  /**
   * Starts `srwan-relay COMMAND -c <name>.toml` with `lines` as its config (after `prepare`, if
   * given, ran against the written config); returns { child, dashboard, log() }.
   */
  async start(name, lines, prepare = async () => {}, command = ['run']) {
    const dashboard = await freePort('tcp');
    const config = join(this.dir, `${name}.toml`);
    writeFileSync(
      config,
      [`data_dir = "${join(this.dir, name)}"`, `dashboard = "127.0.0.1:${dashboard}"`, ...lines, ''].join('\n'),
    );
    await prepare();
    const child = spawn(RELAY, [...command, '-c', config], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, RUST_LOG: 'info' },
    });
    let log = '';
    child.stderr.on('data', (chunk) => { log += chunk; });
    const relay = { name, child, dashboard: `http://127.0.0.1:${dashboard}`, log: () => log };
    this.running.push(relay);
    return relay;
  }

  /** The relay's `/api/<what>` (default `status`), or null while it does not answer. */
  async api(relay, what = 'status') {
    try {
      const response = await fetch(`${relay.dashboard}/api/${what}`);
      return response.ok ? await response.json() : null;
    } catch {
      return null;
    }
  }

  /** Waits until `check()` is truthy (polling every 500 ms); fails with `what` and the logs. */
  async waitFor(what, check, seconds, relays = this.running) {
    for (let i = 0; i < seconds * 2; i += 1) {
      const value = await check();
      if (value) return value;
      await sleep(500);
    }
    const logs = relays.map((r) => `--- ${r.name} ---\n${r.log().split('\n').slice(-25).join('\n')}`).join('\n');
    throw new Error(`${what} within ${seconds} s\n${logs}`);
  }

  /** Kills `relay` with SIGKILL and waits for it to be gone. */
  async kill(relay) {
    const gone = new Promise((resolve) => relay.child.once('exit', resolve));
    relay.child.kill('SIGKILL');
    await gone;
  }

  /** Stops every relay still running (SIGTERM) and removes the temporary dir. */
  async stop() {
    for (const { child } of this.running) {
      // A child killed by a signal has a `signalCode` and no `exitCode`.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    }
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 5 });
  }
}

/**
 * Config lines of a relay that lists itself on the chain at `ws` as `uri`, listening on
 * 127.0.0.1:`port`, pulsing every second, delivering to `destinations` (`host:port`).
 */
export function chainRelayConfig({ ws, uri, port, destinations = [], country = 'DE', price = '0.5' }) {
  return [
    `listen = "127.0.0.1:${port}"`,
    `allowed_destinations = [${destinations.map((d) => `"${d}"`).join(', ')}]`,
    '[pulse]',
    'interval_ms = 1000',
    '[chain]',
    `url = "${ws}"`,
    `account = "${uri}"`,
    '[chain.router]',
    `country = "${country}"`,
    'asn = 3320',
    'lat = 50.1',
    'lon = 8.7',
    `price_per_gb = "${price}"`,
  ];
}

/** A UDP echo server on 127.0.0.1:`port`: sends every datagram back; `seen()` counts them. */
export async function echoServer(port) {
  const socket = createSocket('udp4');
  let seen = 0;
  socket.on('message', (message, from) => {
    seen += 1;
    socket.send(message, from.port, from.address);
  });
  await new Promise((resolve) => socket.bind(port, '127.0.0.1', resolve));
  socket.seen = () => seen;
  return socket;
}

/** Closes UDP sockets (open ones keep node alive), ignoring missing or closed ones. */
export function closeSockets(...sockets) {
  for (const socket of sockets) {
    try {
      socket?.close();
    } catch {
      // Closed already.
    }
  }
}
