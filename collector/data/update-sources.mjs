// Converts Matomo's community-maintained list of search engines, social networks and AI
// assistants (https://github.com/matomo-org/searchengine-and-social-list, CC0-1.0) into
// sources/matomo.json, which collector/build.rs embeds: the referrer database that names a
// visit's source and gives the channel grouping its categories.
//
//   node update-sources.mjs <checkout of searchengine-and-social-list>
//
// The list is not published to a package registry, so the converted file is committed; run
// this against a fresh checkout to refresh it (the file records the list's version).
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import yaml from 'js-yaml'

const from = process.argv[2]
if (!from || !existsSync(join(from, 'SearchEngines.yml'))) {
  console.error('usage: node update-sources.mjs <checkout of matomo-org/searchengine-and-social-list>')
  process.exit(2)
}
const read = (name) => yaml.load(readFileSync(join(from, name), 'utf8')) || {}
// Search engines: name → [{ urls: [...], params, backlink, ... }]; the others: name → [urls].
const search = Object.fromEntries(
  Object.entries(read('SearchEngines.yml')).map(([name, defs]) => [name, defs.flatMap((d) => d.urls || [])]),
)
const hosts = (file) => Object.fromEntries(Object.entries(read(file)).map(([name, urls]) => [name, urls]))
const version = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')).version
const commit = existsSync(join(from, 'COMMIT')) ? readFileSync(join(from, 'COMMIT'), 'utf8').trim() : ''
const out = join(dirname(fileURLToPath(import.meta.url)), 'sources')
mkdirSync(out, { recursive: true })
writeFileSync(
  join(out, 'matomo.json'),
  JSON.stringify({
    source: 'https://github.com/matomo-org/searchengine-and-social-list',
    license: 'CC0-1.0',
    version,
    commit,
    search,
    social: hosts('Socials.yml'),
    ai: hosts('AIAssistants.yml'),
  }),
)
console.log(`sources/matomo.json: ${Object.keys(search).length} search engines, version ${version}`)
