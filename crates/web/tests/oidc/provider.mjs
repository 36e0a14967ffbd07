// OpenID Connect provider for the web crate's integration tests.
//
// A test starts it as `node crates/web/tests/oidc/provider.mjs` with stdin
// piped, reads the one JSON line it prints on stdout, and closes stdin (or
// sends SIGTERM) to stop it. Configuration comes from the environment:
//
//   OIDC_PORT           port on 127.0.0.1 (default 0: any free port)
//   OIDC_CLIENT_ID      the one static confidential client
//   OIDC_CLIENT_SECRET  its secret (client_secret_basic or client_secret_post)
//   OIDC_REDIRECT_URIS  comma-separated redirect URIs of that client
//   OIDC_ENTRA_TENANT   optional: imitate Microsoft Entra ID's multi-tenant
//                       endpoint (issuer "<base>/{tenantid}/v2.0" in discovery,
//                       "<base>/<tid>/v2.0" in each ID token, tid and oid claims)
//
// Sign-in is a plain HTML form (no JavaScript, no consent screen) so that both
// a browser and a plain HTTP client with a cookie jar can get through it.
// Everything under /test/ lets a test set account claims and make the token
// endpoint hand out broken ID tokens; see the handlers below.

import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import {
  SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair,
} from 'jose';
import Provider, { interactionPolicy } from 'oidc-provider';

// stdout carries exactly one line for the test to read; library chatter
// must not end up there.
console.log = console.error;
console.info = console.error;

function env(name, fallback) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    if (fallback === undefined) {
      console.error(`provider.mjs: ${name} must be set`);
      process.exit(2);
    }
    return fallback;
  }
  return value;
}

const port = Number(env('OIDC_PORT', '0'));
const clientId = env('OIDC_CLIENT_ID');
const clientSecret = env('OIDC_CLIENT_SECRET');
const redirectUris = env('OIDC_REDIRECT_URIS').split(',').map((s) => s.trim()).filter(Boolean);
const entraTenant = process.env.OIDC_ENTRA_TENANT || null;

// A test that dies without cleaning up closes our stdin; do not outlive it.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

// --- keys ---------------------------------------------------------------

async function newKey(kid) {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const publicJwk = { ...await exportJWK(publicKey), kid, alg: 'RS256', use: 'sig' };
  const privateJwk = { ...await exportJWK(privateKey), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicJwk, privateJwk };
}

// Generated here rather than left to the library so that tampered tokens can
// be re-signed with the very key the provider publishes.
const signingKey = await newKey(`op-${randomBytes(6).toString('hex')}`);
// Keys from "rotate" tampering: published next to the signing key for good.
const rotatedKeys = [];
let keyCounter = 0;

// --- state driven by /test/ ---------------------------------------------

const accounts = new Map(); // sub -> claims set by POST /test/account
let tamper = null; // { set, remove, key: { kid, privateKey } | null }
let lastIdToken = null;

// Entra's oid is a GUID that stays the same for a user; derive one from the id.
function stableOid(sub) {
  const h = createHash('sha256').update(`oid:${sub}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function accountClaims(sub) {
  const claims = {
    sub,
    email: `${sub}@example.test`,
    name: sub,
    ...(entraTenant ? { tid: entraTenant, oid: stableOid(sub) } : {}),
    ...accounts.get(sub),
  };
  // A claim set to null in POST /test/account is left out altogether.
  for (const [k, v] of Object.entries(claims)) {
    if (v === null) delete claims[k];
  }
  claims.sub = sub;
  return claims;
}

// --- listen first: the issuer needs the port ------------------------------

const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const actualPort = server.address().port;
const issuer = `http://127.0.0.1:${actualPort}`;

function entraIssuer(tid) {
  return `${issuer}/${tid}/v2.0`;
}

// --- provider -------------------------------------------------------------

const { Check, base: basePolicy } = interactionPolicy;
const policy = basePolicy();
// Ask who signs in on every authorization request, even with a provider
// session in the cookie jar, so a test can switch accounts and MFA freely.
policy.get('login').checks.add(new Check(
  'every_request',
  'each authorization request signs in anew',
  (ctx) => (ctx.oidc.result?.login ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT),
));

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    // Either method is accepted for a client registered with a secret.
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [signingKey.privateJwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile'],
  claims: {
    // amr and acr are listed under openid so that they reach every ID token;
    // by default acr only appears when acr_values were requested and amr never.
    openid: ['sub', 'acr', 'amr', ...(entraTenant ? ['tid', 'oid'] : [])],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username', 'given_name', 'family_name'],
  },
  // Put the scope's claims into the ID token, as Entra and most providers do,
  // not only into the userinfo response.
  conformIdTokenClaims: false,
  // Generous lifetimes so a slow test never runs into them, set explicitly
  // to keep the library from warning about its defaults.
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 600,
    Grant: 24 * 3600,
    IdToken: 3600,
    Interaction: 3600,
    Session: 24 * 3600,
  },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
  },
  interactions: {
    policy,
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  // No consent screen: every request is granted whatever it asks for.
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grant = new oidc.provider.Grant({
      accountId: oidc.session.accountId,
      clientId: oidc.client.clientId,
    });
    grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
    const claims = [...oidc.requestParamClaims];
    if (claims.length) grant.addOIDCClaims(claims);
    for (const [indicator, rs] of Object.entries(oidc.resourceServers || {})) {
      grant.addResourceScope(indicator, [...rs.scopes].join(' '));
    }
    await grant.save();
    return grant;
  },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      claims: async () => accountClaims(sub),
    };
  },
  renderError(ctx, out, error) {
    console.error('provider error:', error);
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>Error</title><pre>${escapeHtml(JSON.stringify(out, null, 2))}</pre>`;
  },
});

for (const event of ['server_error', 'authorization.error', 'grant.error', 'introspection.error', 'end_session.error']) {
  provider.on(event, (ctx, err) => {
    console.error(`${event}: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}`);
  });
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(ctx) {
  const text = await readBody(ctx.req);
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return ctx.throw(400, 'body must be JSON');
  }
}

function now() {
  return Math.floor(Date.now() / 1000);
}

// { "relative": -3600 } means now - 3600 seconds.
function resolveValue(value) {
  if (value && typeof value === 'object' && !Array.isArray(value)
    && Object.keys(value).length === 1 && typeof value.relative === 'number') {
    return now() + value.relative;
  }
  return value;
}

async function rewriteIdToken(idToken) {
  if (!entraTenant && !tamper) return idToken;
  const header = decodeProtectedHeader(idToken);
  const payload = decodeJwt(idToken);
  if (entraTenant && typeof payload.tid === 'string') {
    payload.iss = entraIssuer(payload.tid);
  }
  let key = signingKey;
  if (tamper) {
    for (const [claim, value] of Object.entries(tamper.set)) {
      payload[claim] = resolveValue(value);
    }
    // A test that moves the token to another tenant but not its iss gets an
    // iss that follows the new tid, as Entra would issue it.
    if (entraTenant && 'tid' in tamper.set && !('iss' in tamper.set) && typeof payload.tid === 'string') {
      payload.iss = entraIssuer(payload.tid);
    }
    for (const claim of tamper.remove) delete payload[claim];
    if (tamper.key) key = tamper.key;
  }
  return new SignJWT(payload)
    .setProtectedHeader({ ...header, alg: 'RS256', kid: key.kid })
    .sign(key.privateKey);
}

// --- test control, interactions and response rewriting --------------------

function json(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = body;
}

async function testControl(ctx) {
  const route = `${ctx.method} ${ctx.path}`;
  switch (route) {
    case 'POST /test/account': {
      const body = await readJson(ctx);
      if (typeof body.sub !== 'string' || !body.sub) {
        return json(ctx, 400, { error: 'sub must be a non-empty string' });
      }
      accounts.set(body.sub, { ...(body.claims || {}) });
      return json(ctx, 200, { sub: body.sub, claims: accountClaims(body.sub) });
    }
    case 'POST /test/tamper': {
      const body = await readJson(ctx);
      const set = body.set || {};
      const remove = body.remove || [];
      if (typeof set !== 'object' || Array.isArray(set) || !Array.isArray(remove)) {
        return json(ctx, 400, { error: 'set must be an object and remove an array' });
      }
      let key = null;
      if (body.key === 'rotate') {
        keyCounter += 1;
        key = await newKey(`rotated-${keyCounter}-${randomBytes(4).toString('hex')}`);
        rotatedKeys.push(key);
      } else if (body.key === 'foreign') {
        keyCounter += 1;
        key = await newKey(`foreign-${keyCounter}-${randomBytes(4).toString('hex')}`);
      } else if (body.key !== undefined && body.key !== null) {
        return json(ctx, 400, { error: 'key must be "rotate", "foreign" or null' });
      }
      tamper = { set, remove, key };
      return json(ctx, 200, { set, remove, kid: key ? key.kid : signingKey.kid });
    }
    case 'POST /test/reset':
      await readBody(ctx.req);
      tamper = null;
      return json(ctx, 200, { reset: true });
    case 'GET /test/last-id-token':
      return json(ctx, 200, { id_token: lastIdToken });
    default:
      return json(ctx, 404, { error: `no such test endpoint: ${route}` });
  }
}

function loginPage(uid, details) {
  const hint = details.params.login_hint || '';
  const client = details.params.client_id || '';
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in</h1>
<p>to <code>${escapeHtml(client)}</code></p>
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
  <p><label>Account <input type="text" name="account" value="${escapeHtml(hint)}" required autofocus></label></p>
  <p><label><input type="checkbox" name="mfa" value="1"> Second factor</label></p>
  <p><label>acr <input type="text" name="acr"></label></p>
  <p><button type="submit">Sign in</button></p>
</form>
</body>
</html>
`;
}

async function interaction(ctx, uid, action) {
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    ctx.status = 400;
    ctx.type = 'text/plain';
    ctx.body = `no interaction in progress: ${err.message}\n`;
    return;
  }
  if (details.uid !== uid) {
    ctx.status = 400;
    ctx.type = 'text/plain';
    ctx.body = 'interaction does not match the cookie\n';
    return;
  }

  const finish = async (result) => {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
  };

  if (details.prompt.name !== 'login') {
    // Grants are made in loadExistingGrant, so only login should come here;
    // still, never show a consent screen.
    const grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    if (details.prompt.details.missingOIDCScope) grant.addOIDCScope(details.prompt.details.missingOIDCScope.join(' '));
    if (details.prompt.details.missingOIDCClaims) grant.addOIDCClaims(details.prompt.details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(details.prompt.details.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    await finish({ consent: { grantId: await grant.save() } });
    return;
  }

  if (action === 'show') {
    ctx.status = 200;
    ctx.type = 'html';
    ctx.set('cache-control', 'no-store');
    ctx.body = loginPage(uid, details);
    return;
  }

  const form = new URLSearchParams(await readBody(ctx.req));
  const account = (form.get('account') || '').trim();
  if (!account) {
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = loginPage(uid, details);
    return;
  }
  const acr = (form.get('acr') || '').trim();
  await finish({
    login: {
      accountId: account,
      amr: form.get('mfa') === '1' ? ['pwd', 'mfa'] : ['pwd'],
      ...(acr ? { acr } : {}),
    },
  });
}

provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/test/')) {
    await testControl(ctx);
    return;
  }

  const m = /^\/interaction\/([^/]+)(\/login)?$/.exec(ctx.path);
  if (m) {
    if (ctx.method === 'GET' && !m[2]) {
      await interaction(ctx, m[1], 'show');
      return;
    }
    if (ctx.method === 'POST' && m[2]) {
      await interaction(ctx, m[1], 'login');
      return;
    }
  }

  await next();

  const route = ctx.oidc?.route;
  if (route === 'token' && ctx.status === 200 && ctx.body?.id_token) {
    const idToken = await rewriteIdToken(ctx.body.id_token);
    ctx.body = { ...ctx.body, id_token: idToken };
    lastIdToken = idToken;
  } else if (route === 'jwks' && rotatedKeys.length && ctx.body?.keys) {
    ctx.body = { keys: [...ctx.body.keys, ...rotatedKeys.map((k) => k.publicJwk)] };
  } else if (route === 'discovery' && entraTenant && ctx.body?.issuer) {
    // Entra's discovery names no single issuer and does not announce RFC 9207.
    const { authorization_response_iss_parameter_supported: _, ...rest } = ctx.body;
    ctx.body = { ...rest, issuer: entraIssuer('{tenantid}') };
  } else if ((route === 'authorization' || route === 'resume') && entraTenant && ctx.response.get('location')) {
    // Nor does it add iss to the redirect back to the client; the base URL
    // there would match neither the discovered nor the ID token's issuer.
    const location = new URL(ctx.response.get('location'), issuer);
    if (location.searchParams.has('iss')) {
      location.searchParams.delete('iss');
      ctx.set('location', location.href);
    }
  }
});

server.on('request', provider.callback());

const ready = { issuer, port: actualPort };
if (entraTenant) ready.discovery = `${issuer}/.well-known/openid-configuration`;
process.stdout.write(`${JSON.stringify(ready)}\n`);
console.error(`oidc provider listening on ${issuer}${entraTenant ? ` (Entra tenant ${entraTenant})` : ''}`);
