// The URL encoding of a view, the Stats API request parts derived from it, value formatting
// and CSV text: plain functions, tested in Node without a browser.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { csvCell, csvFileName, toCsv } from '../src/csv.js'
import { bucketSeconds, change, changeText, countryName, displayValue, duration, metricValue } from '../src/format.js'
import {
  apiFilters, choosePeriod, comparisonDates, dateRange, fromApiFilters, GOAL_METRICS, statMetrics, interval, intervals, movePeriod, parseFilter, periodChoice, previousDates, readState, setTimeZone, withFilter,
  writeState,
} from '../src/state.js'

describe('url state', () => {
  it('filters_round_trip_through_a_readable_query_string', () => {
    const state = {
      site: 'shop.test',
      period: '7d',
      metric: 'visitors',
      filters: [
        { dimension: 'visit:source', op: '==', values: ['Google'] },
        { dimension: 'event:page', op: '!=', values: ['/about'] },
        { dimension: 'event:page', op: '~=', values: ['a&b=c d+e#f%'] },
        { dimension: 'event:props:plan', op: '==', values: ['pro'] },
      ],
    }
    const qs = writeState(state)
    assert.equal(qs, '?site=shop.test&period=7d&f=visit:source==Google&f=event:page!=/about&f=event:page~=a%26b=c%20d%2Be%23f%25&f=event:props:plan==pro')
    assert.deepEqual(readState(qs), { ...state, view: 'overview', lead: null, date: null, from: null, to: null, interval: null, imports: false, compare: 'previous', compareFrom: null, compareTo: null, match: false, segment: null })
    // What URLSearchParams writes reads the same.
    const p = new URLSearchParams(qs)
    assert.deepEqual(readState('?' + p.toString()), readState(qs))
  })

  it('unknown_period_metric_and_malformed_filters_fall_back_to_defaults', () => {
    const s = readState('?site=x.test&period=forever&metric=bogus&f=nonsense&f=visit:source=Google&f=visit:country==DE')
    assert.equal(s.period, '30d')
    assert.equal(s.metric, 'visitors')
    assert.deepEqual(s.filters, [{ dimension: 'visit:country', op: '==', values: ['DE'] }])
    // An `or` before any filter has nothing to add to.
    assert.deepEqual(readState('?or=x').filters, [])
  })

  it('several_values_and_the_new_operators_extend_the_old_format', () => {
    const s = readState('?f=visit:source==Google&or=Bing&or=a%26b&f=event:page!~/admin&f=event:page!=~x&f=visit:city~=Ber')
    assert.deepEqual(s.filters, [
      { dimension: 'visit:source', op: '==', values: ['Google', 'Bing', 'a&b'] },
      { dimension: 'event:page', op: '!~', values: ['/admin'] },
      // An old link's "is not ~x" still reads as it did.
      { dimension: 'event:page', op: '!=', values: ['~x'] },
      { dimension: 'visit:city', op: '~=', values: ['Ber'] },
    ])
    assert.equal(writeState(s), '?period=30d&f=visit:source==Google&or=Bing&or=a%26b&f=event:page!~/admin&f=event:page!=~x&f=visit:city~=Ber')
    assert.deepEqual(apiFilters(s.filters), [
      ['is', 'visit:source', ['Google', 'Bing', 'a&b']],
      ['contains_not', 'event:page', ['/admin']],
      ['is_not', 'event:page', ['~x']],
      ['contains', 'visit:city', ['Ber']],
    ])
  })

  it('periods_move_back_and_forward_and_never_past_today', () => {
    const now = new Date('2026-12-06T10:00:00Z')
    setTimeZone('Europe/Berlin')
    const at = (s) => readState(s, now)
    assert.deepEqual(dateRange(at('?period=month'), now), ['2026-12-01', '2026-12-06'], 'month to date stops today')
    assert.deepEqual(previousDates(at('?period=month'), now), ['2026-11-01', '2026-11-06'], 'against the same days of last month')
    assert.deepEqual(dateRange(at('?period=year'), now), ['2026-01-01', '2026-12-06'])
    assert.deepEqual(previousDates(at('?period=year'), now), ['2025-01-01', '2025-12-06'])
    assert.deepEqual(dateRange(at('?period=28d'), now), ['2026-11-09', '2026-12-06'])
    assert.deepEqual(previousDates(at('?period=7d'), now), ['2026-11-23', '2026-11-29'])
    assert.equal(dateRange(at('?period=all'), now), 'all')
    // Yesterday and last month are day and month on an earlier date.
    const y = at('?period=yesterday')
    assert.deepEqual([y.period, y.date, periodChoice(y, now)], ['day', '2026-12-05', 'yesterday'])
    assert.deepEqual(choosePeriod('last_month', now), { period: 'month', date: '2026-11-30', from: null, to: null })
    const last = { ...at('?period=month'), ...choosePeriod('last_month', now) }
    assert.deepEqual(dateRange(last, now), ['2026-11-01', '2026-11-30'])
    assert.deepEqual(previousDates(last, now), ['2026-10-01', '2026-10-31'], 'a whole month against the whole month before')
    assert.deepEqual(previousDates(at('?period=12mo'), now), ['2025-01-01', '2025-12-31'], '12 months against the 12 before')
    assert.deepEqual(previousDates(at('?period=year&date=2025-12-31'), now), ['2024-01-01', '2024-12-31'])
    assert.deepEqual(previousDates(readState('?period=month', new Date('2026-03-31T10:00:00Z')), new Date('2026-03-31T10:00:00Z')), ['2026-02-01', '2026-02-28'])
    assert.equal(periodChoice(last, now), 'last_month')
    assert.equal(writeState(last), '?period=month&date=2026-11-30')
    // ← and →.
    assert.equal(movePeriod(at('?period=day'), 1, now), null, 'nothing after today')
    assert.deepEqual(movePeriod(at('?period=day'), -1, now), { date: '2026-12-05' })
    assert.deepEqual(movePeriod(at('?period=month'), -1, now), { date: '2026-11-30' })
    assert.deepEqual(movePeriod(last, 1, now), { date: null })
    assert.deepEqual(movePeriod(at('?period=7d'), -1, now), { date: '2026-11-29' })
    assert.deepEqual(dateRange(at('?period=7d&date=2026-11-29'), now), ['2026-11-23', '2026-11-29'])
    assert.deepEqual(movePeriod(at('?period=7d&date=2026-11-29'), 1, now), { date: null })
    assert.deepEqual(movePeriod(at('?period=year'), -1, now), { date: '2025-12-31' })
    assert.deepEqual(dateRange(at('?period=year&date=2025-12-31'), now), ['2025-01-01', '2025-12-31'])
    assert.deepEqual(movePeriod(at('?period=12mo'), -1, now), { date: '2025-12-31' })
    assert.deepEqual(movePeriod(at('?period=custom&from=2026-11-01&to=2026-11-10'), -1, now), { from: '2026-10-22', to: '2026-10-31' })
    assert.equal(movePeriod(at('?period=all'), -1, now), null)
    // A date in the future is today.
    assert.equal(at('?period=day&date=2027-01-01').date, null)
    setTimeZone(undefined)
  })

  it('intervals_on_offer_follow_the_length_of_the_range', () => {
    const now = new Date('2026-12-06T10:00:00Z')
    setTimeZone('UTC')
    const of = (qs) => intervals(readState(qs, now), now)
    assert.deepEqual(of('?period=day'), ['time:hour'])
    assert.deepEqual(of('?period=7d'), ['time:hour', 'time:day'])
    assert.deepEqual(of('?period=30d'), ['time:day', 'time:week'])
    assert.deepEqual(of('?period=12mo'), ['time:day', 'time:week', 'time:month'])
    assert.deepEqual(of('?period=all'), ['time:week', 'time:month'])
    assert.equal(interval(readState('?period=30d&interval=time:week', now), now), 'time:week')
    // An interval the range does not offer is dropped.
    assert.equal(readState('?period=day&interval=time:month', now).interval, null)
    assert.match(writeState(readState('?period=30d&interval=time:week&imports=1&compare=0', now)), /interval=time:week&imports=1&compare=0/)
  })

  it('custom_period_keeps_its_dates_in_order_and_maps_to_a_date_pair', () => {
    const s = readState('?period=custom&from=2026-11-20&to=2026-11-01&metric=pageviews')
    assert.deepEqual([s.from, s.to], ['2026-11-01', '2026-11-20'])
    assert.deepEqual(dateRange(s), ['2026-11-01', '2026-11-20'])
    assert.equal(interval(s), 'time:day')
    assert.match(writeState(s), /period=custom&from=2026-11-01&to=2026-11-20&metric=pageviews/)
    const bad = readState('?period=custom&from=2026-13-45')
    assert.match(bad.from, /^\d{4}-\d{2}-\d{2}$/)
  })

  it('relative_periods_include_today_in_the_site_time_zone', () => {
    // 23:30 UTC on 1 March is already 2 March in Berlin.
    const now = new Date('2026-03-01T23:30:00Z')
    setTimeZone('Europe/Berlin')
    assert.deepEqual(dateRange({ period: '7d' }, now), ['2026-02-24', '2026-03-02'])
    assert.deepEqual(dateRange({ period: '6mo' }, now), ['2025-10-01', '2026-03-02'])
    setTimeZone('UTC')
    assert.deepEqual(dateRange({ period: '30d' }, now), ['2026-01-31', '2026-03-01'])
    assert.deepEqual(dateRange({ period: '12mo' }, now), ['2025-04-01', '2026-03-01'])
    assert.deepEqual(dateRange({ period: 'month' }, now), ['2026-03-01', '2026-03-01'])
    setTimeZone('Not/AZone')
    assert.deepEqual(dateRange({ period: '7d' }, now), ['2026-02-23', '2026-03-01'])
    setTimeZone(undefined)
  })

  it('interval_is_hourly_for_a_day_daily_for_weeks_and_months_monthly_for_half_years', () => {
    const of = (period) => interval({ period })
    assert.deepEqual(['day', '7d', '30d', 'month', '6mo', '12mo', 'year', 'all'].map(of),
      ['time:hour', 'time:day', 'time:day', 'time:day', 'time:month', 'time:month', 'time:month', 'time:month'])
  })

  it('views_and_a_lead_round_trip_and_each_view_has_its_own_default_metric', () => {
    const leads = readState('?site=shop.test&view=leads&period=7d&f=visit:source==Google')
    assert.equal(leads.view, 'leads')
    assert.equal(leads.metric, 'leads', 'the Leads view charts leads by default')
    assert.equal(writeState(leads), '?site=shop.test&view=leads&period=7d&f=visit:source==Google')
    const rate = readState('?view=leads&metric=lead_conversion_rate')
    assert.equal(rate.metric, 'lead_conversion_rate')
    assert.match(writeState(rate), /view=leads&period=30d&metric=lead_conversion_rate/)
    // A metric of another view falls back to this view's default.
    assert.equal(readState('?view=leads&metric=pageviews').metric, 'leads')
    assert.equal(readState('?metric=leads').metric, 'visitors')
    const lead = readState('?site=shop.test&view=people&lead=0123abcd')
    assert.deepEqual([lead.view, lead.lead], ['people', '0123abcd'])
    assert.equal(writeState(lead), '?site=shop.test&view=people&lead=0123abcd&period=30d')
    // A lead link is a People link whatever `view` says; a lead id is never a path.
    assert.equal(readState('?lead=0123abcd').view, 'people')
    assert.deepEqual(readState('?view=people&lead=../x'), { ...readState('?view=people'), lead: null })
    assert.equal(readState('?view=bogus').view, 'overview')
    assert.doesNotMatch(writeState({ ...leads, view: 'overview', lead: 'abc', metric: 'visitors' }), /view=|lead=/)
  })

  it('clicking_a_row_replaces_an_earlier_is_filter_on_the_same_dimension', () => {
    const f = withFilter([{ dimension: 'visit:source', op: '==', values: ['Google'] }, { dimension: 'event:page', op: '!=', values: ['/x'] }], 'visit:source', 'Twitter')
    assert.deepEqual(apiFilters(f), [['is_not', 'event:page', ['/x']], ['is', 'visit:source', ['Twitter']]])
    assert.deepEqual(parseFilter('visit:referrer==https://a.test/?q=1'), { dimension: 'visit:referrer', op: '==', values: ['https://a.test/?q=1'] })
  })
})

describe('formatting', () => {
  it('countries_show_their_english_names', () => {
    assert.equal(countryName('DE'), 'Germany')
    assert.equal(displayValue('visit:country', 'us'), 'United States')
    assert.equal(displayValue('visit:country', ''), 'Unknown')
    assert.equal(displayValue('visit:source', ''), '(none)')
  })

  it('metrics_read_as_counts_percentages_and_durations', () => {
    assert.equal(metricValue('visitors', 1234567), '1,234,567')
    assert.equal(metricValue('visitors', 1234567, true), '1.2M')
    assert.equal(metricValue('bounce_rate', 67), '67%')
    assert.equal(metricValue('views_per_visit', 1.333), '1.33')
    assert.equal(metricValue('visit_duration', 65), '1m 05s')
    assert.equal(metricValue('visitors', null), '—')
    assert.equal(duration(3725), '1h 02m')
  })

  it('lead_metrics_read_as_a_count_and_a_rate_whose_change_is_in_percentage_points', () => {
    assert.equal(metricValue('leads', 3), '3')
    assert.equal(metricValue('lead_conversion_rate', 33.33), '33.33%')
    assert.deepEqual(changeText('lead_conversion_rate', -2.5), { short: '2.5 pp', long: '2.5 percentage points' })
    assert.deepEqual(changeText('bounce_rate', 4), { short: '4 pp', long: '4 percentage points' })
    assert.deepEqual(changeText('leads', 50), { short: '50%', long: '50%' })
  })

  it('changes_are_a_dash_against_nothing_points_for_rates_and_percent_for_counts', () => {
    assert.equal(change('visitors', 10, 0, 0), null, 'an empty previous period')
    assert.equal(change('bounce_rate', 40, 0, 0), null)
    assert.equal(change('visitors', 10, null, 5), null)
    assert.equal(change('pageviews', 10, 0, 5), null, 'a count from zero has no percentage')
    assert.equal(change('visitors', 15, 10, 10), 50)
    assert.equal(change('bounce_rate', 42.5, 40, 10), 2.5)
    assert.equal(change('conversion_rate', 3, 4.25, 10), -1.3)
    assert.equal(change('visit_duration', 90, 120, 10), -25)
  })

  it('comparison_modes_previous_year_over_year_custom_and_matching_weekdays', () => {
    setTimeZone('UTC')
    const now = new Date('2026-12-06T12:00:00Z') // a Sunday
    const of = (qs) => comparisonDates(readState(qs, now), now)
    assert.deepEqual(of('?period=7d'), ['2026-11-23', '2026-11-29'])
    assert.equal(of('?period=7d&compare=0'), null)
    assert.deepEqual(of('?period=7d&compare=yoy'), ['2025-11-30', '2025-12-06'])
    // This range starts on a Monday (2026-11-30); 2025-11-30 is a Sunday: the nearest Monday is a day on.
    assert.deepEqual(of('?period=7d&compare=yoy&match=1'), ['2025-12-01', '2025-12-07'])
    assert.deepEqual(of('?period=custom&from=2024-02-29&to=2024-03-01&compare=yoy'), ['2023-02-28', '2023-03-01'])
    assert.deepEqual(of('?period=7d&compare=custom&compare_from=2026-10-10&compare_to=2026-10-01'), ['2026-10-01', '2026-10-10'])
    // A custom comparison without its dates is the period before.
    assert.equal(readState('?compare=custom&compare_from=x', now).compare, 'previous')
    const qs = writeState(readState('?period=7d&compare=custom&compare_from=2026-10-01&compare_to=2026-10-10&match=1&segment=abc123', now))
    assert.match(qs, /compare=custom&compare_from=2026-10-01&compare_to=2026-10-10&match=1&segment=abc123/)
    assert.equal(readState('?segment=../x', now).segment, null)
  })

  it('goal_filters_turn_the_tiles_into_conversions_and_segments_read_back', () => {
    const f = (s) => readState(s).filters
    assert.equal(statMetrics('overview', f('?f=event:goal==Signup')), GOAL_METRICS)
    assert.deepEqual(statMetrics('overview', f('?f=event:name==Download')), ['visitors', 'events'])
    assert.deepEqual(statMetrics('overview', f('?f=event:props:plan==pro')), ['visitors', 'events'])
    assert.deepEqual(statMetrics('overview', f('?f=event:goal!=Signup')), ['visitors', 'visits', 'pageviews', 'views_per_visit', 'bounce_rate', 'visit_duration'])
    assert.equal(readState('?f=event:goal==Signup&metric=conversion_rate').metric, 'conversion_rate')
    assert.equal(readState('?metric=conversion_rate').metric, 'visitors')
    const filters = f('?f=visit:source==Google&or=Bing&f=event:page!~/blog')
    assert.deepEqual(fromApiFilters(apiFilters(filters)), filters)
    assert.equal(fromApiFilters([['matches', 'event:page', ['x']]]), null)
  })

  it('time_buckets_read_as_utc_wall_clock', () => {
    assert.equal(bucketSeconds('2026-11-18'), Date.UTC(2026, 10, 18) / 1000)
    assert.equal(bucketSeconds('2026-11-18 13:00:00'), Date.UTC(2026, 10, 18, 13) / 1000)
  })
})

describe('csv', () => {
  it('quotes_separators_and_neutralises_formulas', () => {
    assert.equal(csvCell('a,b'), '"a,b"')
    assert.equal(csvCell('say "hi"'), '"say ""hi"""')
    assert.equal(csvCell('=HYPERLINK("x")'), '"\'=HYPERLINK(""x"")"')
    assert.equal(csvCell(12), '12')
    assert.equal(toCsv(['Source', 'visitors'], [['Google', 3]]), 'Source,visitors\r\nGoogle,3\r\n')
    assert.equal(csvFileName('visit:utm_source'), 'utm_source.csv')
    assert.equal(csvFileName('event:props:plan'), 'props_plan.csv')
  })
})
