// Browser end-to-end test of local mode, driven by local_test.go: open the Slack stand-in, act as
// the approver, press Remediate on the REVIEW message, confirm, and wait for "Quarantined".
// Usage: node e2e.cjs PAGE_URL SCREENSHOT_PATH USER_DATA_DIR (PLAYWRIGHT_CORE = module path)
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
  // The data finding's REVIEW message (the policy finding's is also "Review required").
  const review = page.locator('.msg[data-text^="Review required"][data-text*="CreditCardDataSmall"]').first();
  await review.waitFor();
  const id = await review.getAttribute("data-id");
  await review.locator('button[data-action="remediate"]').click();
  await page.locator("#modal").waitFor({ state: "visible" });
  await page.locator("#m-ok").click();
  // This message (not the AUTO one) must turn into "Quarantined", with its Release button.
  const done = page.locator(`.msg[data-id="${id}"][data-text^="Quarantined"]`);
  await done.waitFor();
  await done.locator('button[data-action="release"]').waitFor();
  await page.screenshot({ path: shot, fullPage: true });
  console.log("quarantined message shown; screenshot " + shot);
  await ctx.close();
})().catch((err) => { console.error(err); process.exit(1); });
