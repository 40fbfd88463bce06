// e2e.js - the quarantine dashboard in a real browser (headless Debian
// chromium driven by playwright-core; no browser is downloaded).
//
// Run by run.sh, which tests/integration/test_dashboard_browser.c starts after
// it has seeded the quarantine and started `rectifyctl serve`. Environment:
//   RF_DASH_URL    http://127.0.0.1:PORT
//   RF_DASH_TOKEN  a token from the token file
//   RF_SHOT_DIR    where the screenshots go (one per view)
//   RF_LAMBDA      the edited lambda to type in
//   RF_CHROMIUM    the browser (default /usr/bin/chromium)
// Prints one JSON line with what it saw; exits non-zero on the first failure.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const url = process.env.RF_DASH_URL;
const token = process.env.RF_DASH_TOKEN;
const shots = process.env.RF_SHOT_DIR;
const lambda = process.env.RF_LAMBDA;
if (!url || !token || !shots || !lambda) {
  console.error('e2e.js: RF_DASH_URL, RF_DASH_TOKEN, RF_SHOT_DIR and RF_LAMBDA are required');
  process.exit(2);
}

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, name + '.png'), fullPage: true });
}

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'rf-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.RF_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  const seen = {};
  try {
    const page = context.pages()[0] || await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));

    // 1. Without the token: 401 and the sign-in page.
    const first = await page.goto(url + '/');
    check(first.status() === 401, 'GET / without a token is 401 (got ' + first.status() + ')');
    check(await page.getByLabel('Token').isVisible(), 'the login form has a labelled token field');
    await shot(page, '01-login');
    const wrong = await page.request.get(url + '/api/overview');
    check(wrong.status() === 401, 'the API without a token is 401');

    // 2. Sign in with the token (keyboard only: type, Enter).
    await page.getByLabel('Token').fill(token);
    const [login] = await Promise.all([
      page.waitForResponse((r) => r.url() === url + '/login' && r.request().method() === 'POST'),
      page.keyboard.press('Enter'),
    ]);
    check(login.status() === 303, 'the login answers 303 (got ' + login.status() + ')');
    await page.waitForSelector('#open-total');
    const cookies = await context.cookies(url);
    const session = cookies.find((c) => c.name === 'rf_session');
    check(session && session.httpOnly && session.sameSite === 'Strict',
          'the session cookie is HttpOnly and SameSite=Strict');
    check(await page.locator('h1').innerText() === 'Overview', 'the overview after sign-in');
    seen.actor = await page.locator('#actor').innerText();
    seen.open_before = Number(await page.locator('#open-total').innerText());
    await shot(page, '02-overview');

    // 3. The cluster list: the date cluster first, with the refused proposal.
    await page.getByRole('link', { name: 'Clusters' }).click();
    await page.waitForSelector('ol.clusters');
    const firstCluster = page.locator('li.cluster').first();
    check((await firstCluster.innerText()).includes('lambda_failed_validation'),
          'the cluster shows why the proposal was refused');
    check((await firstCluster.innerText()).includes('month/day/year'),
          'the cluster shows the model\'s reasoning');
    await shot(page, '03-clusters');

    // 4. Open the cluster.
    await firstCluster.locator('h2 a').click();
    await page.waitForSelector('#lambda');
    const proposed = await page.locator('#lambda').inputValue();
    seen.proposed = proposed;
    seen.cluster_rows = Number(await page.locator('#cluster-count').innerText());
    await shot(page, '04-cluster');

    // 5. The proposal as it is: the gate refuses it, Apply stays disabled.
    await page.getByRole('button', { name: 'Preview every row' }).click();
    await page.waitForFunction(() => document.getElementById('status').textContent.includes('gate'));
    check(await page.locator('#apply').isDisabled(), 'Apply is disabled when the gate refuses');
    seen.refused = await page.locator('#status').innerText();

    // 6. Edit the lambda, preview every row.
    await page.getByLabel(/Lambda/).fill(lambda);
    await page.getByRole('button', { name: 'Preview every row' }).click();
    await page.waitForSelector('#preview-table');
    const rows = await page.locator('#preview-table tbody tr').count();
    check(rows === seen.cluster_rows, 'the preview shows every row (' + rows + ')');
    seen.preview = await page.locator('#preview-summary').innerText();
    seen.preview_failing = await page.locator('#preview-table tr.fail').count();
    check(await page.locator('#apply').isEnabled(), 'Apply is enabled after a good preview');
    await shot(page, '05-preview');

    // 7. Apply.
    await page.locator('#apply').click();
    await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Applied'));
    seen.applied = await page.locator('#status').innerText();
    await shot(page, '06-applied');

    // 8. A moved row: resolved, by us, with its audit history.
    await page.goto(url + '/row?key=ord-100');
    check(await page.locator('#row-status').innerText() === 'resolved', 'ord-100 is resolved');
    const hist = await page.locator('main').innerText();
    check(hist.includes(seen.actor), 'the row history names the person');
    check(hist.includes('verified'), 'the row\'s inclusion proof verifies');
    await shot(page, '07-row-resolved');

    // 9. The row the lambda could not fix: a value that breaks the contract
    //    is refused with a clear message.
    await page.goto(url + '/row?key=ord-105');
    check(await page.locator('#row-status').innerText() === 'open', 'ord-105 stays open');
    await page.getByLabel(/New value/).fill('30/02/2024');
    await page.getByRole('button', { name: 'Resolve' }).click();
    await page.waitForFunction(() => document.getElementById('status').textContent.includes('contract'));
    seen.contract_refusal = await page.locator('#status').innerText();
    await shot(page, '08-row-refused');

    // 10. The overview again, and the audit chain verified from the page.
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('button', { name: 'Verify the audit chain now' }).click();
    await page.waitForFunction(() => /OK|BROKEN/.test(document.getElementById('verify-result').textContent));
    seen.verify = await page.locator('#verify-result').innerText();
    check(seen.verify.startsWith('OK'), 'the audit chain verifies from the page');
    seen.open_after = Number(await page.locator('#open-total').innerText());
    await shot(page, '09-overview-after');

    // 11. A cross-site request with the session cookie is refused: a page
    //     of another origin cannot act (SameSite=Strict, Origin check).
    const cross = await page.request.post(url + '/api/discard', {
      headers: { 'Origin': 'http://evil.example', 'Content-Type': 'application/json' },
      data: { key: 'ord-105', reason: 'x' },
    });
    check(cross.status() === 403, 'a cross-site POST is refused (got ' + cross.status() + ')');
    check(errors.length === 0, 'no script errors: ' + errors.join('; '));
    console.log(JSON.stringify(seen));
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error('e2e.js: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
