// Verifies webhook deliveries with the Standard Webhooks library (npm `standardwebhooks`), an
// implementation independent of the service's. Reads JSON lines from standard input, one per
// delivery: {"headers": {"webhook-id", "webhook-timestamp", "webhook-signature"}, "body": "..."};
// the secret (whsec_…) is the first argument. Prints how many verified and how many did not,
// naming each that did not on standard error.
//   node verify.mjs whsec_... < deliveries.jsonl

import { Webhook } from 'standardwebhooks';
import { createInterface } from 'node:readline';

const secret = process.argv[2];
if (!secret) {
  console.error('usage: node verify.mjs <whsec_ secret> < deliveries.jsonl');
  process.exit(2);
}
const hook = new Webhook(secret.replace(/^whsec_/, ''));
let verified = 0;
let refused = 0;
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const { headers, body } = JSON.parse(line);
  try {
    const payload = hook.verify(body, headers);
    if (typeof payload.type !== 'string' || typeof payload.data?.id !== 'string') {
      throw new Error(`not an event: ${body}`);
    }
  } catch (e) {
    console.error(`delivery ${headers['webhook-id']} did not verify: ${e.message}`);
    refused += 1;
    continue;
  }
  verified += 1;
}
console.log(`verified ${verified} refused ${refused}`);
