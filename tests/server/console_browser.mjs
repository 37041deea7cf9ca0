// The operator console (/console) in a real browser: Debian's chromium, headless, driven by
// playwright-core, against a real waked (scripted brain, local hand). Checks that
//  - a page without a valid key shows the login prompt and no session data (no key, a wrong key,
//    a fresh browser context, and after "Forget key");
//  - the sessions list shows a new session, with working status/agent filters;
//  - the session page shows its history, then a tool call appearing live (a user.message sent after
//    the page is open), tool inputs and results, an error highlighted, the hand's state and the
//    timeline picture;
//  - pausing and resuming the live stream, and waked restarting under the open page, lose and repeat
//    nothing (the page reconnects with last_event_id): it then lists exactly the events the API lists;
//  - fork links both ways; no script error or CSP violation on any page;
//  - axe-core (WCAG 2 A and AA rules) finds no violation on the login prompt, the list or the session
//    page, and the controls are found by their accessible names; a session opens from the keyboard.
// Screenshots of each page go to the artefact dir.
// usage: node console_browser.mjs <base url> <api key> <scratch dir> <artefact dir> <chromium> <control dir>
// (console_browser_test.sh restarts waked on the same port when <control dir>/restart appears, and
// answers with <control dir>/restarted.)
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const [base, key, scratch, artefacts, chromiumPath, control] = process.argv.slice(2);
mkdirSync(artefacts, { recursive: true });

async function api(method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

async function allEvents(id) {
  const events = [];
  let page = '';
  do {
    const result = await api('GET', `/v1/sessions/${id}/events?include_internal=true&limit=200${page ? `&page=${page}` : ''}`);
    events.push(...result.data);
    page = result.next_page;
  } while (page);
  return events;
}

// Waits (without a time budget of its own: ctest's timeout bounds the test) until the session has
// `count` end_turn idles.
async function waitForIdles(id, count) {
  for (;;) {
    const idles = (await allEvents(id)).filter((e) => e.type === 'session.status_idle' && e.stop_reason.type === 'end_turn');
    if (idles.length >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function restartWaked() {
  writeFileSync(join(control, 'restart'), '');
  while (!existsSync(join(control, 'restarted'))) await new Promise((resolve) => setTimeout(resolve, 50));
  rmSync(join(control, 'restarted'));
}

const say = (text) => api('POST', `/v1/sessions/${session.id}/events`, {
  events: [{ type: 'user.message', content: [{ type: 'text', text }] }],
});

// The scripted brain's turns, in order over the session: one tool call for the first message; for the
// second (sent while the page is open), a tool that works and one that fails.
const script = join(scratch, 'console.json');
writeFileSync(script, JSON.stringify({
  turns: [
    { text: 'first, a look at the hand', tool_calls: [{ name: 'bash', input: { command: 'echo hello from the hand' } }] },
    { text: 'that was the first message' },
    { text: 'now live', tool_calls: [
      { name: 'bash', input: { command: 'echo live tool call $((6 * 7))' } },
      { name: 'read', input: { file_path: 'no/such/file.txt' } },
    ] },
    { text: 'the live turn is over' },
  ],
}));
const agent = await api('POST', '/v1/agents', { name: 'console agent', model: `scripted:${script}`, tools: [{ type: 'agent_toolset_20260401' }] });
const environment = await api('POST', '/v1/environments', { name: 'console env', config: { type: 'cloud', networking: { type: 'unrestricted' } } });
const session = await api('POST', '/v1/sessions', { agent: agent.id, environment_id: environment.id, title: 'console browser test' });
await say('first message');
await waitForIdles(session.id, 1);
// A session forked from it, as `wakectl fork` titles an untitled original's fork ("<id> (fork at #N)").
const fork = await api('POST', '/v1/sessions', { agent: agent.id, environment_id: environment.id, title: `${session.id} (fork at #3)` });
// Another agent's session, for the agent filter.
const otherAgent = await api('POST', '/v1/agents', { name: 'other agent', model: 'scripted' });
const other = await api('POST', '/v1/sessions', { agent: otherAgent.id, environment_id: environment.id, title: 'the other agent' });

const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox'] });
const problems = [];
let restarting = false;  // while waked restarts, the broken stream and refused reconnects are expected
const brokenStreams = [];
function watch(page) {
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = `console error: ${message.text()} (${message.location().url})`;
    // (a timeline redraw may also fall into the restart)
    if (restarting && /ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_CONNECTION_REFUSED/.test(text) && text.includes('/v1/sessions/')) {
      brokenStreams.push(text);
    } else {
      problems.push(text);
    }
  });
}
const timings = [];

// Runs axe-core's WCAG 2 A/AA rules on the page as it is (evaluated through the devtools protocol,
// which the pages' CSP does not govern) and fails on any violation, naming the rule and the nodes.
async function checkAccessibility(page, what) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
  const found = result.violations.map((v) => `${v.id} (${v.impact}): ${v.help}; ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(found, [], `accessibility of ${what}`);
  accessibilityChecks.push(`${what}: ${result.passes.length} rules pass, none fails`);
}
const accessibilityChecks = [];

try {
  // --- no key: the login prompt, and no data -------------------------------------------------------
  let context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  let page = await context.newPage();
  watch(page);
  await page.goto(`${base}/console`);
  // Found by their accessible names: the prompt's field has its label, the button its text.
  const keyField = page.getByLabel('API key');
  await keyField.waitFor({ state: 'visible' });
  assert.equal(await page.locator('.content').isVisible(), false);
  assert.equal(await page.locator('#sessions tbody tr').count(), 0);
  assert.ok(!(await page.content()).includes(session.id), 'no session id on a page without a key');
  // A wrong key is refused, and still nothing shows.
  await keyField.fill('sk-wake-not-a-real-key');
  await page.getByRole('button', { name: 'Open the console' }).click();
  await page.locator('.login-error', { hasText: 'refused' }).waitFor();
  assert.equal(await page.locator('.content').isVisible(), false);
  assert.ok(!(await page.content()).includes(session.id));
  await page.screenshot({ path: join(artefacts, 'console-login.png'), fullPage: true });
  await checkAccessibility(page, 'the login prompt');
  // The session page without a key: the same prompt, no data.
  await page.goto(`${base}/console/sessions/${session.id}`);
  await page.locator('#api-key').waitFor({ state: 'visible' });
  assert.equal(await page.locator('.content').isVisible(), false);
  assert.equal(await page.locator('#events li').count(), 0);

  // --- the sessions list ---------------------------------------------------------------------------
  await page.goto(`${base}/console`);
  await page.getByLabel('API key').fill(key);
  await page.keyboard.press('Enter');  // the form works from the keyboard
  const row = page.locator(`tr[data-session="${session.id}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /console browser test/);
  assert.match(await row.innerText(), /idle/);
  assert.match(await row.innerText(), /console agent/);
  const forkRow = page.locator(`tr[data-session="${fork.id}"]`);
  assert.match(await forkRow.innerText(), /fork of/);
  await page.screenshot({ path: join(artefacts, 'console-sessions.png'), fullPage: true });
  await checkAccessibility(page, 'the sessions list');
  // Reloading keeps the key (sessionStorage) and measures a warm load to the first row.
  for (let i = 0; i < 3; i++) {
    const started = Date.now();
    await page.reload();
    await row.waitFor();
    timings.push(['sessions list, reload to rows shown', Date.now() - started]);
  }
  // Paging: two sessions a page; older, then newer again.
  await page.goto(`${base}/console?limit=2`);
  await page.locator('#sessions tbody tr').nth(1).waitFor();
  assert.equal(await page.locator('#sessions tbody tr').count(), 2);
  assert.equal(await row.count(), 0, 'the oldest session is on the second page');
  await page.click('#older');
  await row.waitFor();
  assert.equal(await page.locator('#sessions tbody tr').count(), 1);
  assert.equal(await page.locator('#older').isDisabled(), true);
  await page.click('#newer');
  await row.waitFor({ state: 'detached' });
  assert.equal(await page.locator('#sessions tbody tr').count(), 2);
  await page.goto(`${base}/console`);
  await row.waitFor();

  // Filters: by status (the session is idle, not running), then by agent.
  await page.getByLabel('Status').selectOption('running');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.locator('#list-status', { hasText: /No sessions match|on this page/ }).waitFor();
  await row.waitFor({ state: 'detached' });
  assert.match(page.url(), /status=running/);
  await page.getByLabel('Status').selectOption('');
  await page.getByLabel('Agent id').fill(otherAgent.id);
  await page.getByLabel('Agent id').press('Enter');
  await page.locator(`tr[data-session="${other.id}"]`).waitFor();
  await row.waitFor({ state: 'detached' });
  assert.equal(await page.locator('#sessions tbody tr').count(), 1);
  await page.fill('#filter-agent', '');
  await page.click('#filters button[type=submit]');
  await row.waitFor();

  // --- the session page: history, then a tool call live ------------------------------------------
  // Opened from the keyboard: focus the session's link and press Enter.
  const started = Date.now();
  await row.getByRole('link', { name: session.id, exact: true }).focus();
  await page.keyboard.press('Enter');
  await page.locator('#stream-status.is-live').waitFor();
  timings.push(['session page, click to live stream', Date.now() - started]);
  const tools = page.locator('#tools tbody tr');
  assert.equal(await tools.count(), 1, 'the first turn\'s tool call, from the history');
  assert.match(await tools.nth(0).innerText(), /hello from the hand/);
  assert.match(await page.locator('#h-state').innerText(), /provisioned/);
  assert.match(await page.locator('#h-backend').innerText(), /local/);
  assert.match(await page.locator('#s-forks').innerText(), new RegExp(fork.id));

  await page.waitForFunction(() => document.querySelector('#timeline').src.startsWith('blob:'));
  const firstPicture = await page.locator('#timeline').getAttribute('src');
  await say('second message');  // the page is open: what follows arrives over the stream
  await page.locator('#tools tbody tr', { hasText: 'live tool call 42' }).waitFor();
  await page.locator('#tools tbody tr.is-error').waitFor();
  const failed = page.locator('#tools tbody tr.is-error');
  assert.match(await failed.innerText(), /read/);
  assert.match(await failed.innerText(), /no\/such\/file\.txt/);
  assert.match(await failed.innerText(), /error/);
  await page.locator('#events li.is-error[data-type="agent.tool_result"]').waitFor();
  await page.locator('#events li[data-type="agent.message"]', { hasText: 'the live turn is over' }).waitFor();
  await page.locator('#s-status .status', { hasText: 'idle' }).waitFor();
  // The timeline picture is redrawn after the turn and shows as an image.
  await page.waitForFunction((old) => {
    const img = document.querySelector('#timeline');
    return img.src.startsWith('blob:') && img.src !== old && img.complete && img.naturalWidth > 0;
  }, firstPicture);
  await page.screenshot({ path: join(artefacts, 'console-session.png'), fullPage: true });
  await checkAccessibility(page, 'the session page');

  // Pause (the stream is closed), a turn runs meanwhile, resume (a reconnect from the last event
  // seen): the page then holds exactly the API's events, in order.
  await page.getByRole('button', { name: 'Pause live updates' }).click();
  await page.locator('#stream-status', { hasText: 'Paused' }).waitFor();
  assert.equal(await page.locator('#pause').getAttribute('aria-pressed'), 'true');
  await say('third message, while paused');
  await waitForIdles(session.id, 3);
  const before = await page.locator('#events li').count();
  await page.getByRole('button', { name: 'Resume live updates' }).click();
  await page.locator('#events li[data-type="user.message"]', { hasText: 'third message' }).waitFor();
  const expected = (await allEvents(session.id)).map((e) => e.id);
  await page.waitForFunction((n) => document.querySelectorAll('#events li').length >= n, expected.length);
  const shown = await page.locator('#events li').evaluateAll((items) => items.map((li) => li.dataset.id));
  assert.ok(before < expected.length);
  assert.deepEqual(shown.slice(0, expected.length), expected, 'after a pause and resume the page lists every event once, in order');
  // Anything after (an idle hand being released) must be the log's next events too.
  const now = (await allEvents(session.id)).map((e) => e.id);
  assert.deepEqual(shown, now.slice(0, shown.length));

  // waked restarts under the open page (its stream breaks); a turn runs after: the same page (not
  // reloaded) reconnects by itself from the last event it saw.
  await page.evaluate(() => { window.consoleTestMarker = 'same page'; });
  restarting = true;
  await restartWaked();
  await say('fourth message, after a restart');
  await waitForIdles(session.id, 4);
  await page.locator('#events li[data-type="user.message"]', { hasText: 'fourth message' }).waitFor();
  await page.locator('#stream-status.is-live').waitFor();
  restarting = false;
  assert.equal(await page.evaluate(() => window.consoleTestMarker), 'same page');
  assert.ok(brokenStreams.some((t) => t.includes('/events/stream')), 'the restart broke the page\'s stream');
  const afterRestart = (await allEvents(session.id)).map((e) => e.id);
  await page.waitForFunction((n) => document.querySelectorAll('#events li').length >= n, afterRestart.length);
  const shownAfterRestart = await page.locator('#events li').evaluateAll((items) => items.map((li) => li.dataset.id));
  assert.deepEqual(shownAfterRestart.slice(0, afterRestart.length), afterRestart,
                   'after waked restarted the page lists every event once, in order');

  // The fork's page links back to its parent.
  await page.goto(`${base}/console/sessions/${fork.id}`);
  const parentLink = page.locator(`#s-parent a[href="/console/sessions/${session.id}"]`);
  await parentLink.waitFor();
  assert.match(await page.locator('#s-parent').innerText(), /at event #3/);

  // "Forget key" clears the data and shows the prompt.
  await page.getByRole('button', { name: 'Forget key' }).click();
  await page.locator('#api-key').waitFor({ state: 'visible' });
  assert.equal(await page.locator('.content').isVisible(), false);
  assert.equal(await page.locator('#events li').count(), 0);
  await context.close();

  // A new browser context (another tab session) has no key: the prompt again.
  context = await browser.newContext();
  page = await context.newPage();
  watch(page);
  await page.goto(`${base}/console/sessions/${session.id}`);
  await page.locator('#api-key').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#tools tbody tr').count(), 0);
  await context.close();

  // Timings (printed, never asserted): cold loads, each in a fresh context (empty cache), with the
  // key already in the tab's storage: to the list's rows, and to the session page's live stream.
  for (let i = 0; i < 3; i++) {
    context = await browser.newContext();
    await context.addInitScript((k) => sessionStorage.setItem('wake.console.apiKey', k), key);
    page = await context.newPage();
    watch(page);
    let t0 = Date.now();
    await page.goto(`${base}/console`);
    await page.locator(`tr[data-session="${session.id}"]`).waitFor();
    timings.push(['sessions list, cold load to rows shown', Date.now() - t0]);
    t0 = Date.now();
    await page.goto(`${base}/console/sessions/${session.id}`);
    await page.locator('#stream-status.is-live').waitFor();
    timings.push([`session page (${(await allEvents(session.id)).length} events), cold load to live`, Date.now() - t0]);
    await context.close();
  }
} finally {
  await browser.close();
}

// The one refusal the test provoked (the wrong key's probe) is the only error any page logged.
const refused = (p) => /status of 401/.test(p) && p.includes('/v1/sessions?limit=1');
assert.equal(problems.filter(refused).length, 1, problems.join('\n'));
assert.deepEqual(problems.filter((p) => !refused(p)), [], 'no other failed load, script error or CSP violation');
for (const line of accessibilityChecks) console.log(`accessibility: ${line}`);
for (const [what, ms] of timings) console.log(`timing: ${what}: ${ms} ms`);
console.log(`console browser test passed; screenshots in ${artefacts}`);
