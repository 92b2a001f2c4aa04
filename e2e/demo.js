// The demo's walkthrough: connects like a wallet, prints the chain and the dev accounts,
// and makes one transfer from Alice to Bob, waiting for finality.
import { connect, keyring, sendAndFinalize, SRW } from './lib/chain.js';

const api = await connect();
const [chain, props, header] = await Promise.all([
  api.rpc.system.chain(), api.rpc.system.properties(), api.rpc.chain.getHeader(),
]);
console.log(`chain "${chain}", runtime ${api.runtimeVersion.specName} v${api.runtimeVersion.specVersion}, best block #${header.number}`);
console.log(`token ${props.tokenSymbol.unwrap()[0]} with ${props.tokenDecimals.unwrap()[0]} decimals, SS58 prefix ${props.ss58Format.unwrap()}`);

const ring = keyring();
const alice = ring.addFromUri('//Alice');
const bob = ring.addFromUri('//Bob');
const show = async (who, name) => {
  const { data } = await api.query.system.account(who.address);
  console.log(`  ${name.padEnd(6)} ${who.address}  ${(data.free.toBigInt() / SRW).toString()} SRW`);
};
await show(alice, 'Alice');
await show(bob, 'Bob');

console.log('Alice sends 42 SRW to Bob and waits for GRANDPA finality...');
const { blockHash, error } = await sendAndFinalize(api, api.tx.balances.transferKeepAlive(bob.address, 42n * SRW), alice);
if (error) throw new Error(`transfer failed: ${error}`);
console.log(`  finalized in block ${blockHash.toHex()}`);
await show(alice, 'Alice');
await show(bob, 'Bob');
await api.disconnect();
