// Converts the maintained rule sets into JSON files under generated/, which collector/build.rs
// embeds into the binary. Run by `make data` (npm ci && node prepare.mjs).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { list as botPatterns } from 'isbot';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
// Packages live in node_modules; some restrict `exports`, so resolve their folders directly.
const pkgDir = (name) => join(here, 'node_modules', name);
const out = join(here, 'generated');
mkdirSync(out, { recursive: true });
const write = (name, value) => writeFileSync(join(out, name), JSON.stringify(value));

// uap-core: browser, OS and device regexes.
write('uap.json', yaml.load(readFileSync(join(pkgDir('uap-core'), 'regexes.yaml'), 'utf8')));

// Snowplow referer-parser: { medium: { source name: { domains: [...], parameters: [...] } } }.
write('referers.json', yaml.load(readFileSync(join(pkgDir('referer-parser'), 'data', 'referers.yml'), 'utf8')));

// isbot's pattern list (case-insensitive regex sources, some with look-around).
write('bots.json', botPatterns);

// i18n-iso-countries: English country names by ISO 3166-1 alpha-2 code, for
// `visit:country_name`. Where it lists several names, the common one (its second, "United
// States", "Russia", "Czechia") unless that is an abbreviation or an inverted "X, Republic of".
const countries = JSON.parse(readFileSync(join(pkgDir('i18n-iso-countries'), 'langs', 'en.json'), 'utf8')).countries;
const commonName = (names) => {
  if (!Array.isArray(names)) return names;
  const [official, common] = names;
  return common && common !== common.toUpperCase() && !common.includes(',') ? common : official;
};
write('countries.json', Object.fromEntries(Object.entries(countries).map(([code, names]) => [code, commonName(names)])));

// Public samples used only by tests: crawler instances and the most common real browsers.
const crawlers = JSON.parse(readFileSync(join(pkgDir('crawler-user-agents'), 'crawler-user-agents.json'), 'utf8'));
write('sample-crawlers.json', crawlers.flatMap((c) => c.instances || []));
write('sample-browsers.json', require('top-user-agents'));

console.log(`enrichment data written to ${out}`);
