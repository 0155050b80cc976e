#!/usr/bin/env node
// sigv4_reference.mjs: the Authorization header AWS's own SigV4 signer
// (@aws-sdk/signature-v4, as the AWS SDK for JavaScript signs S3 requests)
// computes for one request, to check keel's signing against.
//
// stdin: one JSON object
//   method             "PUT"
//   host               "examplebucket.s3.amazonaws.com" (with ":port" if not default)
//   path               "/test$file.text": the path NOT encoded (the key as it is);
//                      each segment is encoded here by S3's rules, as S3 does
//   query              [["partNumber", "1"], ["uploadId", "abc"]] (not encoded)
//   headers            {"range": "bytes=0-9", ...}: the headers to sign, host and
//                      x-amz-date left out (they come from host and date)
//   body_sha256        hex sha256 of the body (sent as x-amz-content-sha256)
//   date               "20130524T000000Z"
//   region             "us-east-1"
//   access_key_id, secret_access_key
// stdout: the Authorization header's value. An array of such objects gives
// one line per request, in order (one node start for many requests).
// Exit status 2 when the npm packages are missing (tests/support/install-npm-tools.sh
// installs them into $KEEL_NPM_PREFIX, default ~/.cache/keel-npm).
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';

const prefix = process.env.KEEL_NPM_PREFIX || join(homedir(), '.cache', 'keel-npm');
const require = createRequire(join(prefix, 'package.json'));

let SignatureV4, Sha256;
try {
  ({ SignatureV4 } = require('@aws-sdk/signature-v4'));
  ({ Sha256 } = require('@aws-crypto/sha256-js'));
} catch (e) {
  process.stderr.write(`sigv4_reference: @aws-sdk/signature-v4 or @aws-crypto/sha256-js not found under ${prefix} ` +
                       `(run tests/support/install-npm-tools.sh): ${e.message}\n`);
  process.exit(2);
}

// S3's URI encoding of one path segment: everything but A-Za-z0-9-._~.
function encodeSegment(segment) {
  return encodeURIComponent(segment).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function parseAmzDate(text) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) throw new Error(`bad date ${text}`);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

async function authorization(input) {
  const headers = { host: input.host, 'x-amz-content-sha256': input.body_sha256 };
  for (const [name, value] of Object.entries(input.headers || {})) {
    const lower = name.toLowerCase();
    if (lower !== 'host' && lower !== 'x-amz-date' && lower !== 'authorization') headers[lower] = value;
  }
  const query = {};
  for (const [name, value] of input.query || []) query[name] = value;

  const signer = new SignatureV4({
    credentials: { accessKeyId: input.access_key_id, secretAccessKey: input.secret_access_key },
    region: input.region,
    service: 's3',
    sha256: Sha256,
    // S3 signs the path encoded once, as sent: encoded here, not again by the signer.
    uriEscapePath: false,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: input.method,
      protocol: 'http:',
      hostname: input.host.replace(/:\d+$/, ''),
      path: input.path.split('/').map(encodeSegment).join('/'),
      query,
      headers,
    },
    { signingDate: parseAmzDate(input.date) },
  );
  return signed.headers.authorization;
}

const input = JSON.parse(readFileSync(0, 'utf8'));
for (const one of Array.isArray(input) ? input : [input]) process.stdout.write((await authorization(one)) + '\n');
