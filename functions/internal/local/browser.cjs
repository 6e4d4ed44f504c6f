// The browser setup shared by the end-to-end scripts (e2e.cjs, e2e-policy.cjs): headless
// Chromium through playwright-core on the Slack stand-in page, acting as the approver.
// Every script is run as: node SCRIPT PAGE_URL SCREENSHOT_PATH USER_DATA_DIR, with
// PLAYWRIGHT_CORE (module path) and CHROMIUM (browser path) in the environment.
"use strict";
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

// run opens the page as the approver, calls steps(page, shot) and closes the browser; any failure
// exits 1 with the error, so local_test.go fails with it.
function run(steps) {
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
    await steps(page, shot);
    await ctx.close();
  })().catch((err) => { console.error(err); process.exit(1); });
}

// confirm presses OK in the confirmation dialog a button opened.
async function confirm(page) {
  await page.locator("#modal").waitFor({ state: "visible" });
  await page.locator("#m-ok").click();
}

module.exports = { run, confirm };
