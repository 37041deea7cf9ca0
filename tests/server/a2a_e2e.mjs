// waked's A2A endpoint driven by npm @a2a-js/sdk 1.3.0: the client resolves a session's agent card,
// sends a message and gets the agent's reply (A2A v1.0), streams a second one, reads the task back,
// then talks v0.3 through the SDK's compat transport; errors come back as the SDK's errors.
// usage: node a2a_e2e.mjs <base url> <api key> <agent model>   (run by a2a_e2e.sh)
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, ClientFactory, DefaultAgentCardResolver, JsonRpcTransportFactory } from '@a2a-js/sdk/client';
import { LegacyJsonRpcTransport } from '@a2a-js/sdk/compat/v0_3/client';

const [baseURL, apiKey, scratch] = process.argv.slice(2);
// The scripted brain answers each message of the session with the next turn.
const script = join(scratch, 'script.json');
writeFileSync(script, JSON.stringify({
  turns: [{ text: 'pong: the answer is 42' }, { text: 'streamed reply' }, { text: 'legacy reply' },
          { text: 'legacy streamed reply' }],
}));
const model = `scripted:${script}`;

// TaskState and Role as the SDK's v1.0 types number them.
const SUBMITTED = 1, COMPLETED = 3;
const ROLE_USER = 1, ROLE_AGENT = 2;

async function api(path, body) {
  const response = await fetch(`${baseURL}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
    body: JSON.stringify(body),
  });
  const json = await response.json();
  assert.equal(response.status, 200, JSON.stringify(json));
  return json;
}

const agent = await api('/v1/agents', { name: 'a2a pinger', description: 'answers pings', model });
const environment = await api('/v1/environments', { name: 'env', config: { type: 'cloud' } });
const session = await api('/v1/sessions', { agent: agent.id, environment_id: environment.id });

const fetchWithKey = (key) => (url, init = {}) =>
  fetch(url, { ...init, headers: { ...(init.headers ?? {}), 'x-api-key': key } });
const factoryFor = (key) =>
  new ClientFactory({
    transports: [new JsonRpcTransportFactory({ fetchImpl: fetchWithKey(key) })],
    cardResolver: new DefaultAgentCardResolver({ fetchImpl: fetchWithKey(key) }),
  });
// The card is under the session's path: the base URL ends with a slash so that the SDK's relative
// `.well-known/agent-card.json` resolves below it.
const agentUrl = `${baseURL}/a2a/${session.id}`;
const client = await factoryFor(apiKey).createFromUrl(`${agentUrl}/`);
assert.equal(client.protocolVersion, '1.0');
const card = await client.getAgentCard();
assert.equal(card.name, 'a2a pinger');
assert.equal(card.capabilities.streaming, true);
assert.equal(card.securitySchemes.apiKey.type, 'apiKey');

const textMessage = (text) => ({
  messageId: `m-${Math.random().toString(36).slice(2)}`,
  role: ROLE_USER,
  parts: [{ content: { $case: 'text', value: text } }],
});
const texts = (message) => message.parts.map((p) => p.content.value);

// message/send (SendMessage): the agent's reply as a completed task.
const task = await client.sendMessage({ message: textMessage('ping') });
assert.equal(task.contextId, session.id);
assert.equal(task.status.state, COMPLETED);
assert.equal(task.status.message.role, ROLE_AGENT);
assert.deepEqual(texts(task.status.message), ['pong: the answer is 42']);
assert.deepEqual(texts(task.artifacts[0]), ['pong: the answer is 42']);

// The user.message it became, in the session's events.
const events = await (await fetch(`${baseURL}/v1/sessions/${session.id}/events`, { headers: { 'x-api-key': apiKey } })).json();
const user = events.data.find((e) => e.type === 'user.message');
assert.equal(user.id, task.id);
assert.deepEqual(user.content, [{ type: 'text', text: 'ping' }]);

// message/stream (SendStreamingMessage): the task, its updates, the reply, the final status.
const streamed = [];
for await (const event of client.sendMessageStream({ message: textMessage('stream please') })) streamed.push(event.payload);
assert.equal(streamed[0].$case, 'task');
assert.equal(streamed[0].value.status.state, SUBMITTED);
const streamTask = streamed[0].value.id;
const artifact = streamed.find((p) => p.$case === 'artifactUpdate');
assert.ok(artifact, JSON.stringify(streamed));
assert.equal(artifact.value.taskId, streamTask);
assert.deepEqual(texts(artifact.value.artifact), ['streamed reply']);
const last = streamed.at(-1);
assert.equal(last.$case, 'statusUpdate');
assert.equal(last.value.status.state, COMPLETED);
assert.deepEqual(texts(last.value.status.message), ['streamed reply']);

// tasks/get (GetTask).
const got = await client.getTask({ id: task.id });
assert.equal(got.id, task.id);
assert.equal(got.status.state, COMPLETED);
assert.deepEqual(texts(got.status.message), ['pong: the answer is 42']);

// The same endpoint in v0.3, through the SDK's compat transport.
const legacy = new Client(new LegacyJsonRpcTransport({ endpoint: agentUrl, fetchImpl: fetchWithKey(apiKey) }), card);
assert.equal(legacy.protocolVersion, '0.3');
const legacyTask = await legacy.sendMessage({ message: textMessage('old ping') });
assert.equal(legacyTask.contextId, session.id);
assert.equal(legacyTask.status.state, COMPLETED);
assert.deepEqual(texts(legacyTask.status.message), ['legacy reply']);
const legacyStream = [];
for await (const event of legacy.sendMessageStream({ message: textMessage('old stream') })) legacyStream.push(event.payload);
assert.equal(legacyStream[0].$case, 'task');
assert.equal(legacyStream.at(-1).$case, 'statusUpdate');
assert.equal(legacyStream.at(-1).value.status.state, COMPLETED);
assert.deepEqual(texts(legacyStream.at(-1).value.status.message), ['legacy streamed reply']);

// Errors: a part that is not text, an unknown task, a wrong key, an unknown session.
await assert.rejects(
  client.sendMessage({ message: { ...textMessage('x'), parts: [{ content: { $case: 'url', value: 'http://x/y' } }] } }),
  /text parts only/,
);
await assert.rejects(client.getTask({ id: 'sevt_01M8283M3PMRA5E008YZRKBNBS' }), /no task/);
await assert.rejects(factoryFor('wrong-key').createFromUrl(`${agentUrl}/`), /401/);
await assert.rejects(factoryFor(apiKey).createFromUrl(`${baseURL}/a2a/sesn_01M8283KKK3HDJS2D1YMHMDV2E/`), /404/);

console.log(`a2a e2e ok: session ${session.id}, ${streamed.length} v1.0 stream events, ${legacyStream.length} v0.3`);
