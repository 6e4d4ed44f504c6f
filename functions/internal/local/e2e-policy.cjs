// Browser end-to-end test of a policy finding in local mode, driven by local_test.go: open the
// Slack stand-in, act as the approver, press Fix on the Block Public Access message, confirm,
// wait for "Fixed" with its Undo button, screenshot, then press Undo and wait for "Fix undone".
// Usage: node e2e-policy.cjs PAGE_URL SCREENSHOT_PATH USER_DATA_DIR (see browser.cjs)
"use strict";
const { run, confirm } = require("./browser.cjs");

run(async (page, shot) => {
  const msg = page.locator('.msg[data-text*="S3BlockPublicAccessDisabled"]').first();
  await msg.waitFor();
  const id = await msg.getAttribute("data-id");
  // The Fix button appears once the remediator has stored the snapshot.
  const fix = page.locator(`.msg[data-id="${id}"] button[data-action="fix"]`);
  await fix.waitFor();
  await fix.click();
  await confirm(page);
  const fixed = page.locator(`.msg[data-id="${id}"][data-text^="Fixed"]`);
  await fixed.waitFor();
  await fixed.locator('button[data-action="undo"]').waitFor();
  await fixed.scrollIntoViewIfNeeded();
  await page.screenshot({ path: shot, fullPage: true });
  console.log("fixed message shown; screenshot " + shot);
  await fixed.locator('button[data-action="undo"]').click();
  await confirm(page);
  await page.locator(`.msg[data-id="${id}"][data-text^="Fix undone"]`).waitFor();
  console.log("undo shown");
});
