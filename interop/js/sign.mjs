#!/usr/bin/env node
// Sign (hashedrekord) or attest (DSSE) a file with the real sigstore-js
// library against a Sigstore-compatible instance (e.g. sigportal), and write
// the bundle JSON exactly as sigstore-js serializes it.
//
// Exit codes: 0 = bundle written, 1 = signing failed, 2 = usage error.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const sigstore = require('sigstore');

const USAGE = `usage: node sign.mjs --fulcio-url URL --rekor-url URL
                     (--token JWT | --token-file FILE) --artifact FILE --bundle OUT
                     [--attest [--payload-type TYPE]] [--legacy-compatibility]
                     [--tsa-url URL] [--timeout MS] [--retries N]

Signs FILE with sigstore-js ${require('sigstore/package.json').version} and writes the bundle JSON to OUT.

  --fulcio-url URL        Fulcio base URL (client POSTs {URL}/api/v2/signingCert)
  --rekor-url URL         Rekor v1 base URL (client POSTs {URL}/api/v1/log/entries)
  --token JWT             raw OIDC identity token
  --token-file FILE       read the token from FILE instead (surrounding whitespace trimmed)
  --artifact FILE         file to sign; with --attest, the DSSE payload
  --bundle OUT            where to write the bundle JSON
  --attest                sigstore.attest(): DSSE envelope + Rekor "dsse" 0.0.1 entry (v0.3 bundle)
  --payload-type TYPE     DSSE payloadType (default application/vnd.in-toto+json)
  --legacy-compatibility  with --attest: Rekor "intoto" 0.0.2 entry and a v0.2 bundle
                          with a certificate chain (what @sigstore/cli attest does)
  --tsa-url URL           also request an RFC 3161 timestamp (JSON request); a URL
                          without a path gets /api/v1/timestamp appended, else used as is
  --timeout MS            per-request timeout in milliseconds (default 30000)
  --retries N             retries on network errors / 408 / 429 / 5xx (default 0)
  -h, --help              show this help

Exit status: 0 bundle written; 1 signing failed (reason on stderr); 2 usage error.`;

function usageError(msg) {
  process.stderr.write(`sign.mjs: ${msg} (see --help)\n`);
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      'fulcio-url': { type: 'string' },
      'rekor-url': { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      artifact: { type: 'string' },
      bundle: { type: 'string' },
      attest: { type: 'boolean', default: false },
      'payload-type': { type: 'string' },
      'legacy-compatibility': { type: 'boolean', default: false },
      'tsa-url': { type: 'string' },
      timeout: { type: 'string', default: '30000' },
      retries: { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  usageError(err.message);
}

if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

for (const required of ['fulcio-url', 'rekor-url', 'artifact', 'bundle']) {
  if (!args[required]) usageError(`--${required} is required`);
}
if (!args.token === !args['token-file']) {
  usageError('exactly one of --token or --token-file is required');
}
if (!args.attest && (args['payload-type'] || args['legacy-compatibility'])) {
  usageError('--payload-type and --legacy-compatibility need --attest');
}
const timeout = Number(args.timeout);
const retries = Number(args.retries);
if (!Number.isInteger(timeout) || timeout <= 0) usageError('--timeout must be a positive integer (ms)');
if (!Number.isInteger(retries) || retries < 0) usageError('--retries must be a non-negative integer');

function describeError(err) {
  // sigstore-js wraps failures in InternalError {code, message, cause}; the
  // cause is usually an HTTPError {statusCode, message} from the server.
  const lines = [];
  let cur = err;
  let depth = 0;
  while (cur !== undefined && cur !== null && depth < 10) {
    const prefix = depth === 0 ? 'error' : 'caused by';
    if (cur instanceof Error) {
      const parts = [];
      if (cur.code) parts.push(String(cur.code));
      if (cur.statusCode) parts.push(`HTTP ${cur.statusCode}`);
      parts.push(cur.message);
      lines.push(`${prefix}: ${parts.join(': ')}`);
    } else {
      lines.push(`${prefix}: ${String(cur)}`);
    }
    cur = cur instanceof Error ? cur.cause : undefined;
    depth += 1;
  }
  return lines.join('\n');
}

async function main() {
  let token;
  let payload;
  try {
    token = args.token ?? readFileSync(args['token-file'], 'utf8').trim();
    payload = readFileSync(args.artifact);
  } catch (err) {
    process.stderr.write(`sign.mjs: ${err.message}\n`);
    process.exit(2);
  }
  if (!token) usageError('identity token is empty');
  tokenForRedaction = token;

  const options = {
    fulcioURL: args['fulcio-url'].replace(/\/+$/, ''),
    rekorURL: args['rekor-url'].replace(/\/+$/, ''),
    identityToken: token,
    tlogUpload: true,
    timeout,
    retry: { retries },
  };
  if (args['tsa-url']) {
    const tsa = args['tsa-url'];
    options.tsaServerURL = new URL(tsa).pathname === '/' ? tsa.replace(/\/+$/, '') : tsa;
  }
  if (args['legacy-compatibility']) options.legacyCompatibility = true;

  // Both functions already return the serialized (bundleToJSON) form.
  const bundle = args.attest
    ? await sigstore.attest(payload, args['payload-type'] ?? 'application/vnd.in-toto+json', options)
    : await sigstore.sign(payload, options);

  writeFileSync(args.bundle, JSON.stringify(bundle));
  process.stdout.write('OK\n');
}

let tokenForRedaction;

main().catch((err) => {
  let text = describeError(err);
  // sigstore-js puts the whole JWT into IDENTITY_TOKEN_PARSE_ERROR messages.
  if (tokenForRedaction) text = text.split(tokenForRedaction).join('<identity token>');
  process.stderr.write(`sign.mjs: signing failed\n${text}\n`);
  process.exit(1);
});
