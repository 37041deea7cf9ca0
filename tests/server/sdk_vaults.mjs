// waked's vaults and credentials driven by the official TypeScript SDK (@anthropic-ai/sdk 1.10.0):
// every method of client.beta.vaults and client.beta.vaults.credentials, a session created with
// vault_ids whose hand echoes the credential's variable, typed errors. No response (as the SDK parses
// it) and no streamed event may carry a secret value.
// usage: node sdk_vaults.mjs <base url> <api key> <scratch dir>   (run by sdk_vaults.sh)
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';

const [baseURL, apiKey, scratch] = process.argv.slice(2);
const client = new Anthropic({ apiKey, baseURL, maxRetries: 0 });
const secrets = ['sdk-secret-value-1f2e3d4c', 'sdk-rotated-value-5a6b7c8d', 'sdk-bearer-token-0a9b8c7d',
  'sdk-access-token-e1d2c3b4', 'sdk-refresh-token-aa55aa55'];
const clean = (what, value) => {
  const text = JSON.stringify(value);
  for (const s of secrets) assert.ok(!text.includes(s), `${what} leaked a secret: ${text}`);
  return value;
};

// --- vaults -----------------------------------------------------------------------------------------
const vault = clean('create', await client.beta.vaults.create({ display_name: 'Example vault', metadata: { team: 'ci' } }));
assert.equal(vault.type, 'vault');
assert.ok(vault.id.startsWith('vlt_'));
assert.equal(vault.archived_at, null);
assert.deepEqual(clean('retrieve', await client.beta.vaults.retrieve(vault.id)), vault);
const renamed = clean('update', await client.beta.vaults.update(vault.id, { display_name: 'renamed', metadata: { team: null, env: 'prod' } }));
assert.equal(renamed.display_name, 'renamed');
assert.deepEqual(renamed.metadata, { env: 'prod' });
const spare = await client.beta.vaults.create({ display_name: 'spare' });
let vaults = 0;
for await (const v of client.beta.vaults.list({ limit: 1 })) {
  clean('list', v);
  vaults++;
}
assert.equal(vaults, 2, 'the SDK walks every page of vaults');
assert.notEqual((await client.beta.vaults.archive(spare.id)).archived_at, null);
assert.equal((await client.beta.vaults.list()).data.length, 1);
assert.equal((await client.beta.vaults.list({ include_archived: true })).data.length, 2);
assert.deepEqual(await client.beta.vaults.delete(spare.id), { id: spare.id, type: 'vault_deleted' });

// --- credentials ------------------------------------------------------------------------------------
const creds = client.beta.vaults.credentials;
const env = clean('credential create', await creds.create(vault.id, {
  display_name: 'deploy token',
  auth: { type: 'environment_variable', secret_name: 'DEPLOY_TOKEN', secret_value: secrets[0], networking: { type: 'unrestricted' } },
}));
assert.equal(env.type, 'vault_credential');
assert.ok(env.id.startsWith('vcrd_'));
assert.equal(env.vault_id, vault.id);
assert.equal(env.auth.type, 'environment_variable');
assert.equal(env.auth.secret_name, 'DEPLOY_TOKEN');
assert.equal(env.auth.networking.type, 'unrestricted');
assert.deepEqual(env.auth.injection_location, { body: true, header: true });
assert.equal('secret_value' in env.auth, false);
const bearer = clean('bearer create', await creds.create(vault.id, {
  auth: { type: 'static_bearer', mcp_server_url: 'https://mcp.example.com/sse', token: secrets[2] },
}));
assert.equal(bearer.auth.mcp_server_url, 'https://mcp.example.com/sse');
const oauth = clean('oauth create', await creds.create(vault.id, {
  auth: {
    type: 'mcp_oauth', mcp_server_url: 'https://mcp.example.com/', access_token: secrets[3],
    refresh: { client_id: 'c1', token_endpoint: 'https://auth.example.com/token', refresh_token: secrets[4], token_endpoint_auth: { type: 'none' } },
  },
}));
assert.equal(oauth.auth.refresh.token_endpoint_auth.type, 'none');
assert.deepEqual(clean('credential retrieve', await creds.retrieve(env.id, { vault_id: vault.id })), env);
const rotated = clean('credential update', await creds.update(env.id, {
  vault_id: vault.id, display_name: 'rotated',
  auth: { type: 'environment_variable', secret_value: secrets[1], networking: { type: 'limited', allowed_hosts: ['api.example.com'] } },
}));
assert.equal(rotated.display_name, 'rotated');
assert.deepEqual(rotated.auth.networking, { type: 'limited', allowed_hosts: ['api.example.com'] });
let credentials = 0;
for await (const c of creds.list(vault.id, { limit: 2 })) {
  clean('credential list', c);
  credentials++;
}
assert.equal(credentials, 3, 'the SDK walks every page of credentials');
const validation = clean('validate', await creds.mcpOAuthValidate(oauth.id, { vault_id: vault.id }));
assert.equal(validation.type, 'vault_credential_validation');
assert.equal(validation.status, 'unknown');
assert.equal(validation.has_refresh_token, true);
assert.notEqual((await creds.archive(bearer.id, { vault_id: vault.id })).archived_at, null);
assert.deepEqual(await creds.delete(bearer.id, { vault_id: vault.id }), { id: bearer.id, type: 'vault_credential_deleted' });

await assert.rejects(client.beta.vaults.retrieve('vlt_01M8283G3YJK1CPHJVGZYVQ6XJ'), (e) => e instanceof Anthropic.NotFoundError);
await assert.rejects(creds.create(vault.id, { auth: { type: 'static_bearer', mcp_server_url: 'https://x.example', token: 'short' } }),
  (e) => e instanceof Anthropic.BadRequestError && !JSON.stringify(e.error).includes('short"'));
await assert.rejects(creds.update(env.id, { vault_id: vault.id, auth: { type: 'static_bearer', token: secrets[2] } }),
  (e) => e instanceof Anthropic.BadRequestError);

// --- a session that names the vault -----------------------------------------------------------------
const script = `${scratch}/script.json`;
writeFileSync(script, JSON.stringify({ turns: [
  { tool_calls: [{ name: 'bash', input: { command: 'echo token=$DEPLOY_TOKEN' } }] }, { text: 'done' }] }));
const agent = await client.beta.agents.create({ name: 'vault user', model: `scripted:${script}`, tools: [{ type: 'agent_toolset_20260401' }] });
const environment = await client.beta.environments.create({ name: 'env', config: { type: 'cloud', networking: { type: 'unrestricted' } } });
const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, vault_ids: [vault.id] });
assert.deepEqual(session.vault_ids, [vault.id]);
const stream = await client.beta.sessions.events.stream(session.id);
await client.beta.sessions.events.send(session.id, { events: [{ type: 'user.message', content: [{ type: 'text', text: 'go' }] }] });
let echoed = '';
for await (const event of stream) {
  clean('event', event);
  if (event.type === 'agent.tool_result') echoed = event.content[0].text;
  if (event.type === 'session.status_idle') break;
}
assert.match(echoed, new RegExp(`token=\\[secret:${env.id}\\]`), 'the hand had the variable; the log has its mask');
await assert.rejects(client.beta.sessions.create({ agent: agent.id, vault_ids: ['vlt_01M8283G3YJK1CPHJVGZYVQ6XJ'] }),
  (e) => e instanceof Anthropic.NotFoundError);
assert.deepEqual(await client.beta.vaults.delete(vault.id), { id: vault.id, type: 'vault_deleted' });
console.log(`sdk vaults: ok (${credentials} credentials listed, tool result "${echoed.trim()}")`);
