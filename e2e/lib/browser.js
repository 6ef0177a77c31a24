'use strict';
// Debian's Chromium driven by playwright-core, for the browser suites.
// Under CI=true a missing Chromium fails the suite; elsewhere it skips.
const fs = require('node:fs');

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

const browserSkip = !fs.existsSync(CHROMIUM) && process.env.CI !== 'true' ? `${CHROMIUM} not installed` : false;

async function launch() {
  const { chromium } = require('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}

module.exports = { launch, browserSkip };
