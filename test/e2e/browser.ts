/**
 * Chromium from Debian, driven by playwright-core (no browser download): loads the demo page (its script
 * from a Brotli variant), seeks the video near its end with the page's own button, and saves a
 * screenshot under test-results/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const RESULTS = fileURLToPath(new URL('../../test-results', import.meta.url));
const SEEK_TO = 18.5;

/**
 * Debian's Chromium, headless, in a fresh profile at `profileDir`; `ignoreHTTPSErrors` accepts the test
 * certificate of an HTTPS (HTTP/2) server.
 */
export function launchChromium(
  profileDir: string,
  options: { ignoreHTTPSErrors?: boolean } = {},
): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    ignoreHTTPSErrors: options.ignoreHTTPSErrors ?? false,
    headless: true,
    timeout: 60_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Runs the page check in a fresh profile; returns the screenshot's path. */
export async function checkBrowser(baseUrl: string, label: string, profileDir: string): Promise<string> {
  const context = await launchChromium(profileDir);
  try {
    context.setDefaultTimeout(30_000);
    const page = context.pages()[0] ?? (await context.newPage());
    const script = page.waitForResponse((r) => new URL(r.url()).pathname === '/precompressed.js');
    const response = await page.goto(baseUrl);
    assert.equal(response?.status(), 200);
    // The page's script comes from its Brotli variant, and runs: the browser decoded exactly those bytes.
    const scriptResponse = await script;
    assert.equal(scriptResponse.status(), 200);
    assert.equal(scriptResponse.headers()['content-encoding'], 'br');
    assert.equal(scriptResponse.headers()['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(scriptResponse.headers().vary, 'Accept-Encoding');
    await page.waitForFunction(`document.getElementById('script-status').dataset.loaded === 'yes'`);
    // Page-side expressions are strings: this file is compiled without the DOM's types.
    await page.waitForFunction(`(() => {
      const video = document.querySelector('video');
      return video !== null && video.readyState >= 1 && Number.isFinite(video.duration);
    })()`);
    const duration = await page.$eval('video', (video) => video.duration);
    assert.ok(Math.abs(duration - 20) < 0.5, `the clip lasts ${duration} s`);

    await page.click('#seek-end');
    // The page records the time at its 'seeked' event; then wait for a decoded frame there.
    await page.waitForFunction(`document.getElementById('seek-status').dataset.seeked !== undefined`);
    await page.waitForFunction(`document.querySelector('video').readyState >= 2`);
    const seeked = Number(await page.locator('#seek-status').getAttribute('data-seeked'));
    const current = await page.$eval('video', (video) => video.currentTime);
    assert.ok(Math.abs(seeked - SEEK_TO) < 0.05, `seeked fired at ${seeked} s, not ${SEEK_TO}`);
    assert.ok(Math.abs(current - SEEK_TO) < 0.05, `currentTime is ${current}, not ${SEEK_TO}`);

    // The page's multi-range link shows a multipart/byteranges answer.
    await page.click('a.ranges[data-range="bytes=0-4,26-30,-6"]');
    await page.waitForFunction(`document.getElementById('ranges-output').textContent.includes('206')`);
    const shown = (await page.locator('#ranges-output').textContent()) ?? '';
    assert.match(shown, /content-type: multipart\/byteranges; boundary=/);
    assert.match(shown, /Content-Range: bytes 26-30\/63\r?\n\r?\nabcde/);

    await page.locator('video').scrollIntoViewIfNeeded();
    mkdirSync(RESULTS, { recursive: true });
    const shot = path.join(RESULTS, `e2e-${label}-video-seeked.png`);
    await page.screenshot({ path: shot });
    return shot;
  } finally {
    await context.close();
  }
}
