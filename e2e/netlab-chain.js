// The network lab's view of the chain, through polkadot.js (never through the agents):
//
//   node e2e/netlab-chain.js settled FROM_EPOCH TO_EPOCH TIMEOUT_S CONSUMER [RELAY...]
//
// waits until the chain settled epoch TO_EPOCH, then prints as JSON, for the epochs FROM_EPOCH
// to TO_EPOCH: what it paid each relay from CONSUMER's escrow and charged the consumer, the
// links disputed, and the disputes judged (each link, forgiven or not). Exits 1 (printing what it saw) on
// timeout, or when a RELAY was paid nothing in those epochs.
import { connect, WS } from './lib/chain.js';

const [command, fromArg, toArg, timeoutArg, consumer, ...relays] = process.argv.slice(2);
if (command !== 'settled' || !fromArg || !toArg || !timeoutArg || !consumer) {
  console.error('usage: node e2e/netlab-chain.js settled FROM_EPOCH TO_EPOCH TIMEOUT_S CONSUMER [RELAY...]');
  process.exit(2);
}
const [fromEpoch, toEpoch] = [Number(fromArg), Number(toArg)];
const deadline = Date.now() + Number(timeoutArg) * 1000;
const api = await connect(WS);
const epochLength = (await api.query.ditex.params()).epochLength.toNumber();
const inRange = (epoch) => epoch.toNumber() >= fromEpoch && epoch.toNumber() <= toEpoch;

const seen = { paid: {}, infra: 0n, charged: 0n, disputed: [], judged: [], settled: false };
let next = fromEpoch * epochLength;
while (!seen.settled && Date.now() < deadline) {
  const head = (await api.rpc.chain.getHeader(await api.rpc.chain.getFinalizedHead())).number.toNumber();
  for (; next <= head && !seen.settled; next += 1) {
    const hash = await api.rpc.chain.getBlockHash(next);
    for (const { event } of await (await api.at(hash)).query.system.events()) {
      // Each of these names its epoch first.
      if (event.section !== 'tickets' || !['EpochSettled', 'Paid', 'LinkDisputed', 'DisputeJudged'].includes(event.method)) continue;
      const epoch = event.data[0];
      if (event.method === 'EpochSettled' && epoch.toNumber() >= toEpoch) seen.settled = true;
      if (!inRange(epoch)) continue;
      if (event.method === 'Paid') {
        // Paid { epoch, consumer, relay, amount, infra }.
        const [, payer, relay, amount, infra] = event.data;
        if (payer.toString() !== consumer) continue;
        seen.paid[relay.toString()] = (seen.paid[relay.toString()] ?? 0n) + amount.toBigInt();
        seen.infra += infra.toBigInt();
        seen.charged += amount.toBigInt() + infra.toBigInt();
      } else if (event.method === 'LinkDisputed') {
        // LinkDisputed { epoch, from, to, sent, received }.
        const [, from, to, sent, received] = event.data;
        seen.disputed.push({ epoch: epoch.toNumber(), from: from.toString(), to: to.toString(), sent: sent.toNumber(), received: received.toNumber() });
      } else if (event.method === 'DisputeJudged') {
        // DisputeJudged { epoch, from, to, forgiven }.
        const [, from, to, forgiven] = event.data;
        seen.judged.push({ epoch: epoch.toNumber(), from: from.toString(), to: to.toString(), forgiven: forgiven.isTrue });
      }
    }
  }
  if (!seen.settled) await new Promise((resolve) => setTimeout(resolve, 2000));
}
const unpaid = relays.filter((relay) => !(seen.paid[relay] > 0n));
console.log(JSON.stringify({
  epochs: [fromEpoch, toEpoch],
  settled: seen.settled,
  paid: Object.fromEntries(Object.entries(seen.paid).map(([who, amount]) => [who, amount.toString()])),
  unpaid,
  infrastructure: seen.infra.toString(),
  charged_to_consumer: seen.charged.toString(),
  links_disputed: seen.disputed,
  disputes_judged: seen.judged,
}));
await api.disconnect();
process.exit(seen.settled && unpaid.length === 0 ? 0 : 1);
