#!/usr/bin/env node
// Stands a validator (master node) for election by coin vote: the validator's own node makes
// session keys for the account (`author_rotateKeysWithOwner`), and the account sets them
// (`session.setKeys` with the proof of possession), stands as a candidate and bonds (skipped
// when already done). Voters then choose; the top-voted bonded candidates whose keys were set
// a full session earlier validate from a session boundary on (docs/OPERATIONS.md).
//
//   node e2e/tools/stand.js --node ws://127.0.0.1:9944 --seed-file /secure/validator-seed
//
// Options:
//   --node URL         the validator's own node (RPC with unsafe methods: keep it local; a
//                      plain ws:// to another host is refused, see --insecure-node)
//   --chain URL        any node to send the calls through (default: --node)
//   --seed-file PATH   a file holding the account's secret URI (mnemonic or hex seed); or
//                      the environment variable SRWAN_VALIDATOR_SEED
//   --seed URI         a development URI such as //Eve (a real secret on the command line is
//                      visible to every user of the machine, so only //… is taken here)
//   --commission PCT   the candidate's commission in percent (the chain caps it; default 0)
//   --vote-with URI    also vote for it from that development account (demos)
//   --wait-joined      wait until it is in the session's validators (up to 3 sessions)
//   --insecure-node    allow a plain ws:// --node on another host (a lab network only)
// Keys the node already holds for the account on chain are kept (no rotation on a rerun).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { connect, keyring, sendAndFinalize } from '../lib/chain.js';
import { waitFor } from '../lib/nodes.js';
import { makeSessionKeys, nodeHoldsKeysOf, stand } from '../lib/validator.js';

const usage = 'usage: stand.js --node URL (--seed-file PATH | --seed //DEV) [--chain URL] [--commission PCT] '
  + '[--vote-with //DEV] [--wait-joined] [--insecure-node]';

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
      'seed-file': { type: 'string' },
      'insecure-node': { type: 'boolean', default: false },
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
if (!options.node) fail(`--node is required\n${usage}`);
const devUri = (uri, flag) => {
  if (!uri.startsWith('//')) fail(`${flag} takes development URIs (//Name) only: put a real secret in --seed-file`);
  return uri;
};
let secret;
if (options['seed-file']) {
  try {
    secret = readFileSync(options['seed-file'], 'utf8').trim();
  } catch (e) {
    fail(`cannot read --seed-file: ${e.message}`);
  }
} else if (process.env.SRWAN_VALIDATOR_SEED) {
  secret = process.env.SRWAN_VALIDATOR_SEED.trim();
} else if (options.seed) {
  secret = devUri(options.seed, '--seed');
} else {
  fail(`the account's secret is needed: --seed-file, SRWAN_VALIDATOR_SEED or --seed //DEV\n${usage}`);
}
if (options['vote-with']) devUri(options['vote-with'], '--vote-with');
const nodeOptions = { allowRemote: options['insecure-node'] };
const percent = Number(options.commission);
if (!Number.isFinite(percent) || percent < 0 || percent > 100) fail(`--commission ${options.commission} is not a percentage`);

const api = await connect(options.chain ?? options.node).catch((e) => fail(`cannot reach the chain: ${e.message}`));
try {
  const ring = keyring();
  let who;
  try {
    who = ring.addFromUri(secret);
  } catch (e) {
    fail(`not a secret URI: ${e.message}`);
  }
  console.log(`account ${who.address}`);
  let sessionKeys = null;
  if (await nodeHoldsKeysOf(api, options.node, who, nodeOptions)) {
    console.log(`session keys: ${options.node} holds the ones on chain, kept`);
  } else {
    sessionKeys = await makeSessionKeys(options.node, who, nodeOptions);
    console.log(`session keys ${sessionKeys.keys} made by ${options.node}`);
  }
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
    await waitFor('it among the validators for three sessions: check votes, bond and keys',
      async () => (await api.query.session.validators()).some((v) => v.toString() === who.address),
      3 * length * 6_000 + 60_000);
    console.log('it validates now');
  }
} catch (e) {
  console.error(`error: ${e.message}`);
  process.exitCode = 1;
} finally {
  await api.disconnect();
}
