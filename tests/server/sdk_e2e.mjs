// waked driven by the official TypeScript SDK (@anthropic-ai/sdk 1.10.0): agents, environments,
// sessions, cursor pages, sending events, the event stream of a scripted turn with a real local hand,
// a custom tool answered by the client, typed errors, archive and delete.
// usage: node sdk_e2e.mjs <base url> <api key>   (run by sdk_e2e.sh)
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';

const [baseURL, apiKey] = process.argv.slice(2);
const client = new Anthropic({ apiKey, baseURL, maxRetries: 0 });

const agent = await client.beta.agents.create({
  name: 'sdk agent',
  model: 'scripted',
  tools: [{ type: 'agent_toolset_20260401' }],
  metadata: { suite: 'e2e' },
});
assert.equal(agent.type, 'agent');
assert.equal(agent.version, 1);
assert.equal(agent.model.id, 'scripted');
assert.equal(agent.tools[0].type, 'agent_toolset_20260401');

const environment = await client.beta.environments.create({
  name: 'sdk env',
  config: { type: 'cloud', networking: { type: 'unrestricted' } },
});
assert.equal(environment.config.type, 'cloud');
assert.equal(environment.config.networking.type, 'unrestricted');

for (let i = 0; i < 3; i++) {
  await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id, title: `s${i}` });
}
let listed = 0;
for await (const session of client.beta.sessions.list({ limit: 2 })) {
  assert.equal(session.type, 'session');
  listed++;
}
assert.equal(listed, 3, 'the SDK walks every page of sessions');

const session = await client.beta.sessions.create({ agent: { type: 'agent', id: agent.id }, environment_id: environment.id });
assert.equal(session.status, 'idle');
assert.equal(session.agent.id, agent.id);

// Attach first, then send: everything of the turn arrives on the stream.
const stream = await client.beta.sessions.events.stream(session.id);
const sent = await client.beta.sessions.events.send(session.id, {
  events: [{ type: 'user.message', content: [{ type: 'text', text: 'hi' }] }],
});
assert.equal(sent.data.length, 1);
assert.equal(sent.data[0].type, 'user.message');
const seen = [];
for await (const event of stream) {
  seen.push(event.type);
  if (event.type === 'agent.tool_result') assert.match(event.content[0].text, /hello from the hand/);
  if (event.type === 'session.status_idle') {
    assert.equal(event.stop_reason.type, 'end_turn');
    break;
  }
}
assert.equal(seen[0], 'user.message');
assert.ok(seen.includes('agent.tool_use'));
assert.ok(!seen.some((type) => type.startsWith('wake.')));

let events = 0;
for await (const event of client.beta.sessions.events.list(session.id, { limit: 3 })) {
  assert.ok(event.id.startsWith('sevt_'));
  events++;
}
assert.equal(events, seen.length, 'the list pages hold what the stream showed');
const messages = await client.beta.sessions.events.list(session.id, { types: ['agent.message'] });
assert.equal(messages.data.length, 2);

// A custom tool: the session stops with requires_action naming the call; the client's result (sent
// with the SDK) lets the turn finish. The scripted brain reads its turns from a file waked can see.
const scriptDir = mkdtempSync(join(tmpdir(), 'sdk-e2e-'));
const script = join(scriptDir, 'custom.json');
writeFileSync(script, JSON.stringify({
  turns: [{ text: 'looking it up', tool_calls: [{ name: 'lookup', input: { q: 'answer' } }] }, { text: 'the answer came back' }],
}));
const customAgent = await client.beta.agents.create({
  name: 'custom tool agent',
  model: `scripted:${script}`,
  tools: [{ type: 'custom', name: 'lookup', description: 'looks a thing up', input_schema: { type: 'object', properties: { q: { type: 'string' } } } }],
});
const customSession = await client.beta.sessions.create({ agent: customAgent.id, environment_id: environment.id });
let customStream = await client.beta.sessions.events.stream(customSession.id);
await client.beta.sessions.events.send(customSession.id, {
  events: [{ type: 'user.message', content: [{ type: 'text', text: 'look it up' }] }],
});
let toolUse = null;
for await (const event of customStream) {
  if (event.type === 'agent.custom_tool_use') {
    toolUse = event;
    assert.equal(event.name, 'lookup');
    assert.deepEqual(event.input, { q: 'answer' });
  }
  if (event.type === 'session.status_idle') {
    assert.equal(event.stop_reason.type, 'requires_action');
    assert.deepEqual(event.stop_reason.event_ids, [toolUse.id]);
    break;
  }
}
customStream = await client.beta.sessions.events.stream(customSession.id);
await client.beta.sessions.events.send(customSession.id, {
  events: [{ type: 'user.custom_tool_result', custom_tool_use_id: toolUse.id, content: [{ type: 'text', text: '42' }] }],
});
const afterResult = [];
for await (const event of customStream) {
  afterResult.push(event.type);
  if (event.type === 'agent.message') assert.equal(event.content[0].text, 'the answer came back');
  if (event.type === 'session.status_idle') {
    assert.equal(event.stop_reason.type, 'end_turn');
    break;
  }
}
assert.equal(afterResult[0], 'user.custom_tool_result');
assert.ok(afterResult.includes('agent.message'));
rmSync(scriptDir, { recursive: true, force: true });

await assert.rejects(client.beta.agents.retrieve('agent_01M8283G3YJK1CPHJVGZYVQ6XJ'), (e) => e.status === 404 && e.type === 'not_found_error');
await assert.rejects(client.beta.environments.retrieve('env_01M8283G3YJK1CPHJVGZYVQ6XJ'),
  (e) => e.errorCode === 'environment_not_found');
await assert.rejects(client.beta.agents.update(agent.id, { version: 7, description: 'x' }), (e) => e.status === 409);
await assert.rejects(new Anthropic({ apiKey: 'wrong', baseURL, maxRetries: 0 }).beta.agents.list(),
  (e) => e.status === 401 && e.type === 'authentication_error');

const updated = await client.beta.agents.update(agent.id, { version: 1, description: 'updated' });
assert.equal(updated.version, 2);
assert.equal(updated.description, 'updated');
assert.equal((await client.beta.sessions.archive(session.id)).archived_at !== null, true);
assert.equal((await client.beta.sessions.delete(session.id)).type, 'session_deleted');
console.log(`sdk e2e: ok (${seen.length} streamed events)`);
