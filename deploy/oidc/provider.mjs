// An OpenID Connect provider for the tests and the demo: panva's oidc-provider (pinned in
// package.json), standing in for a council's identity provider (Microsoft Entra ID and the like).
// It signs ID tokens with an RSA key made at start, asks for PKCE, and tells clients of a
// sign-out on the back channel. Its sign-in form takes any password: it is a stand-in, never a
// real provider.
//
//   node deploy/oidc/provider.mjs CONFIG.json
//
// CONFIG: {"issuer": "http://127.0.0.1:PORT", "clients": [client metadata], "accounts":
// {"login": {claims}}}. It prints "ready" once it listens.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = new URL(config.issuer);
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signing = { ...privateKey.export({ format: 'jwk' }), kid: 'stand-in-1', use: 'sig', alg: 'RS256' };

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: { keys: [signing] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  scopes: ['openid', 'email', 'profile'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  // Only accounts in the configuration sign in: an unknown login is refused by the provider.
  async findAccount(ctx, id) {
    const claims = config.accounts[id];
    if (!claims) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
  },
  // The back-channel sign-out goes to the platform on this machine (127.0.0.1), which the
  // library's guard against server-side request forgery would stop.
  fetch: (url, options) => {
    const { dispatcher, ...rest } = options;
    return globalThis.fetch(url, rest);
  },
});
provider.proxy = false;
provider.listen(Number(issuer.port), issuer.hostname, () => {
  console.log('ready');
});
