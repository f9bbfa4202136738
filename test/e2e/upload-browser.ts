/**
 * Uploads from Chromium (Debian's, through playwright-core): Uppy's dashboard with its Tus plugin on
 * `uppy.html`, and the demo page's own upload panel (tus-js-client's browser bundle). Both bundles are
 * served by the demo from node_modules. The upload bandwidth is throttled through the DevTools
 * protocol, so a pause or a reload lands part-way through a body rather than after it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium, RESULTS } from './browser.ts';

/** Upload bandwidth in bytes a second: an 8 MiB file takes about 4 s. */
const UPLOAD_RATE = 2 * 1024 * 1024;

/** Throttles `page`'s uploads to {@link UPLOAD_RATE} through the DevTools protocol. */
export async function throttleUploads(page: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: UPLOAD_RATE,
  });
}

/**
 * Runs `use` on a page of a fresh Chromium profile whose uploads are throttled, collecting the page's
 * uncaught errors in `failures`; the browser is closed whatever happens.
 */
async function withThrottledPage<T>(
  profileDir: string,
  options: BrowserOptions,
  use: (page: Page, failures: string[]) => Promise<T>,
): Promise<T> {
  const context = await launchChromium(profileDir, options);
  try {
    context.setDefaultTimeout(30_000);
    const page = context.pages()[0] ?? (await context.newPage());
    const failures: string[] = [];
    page.on('pageerror', (err) => failures.push(err.message));
    await throttleUploads(page);
    return await use(page, failures);
  } finally {
    await context.close();
  }
}

/** How the browser is started: `ignoreHTTPSErrors` accepts the test certificate of an HTTPS (h2) server. */
export interface BrowserOptions {
  readonly ignoreHTTPSErrors?: boolean;
}

/** Polls a page-side number (a string expression) until `done` holds for it; bounded. */
export async function pollNumber(page: Page, expression: string, done: (value: number) => boolean, what: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = Number(await page.evaluate(expression));
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last ${value})`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(RESULTS, { recursive: true });
  const shot = path.join(RESULTS, name);
  await page.screenshot({ path: shot, fullPage: true });
  return shot;
}

/** What a browser upload left behind. */
export interface BrowserUpload {
  /** The upload's URL as the client reported it. */
  readonly uploadUrl: string;
  readonly screenshot: string;
}

/**
 * Uppy on `uppy.html`: picks `file` in the dashboard, starts it, pauses it from the status bar once
 * about 40 % is sent, checks that nothing more is sent while paused, resumes it and waits for success.
 */
export async function checkUppy(
  baseUrl: string,
  label: string,
  profileDir: string,
  file: string,
): Promise<BrowserUpload> {
  return withThrottledPage(profileDir, {}, async (page, failures) => {
    const response = await page.goto(`${baseUrl}uppy.html`);
    assert.equal(response?.status(), 200);
    await page.waitForFunction('window.uppy !== undefined');
    await page.locator('input.uppy-Dashboard-input').first().setInputFiles(file);
    await page.click('.uppy-StatusBar-actionBtn--upload');

    const sent = 'document.getElementById("uppy-status").dataset.sent ?? 0';
    const total = Number(await page.evaluate('window.uppy.getFiles()[0].size'));
    await pollNumber(page, sent, (v) => v >= 0.4 * total, 'Uppy to send 40 %');
    await page.click('button.uppy-StatusBar-actionCircleBtn[title="Pause"]');
    await page.waitForFunction('window.uppy.getFiles()[0].isPaused === true');
    const atPause = Number(await page.evaluate(sent));
    assert.ok(atPause >= 0.4 * total && atPause < 0.6 * total, `paused at ${atPause} of ${total} bytes`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(Number(await page.evaluate(sent)), atPause, 'bytes were sent while paused');

    await page.click('button.uppy-StatusBar-actionCircleBtn[title="Resume"]');
    await page.waitForFunction('document.getElementById("uppy-status").dataset.url !== undefined');
    assert.deepEqual(failures, []);
    const uploadUrl = String(await page.evaluate('document.getElementById("uppy-status").dataset.url'));
    await page.waitForSelector('.uppy-StatusBar.is-complete');
    return { uploadUrl, screenshot: await screenshot(page, `e2e-${label}-uppy-complete.png`) };
  });
}

/** The demo page's panel, plus what its download link served. */
export interface PanelUpload extends BrowserUpload {
  /** Hex SHA-256 of the bytes the page's download link served, computed in the page. */
  readonly downloadSha256: string;
}

/**
 * The demo page's upload panel: picks `file`, pauses at a quarter and resumes, reloads the page past
 * half way, picks the same file again (tus-js-client finds its stored fingerprint and resumes the same
 * upload), waits for the end, then fetches the download link the page shows, whole and by a range.
 */
export async function checkUploadPanel(
  baseUrl: string,
  label: string,
  profileDir: string,
  file: string,
  options: BrowserOptions = {},
): Promise<PanelUpload> {
  return withThrottledPage(profileDir, options, async (page, failures) => {
    assert.equal((await page.goto(baseUrl))?.status(), 200);
    const total = statSync(file).size;
    const sent = 'document.getElementById("upload-status").dataset.sent ?? 0';
    const state = 'document.getElementById("upload-status").dataset.state';

    await page.setInputFiles('#upload-file', file);
    await pollNumber(page, sent, (v) => v >= 0.25 * total, 'the panel to send a quarter');
    await page.click('#upload-pause');
    await page.waitForFunction(`${state} === 'paused'`);
    await page.click('#upload-resume');
    await pollNumber(page, sent, (v) => v >= 0.6 * total, 'the panel to send 60 %');

    await page.reload();
    assert.equal(await page.evaluate(state), undefined, 'the reloaded page is fresh');
    await page.setInputFiles('#upload-file', file);
    await page.waitForFunction(`${state} === 'done'`);
    const resumed = String(await page.evaluate('document.getElementById("upload-status").dataset.resumed'));
    const uploadUrl = String(await page.evaluate('document.getElementById("upload-status").dataset.url'));
    assert.equal(resumed, uploadUrl, 'after the reload the page resumed the upload it had started');
    assert.deepEqual(failures, []);

    // The download panel's link: the whole file (hashed in the page), and a range of it.
    const href = String(await page.getAttribute('#uploaded-link', 'href'));
    assert.equal(href, uploadUrl);
    assert.equal(await page.isVisible('#uploaded-commands'), true);
    const downloadSha256 = String(
      await page.evaluate(`(async () => {
        const bytes = await (await fetch(${JSON.stringify(href)}, { cache: 'no-store' })).arrayBuffer();
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
        return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
      })()`),
    );
    const ranged = (await page.evaluate(`(async () => {
      const res = await fetch(${JSON.stringify(href)}, { headers: { Range: 'bytes=1000-1999' }, cache: 'no-store' });
      return [res.status, res.headers.get('content-range'), (await res.arrayBuffer()).byteLength];
    })()`)) as [number, string, number];
    assert.deepEqual(ranged, [206, `bytes 1000-1999/${total}`, 1000]);
    await page.locator('#uploaded').scrollIntoViewIfNeeded();
    return { uploadUrl, downloadSha256, screenshot: await screenshot(page, `e2e-${label}-upload-panel.png`) };
  });
}

/**
 * The demo page's upload panel with "parallel parts" set to 4: picks `file`, waits for the end (four
 * partial uploads, then the final one), and hashes in the page what the download link serves.
 */
export async function checkParallelPanel(
  baseUrl: string,
  label: string,
  profileDir: string,
  file: string,
): Promise<PanelUpload> {
  return withThrottledPage(profileDir, {}, async (page, failures) => {
    assert.equal((await page.goto(baseUrl))?.status(), 200);
    const state = 'document.getElementById("upload-status").dataset.state';
    await page.selectOption('#upload-parts', '4');
    await page.setInputFiles('#upload-file', file);
    await page.waitForFunction(`${state} === 'done'`);
    assert.deepEqual(failures, []);
    const uploadUrl = String(await page.evaluate('document.getElementById("upload-status").dataset.url'));
    const href = String(await page.getAttribute('#uploaded-link', 'href'));
    assert.equal(href, uploadUrl);
    const downloadSha256 = String(
      await page.evaluate(`(async () => {
        const bytes = await (await fetch(${JSON.stringify(href)}, { cache: 'no-store' })).arrayBuffer();
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
        return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
      })()`),
    );
    await page.locator('#uploaded').scrollIntoViewIfNeeded();
    return { uploadUrl, downloadSha256, screenshot: await screenshot(page, `e2e-${label}-upload-panel-parallel.png`) };
  });
}
