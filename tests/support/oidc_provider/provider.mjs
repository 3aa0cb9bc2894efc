// An OpenID provider for Carnet's tests of federated sign-in, listening on 127.0.0.1 only.
//
//   node provider.mjs CONFIG.json
//
// CONFIG.json: {"port": 0, "clients": [...oidc-provider client metadata...],
//               "accounts": {"<login>": {claims of that person}}}
// It prints one line `LISTENING <issuer>` once it answers. Its signing key and cookie keys are made
// at start and never written anywhere. The sign-in page is a plain form (no password): the test
// posts the account to sign in as and the `acr` the provider vouches for, as a national provider
// would after its own strong authentication. Consent is implied for the configured clients.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = config.accounts;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-signing', use: 'sig', alg: 'RS256' };

function page(body) {
  return `<!doctype html><html><head><title>Test provider</title></head><body>${body}</body></html>`;
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { raw += chunk; });
    req.on('end', () => resolve(Object.fromEntries(new URLSearchParams(raw))));
    req.on('error', reject);
  });
}

const server = createServer();
server.listen(config.port || 0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: config.clients,
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    acrValues: ['eidas1', 'eidas2', 'eidas3'],
    scopes: ['openid', 'profile', 'rpps'],
    claims: {
      openid: ['sub'],
      profile: ['family_name', 'given_name', 'birthdate', 'gender', 'birthplace', 'birthcountry'],
      rpps: ['SubjectNameID'],
    },
    features: { devInteractions: { enabled: false }, jwtUserinfo: { enabled: true } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    async findAccount(ctx, id) {
      if (!Object.hasOwn(accounts, id)) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...accounts[id] }) };
    },
    // The configured clients are first-party here: the scopes they ask for are granted at once.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope(ctx.oidc.params.scope);
      await grant.save();
      return grant;
    },
  });
  const handle = provider.callback();

  server.on('request', async (req, res) => {
    const match = /^\/interaction\/([^/?]+)(\/login)?/.exec(req.url);
    if (!match) return handle(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      if (req.method === 'GET') {
        res.setHeader('content-type', 'text/html; charset=utf-8');
        res.end(page(`<form method="post" action="/interaction/${details.uid}/login">
          <input name="login"><input name="acr" value="eidas2"><button>Sign in</button></form>`));
        return undefined;
      }
      const form = await readForm(req);
      if (!Object.hasOwn(accounts, form.login)) {
        res.statusCode = 400;
        res.end(page('unknown account'));
        return undefined;
      }
      return provider.interactionFinished(req, res, {
        login: { accountId: form.login, acr: form.acr || 'eidas1' },
      }, { mergeWithLastSubmission: false });
    } catch (error) {
      res.statusCode = 500;
      res.end(page(String(error)));
      return undefined;
    }
  });
  process.stdout.write(`LISTENING ${issuer}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
