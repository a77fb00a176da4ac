// The report queries of one tick go out together (src/api.js): batches of at most 50, each
// caller with its own answer or error, and a batch that fails as a whole fails every query in
// it. Tested in Node against a stand-in for the collector.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

globalThis.location = { pathname: '/dashboard/' }
const { ApiError, query } = await import('../src/api.js')

// Answers every request with `answer(path, body)` → [status, body]; returns what was asked.
const serve = (answer) => {
  const asked = []
  globalThis.fetch = async (path, { body }) => {
    asked.push({ path, body: JSON.parse(body) })
    const [status, data] = answer(path, JSON.parse(body))
    return new Response(JSON.stringify(data), { status })
  }
  return asked
}
const echo = (path, body) => [200, path.endsWith('/batch') ? { results: body.queries.map((q) => ({ status: 200, body: { n: q.n } })) } : { n: body.n }]

describe('report queries', () => {
  it('queries_of_one_tick_go_out_in_batches_of_at_most_50_each_caller_with_its_own_answer', async () => {
    const asked = serve(echo)
    const ns = Array.from({ length: 55 }, (_, n) => n)
    assert.deepEqual(await Promise.all(ns.map((n) => query({ n }))), ns.map((n) => ({ n })))
    assert.deepEqual(asked.map((a) => [a.path, a.body.queries.length]), [['/api/v2/query/batch', 50], ['/api/v2/query/batch', 5]])
    assert.deepEqual(asked[1].body.queries, [{ n: 50 }, { n: 51 }, { n: 52 }, { n: 53 }, { n: 54 }])
    // A query alone in its tick goes to /api/v2/query as before.
    asked.length = 0
    assert.deepEqual(await query({ n: 7 }), { n: 7 })
    assert.deepEqual(asked, [{ path: '/api/v2/query', body: { n: 7 } }])
  })

  it('a_failing_query_rejects_only_its_caller_with_the_field_it_has_alone', async () => {
    serve(() => [200, { results: [
      { status: 200, body: { n: 0 } },
      { status: 400, body: { error: 'invalid regular expression in a matches filter (RE2 syntax)', field: 'queries[1].filters' } },
      { status: 404, body: { error: 'no site named "x.test"', field: 'queries[2]' } },
    ] }])
    const [ok, bad, missing] = await Promise.allSettled([query({ n: 0 }), query({ n: 1 }), query({ n: 2 })])
    assert.deepEqual(ok, { status: 'fulfilled', value: { n: 0 } })
    assert.ok(bad.reason instanceof ApiError)
    assert.deepEqual([bad.reason.status, bad.reason.message, bad.reason.field], [400, 'invalid regular expression in a matches filter (RE2 syntax)', 'filters'])
    assert.deepEqual([missing.reason.status, missing.reason.field], [404, null])
  })

  it('a_batch_that_fails_as_a_whole_rejects_every_query_in_it_with_the_same_error', async () => {
    serve(() => [401, { error: 'Sign in again.' }])
    const settled = await Promise.allSettled([query({ n: 0 }), query({ n: 1 })])
    assert.deepEqual(settled.map((s) => [s.status, s.reason?.status, s.reason?.message]), [['rejected', 401, 'Sign in again.'], ['rejected', 401, 'Sign in again.']])
    assert.equal(settled[0].reason, settled[1].reason)
    // An answer that is not one result per query fails them all too.
    serve(() => [200, { results: [] }])
    const short = await Promise.allSettled([query({ n: 0 }), query({ n: 1 })])
    assert.ok(short.every((s) => s.status === 'rejected' && s.reason instanceof ApiError), JSON.stringify(short))
  })
})
