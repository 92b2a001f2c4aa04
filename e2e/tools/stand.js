#!/usr/bin/env node
// Stands a validator (master node) for election by coin vote: the validator's own node makes
// session keys for the account (`author_rotateKeysWithOwner`), and the account sets them
// (`session.setKeys` with the proof of possession), stands as a candidate and bonds (skipped
// when already done). Voters then choose; the top-voted bonded candidates whose keys were set
// a full session earlier validate from a session boundary on (docs/OPERATIONS.md).
//
//   node e2e/tools/stand.js --node ws://127.0.0.1:9944 --seed "$(cat /secure/validator-seed)"
//
// Options:
//   --node URL         the validator's own node (RPC with unsafe methods: keep it local)
//   --chain URL        any node to send the calls through (default: --node)
//   --seed SECRET      the account's secret URI (mnemonic, hex seed or dev URI like //Eve)
//   --commission PCT   the candidate's commission in percent, 0..20 (default 0)
//   --vote-with SEED   also vote for it from that account (demos: docker/compose.yml)
//   --wait-joined      wait until it is in the session's validators (up to 3 sessions)
import { parseArgs } from 'node:util';
import { connect, keyring, sendAndFinalize } from '../lib/chain.js';
import { makeSessionKeys, stand } from '../lib/validator.js';

const usage = 'usage: stand.js --node URL --seed SECRET [--chain URL] [--commission PCT] [--vote-with SEED] [--wait-joined]';

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      node: { type: 'string' },
      chain: { type: 'string' },
      seed: { type: 'string' },
      commission: { type: 'string', default: '0' },
      'vote-with': { type: 'string' },
      'wait-joined': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (e) {
  fail(`${e.message}\n${usage}`);
}
if (options.help) {
  console.log(usage);
  process.exit(0);
}
if (!options.node || !options.seed) fail(`--node and --seed are required\n${usage}`);
const percent = Number(options.commission);
if (!Number.isFinite(percent) || percent < 0 || percent > 100) fail(`--commission ${options.commission} is not a percentage`);

const api = await connect(options.chain ?? options.node).catch((e) => fail(`cannot reach the chain: ${e.message}`));
try {
  const ring = keyring();
  const who = ring.addFromUri(options.seed);
  console.log(`account ${who.address}`);
  const sessionKeys = await makeSessionKeys(options.node, who);
  console.log(`session keys ${sessionKeys.keys} made by ${options.node}`);
  const steps = await stand(api, who, sessionKeys, Math.round(percent * 10_000_000));
  for (const { step, error } of steps) {
    console.log(`${step}: ${error ?? 'done'}`);
  }
  if (steps.some((s) => s.error)) fail('the chain refused a step (above)');
  if (options['vote-with']) {
    const voter = ring.addFromUri(options['vote-with']);
    const voted = await sendAndFinalize(api, api.tx.coinVoting.vote([who.address]), voter);
    if (voted.error) fail(`${voter.address} could not vote: ${voted.error}`);
    console.log(`${voter.address} votes for it`);
  }
  if (options['wait-joined']) {
    const length = (await api.query.validators.sessionLength()).toNumber();
    const deadline = Date.now() + 3 * length * 6_000 + 60_000;
    for (;;) {
      const validators = (await api.query.session.validators()).map((v) => v.toString());
      if (validators.includes(who.address)) break;
      if (Date.now() > deadline) fail('not in the validators after three sessions: check votes, bond and keys');
      await new Promise((r) => setTimeout(r, 6_000));
    }
    console.log('it validates now');
  }
} finally {
  await api.disconnect();
}
