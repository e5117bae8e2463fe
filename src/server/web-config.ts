import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type SecureContextOptions, type TlsOptions, createSecureContext } from 'node:tls';
import bcrypt from 'bcryptjs';
import YAML from 'yaml';
import { OomwatchError } from '../errors';

/**
 * The Prometheus exporter-toolkit web configuration file (the --web.config.file of node_exporter and
 * friends), so oomwatch is secured the way every other exporter is:
 *
 *   tls_server_config:
 *     cert_file: server.crt
 *     key_file: server.key
 *     client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
 *     client_ca_file: ca.crt
 *     min_version: TLS12
 *   http_server_config:
 *     headers: { Strict-Transport-Security: max-age=31536000 }
 *   basic_auth_users:
 *     prometheus: $2y$10$...   # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
 *
 * Relative file paths are relative to the config file, as in exporter-toolkit. Unknown keys are errors,
 * as they are there (a typo must not silently disable TLS).
 */
export interface WebConfig {
  tls?: TlsOptions & SecureContextOptions;
  basicAuthUsers?: Map<string, string>;
  headers: Record<string, string>;
}

const CLIENT_AUTH: Record<string, { requestCert: boolean; rejectUnauthorized: boolean }> = {
  NoClientCert: { requestCert: false, rejectUnauthorized: false },
  RequestClientCert: { requestCert: true, rejectUnauthorized: false },
  RequireAnyClientCert: { requestCert: true, rejectUnauthorized: false },
  VerifyClientCertIfGiven: { requestCert: true, rejectUnauthorized: false },
  RequireAndVerifyClientCert: { requestCert: true, rejectUnauthorized: true },
};

const TLS_VERSIONS: Record<string, 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'> = {
  TLS10: 'TLSv1',
  TLS11: 'TLSv1.1',
  TLS12: 'TLSv1.2',
  TLS13: 'TLSv1.3',
};

const ALLOWED_HEADERS = [
  'Strict-Transport-Security',
  'X-Content-Type-Options',
  'X-Frame-Options',
  'X-XSS-Protection',
  'Content-Security-Policy',
];

const TLS_KEYS = new Set([
  'cert_file',
  'key_file',
  'cert',
  'key',
  'client_auth_type',
  'client_ca_file',
  'client_allowed_sans',
  'min_version',
  'max_version',
  'cipher_suites',
  'prefer_server_cipher_suites',
  'curve_preferences',
]);

export function loadWebConfig(file: string): WebConfig {
  const bad = (why: string): OomwatchError =>
    new OomwatchError('OOMW_WEB_CONFIG', `oomwatch: --web-config ${file}: ${why}`);
  let doc: unknown;
  try {
    doc = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw bad(`cannot read it as YAML (${(err as Error).message.split('\n')[0]})`);
  }
  if (doc === null || doc === undefined) return { headers: {} };
  if (typeof doc !== 'object' || Array.isArray(doc)) throw bad('expected a mapping at the top level');
  const top = doc as Record<string, unknown>;
  for (const key of Object.keys(top)) {
    if (!['tls_server_config', 'http_server_config', 'basic_auth_users'].includes(key)) {
      throw bad(`unknown key "${key}" (expected tls_server_config, http_server_config, basic_auth_users)`);
    }
  }
  const dir = path.dirname(file);
  const readRel = (p: unknown, what: string): Buffer => {
    if (typeof p !== 'string' || p === '') throw bad(`${what} must be a file path`);
    const full = path.isAbsolute(p) ? p : path.join(dir, p);
    try {
      return fs.readFileSync(full);
    } catch (err) {
      throw bad(
        `cannot read ${what} ${full}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  };

  const out: WebConfig = { headers: {} };
  const tlsDoc = top['tls_server_config'];
  if (tlsDoc !== undefined && tlsDoc !== null) {
    if (typeof tlsDoc !== 'object') throw bad('tls_server_config must be a mapping');
    const t = tlsDoc as Record<string, unknown>;
    for (const key of Object.keys(t))
      if (!TLS_KEYS.has(key)) throw bad(`unknown key "tls_server_config.${key}"`);
    const cert =
      t['cert'] !== undefined ? Buffer.from(String(t['cert'])) : readRel(t['cert_file'], 'cert_file');
    const key = t['key'] !== undefined ? Buffer.from(String(t['key'])) : readRel(t['key_file'], 'key_file');
    const tls: TlsOptions & SecureContextOptions = { cert, key };
    const authType = (t['client_auth_type'] as string | undefined) ?? 'NoClientCert';
    const auth = CLIENT_AUTH[authType];
    if (!auth)
      throw bad(`client_auth_type "${authType}" is not one of ${Object.keys(CLIENT_AUTH).join(', ')}`);
    Object.assign(tls, auth);
    if (t['client_ca_file'] !== undefined) tls.ca = readRel(t['client_ca_file'], 'client_ca_file');
    else if (auth.rejectUnauthorized) throw bad(`client_auth_type ${authType} needs client_ca_file`);
    for (const [k, field] of [
      ['min_version', 'minVersion'],
      ['max_version', 'maxVersion'],
    ] as const) {
      const v = t[k];
      if (v === undefined) continue;
      const mapped = TLS_VERSIONS[String(v)];
      if (!mapped) throw bad(`${k} "${String(v)}" is not one of ${Object.keys(TLS_VERSIONS).join(', ')}`);
      tls[field] = mapped;
    }
    if (tls.minVersion === undefined) tls.minVersion = 'TLSv1.2'; // exporter-toolkit's default
    try {
      // Checked here, so that a certificate that is not PEM or a key that does not match it is a
      // configuration error with a message, not a stack trace from the HTTPS server.
      createSecureContext(tls);
    } catch (err) {
      throw bad(
        `the TLS certificate, key or CA cannot be used (${(err as Error).message}): give PEM files, ` +
          'the certificate (BEGIN CERTIFICATE) with the private key that belongs to it (BEGIN PRIVATE KEY)',
      );
    }
    out.tls = tls;
  }

  const httpDoc = top['http_server_config'];
  if (httpDoc !== undefined && httpDoc !== null) {
    const h = httpDoc as Record<string, unknown>;
    for (const key of Object.keys(h)) {
      if (key !== 'headers' && key !== 'http2') throw bad(`unknown key "http_server_config.${key}"`);
    }
    const headers = (h['headers'] ?? {}) as Record<string, unknown>;
    for (const [name, value] of Object.entries(headers)) {
      if (!ALLOWED_HEADERS.includes(name))
        throw bad(`header "${name}" may not be set (allowed: ${ALLOWED_HEADERS.join(', ')})`);
      out.headers[name] = String(value);
    }
  }

  const usersDoc = top['basic_auth_users'];
  if (usersDoc !== undefined && usersDoc !== null) {
    if (typeof usersDoc !== 'object') throw bad('basic_auth_users must map user names to bcrypt hashes');
    const users = new Map<string, string>();
    for (const [user, hash] of Object.entries(usersDoc as Record<string, unknown>)) {
      if (typeof hash !== 'string' || !/^\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
        throw bad(
          `basic_auth_users.${user} is not a bcrypt hash (make one with: htpasswd -nBC 10 "" | tr -d ':\\n')`,
        );
      }
      users.set(user, hash);
    }
    out.basicAuthUsers = users;
  }
  return out;
}

/**
 * Checks HTTP basic credentials against the bcrypt hashes. bcrypt is slow on purpose (tens of ms), and
 * Prometheus sends the same credentials every scrape, so a successful check is remembered by a keyed
 * digest of the credentials (never the password itself). Unknown users still pay for one bcrypt
 * comparison so that timing does not reveal which user names exist.
 */
export class BasicAuth {
  private readonly verified = new Set<string>();
  private readonly cacheKey = crypto.randomBytes(32);
  private static readonly DUMMY = '$2b$10$CwTycUXWue0Thq9StjUM0uJ8.6Q8e/6qT0WGZXPzN1l6xzp7mkpvq';

  constructor(private readonly users: Map<string, string>) {}

  async check(authorization: string | undefined): Promise<boolean> {
    if (authorization === undefined || !authorization.startsWith('Basic ')) return false;
    const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const hash = this.users.get(user);
    const digest = crypto
      .createHmac('sha256', this.cacheKey)
      .update(`${user}\0${password}\0${hash ?? ''}`)
      .digest('hex');
    if (hash !== undefined && this.verified.has(digest)) return true;
    const ok = await bcrypt.compare(password, hash ?? BasicAuth.DUMMY);
    if (ok && hash !== undefined) {
      if (this.verified.size > 1000) this.verified.clear();
      this.verified.add(digest);
      return true;
    }
    return false;
  }
}
