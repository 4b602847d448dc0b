// Drives the live dashboard in headless Chromium (Debian's /usr/bin/chromium) against a running
// `illunare serve` whose pipeline has a generator source `tx` and the materialized views
// `per_second` (with a time column) and `per_merchant`. Run by tests/dashboard.rs:
//
//   node tests/browser/dashboard.mjs http://127.0.0.1:PORT/ SCREENSHOT.png
//
// playwright-core comes from NODE_PATH (scripts/browser.sh installs it outside the clone).
// Exits 0 when every check passed; otherwise prints what failed and exits 1 (a screenshot of
// the page as it was is still written).
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error('usage: node dashboard.mjs URL SCREENSHOT.png');
  process.exit(2);
}

const TIMEOUT = 30_000;
const problems = []; // console errors and page errors
// A failed request the test provokes on purpose (a bad query answers 400).
let expectedStatus = null;

const log = (msg) => console.log(`dashboard.mjs: ${msg}`);

async function until(what, fn, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The live table's column values, parsed as numbers (thousands separators removed). */
async function columnSum(page, column) {
  return page.evaluate((column) => {
    const heads = [...document.querySelectorAll('#view-table thead th')].map((th) => th.dataset.column);
    const at = heads.indexOf(column);
    if (at < 0) return null;
    let sum = 0;
    let rows = 0;
    for (const tr of document.querySelectorAll('#view-table tbody tr:not(.placeholder)')) {
      const text = tr.children[at].textContent.replace(/,/g, '');
      sum += Number(text);
      rows += 1;
    }
    return { sum, rows };
  }, column);
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
let failed = null;
let page;
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    if (expectedStatus && text.includes(`status of ${expectedStatus}`)) return;
    problems.push(`console error: ${text}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // EventSource connections are aborted when a view is closed or the page goes: not a failure.
    if (r.url().includes('/changes')) return;
    problems.push(`request failed: ${r.url()} ${r.failure() ? r.failure().errorText : ''}`);
  });

  // 1. The page loads.
  const response = await page.goto(url, { waitUntil: 'load', timeout: TIMEOUT });
  if (!response || !response.ok()) throw new Error(`GET ${url} answered ${response && response.status()}`);
  log('page loaded');

  // 2. The catalog lists the source and both views, with status.
  await page.waitForSelector('#sources li[data-source="tx"]');
  await page.waitForSelector('#views li[data-view="per_second"]');
  await page.waitForSelector('#views li[data-view="per_merchant"]');
  await page.waitForSelector('#views li[data-view="per_merchant"][data-open="stream"]');
  await page.waitForSelector('#views li[data-view="per_second"][data-open="stream"]');
  const state = await page.getAttribute('#sources li[data-source="tx"]', 'data-state');
  if (state !== 'running') throw new Error(`source tx shows state ${state}, expected running`);
  const rate = await until('a throughput figure for source tx', async () => {
    const r = Number(await page.getAttribute('#sources li[data-source="tx"] .rate', 'data-rate'));
    return r > 0 ? r : null;
  });
  log(`catalog lists tx (running, ${rate.toFixed(0)} rows/s), per_second and per_merchant`);

  // 3. per_merchant as a live table whose rows change while the generator runs.
  await page.click('#views li[data-view="per_merchant"]');
  await until('per_merchant to be the open view', async () => (await page.textContent('#view-title')) === 'per_merchant');
  const first = await until('rows in the per_merchant table', async () => {
    const s = await columnSum(page, 'n');
    return s && s.rows > 0 && s.sum > 0 ? s : null;
  });
  log(`per_merchant shows ${first.rows} rows, sum(n) = ${first.sum}`);
  await new Promise((r) => setTimeout(r, 3000));
  const second = await until('sum(n) in the per_merchant table to grow', async () => {
    const s = await columnSum(page, 'n');
    return s && s.sum > first.sum ? s : null;
  });
  log(`per_merchant updated live: sum(n) ${first.sum} -> ${second.sum}`);
  const stream = await page.textContent('#view-stream');
  if (stream !== 'live') throw new Error(`the change stream shows '${stream}', expected live`);

  // 5. The SQL box: an error is shown on the page, then a query answers 3 rows.
  expectedStatus = 400;
  await page.fill('#sql', 'SELECT nope FROM per_merchant');
  await page.click('#run');
  await page.waitForSelector('#sql-error:not([hidden])');
  const errorText = await page.textContent('#sql-error');
  if (!/nope/i.test(errorText)) throw new Error(`the query error shown does not name the column: ${errorText}`);
  log(`a bad query shows its error: ${errorText.trim().replace(/\s+/g, ' ')}`);
  expectedStatus = null;
  await page.fill('#sql', 'SELECT merchant, n FROM per_merchant ORDER BY n DESC LIMIT 3');
  await page.click('#run');
  await page.waitForSelector('#sql-result-wrap:not([hidden])');
  const results = await until('3 result rows', async () => {
    const n = await page.locator('#sql-result tbody tr:not(.placeholder)').count();
    return n === 3 ? n : null;
  });
  const heads = await page.locator('#sql-result thead th').allTextContents();
  if (!heads.includes('merchant') || !heads.includes('n')) throw new Error(`result columns: ${heads.join(', ')}`);
  if (await page.isVisible('#sql-error')) throw new Error('an SQL error is still shown after a good query');
  log(`the SQL box answered ${results} rows (${heads.join(', ')})`);

  // 4. per_second: a uPlot chart of n and total over the time column.
  await page.click('#views li[data-view="per_second"]');
  await until('per_second to be the open view', async () => (await page.textContent('#view-title')) === 'per_second');
  const box = await until('a chart canvas with a size', async () => {
    const canvas = page.locator('#chart canvas').first();
    if (!(await canvas.count())) return null;
    const b = await canvas.boundingBox();
    return b && b.width > 0 && b.height > 0 ? b : null;
  });
  const legend = await until('the chart legend with the series n and total', async () => {
    const labels = await page.locator('#chart .u-legend .u-series .u-label').allTextContents();
    return labels.includes('n') && labels.includes('total') ? labels : null;
  });
  await until('rows in the per_second table', async () => (await page.locator('#view-table tbody tr:not(.placeholder)').count()) > 0);
  log(`per_second charted: canvas ${Math.round(box.width)}x${Math.round(box.height)}, legend ${legend.join(' | ')}`);

  // Nothing on the page's error banner.
  const banner = (await page.textContent('#errors')).trim();
  if (banner) throw new Error(`the page shows errors: ${banner}`);
  // Let the chart take a few more updates for the screenshot.
  await new Promise((r) => setTimeout(r, 2000));
} catch (e) {
  failed = e;
}

// 6. A full-page screenshot, also when a check failed (to see why).
try {
  if (page) {
    mkdirSync(dirname(screenshot), { recursive: true });
    // From the top: a sticky header would otherwise be drawn where the page was scrolled to.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: screenshot, fullPage: true });
    log(`screenshot: ${screenshot}`);
  }
} catch (e) {
  problems.push(`screenshot failed: ${e.message}`);
}
// What happened up to here: closing the browser aborts the page's pending requests.
const found = [...problems];
await browser.close();

if (failed) console.error(`dashboard.mjs: FAILED: ${failed.stack || failed}`);
for (const p of found) console.error(`dashboard.mjs: ${p}`);
if (failed || found.length) process.exit(1);
log('all checks passed');
