// Times the ballot page's module as a browser runs it (V8, here in Node.js):
// making a ballot (encrypt and prove, then sign to cast) and checking an
// audited one.
//
//   node evote/web/bench.mjs <evote.wasm> <board-head.json> [ballots]
//
// The board's head is what `GET /polls/{id}/board` answers; the e-voting
// benchmark (`cargo bench -p hutong-tests --bench e_voting`) runs this on
// the head of its poll and the module its app serves.
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';

import { caller } from '../../plugins/e-voting/src/page/evote.mjs';

const [wasmPath, headPath, count = '50'] = process.argv.slice(2);
if (!wasmPath || !headPath) {
  console.error('usage: node bench.mjs <evote.wasm> <board-head.json> [ballots]');
  process.exit(2);
}
const started = performance.now();
const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath), {});
const loaded = performance.now() - started;
const evote = caller(instance.exports);
const head = JSON.parse(readFileSync(headPath, 'utf8'));

function call(request) {
  const answer = evote(request);
  if (answer.error) {
    throw new Error(`${answer.error.code}: ${answer.error.message}`);
  }
  return answer.ok;
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const credential = Array.from(webcrypto.getRandomValues(new Uint8Array(20)), (b) => alphabet[b % 58]).join('');

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const checking = [];
const making = [];
const signing = [];
const auditing = [];
for (let i = 0; i < Number(count); i++) {
  let t = performance.now();
  const election = call({ op: 'election', head });
  checking.push(performance.now() - t);
  t = performance.now();
  const made = call({
    op: 'ballot',
    head,
    credential,
    chosen: [i % election.options],
    seed: hex(webcrypto.getRandomValues(new Uint8Array(32))),
  });
  making.push(performance.now() - t);
  t = performance.now();
  call({ op: 'sign', head, credential, ballot: made.ballot, seed: hex(webcrypto.getRandomValues(new Uint8Array(32))) });
  signing.push(performance.now() - t);
  t = performance.now();
  call({ op: 'audit', head, tracker: made.tracker, ballot: made.ballot, opening: made.opening });
  auditing.push(performance.now() - t);
}
const options = head.election.options;
console.log(
  `the ballot page's module (${readFileSync(wasmPath).length} bytes) in V8 (Node.js ${process.versions.node}), ` +
    `${head.trustees.length} trustees, ${options} options, median of ${count}: loaded in ${loaded.toFixed(1)} ms, ` +
    `head checked in ${median(checking).toFixed(1)} ms, ballot encrypted and proved in ${median(making).toFixed(1)} ms ` +
    `and signed in ${median(signing).toFixed(1)} ms, ` +
    `an audited ballot checked in ${median(auditing).toFixed(1)} ms`,
);
