// Browser end-to-end test of a policy finding in local mode, driven by local_test.go: open the
// Slack stand-in, act as the approver, press Fix on the Block Public Access message, confirm,
// wait for "Fixed" with its Undo button, screenshot, then press Undo and wait for "Fix undone".
// Usage: node e2e-policy.cjs PAGE_URL SCREENSHOT_PATH USER_DATA_DIR (PLAYWRIGHT_CORE = module path)
"use strict";
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

(async () => {
  const [url, shot, dataDir] = process.argv.slice(2);
  const ctx = await chromium.launchPersistentContext(dataDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-quic"],
  });
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.setDefaultTimeout(30000);
  await page.goto(url);
  await page.selectOption("#user", "U0APPROVER");
  const msg = page.locator('.msg[data-text*="S3BlockPublicAccessDisabled"]').first();
  await msg.waitFor();
  const id = await msg.getAttribute("data-id");
  // The Fix button appears once the remediator has stored the snapshot.
  const fix = page.locator(`.msg[data-id="${id}"] button[data-action="fix"]`);
  await fix.waitFor();
  await fix.click();
  await page.locator("#modal").waitFor({ state: "visible" });
  await page.locator("#m-ok").click();
  const fixed = page.locator(`.msg[data-id="${id}"][data-text^="Fixed"]`);
  await fixed.waitFor();
  await fixed.locator('button[data-action="undo"]').waitFor();
  await fixed.scrollIntoViewIfNeeded();
  await page.screenshot({ path: shot, fullPage: true });
  console.log("fixed message shown; screenshot " + shot);
  await fixed.locator('button[data-action="undo"]').click();
  await page.locator("#modal").waitFor({ state: "visible" });
  await page.locator("#m-ok").click();
  await page.locator(`.msg[data-id="${id}"][data-text^="Fix undone"]`).waitFor();
  console.log("undo shown");
  await ctx.close();
})().catch((err) => { console.error(err); process.exit(1); });
