// Shared by the Node SDK scripts that tests/e2e/test_node_sdks.py runs against the gateway:
// loads the SDKs from where scripts/test-deps installed them, records what the SDKs send,
// and prints one case's observations as a JSON line for the Python test to assert on.

import { createRequire } from 'node:module';
import path from 'node:path';

const dir = process.env.AI_PROXY_NODE_SDKS;
if (!dir) {
  console.error('AI_PROXY_NODE_SDKS is not set: the folder whose node_modules holds the SDKs (scripts/test-deps installs it)');
  process.exit(2);
}

/** `require` from the installed SDK folder (outside the clone, so not a bare ESM import). */
export const load = createRequire(path.join(dir, 'package.json'));

/**
 * A `fetch` for the SDK clients that records each request: method, path, JSON body, the
 * headers the test cares about, and the answer's status and error body.
 */
export function recordingFetch(log) {
  return async (url, init = {}) => {
    const entry = { method: init.method ?? 'GET', path: new URL(String(url)).pathname };
    if (typeof init.body === 'string') {
      try {
        entry.body = JSON.parse(init.body);
      } catch {
        entry.body = init.body;
      }
    }
    const headers = new Headers(init.headers);
    entry.anthropic_beta = headers.get('anthropic-beta');
    const res = await fetch(url, init);
    entry.status = res.status;
    if (!res.ok) entry.error = await res.clone().json().catch(() => null);
    log.push(entry);
    return res;
  };
}

/** An error as data, for cases that expect one. */
export function describeError(e) {
  return {
    name: e?.constructor?.name,
    status: e?.status ?? null,
    message: String(e?.message ?? e),
    body: e?.error ?? null,
  };
}

/** Run the case named on the command line (`node script.mjs BASE_URL KEY CASE`); print its result. */
export async function main(cases) {
  const [base, key, name] = process.argv.slice(2);
  const run = cases[name];
  if (!base || !key || !run) {
    console.error(`usage: node ${path.basename(process.argv[1])} BASE_URL KEY (${Object.keys(cases).join('|')})`);
    process.exit(2);
  }
  try {
    const result = await run(base, key);
    process.stdout.write(JSON.stringify(result) + '\n');
  } catch (e) {
    console.error(`${name} failed:`, e);
    process.exit(1);
  }
}
