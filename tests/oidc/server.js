// A real OpenID Provider (node-oidc-provider 8.x) for rewho's oidc tests, on loopback only.
//
//   node server.js --port 9000 --issuer http://127.0.0.1:9000 \
//     --keys /tmp/keys.json [--kid k1] --clients '[{"client_id":"rewho", ...}]'
//
// --keys     a private JWKS file ({"keys":[...]}); created with one new RSA-2048 key named
//            --kid when missing. Restarting with another file is a signing-key rotation.
// --clients  JSON array of client metadata (client_id, client_secret, redirect_uris,
//            token_endpoint_auth_method); PKCE (S256) is required of every client.
//
// Login: GET /interaction/<uid> is a plain form (login, password); POST it to
// /interaction/<uid>/login. The test accounts are below; a good password logs in and grants
// every requested scope at once (no separate consent page), a wrong one shows the form again
// with status 401.
//
// Fault injection for the failure tests, switched at run time (loopback only):
//   POST /__test/tamper  body `mode=<mode>`  with mode one of
//     none     the provider's own answers (default)
//     aud      the ID token's aud names another client
//     iss      the ID token's iss is another issuer
//     nonce    the ID token's nonce is not the one sent
//     expired  the ID token expired an hour ago
//     sig      the ID token is signed by another key under the same kid
//   The token endpoint's answer is rewritten: the claims changed and the token re-signed with
//   the provider's own key (except for `sig`), so only that one check can fail.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';
import { SignJWT, decodeJwt, decodeProtectedHeader, importJWK } from 'jose';

function args() {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) {
      throw new Error(`bad argument ${argv[i]}: expected --name value pairs`);
    }
    out[argv[i].slice(2)] = argv[i + 1];
  }
  return out;
}

const opts = args();
const port = Number(opts.port || process.env.OIDC_PORT || 0);
const issuer = opts.issuer || process.env.OIDC_ISSUER || `http://127.0.0.1:${port}`;
const keysFile = opts.keys || process.env.OIDC_KEYS;
const clients = JSON.parse(opts.clients || process.env.OIDC_CLIENTS || '[]');
if (!port || !keysFile || clients.length === 0) {
  throw new Error('usage: server.js --port N --issuer URL --keys FILE --clients JSON');
}

function newRsaJwk(kid) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}

if (!existsSync(keysFile)) {
  writeFileSync(keysFile, JSON.stringify({ keys: [newRsaJwk(opts.kid || 'k1')] }));
}
const jwks = JSON.parse(readFileSync(keysFile, 'utf8'));

// The test accounts: login → password and claims.
const accounts = {
  alice: {
    password: 'alice-password',
    claims: {
      email: 'alice@example.org',
      email_verified: true,
      name: 'Alice Liddell',
      groups: ['staff', 'admins'],
    },
  },
  bob: {
    password: 'bob-password',
    claims: { email: 'bob@example.org', email_verified: false, name: 'Bob', groups: ['staff'] },
  },
};

const provider = new Provider(issuer, {
  clients,
  jwks,
  findAccount: async (ctx, id) => (accounts[id]
    ? { accountId: id, claims: async () => ({ sub: id, ...accounts[id].claims }) }
    : undefined),
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  // Claims of the requested scopes go into the ID token itself (what rewho reads).
  conformIdTokenClaims: false,
  pkce: { methods: ['S256'], required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['rewho-oidc-test-cookie-key'] },
  ttl: { AuthorizationCode: 60, IdToken: 3600, AccessToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
});

let tamper = 'none';

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function form(uid, message) {
  return `<!DOCTYPE html><html><body><h1>Sign in</h1>${message ? `<p>${escapeHtml(message)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<input name="login"><input name="password" type="password"><button>Sign in</button></form></body></html>`;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function interaction(req, res, uid, login) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    res.writeHead(400).end('interaction mismatch\n');
    return;
  }
  if (!login) {
    res.writeHead(200, { 'content-type': 'text/html' }).end(form(uid));
    return;
  }
  const body = await readBody(req);
  const account = accounts[body.get('login')];
  if (!account || body.get('password') !== account.password) {
    res.writeHead(401, { 'content-type': 'text/html' }).end(form(uid, 'Invalid login or password.'));
    return;
  }
  const accountId = body.get('login');
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, {
    login: { accountId },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

// Re-signs the ID token of a token endpoint answer as `tamper` says.
async function tampered(text) {
  const body = JSON.parse(text);
  if (!body.id_token) return text;
  const header = decodeProtectedHeader(body.id_token);
  const claims = decodeJwt(body.id_token);
  const now = Math.floor(Date.now() / 1000);
  let jwk = jwks.keys.find((k) => k.kid === header.kid) || jwks.keys[0];
  switch (tamper) {
    case 'aud': claims.aud = 'some-other-client'; break;
    case 'iss': claims.iss = 'http://127.0.0.1:1/not-the-issuer'; break;
    case 'nonce': claims.nonce = 'not-the-nonce-that-was-sent'; break;
    case 'expired': claims.iat = now - 7200; claims.exp = now - 3600; break;
    case 'sig': jwk = newRsaJwk(header.kid); break;
    default: return text;
  }
  const key = await importJWK(jwk, header.alg);
  body.id_token = await new SignJWT(claims)
    .setProtectedHeader({ alg: header.alg, kid: header.kid, typ: header.typ })
    .sign(key);
  return JSON.stringify(body);
}

function withTamperedTokens(res) {
  const end = res.end.bind(res);
  const write = res.write.bind(res);
  const chunks = [];
  res.write = (chunk) => { chunks.push(Buffer.from(chunk)); return true; };
  res.end = (chunk, ...rest) => {
    if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk));
    tampered(Buffer.concat(chunks).toString('utf8')).then((text) => {
      if (!res.headersSent) res.setHeader('content-length', Buffer.byteLength(text));
      write(text);
      end();
    }, (err) => { console.error('tamper failed', err); end(); });
    return res;
  };
}

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    const m = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
    if (m) {
      if (m[2] && req.method !== 'POST') {
        res.writeHead(405).end();
        return;
      }
      await interaction(req, res, m[1], Boolean(m[2]));
      return;
    }
    if (url.pathname === '/__test/tamper' && req.method === 'POST') {
      tamper = (await readBody(req)).get('mode') || 'none';
      res.writeHead(200).end(`tamper=${tamper}\n`);
      return;
    }
    if (url.pathname === '/token' && tamper !== 'none') withTamperedTokens(res);
    callback(req, res);
  } catch (err) {
    console.error(err);
    if (!res.headersSent) res.writeHead(500);
    res.end(`error: ${err.message}\n`);
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`oidc provider listening on ${issuer}`);
});
