// Verifies AWS SigV4 Authorization headers the way AWS does for non-S3 services (path segments encoded twice).
import { createHash, createHmac } from 'node:crypto';

const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();

const encode = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

/** The canonical URI of a wire path: each segment, as sent (already encoded once), encoded again. */
export function canonicalUri(rawPath) {
  return rawPath.split('/').map((seg) => encode(seg)).join('/') || '/';
}

function canonicalQuery(query) {
  if (!query) return '';
  return query.split('&').filter(Boolean).map((p) => {
    const [k, v = ''] = p.split('=');
    return [encode(decodeURIComponent(k)), encode(decodeURIComponent(v))];
  }).sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join('&');
}

/**
 * Checks a request's signature with `secretFor(accessKeyId)`. Returns null when valid, else the
 * reason. `rawHeaders` is Node's req.rawHeaders (duplicates are joined with ',').
 */
export function verifySigV4({ method, url, rawHeaders, body, secretFor, service, now = Date.now() }) {
  const headers = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const k = rawHeaders[i].toLowerCase();
    const v = String(rawHeaders[i + 1]).trim().replace(/\s+/g, ' ');
    headers[k] = headers[k] === undefined ? v : `${headers[k]},${v}`;
  }
  const auth = headers.authorization || '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return 'missing or malformed Authorization header';
  const [, keyId, day, region, svc, signedHeaders, signature] = m;
  if (svc !== service) return `credential scope names service ${svc}, expected ${service}`;
  const secret = secretFor(keyId);
  if (!secret) return `unknown access key ${keyId}`;
  const date = headers['x-amz-date'];
  if (!date || !date.startsWith(day)) return 'x-amz-date missing or not the credential day';
  const t = Date.UTC(+date.slice(0, 4), +date.slice(4, 6) - 1, +date.slice(6, 8), +date.slice(9, 11), +date.slice(11, 13), +date.slice(13, 15));
  if (Math.abs(now - t) > 15 * 60 * 1000) return 'Signature expired';
  const names = signedHeaders.split(';');
  if (!names.includes('host')) return 'host is not signed';
  for (const n of names) if (headers[n] === undefined) return `signed header ${n} is missing`;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  const payloadHash = headers['x-amz-content-sha256'] || sha256(body);
  const canonical = [method, canonicalUri(path), canonicalQuery(query), names.map((n) => `${n}:${headers[n]}\n`).join(''), signedHeaders, payloadHash].join('\n');
  const scope = `${day}/${region}/${svc}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', date, scope, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), svc), 'aws4_request');
  const expected = createHmac('sha256', key).update(toSign).digest('hex');
  return expected === signature ? null : 'The request signature we calculated does not match the signature you provided.';
}
