/**
 * The web console in a real browser: playwright-core driving Debian's chromium (headless) against a
 * real zonixd with real zones. Creates a zone from the form (after the form has caught a bad value),
 * watches it reach running without a reload, types `hostname` in its terminal and reads the answer,
 * sees its charts move, stops and deletes it. A screenshot of each page goes to
 * test-artifacts/console/.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import {
  cli,
  leaks,
  makeTestEnv,
  makeZonePool,
  ok,
  ROOT,
  startZonixd,
  teardown,
  zoneTestSkip,
  type Zonixd,
} from '../helpers/host.ts';

const CHROMIUM = '/usr/bin/chromium';
const skip = zoneTestSkip() || (existsSync(CHROMIUM) ? false : 'needs chromium (apt-get install chromium)');
const SHOTS = join(ROOT, 'test-artifacts', 'console');

describe('web console', { skip, timeout: 300_000 }, () => {
  const env = makeTestEnv('web');
  const P = `${env.prefix}p`;
  process.env.ZONIX_SYSTEM_POOL = P;
  let zonixd: Zonixd | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const made: string[] = [];
  const stub = `${env.prefix}s0`;
  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    await makeZonePool(env, P);
    // A network for the form's NIC (an etherstub of the test's own: nothing leaves the machine).
    await ok('nictagadm', ['add', '-l', stub]);
    await ok('zonix', [
      'network',
      'add',
      `${env.prefix}net`,
      '--nic-tag',
      stub,
      '--subnet',
      '10.212.0.0/24',
      '--start',
      '10.212.0.40',
      '--end',
      '10.212.0.49',
    ]);
    zonixd = await startZonixd();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1366, height: 800 } });
    page.on('dialog', (d) => void d.accept());
  });

  after(async () => {
    await browser?.close();
    if (zonixd) {
      const t = setTimeout(() => console.error('zonixd still running:', zonixd!.log().slice(-2000)), 8000);
      await zonixd.stop();
      clearTimeout(t);
    }
    await cli('nictagadm', ['delete', '-f', stub]);
    await teardown(env, [P], made);
    assert.deepEqual(leaks(env), []);
  });

  it('signs in with the token and shows the empty VM list', async () => {
    await page.goto(`${zonixd!.url}/`);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await shot('sign-in');
    await page.goto(`${zonixd!.url}/?token=${zonixd!.token}`);
    await page.getByRole('heading', { name: 'VMs' }).waitFor();
    await page.getByText('No VMs yet').waitFor();
    await page.locator('.live.live').waitFor();
    await shot('vm-list-empty');
  });

  it('creates a zone from the form, which checks values before sending, and sees it run without a reload', async () => {
    await page.getByRole('button', { name: 'New VM' }).click();
    await page.getByRole('heading', { name: 'New VM' }).waitFor();
    await page.locator('#f-alias').fill('web-zone');
    await page.locator('#f-hostname').fill('console-zone');
    // A package fills in its limits.
    await page.getByLabel('package').selectOption({ label: 'sample-512M (512 MiB, 10 GiB, 50% CPU)' });
    assert.equal(await page.locator('#f-max_physical_memory').inputValue(), '512');
    assert.equal(await page.locator('#f-quota').inputValue(), '10');
    // A NIC on the network (its address picked by the service).
    await page.getByRole('button', { name: 'Add a NIC' }).click();
    assert.match(await page.getByLabel('network or nic tag').inputValue(), /^net:/);
    await page.locator('#f-max_physical_memory').fill('lots');
    await page.getByRole('button', { name: 'Create' }).click();
    const err = page.locator('[data-field="max_physical_memory"]');
    await err.waitFor();
    assert.match(await err.innerText(), /whole number/);
    await shot('create-form-error');
    await page.locator('#f-max_physical_memory').fill('256');
    await page.locator('#f-cpu_cap').fill('100');
    assert.equal(await err.count(), 0);
    await shot('create-form');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(/#\/vm\/[0-9a-f-]{36}$/, { timeout: 60_000 });
    const uuid = /#\/vm\/([0-9a-f-]{36})$/.exec(page.url())![1]!;
    made.push(uuid);
    await page.locator('.vmhead .badge.running').waitFor({ timeout: 60_000 });
    assert.equal(
      (await ok('vmadm', ['list', '-H', '-o', 'alias,state', `uuid=${uuid}`])).trim().split(/\s+/).join(' '),
      'web-zone running',
    );
    const vm = JSON.parse(await ok('vmadm', ['get', uuid])) as {
      nics: { ip: string; nic_tag: string }[];
      quota: number;
    };
    assert.deepEqual([vm.nics[0]!.ip, vm.nics[0]!.nic_tag, vm.quota], ['10.212.0.40', stub, 10]);
    // The list shows it too, from the events stream.
    await page.getByRole('link', { name: 'VMs' }).click();
    await page.locator(`tr[data-uuid="${uuid}"] .badge.running`).waitFor();
    await shot('vm-list');
    await page.locator(`tr[data-uuid="${uuid}"]`).click();
    await page.locator('.vmhead .badge.running').waitFor();
  });

  it("moves the VM's charts and runs hostname in its terminal", async () => {
    // Charts get a point every 2 s.
    await page.waitForFunction(
      "[...document.querySelectorAll('.chart')].every((c) => Number(c.getAttribute('data-points')) >= 2)",
      undefined,
      { timeout: 30_000 },
    );
    await shot('vm-page');
    await page.getByRole('tab', { name: 'Terminal' }).click();
    await page.locator('[data-status="connected"]').waitFor({ timeout: 20_000 });
    await page.locator('.terminal .xterm').click();
    await page.keyboard.type('hostname\n');
    await page.waitForFunction(
      "(document.querySelector('.terminal .xterm-rows')?.textContent ?? '').includes('console-zone')",
      undefined,
      { timeout: 20_000 },
    );
    await shot('vm-terminal');
    await page.getByRole('tab', { name: 'Overview' }).click();
  });

  it('shows images, datasets and nic tags', async () => {
    for (const [link, heading, name] of [
      ['Images', 'Images', 'images'],
      ['Datasets', 'Datasets', 'datasets'],
      ['Network', 'Nic tags and etherstubs', 'network'],
    ] as const) {
      await page.getByRole('link', { name: link }).click();
      await page.getByRole('heading', { name: heading }).waitFor();
      if (name === 'images') await page.getByRole('cell', { name: 'minimal', exact: true }).first().waitFor();
      if (name === 'datasets') await page.getByRole('cell', { name: P, exact: true }).waitFor();
      await shot(name);
    }
  });

  it('stops and deletes the zone', async () => {
    const uuid = made[0]!;
    await page.goto(`${zonixd!.url}/#/vm/${uuid}`);
    await page.locator('.vmhead .badge.running').waitFor();
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.locator('.vmhead .badge.stopped').waitFor({ timeout: 60_000 });
    await page.getByRole('button', { name: 'Delete' }).first().click();
    await page.getByRole('heading', { name: 'VMs' }).waitFor({ timeout: 60_000 });
    await page.locator(`tr[data-uuid="${uuid}"]`).waitFor({ state: 'detached' });
    await shot('vm-list-after-delete');
    assert.equal((await ok('vmadm', ['list', '-H', '-o', 'uuid'])).trim(), '');
  });
});
