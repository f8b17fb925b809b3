// Drives the JavaScript SMART client (npm fhirclient) in headless Debian Chromium through the
// facade's real pages: a standalone launch (patient.demo, keyboard only) and an EHR launch
// (dr.demo, from the facade's launcher page). Prints one JSON line with the results.
// Env: FACADE_URL, APP_URL, OUT_DIR, CHROMIUM (default /usr/bin/chromium).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const FACADE = process.env.FACADE_URL;
const APP = process.env.APP_URL;
const OUT = process.env.OUT_DIR;
const FHIR = `${FACADE}/fhir/r4`;
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];

async function finish(page) {
  await page.waitForSelector('#result[data-status="done"], #result[data-status="error"]', {
    timeout: 20000,
  });
  const status = await page.getAttribute("#result", "data-status");
  const text = await page.textContent("#result");
  if (status !== "done") throw new Error(`app failed: ${text}`);
  return JSON.parse(text);
}

async function consent(page, name) {
  await page.waitForSelector('form[action="/auth/consent"]');
  await page.screenshot({ path: join(OUT, `${name}-consent.png`), fullPage: true });
  await page.getByRole("button", { name: "Allow" }).click();
}

async function standalone(context) {
  const page = await context.newPage();
  const started = Date.now();
  await page.goto(`${APP}/launch.html?iss=${encodeURIComponent(FHIR)}`);
  await page.waitForURL(/\/auth\/authorize/);
  await page.waitForSelector("#username:focus");
  await page.screenshot({ path: join(OUT, "standalone-login.png"), fullPage: true });
  // keyboard only: the username field has focus; Tab to the password, Enter submits
  await page.keyboard.type("patient.demo");
  await page.keyboard.press("Tab");
  await page.keyboard.type("demo-password");
  await page.keyboard.press("Enter");
  await consent(page, "standalone");
  const result = await finish(page);
  await page.close();
  return { ...result, ms: Date.now() - started };
}

async function ehr(context) {
  const page = await context.newPage();
  const started = Date.now();
  await page.goto(`${FACADE}/auth/launch`);
  await page.getByLabel("App launch URL").fill(`${APP}/launch.html`);
  await page.getByLabel("Patient id").fill("a-195900.E-60179");
  await page.getByLabel("Encounter id (optional)").fill("a-195900.Encounter-7");
  await page.getByRole("button", { name: "Launch" }).click();
  await page.waitForURL(/\/auth\/authorize/);
  await page.screenshot({ path: join(OUT, "ehr-login.png"), fullPage: true });
  await page.getByLabel("Username").fill("dr.demo");
  await page.getByLabel("Password").fill("demo-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await consent(page, "ehr");
  const result = await finish(page);
  await page.close();
  return { ...result, ms: Date.now() - started };
}

const profile = mkdtempSync(join(tmpdir(), "facade-chromium-"));
const launchedAt = Date.now();
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ARGS,
});
const startupMs = Date.now() - launchedAt;
try {
  const results = { startupMs, standalone: await standalone(context), ehr: await ehr(context) };
  console.log(JSON.stringify(results));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
