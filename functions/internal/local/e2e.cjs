// Browser end-to-end test of local mode, driven by local_test.go: open the Slack stand-in, act as
// the approver, press Remediate on the REVIEW message, confirm, and wait for "Quarantined".
// Usage: node e2e.cjs PAGE_URL SCREENSHOT_PATH USER_DATA_DIR (see browser.cjs)
"use strict";
const { run, confirm } = require("./browser.cjs");

run(async (page, shot) => {
  // The data finding's REVIEW message (the policy finding's is also "Review required").
  const review = page.locator('.msg[data-text^="Review required"][data-text*="CreditCardDataSmall"]').first();
  await review.waitFor();
  const id = await review.getAttribute("data-id");
  await review.locator('button[data-action="remediate"]').click();
  await confirm(page);
  // This message (not the AUTO one) must turn into "Quarantined", with its Release button.
  const done = page.locator(`.msg[data-id="${id}"][data-text^="Quarantined"]`);
  await done.waitFor();
  await done.locator('button[data-action="release"]').waitFor();
  await page.screenshot({ path: shot, fullPage: true });
  console.log("quarantined message shown; screenshot " + shot);
});
